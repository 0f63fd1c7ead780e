"""Record linkage: one person key across acute, community and social care.

Deterministic on the pseudonymised NHS-number token; probabilistic (Splink, DuckDB backend) for
adult social care events without a token. The model specification is data
(``model_spec.json``); the SQL that builds the link tables
lives in ``sql/10_staging/linkage/``.

By concern, as Splink splits its ``Linker``: ``link_tables`` runs the SQL steps in order,
``levels`` measures comparison levels, ``probabilistic`` fits Splink, ``candidate_scoring`` scores ASC
clients, ``assignment`` resolves candidates one to one, ``link_quality`` and ``accuracy``
measure the links, ``quality_report`` writes the run folder.
"""

from pathlib import Path

LINKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_SPEC = LINKAGE_ROOT / "model_spec.json"
