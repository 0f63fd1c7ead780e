"""Features stage: clinical logic (``sql/20_clinical``), then cohort, features, labels and coverage at an as-of date.

The SQL orchestration, the persistence of the ``asof_*`` work tables and the dictionary check live in
:mod:`popheath.clinical.feature_tables`; the feature dictionary in :mod:`popheath.clinical.feature_dictionary`.
"""

from __future__ import annotations

import logging
from datetime import date

from popheath import db
from popheath.clinical import codelists, feature_dictionary, feature_tables
from popheath.config import Settings
from popheath.results import StageResult

log = logging.getLogger(__name__)


def run(settings: Settings, as_of: date, keep_work_tables: bool = False) -> StageResult:
    """Update the clinical tables, then cohort, features, labels and coverage at ``as_of`` (that date's rows replaced).

    The clinical tables are rebuilt only for the people changed since their last build, unless
    ``rebuild.full`` is set or a full build is due (:mod:`popheath.clinical.incremental`).
    """
    dictionary = feature_dictionary.load(feature_dictionary.dictionary_path(settings))
    con = db.connect(settings)
    try:
        db.require_tables(con, *feature_tables.INPUT_TABLES)
        codelists.load_into(con, local=settings.paths.reference)
        clinical_build, clinical = feature_tables.build_clinical(con, settings)
        as_of_timings = feature_tables.build_as_of(con, settings, as_of)
        feature_tables.check_dictionary(con, dictionary)
        counts = feature_tables.persist(con, as_of)
        summary = feature_tables.summarise(con, as_of, counts, clinical, as_of_timings, clinical_build)
        if not keep_work_tables:
            feature_tables.drop_work_tables(con)
    finally:
        con.close()
    log.info("features at %s: %s", as_of, counts)
    return StageResult(stage="features", as_of=as_of, summary=summary)
