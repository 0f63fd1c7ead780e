"""Pipeline stages. Each module has ``run(settings, as_of) -> StageResult``, called by the CLI and by Airflow.

A stage is a door: it reads settings, calls the machinery in the package named for its job
(``popheath.ingest``, ``popheath.linkage``, ...) and returns a ``popheath.results.StageResult``.
"""
