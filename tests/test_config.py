from datetime import date
from pathlib import Path

import pytest

from popheath import config
from popheath.errors import ConfigError


def test_defaults_when_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(config.CONFIG_ENV, raising=False)
    settings = config.load()
    assert settings.duckdb.threads == 2
    assert settings.paths.raw == tmp_path / "data/raw"


def test_file_values_are_typed_and_paths_resolve_against_the_file(tmp_path: Path) -> None:
    path = tmp_path / "popheath.toml"
    path.write_text('as_of = "2025-01-31"\n[paths]\nraw = "extracts"\n[link]\nics_provider_prefixes = ["RXX"]\n')
    settings = config.load(path)
    assert settings.as_of == date(2025, 1, 31)
    assert settings.paths.raw == tmp_path / "extracts"
    assert settings.link.ics_provider_prefixes == ("RXX",)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "popheath.toml"
    path.write_text("[duckdb]\nthreads = 2\nthread = 3\n")
    with pytest.raises(ConfigError, match=r"duckdb\.thread"):
        config.load(path)


def test_bad_type_is_named(tmp_path: Path) -> None:
    path = tmp_path / "popheath.toml"
    path.write_text('[lists]\ncapacity_per_pcn = "many"\n')
    with pytest.raises(ConfigError, match=r"lists\.capacity_per_pcn"):
        config.load(path)


def test_overrides_apply_dotted_keys() -> None:
    settings = config.with_overrides(config.Settings(), **{"duckdb.threads": 1, "as_of": date(2024, 1, 1)})
    assert settings.duckdb.threads == 1
    assert settings.as_of == date(2024, 1, 1)


def test_connectors_choose_a_layout_per_source(tmp_path: Path) -> None:
    from popheath.quality.mapping import connector_for

    path = tmp_path / "popheath.toml"
    path.write_text('[ingest]\nmapping = "hes"\nconnectors = {apc = "ncdr"}\n')
    settings = config.load(path)
    assert connector_for(settings.ingest, "apc").name == "ncdr"  # named per source
    assert connector_for(settings.ingest, "opa").name == "hes"  # the mapping covers it
    defaults = config.Settings().ingest  # no mapping: every source in its national layout
    assert [connector_for(defaults, s).name for s in ("population", "apc", "opa", "ecds", "csds", "asc")] == [
        "pds",
        "ncdr",
        "ncdr",
        "ecds",
        "csds",
        "asc_cld",
    ]
