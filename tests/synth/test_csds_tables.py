"""The generated CSDS v1.6 deliveries: tables the csds connector recognises, national team type codes,
several team types per referral, and resubmissions stacked in a delivery and in the next month's."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from popheath.ingest.connectors.layouts import load_layout
from popheath.quality.mapping import load_mapping
from popheath.synth import csds_tables, generate

from .extract_files import read_table, table_files

TABLES = ("CYP201CareContact", "CYP101Referral", "CYP102ServiceTypeReferredTo", "CYP001MPI", "Bridging")


@pytest.fixture(scope="module")
def ics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("csds_ics")
    generate.write(3_000, 11, out)
    return out


def test_every_delivery_has_the_five_tables_recognised_by_the_connector(ics: Path) -> None:
    layout = load_layout(load_mapping("csds"), "csds")
    assert layout is not None
    names = {t.name: t for t in layout.tables}
    months = sorted(p.name for p in (ics / "raw" / "csds").iterdir())
    assert months[0] == "2021-04" and months[-1] == "2025-03"
    for table in TABLES:
        files = table_files(ics, "csds", table)
        assert [f.parent.name for f in files] == months, table
        headers = pl.read_parquet_schema(files[0]).keys()
        # By headers alone (the file-name patterns aside), each file is the table it is named after.
        assert layout.table_of(Path("extract.parquet"), list(headers)) == names[table], table


def test_team_codes_are_national_and_a_referral_can_have_several(ics: Path) -> None:
    listed = set(load_mapping("csds").for_source("csds").values["team_type"])
    teams = read_table(ics, "csds", "CYP102ServiceTypeReferredTo")
    assert set(teams[csds_tables.TEAM_CODE]) <= listed
    assert {"12", "51", "26"} <= set(teams[csds_tables.TEAM_CODE])
    per_referral = (
        teams.unique(subset=["SERVICE REQUEST IDENTIFIER", csds_tables.TEAM_CODE])
        .group_by("SERVICE REQUEST IDENTIFIER")
        .len()
    )
    several = per_referral.filter(pl.col("len") > 1).height / per_referral.height
    assert 0.02 < several < 0.10  # about 5% also referred to a team that rejected them
    # The second team of a referral rejected it: every referral keeps a team that did not.
    rejected = teams.filter(pl.col("REFERRAL REJECTION DATE").is_not_null())["SERVICE REQUEST IDENTIFIER"]
    accepted = teams.filter(pl.col("REFERRAL REJECTION DATE").is_null())["SERVICE REQUEST IDENTIFIER"]
    assert rejected.len() > 0 and set(rejected) <= set(accepted)


def test_contacts_are_resubmitted_in_their_delivery_and_the_next(ics: Path) -> None:
    files = table_files(ics, "csds", "CYP201CareContact")
    contacts = pl.concat([pl.read_parquet(f).with_columns(_delivery=pl.lit(f.parent.name)) for f in files])
    key = csds_tables.CONTACT_ID
    unique = contacts[key].n_unique()
    stacked = contacts.group_by(key, "_delivery").agg(pl.col(csds_tables.SUBMISSION).n_unique().alias("n"))
    assert 0.01 < stacked.filter(pl.col("n") > 1).height / unique < 0.04
    deliveries = contacts.group_by(key).agg(pl.col("_delivery").n_unique().alias("n"))
    assert 0.005 < deliveries.filter(pl.col("n") > 1).height / unique < 0.03
    # A resubmission is always a later submission than the one it replaces.
    ordered = (
        contacts.sort("_delivery", csds_tables.SUBMISSION)
        .group_by(key, maintain_order=True)
        .agg(pl.col(csds_tables.SUBMISSION))
    )
    assert all(list(s) == sorted(s) for s in ordered[csds_tables.SUBMISSION].head(2000))
    # The bridge gives every person id of a delivery one pseudonymised NHS number.
    bridge = read_table(ics, "csds", "Bridging")
    assert bridge.unique().group_by("Person_ID").len()["len"].max() == 1
