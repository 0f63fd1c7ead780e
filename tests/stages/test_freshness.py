"""The freshness gate: latest delivery and activity per source, limits from settings, refusal and override."""

from datetime import date
from pathlib import Path

import pytest

from popheath import config, db
from popheath.errors import ConfigError, StaleDataError
from popheath.ingest import freshness
from popheath.stages import freshness as gate

AS_OF = date(2025, 4, 1)
# Latest activity per activity source, and its staging table's date column.
ACTIVITY = {
    "apc": ("stg_apc", "admission_date", "2025-03-20"),
    "ecds": ("stg_ecds", "arrival_date", "2025-03-31"),
    "opa": ("stg_opa", "appointment_date", "2024-12-31"),  # the outpatient feed stopped after December
    "csds": ("stg_csds", "contact_date", "2025-02-14"),  # 46 days: one over the monthly limit
    "asc": ("stg_asc", "event_start", "2024-12-15"),  # 107 days: inside the quarterly limit
}


def _settings(tmp_path: Path, toml: str = "") -> config.Settings:
    path = tmp_path / "popheath.toml"
    path.write_text('[paths]\nwarehouse = "w.duckdb"\noutputs = "out"\n' + toml, encoding="utf-8")
    return config.load(path)


def _warehouse(settings: config.Settings) -> None:
    con = db.connect(settings)
    con.execute("CREATE TABLE load_audit (source VARCHAR, delivery VARCHAR, outcome VARCHAR, finished_at TIMESTAMP)")
    con.execute(
        "INSERT INTO load_audit VALUES ('population', '2025-03', 'loaded', TIMESTAMP '2025-03-25 02:00'), "
        "('apc', '2025-02', 'loaded', TIMESTAMP '2025-03-01 02:00'), "
        "('apc', '2025-03', 'loaded', TIMESTAMP '2025-03-29 02:00'), "
        # a later rejected delivery is not the latest delivery
        "('apc', '2025-04', 'rejected', TIMESTAMP '2025-03-30 02:00'), "
        "('ecds', '2025-03', 'loaded', TIMESTAMP '2025-03-29 02:00'), ('opa', '2024-12', 'loaded', NULL), "
        "('csds', '2025-02', 'loaded', NULL), ('asc', '2024-q3', 'loaded', TIMESTAMP '2025-01-10 09:00')"
    )
    for table, column, latest in ACTIVITY.values():
        # One record after the as-of date in every table: a backfill never sees it.
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM (VALUES (DATE '{latest}'), (DATE '2025-05-01')) t({column})"
        )
    con.close()


def test_latest_delivery_activity_and_days_per_source(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _warehouse(settings)
    con = db.connect(settings, read_only=True)
    try:
        rows = {row.source: row for row in freshness.check(con, settings.freshness.max_days, AS_OF)}
    finally:
        con.close()
    assert [r.latest_delivery for r in rows.values()] == [
        "2025-03",
        "2025-03",
        "2025-03",
        "2024-12",
        "2025-02",
        "2024-q3",
    ]
    assert rows["apc"].latest_activity == date(2025, 3, 20) and rows["apc"].days_since == 12
    # The spine counts from the end of its delivery month; it has no activity date.
    assert rows["population"].data_until == date(2025, 3, 31) and rows["population"].days_since == 1
    assert rows["population"].latest_activity is None
    assert {s: r.state for s, r in rows.items()} == {
        "population": "fresh",
        "apc": "fresh",
        "ecds": "fresh",
        "opa": "stale",
        "csds": "stale",
        "asc": "fresh",
    }
    assert rows["opa"].describe() == "opa: no data since 2024-12-31 (91 days, limit 45)"
    assert rows["asc"].days_since == 107 and rows["asc"].max_days == 120


def test_a_backfill_judges_the_data_as_it_stood(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _warehouse(settings)
    con = db.connect(settings, read_only=True)
    try:
        row = freshness.source_freshness(con, "opa", date(2025, 1, 10), 45)
        spine = freshness.source_freshness(con, "population", date(2024, 4, 1), 45)
    finally:
        con.close()
    assert (row.days_since, row.stale) == (10, False)
    assert (spine.days_since, spine.stale) == (0, False)  # a later spine still describes registrations then


def test_stale_sources_stop_the_run_with_one_line_naming_each(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _warehouse(settings)
    with pytest.raises(StaleDataError) as raised:
        gate.run(settings, AS_OF)
    line = str(raised.value)
    assert "\n" not in line
    assert "opa: no data since 2024-12-31 (91 days, limit 45)" in line
    assert "csds: no data since 2025-02-14 (46 days, limit 45)" in line
    assert "apc" not in line and "previous list release stays current" in line


def test_override_lets_the_run_go_on_and_says_so(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _warehouse(settings)
    result = gate.run(settings, AS_OF, allow_stale=True)
    assert result.summary["stale"] == "opa, csds"
    assert result.warnings == (
        f"{gate.OVERRIDE_NOTE}: opa: no data since 2024-12-31 (91 days, limit 45)",
        f"{gate.OVERRIDE_NOTE}: csds: no data since 2025-02-14 (46 days, limit 45)",
    )
    from_settings = config.with_overrides(settings, **{"freshness.allow_stale": True})
    assert gate.run(from_settings, AS_OF).warnings == result.warnings


def test_limits_come_from_settings_per_source(tmp_path: Path) -> None:
    # A looser community limit and no outpatient feed at all (0: not checked); the rest keep their defaults.
    settings = _settings(tmp_path, "[freshness.max_days]\ncsds = 60\nopa = 0\n")
    _warehouse(settings)
    assert (settings.freshness.max_days.csds, settings.freshness.max_days.apc) == (60, 45)
    result = gate.run(settings, AS_OF)
    assert result.summary["stale"] == "none" and result.summary["sources checked"] == 5
    with pytest.raises(ConfigError, match="freshness.max_days.gp"):
        _settings(tmp_path, "[freshness.max_days]\ngp = 30\n")


def test_no_data_loaded_is_stale(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    db.connect(settings).close()
    with pytest.raises(StaleDataError, match="population: no data loaded; apc: no data loaded"):
        gate.run(settings, AS_OF)
