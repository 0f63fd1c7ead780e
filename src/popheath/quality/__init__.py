"""Data contracts, delivery-format mappings and Great Expectations checks for raw extracts.

A source's contract is two data files: ``contracts/<source>.yaml`` (canonical columns, types,
required columns, key, normalisations) and ``expectations/<source>.json`` (the GX suite: value
rules, each naming its quarantine reason in ``meta.rule``). Mappings in ``mappings/<name>.yaml``
turn a delivery's headers and codes into the canonical ones.
"""
