from pathlib import Path

import pytest

from popheath import config, db
from popheath.errors import StageError


def test_execute_passes_only_used_parameters(tmp_path: Path) -> None:
    settings = config.with_overrides(config.Settings(), **{"paths.warehouse": tmp_path / "w.duckdb"})
    con = db.connect(settings)
    sql = "-- uses $ignored_in_comment\nSELECT $as_of::DATE AS d, $n + 1 AS n"
    assert db.parameters_of(sql) == {"as_of", "n"}
    row = db.execute(con, sql, {"as_of": "2024-04-01", "n": 1, "unused": 3}).fetchone()
    assert row is not None and str(row[0]) == "2024-04-01" and row[1] == 2


def test_missing_parameter_is_named(tmp_path: Path) -> None:
    con = db.connect(config.Settings(), path=tmp_path / "w.duckdb")
    with pytest.raises(StageError, match="as_of"):
        db.execute(con, "SELECT $as_of", {})


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    con = db.connect(config.Settings(), path=tmp_path / "w.duckdb")
    con.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), db.transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("fail mid-way")
    assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)
    db.require_tables(con, "t")
    with pytest.raises(StageError, match="missing table"):
        db.require_tables(con, "t", "absent")


def test_spill_folder_is_created_and_used(tmp_path: Path) -> None:
    settings = config.with_overrides(
        config.Settings(), **{"paths.warehouse": tmp_path / "w.duckdb", "paths.spill": tmp_path / "spill"}
    )
    con = db.connect(settings)
    assert (tmp_path / "spill").is_dir()
    assert con.execute("SELECT current_setting('temp_directory')").fetchone() == (str(tmp_path / "spill"),)
