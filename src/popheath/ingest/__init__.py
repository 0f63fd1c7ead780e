"""Ingest raw deliveries: map headers and codes, type, validate, quarantine bad rows, load, audit.

Input is ``<paths.raw>/<source>/<delivery>/*.csv|*.parquet``; output the canonical ``stg_<source>``
tables, ``quarantine`` and ``load_audit`` (docs/data_model.md). The stage door is
:mod:`popheath.stages.ingest`; the machinery lives here, one module per concern:
:mod:`~popheath.ingest.deliveries` (what to load), :mod:`~popheath.ingest.reading` (file-level
checks and reads), :mod:`~popheath.ingest.checking` (phase A), :mod:`~popheath.ingest.applying`
(phase B and the tables), :mod:`~popheath.ingest.load_audit`, :mod:`~popheath.ingest.gx_sample` (the GX sample),
:mod:`~popheath.ingest.freshness` (the freshness gate's facts),
:mod:`~popheath.ingest.loading` (one run over the sources), :mod:`~popheath.ingest.partitions`
(Airflow) and :mod:`~popheath.ingest.console` (tables printed for the user).

Design, and why it approaches the performance target (ingest <= 3x a plain DuckDB read, < 4 GB).
Profiling the first, file-by-file design (cProfile and EXPLAIN ANALYZE, 100k people, 196 files)
showed fixed per-file costs (a transaction, ~10 queries, an audit INSERT) and a DELETE per file that
scanned the whole staging table (quadratic in deliveries). The hot path is now set-based per source:

* Phase A (:func:`~popheath.ingest.checking.check_deliveries`): per file only the cheap file-level
  checks (header or Parquet footer: empty, encoding, delimiter, missing required column); then every
  changed delivery of the source is read in ONE ``read_parquet``/``read_csv`` (``_file`` and
  ``_row_number`` per row) and checked by ONE compiled query (:mod:`popheath.quality.compile`):
  NHS-number scan, types, the GX suite's row rules as SQL. Duplicates: a GROUP BY finds repeated
  keys; only those rows get a window. A multi-file read that fails is retried file by file to name
  the culprit; that file is rejected with one clear line and its whole delivery is left as it was,
  other deliveries still load.
* Phase B (:func:`~popheath.ingest.applying.apply_checked`): in ONE transaction per source, the
  deliveries' old rows are replaced, cross-delivery rules applied, rows inserted, quarantine
  inserted, and one audit row per file (counts by GROUP BY file) appended in one statement. Rows
  read = loaded + quarantined per file.
* Great Expectations is off the critical path: the load keeps a seeded sample of at most
  ``ingest.gx_sample_rows`` checked rows per source (:mod:`~popheath.ingest.gx_sample`), and
  ``popheath data-docs`` validates it and writes the Data Docs in its own step
  (:mod:`popheath.quality.data_docs`), beside link and the later stages; ``ingest.data_docs = false``
  switches the sample and the Data Docs off. The compiled SQL alone decides which rows load.
* Parquet files are not copied first: the checking query reads them through a view, and only
  files with a failing row are read again for the quarantine's raw records. A file whose footer
  reads but whose pages do not fails that query; the group is then read eagerly, file by file,
  to name and reject the damaged file, as a damaged CSV is.
* Typed (Parquet) columns that already hold the contract's type are read as they are; only text
  columns go through trimming, code decoding and date parsing. The flag and raw-value lists of a
  row are built only on the rare rows that need them.
* Airflow: :func:`~popheath.ingest.partitions.ingest_partition` runs phase A for one delivery into
  its own DuckDB file and :func:`~popheath.ingest.partitions.merge_partitions` runs phase B per
  partition; the result equals :func:`popheath.stages.ingest.run`'s.

Deliveries: the changed deliveries of a source are applied in one transaction. Each delivery's
fingerprint (file names and SHA-256 checksums, plus the mapping) is recorded; a rerun with the same
fingerprint changes nothing. A changed delivery (a restatement, or a new file in the
folder) replaces that delivery's rows. Records are keyed (``key`` in the contract): a record from a
later delivery replaces the same key from an earlier one (late-arriving updates); a record older
than the copy already loaded from a later delivery is quarantined as ``superseded_by_newer_delivery``.
Within a delivery, files load in name order and a later file's record replaces an earlier file's.
In every file, rows read = rows loaded + rows quarantined.
"""
