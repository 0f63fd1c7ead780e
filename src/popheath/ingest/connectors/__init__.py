"""Connectors for multi-table national layouts (SUS+ in NCDR/UDAL, ECDS): a delivery of several raw tables read as one.

A connector is a mapping file (``quality/mappings/<name>.yaml``) whose source section may declare
``tables:``: a core table (one row per record) and satellite tables joined to it on a key.
:mod:`~popheath.ingest.connectors.layouts` reads those declarations and tells which table a file
is; :mod:`~popheath.ingest.connectors.assembly` is phase A for such a delivery (read each table,
classify satellite rows, run the layout's joining SQL ``sql/10_staging/connectors/<layout>.sql``,
then check the assembled rows as the core file's); :mod:`~popheath.ingest.connectors.satellites`
is phase B's share (satellite rows loaded with their core row, or quarantined, and counted).
"""
