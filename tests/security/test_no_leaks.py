"""Security checks over a full small run: no raw NHS numbers, no person-level rows in logs or pricing
outputs, and coordinator tokens stored only as hashes.

The run (``tests/drills/workspace.py``) injects raw NHS numbers into a share of the extracts, runs
every stage through the CLI at DEBUG and keeps each stage's stdout and stderr.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest
from fastapi.testclient import TestClient

from popheath import config
from popheath.capitation.disclosure import check_published
from popheath.quality.nhs_number import contains_nhs_number, is_valid_nhs_number, nhs_number_sql
from popheath.serve import create_app
from tests.drills.workspace import Run, cli_command, cli_env

pytestmark = pytest.mark.slow

TEXT_SUFFIXES = {".csv", ".json", ".jsonl", ".md", ".html", ".txt", ".toml", ".yaml", ".yml", ".js", ".css", ".svg"}
TOKEN = re.compile(r"(?<![0-9A-Za-z])[0-9A-F]{16}(?![0-9A-Za-z])")


def _files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from (p for p in sorted(root.rglob("*")) if p.is_file())


def test_the_check_finds_numbers_in_text_but_not_inside_decimals() -> None:
    assert is_valid_nhs_number("9434765919")
    assert _holds_nhs_number("cost,9434765919,1.5") and _holds_nhs_number("NHS 943 476 5919.")
    assert not _holds_nhs_number("557867.9434765919") and not _holds_nhs_number("x,-12.9434765919e3")


def _holds_nhs_number(text: str) -> bool:
    return contains_nhs_number(text)


def _cells(path: Path) -> Iterator[str]:
    """Every line of a text file, or every cell (as text) of a Parquet file."""
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        for column in frame.columns:
            yield from (str(v) for v in frame[column].cast(pl.String, strict=False).drop_nulls().to_list())
    elif path.suffix in TEXT_SUFFIXES or path.name in ("champion", "current"):
        yield from path.read_text(encoding="utf-8", errors="replace").splitlines()


@pytest.fixture(scope="session")
def served(ics: Run, tmp_path_factory: pytest.TempPathFactory) -> tuple[config.Settings, dict[str, str], list[str]]:
    """Two coordinator tokens made with the CLI, used on the page and API; the CLI's own output kept apart."""
    settings = config.load(ics.config)
    tokens: dict[str, str] = {}
    printed = []
    pcn_codes = sorted(p.name for p in (ics.workspace / "outputs" / "lists" / "current" / "pcn").iterdir())[:2]
    for user, pcn in zip(("alice", "bob"), pcn_codes, strict=True):
        completed = subprocess.run(
            cli_command(ics.config, ("serve", "--add-token", user, "--pcn", pcn)),
            cwd=ics.workspace,
            env=cli_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        tokens[user] = completed.stdout.strip().splitlines()[-1].strip()
        printed.append(completed.stdout + completed.stderr)
    client = TestClient(create_app(settings))
    for user, pcn in zip(tokens, pcn_codes, strict=True):
        bearer = {"Authorization": f"Bearer {tokens[user]}"}
        assert client.get(f"/api/v1/pcn/{pcn}/list", headers=bearer).status_code == 200
        assert client.get(f"/api/v1/pcn/{pcn}/list.csv", headers=bearer).status_code == 200
        assert client.post("/login", data={"token": tokens[user]}, follow_redirects=False).status_code == 303
    other = [p for p in pcn_codes if p != pcn_codes[0]][0]
    assert (
        client.get(f"/api/v1/pcn/{other}/list", headers={"Authorization": f"Bearer {tokens['alice']}"}).status_code
        == 403
    )
    # A wrong token (one character changed) is refused and must not be logged either.
    wrong = tokens["alice"][:-1] + ("A" if tokens["alice"][-1] != "A" else "B")
    assert client.post("/login", data={"token": wrong}, follow_redirects=False).status_code == 401
    tokens["wrong"] = wrong
    return settings, tokens, printed


def _audit_log(settings: config.Settings) -> Path:
    return settings.serve.audit_log or settings.paths.outputs / "serve" / "audit.jsonl"


def _everything(ics: Run, settings: config.Settings) -> list[Path]:
    records = list(_files(ics.workspace / "outputs", ics.workspace / "models", _audit_log(settings)))
    assert any(p.parts[-3] == "runs" for p in records), "no run records found"
    return records


def _logs(ics: Run) -> list[tuple[str, str]]:
    return [
        (f"{name} {stream}", text)
        for name, (out, err) in ics.logs.items()
        for stream, text in (("stdout", out), ("stderr", err))
    ]


def test_raw_nhs_numbers_were_injected_and_are_masked_in_quarantine(ics: Run) -> None:
    dirt = pl.read_parquet(ics.base / "truth" / "dirt.parquet")
    injected = dirt.filter(pl.col("kind") == "raw_nhs_number")
    assert injected.height >= 3, "the run must contain raw NHS numbers for these checks to mean anything"
    con = duckdb.connect(str(ics.workspace / "warehouse" / "popheath.duckdb"), read_only=True)
    try:
        quarantined = con.execute("SELECT count(*) FROM quarantine WHERE rule = 'raw_nhs_number'").fetchone()
        assert quarantined is not None and quarantined[0] == injected.height
        # No cell of any table, quarantine included, holds a raw NHS number.
        columns = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main' "
            "AND data_type IN ('VARCHAR', 'BIGINT', 'INTEGER', 'HUGEINT', 'JSON')"
        ).fetchall()
        leaks = []
        for table, column in columns:
            condition = nhs_number_sql(f'"{column}"')
            found = con.execute(f'SELECT count(*) FROM "{table}" WHERE {condition}').fetchone()
            if found and found[0]:
                leaks.append(f"{table}.{column}: {found[0]}")
        assert leaks == []
        # JSON and text columns holding whole rows (quarantine.raw_row ...) are searched as text too.
        texts = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main' "
            "AND data_type IN ('VARCHAR', 'JSON')"
        ).fetchall()
        for table, column in texts:
            values = con.execute(f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{table}"').fetchall()
            assert not any(_holds_nhs_number(str(v[0])) for v in values), f"{table}.{column}"
    finally:
        con.close()


def test_no_output_model_record_or_log_holds_a_raw_nhs_number(
    ics: Run, served: tuple[config.Settings, dict[str, str], list[str]]
) -> None:
    settings, _, printed = served
    checked = 0
    for path in _everything(ics, settings):
        for number, line in enumerate(_cells(path), start=1):
            checked += 1
            assert not _holds_nhs_number(line), f"{path} line {number}: {line[:200]}"
    for name, text in _logs(ics) + [("serve --add-token", text) for text in printed]:
        for number, line in enumerate(text.splitlines(), start=1):
            assert not _holds_nhs_number(line), f"{name} line {number}: {line[:200]}"
    assert checked > 10_000


def test_published_capitation_tables_have_no_person_level_columns_and_pass_suppression(ics: Run) -> None:
    settings = config.load(ics.config)
    tables = sorted((ics.workspace / "outputs" / "capitation").rglob("*.csv"))
    assert tables, "capitation published nothing"
    for path in tables:
        check_published(str(path), pd.read_csv(path), settings.capitation.suppress_below, settings.capitation.round_to)


def test_logs_hold_no_person_level_rows(ics: Run) -> None:
    con = duckdb.connect(str(ics.workspace / "warehouse" / "popheath.duckdb"), read_only=True)
    try:
        people = {r[0] for r in con.execute("SELECT person_key FROM person").fetchall()}
        people |= {r[0] for r in con.execute("SELECT person_id FROM stg_population").fetchall()}
    finally:
        con.close()
    assert len(people) >= 2_500
    for name, text in _logs(ics):
        leaked = sorted(set(TOKEN.findall(text)) & people)
        assert leaked == [], f"{name}: person tokens in the log, e.g. {leaked[:3]}"


def test_coordinator_tokens_are_stored_only_as_hashes(
    ics: Run, served: tuple[config.Settings, dict[str, str], list[str]]
) -> None:
    settings, tokens, _ = served
    audit = _audit_log(settings)
    assert audit.is_file() and audit.read_text(encoding="utf-8").strip(), "the page and API wrote no audit log"
    tokens_file = settings.serve.tokens_file
    assert tokens_file is not None and tokens_file.is_file()
    secrets = list(tokens.values())
    assert all(len(secret) >= 20 for secret in secrets)
    for path in [*_files(ics.workspace / "outputs", ics.workspace / "models", audit, tokens_file)]:
        data = path.read_bytes()
        found = [user for user, secret in tokens.items() if secret.encode() in data]
        assert found == [], f"{path}: holds the token of {found}"
    for name, text in _logs(ics):
        assert not any(secret in text for secret in secrets), name
