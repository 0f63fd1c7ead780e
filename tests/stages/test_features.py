"""The features stage end to end on a tiny warehouse: run(), idempotent persistence, summary, CLI."""

import importlib.util
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

from popheath import cli, db
from popheath.clinical import feature_dictionary as dictionary
from popheath.clinical import features_doc
from popheath.errors import StageError
from popheath.stages import features


def _builder() -> ModuleType:
    """The tiny-ICS builder shared with tests/sql."""
    path = Path(__file__).resolve().parents[1] / "sql" / "ics_builder.py"
    spec = importlib.util.spec_from_file_location("ics_builder", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ics_builder", module)
    spec.loader.exec_module(module)
    return module


builder = _builder()
AS_OF = date(2024, 4, 1)


def _warehouse(tmp_path: Path):  # type: ignore[no-untyped-def]
    ics = builder.Ics()
    ics.person("old", birth_year=1935)
    ics.person("frail", birth_year=1940, care_home=True)
    ics.person("young", birth_year=1990)
    ics.person("opted_out", type1_opt_out=True)
    ics.episode("old", date(2023, 5, 1), date(2023, 5, 6), ["J441"])
    ics.episode("old", date(2024, 6, 1), date(2024, 6, 4), ["J441"])
    ics.episode("frail", date(2024, 9, 1), date(2024, 9, 2), ["R69"])
    settings = builder.settings_for(tmp_path / "warehouse.duckdb")
    con = db.connect(settings)
    ics.write(con)
    con.close()
    return settings


def test_run_writes_cohort_features_labels_idempotently(tmp_path: Path) -> None:
    settings = _warehouse(tmp_path)
    first = features.run(settings, AS_OF)
    again = features.run(settings, AS_OF)  # rerun: same rows, not twice
    features.run(settings, date(2024, 1, 1))  # another date is kept beside it
    assert first.summary["rows written"] == {"cohort": 3, "features": 3, "labels": 3}
    assert again.summary["rows written"] == first.summary["rows written"]
    assert first.summary["people"] == 3 and first.summary["aged 65+"] == 2 and first.summary["frail 65+"] == 1
    assert first.summary["emergency admission 12m (65+ / frail)"] == "100.0% / 100.0%"
    assert set(first.summary["seconds per SQL layer"]) == {"20_clinical", "30_features"}
    con = db.connect(settings, read_only=True)
    try:
        counts = dict(con.execute("SELECT as_of, count(*) FROM features GROUP BY 1").fetchall())
        assert counts == {AS_OF: 3, date(2024, 1, 1): 3}
        row = con.execute(
            "SELECT f.emergency_admissions_12m, f.acsc_admissions_12m, l.acsc_admission_12m FROM features f "
            "JOIN labels l USING (as_of, person_key) WHERE person_key = 'old' AND as_of = $d",
            {"d": AS_OF},
        ).fetchone()
        assert row == (1, 1, 1)
        assert not db.table_exists(con, "asof_features")  # work tables dropped
        assert con.execute("SELECT count(*) FROM ref_hfrs").fetchone() == (109,)
    finally:
        con.close()


def test_new_feature_column_is_added_without_dropping_other_dates(tmp_path: Path) -> None:
    settings = _warehouse(tmp_path)
    features.run(settings, date(2024, 1, 1))
    con = db.connect(settings)
    con.execute("ALTER TABLE features DROP COLUMN hfrs")  # as if written by an older version
    con.close()
    features.run(settings, AS_OF)
    con = db.connect(settings, read_only=True)
    try:
        got = dict(con.execute("SELECT as_of, count(hfrs) FROM features GROUP BY 1").fetchall())
    finally:
        con.close()
    assert got == {date(2024, 1, 1): 0, AS_OF: 3}


def test_missing_upstream_table_is_a_clear_error(tmp_path: Path) -> None:
    settings = builder.settings_for(tmp_path / "empty.duckdb")
    with pytest.raises(StageError, match="stg_apc.*run the upstream stage"):
        features.run(settings, AS_OF)


def test_cli_features_command(tmp_path: Path) -> None:
    settings = _warehouse(tmp_path)
    code = cli.main(["features", "--as-of", "2024-04-01", "--warehouse", str(settings.paths.warehouse)])
    assert code == 0
    con = db.connect(settings, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM cohort WHERE as_of = DATE '2024-04-01'").fetchone() == (3,)
    finally:
        con.close()


def test_dictionary_matches_the_features_sql(tmp_path: Path) -> None:
    settings = _warehouse(tmp_path)
    features.run(settings, AS_OF)
    con = db.connect(settings, read_only=True)
    try:
        columns = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = 'features' ORDER BY column_index"
            ).fetchall()
        ]
    finally:
        con.close()
    described = dictionary.load()
    assert columns[2:] == list(described.features)
    assert set(dictionary.CONTRACT_FEATURES) <= set(described.features)
    assert described.explain("emergency_admissions_12m", 3.0) == "3 emergency admissions in the last 12 months"
    assert described.explain("days_since_last_emergency_discharge", None) is None


def test_dictionary_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "dictionary.yaml"
    bad.write_text("version: '1'\nfeatures:\n  age:\n    description: Age\n    reason: 'Aged {years}'\n    unit: y\n")
    with pytest.raises(Exception, match=r"age\.reason"):
        dictionary.load(bad)
    bad.write_text("version: '1'\nfeatures:\n  age:\n    description: Age\n    unit: y\n")
    with pytest.raises(Exception, match=r"age\.reason"):
        dictionary.load(bad)


def test_data_dictionary_markdown(tmp_path: Path) -> None:
    target = features_doc.write_markdown(tmp_path / "features.md")
    text = target.read_text()
    assert "## `clin_spells`" in text and "## `asof_features` (persisted as `features`)" in text
    assert "ADMIMETH of the first episode in 21, 22, 23, 24, 25, 2A, 2B, 2C, 2D, 28" in text
    assert "| `emergency_admissions_12m` | admissions |" in text
    assert "**grain**: one row per hospital provider spell" in text


def test_shipped_data_dictionary_matches_the_sql_headers(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "docs" / "features.md"
    generated = features_doc.write_markdown(tmp_path / "features.md")
    assert shipped.read_text() == generated.read_text(), "regenerate docs/features.md with features_doc.write_markdown"
