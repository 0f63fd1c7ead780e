from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from popheath import config
from popheath.errors import StageError
from popheath.lists import files, release
from popheath.lists.tiers import choose_model
from popheath.stages import publish, segment

from .listworld import P, Spell, World, settings_for, tok

AS_OF = date(2025, 4, 1)
AS_OF_2 = AS_OF + timedelta(days=7)


def _publish(settings: config.Settings, as_of: date) -> release.Release:
    segment.run(settings, as_of)
    publish.run(settings, as_of)
    current = release.current_release(release.lists_root(settings.paths.outputs))
    assert current is not None
    return current


def _csv(current: release.Release, pcn: str, name: str = files.LIST_FILE) -> pd.DataFrame:
    return files.read_csv(current.path / "pcn" / pcn / name)


def test_capacity_cut_off_breaks_ties_by_token(world: World, settings: config.Settings) -> None:
    # PCN1: five people, capacity 3, three tied at 0.5 for ranks 2-4: the two lowest tokens get in.
    people = [
        P(tok(9), risk=0.9),
        P(tok(7), risk=0.5),
        P(tok(3), risk=0.5, practice="A81002"),
        P(tok(5), risk=0.5),
        P(tok(1), risk=0.1),
        P(tok(20), pcn="PCN2", risk=0.3),
        P(tok(21), pcn="PCN2", risk=0.2),
    ]
    world.add(AS_OF, people)
    current = _publish(settings, AS_OF)
    pcn1 = _csv(current, "PCN1")
    assert pcn1["person_token"].tolist() == [tok(9), tok(3), tok(5)]
    assert pcn1["rank"].tolist() == ["1", "2", "3"]
    assert _csv(current, "PCN2")["person_token"].tolist() == [tok(20), tok(21)]  # below capacity: everyone
    practice = files.read_csv(current.path / "pcn/PCN1/practices/A81001.csv")
    assert practice["person_token"].tolist() == [tok(9), tok(5)] and practice["practice_rank"].tolist() == ["1", "2"]
    assert current.manifest["counts"]["listed_per_pcn"] == {"PCN1": 3, "PCN2": 2}


def test_type1_objections_never_appear_but_national_opt_outs_do(world: World, settings: config.Settings) -> None:
    # The type 1 objector is (wrongly) in the cohort and scored upstream: publish still drops them.
    people = [
        P(tok(1), risk=0.9, type1=True, in_cohort=True),
        P(tok(2), risk=0.8, ndoo=True),
        P(tok(3), risk=0.7),
    ]
    world.add(AS_OF, people, score_everyone=True)
    current = _publish(settings, AS_OF)
    tokens = _csv(current, "PCN1")["person_token"].tolist()
    assert tokens == [tok(2), tok(3)]
    assert current.manifest["counts"]["excluded"]["type1_objection"] == 1
    everything = b"".join(p.read_bytes() for p in current.path.rglob("*") if p.is_file())
    assert tok(1).encode() not in everything


def test_change_flags_and_left_the_list_reasons(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, capacity_per_pcn=9, tier_cutoffs=(0.1, 0.3, 0.6))
    world = World(settings.paths.warehouse)
    a, b, c, d, e, f, g, h, i, j, x = (tok(n) for n in range(1, 12))
    new = [tok(100 + n) for n in range(5)]
    first = [
        P(c, risk=0.99),  # rank 1 of 10: very high
        P(a, risk=0.90),  # 2: high
        P(e, risk=0.80),
        P(f, risk=0.75),
        P(g, risk=0.70),
        P(h, risk=0.65),
        P(i, risk=0.60),
        P(j, risk=0.55),
        P(b, risk=0.20),  # 9: low, last place on the list
        P(x, risk=0.10),  # 10: below capacity both times
    ]
    world.add(AS_OF, first)
    _publish(settings, AS_OF)

    world.spells = [
        Spell(a, AS_OF_2 - timedelta(days=30), AS_OF_2 - timedelta(days=20), emergency=True),
        Spell(a, AS_OF_2 - timedelta(days=8), AS_OF_2 - timedelta(days=5), emergency=False),
        Spell(a, AS_OF_2 + timedelta(days=3), AS_OF_2 + timedelta(days=6), emergency=True),  # after the as-of date
    ]
    second = [
        P(d, risk=0.98),  # 1 of 12: very high, new
        P(b, risk=0.95, social_care=True),  # 2: high (was low): risen
        P(a, risk=0.90),  # 3: high (was high): unchanged
        P(h, pcn="PCN2", risk=0.65),  # moved PCN: new on PCN2, left PCN1
        *[P(token, risk=0.58 - 0.02 * n) for n, token in enumerate(new)],  # ranks 5-9
        P(c, risk=0.45),  # 10: low (was very high): fallen, 9th on PCN1
        P(i, risk=0.40),  # 11: 10th on PCN1, over capacity
        P(x, risk=0.10),
        P(e, died=AS_OF_2 - timedelta(days=2), risk=0.8),
        P(f, type1=True, risk=0.75),
        P(g, reg_end=AS_OF_2 - timedelta(days=1), risk=0.7),
        P(j, risk=None),  # still registered, no longer scored
    ]
    world.add(AS_OF_2, second)
    current = _publish(settings, AS_OF_2)

    pcn1 = _csv(current, "PCN1").set_index("person_token")
    assert pcn1.index.tolist() == [d, b, a, *new, c]
    assert pcn1.loc[d, "change"] == "new" and pcn1.loc[d, "previous_tier"] == ""
    assert (pcn1.loc[b, "change"], pcn1.loc[b, "tier"], pcn1.loc[b, "previous_tier"]) == ("risen", "high", "low")
    assert (pcn1.loc[a, "change"], pcn1.loc[a, "tier"]) == ("unchanged", "high")
    assert (pcn1.loc[c, "change"], pcn1.loc[c, "tier"], pcn1.loc[c, "previous_tier"]) == ("fallen", "low", "very_high")
    assert set(pcn1.loc[new, "change"]) == {"new"}
    assert pcn1.loc[a, "on_list_since"] == AS_OF.isoformat() and pcn1.loc[d, "on_list_since"] == AS_OF_2.isoformat()
    assert pcn1.loc[a, "last_emergency_admission"] == (AS_OF_2 - timedelta(days=30)).isoformat()
    # The planned stay discharged 5 days ago does not count: only emergency discharges do.
    assert pcn1.loc[a, "days_since_emergency_discharge"] == "20"
    assert pcn1.loc[d, "last_emergency_admission"] == "" and pcn1.loc[d, "days_since_emergency_discharge"] == ""
    assert pcn1.loc[b, "social_care"] == "Y" and pcn1.loc[a, "social_care"] == "N"

    pcn2 = _csv(current, "PCN2")
    assert pcn2[["person_token", "change"]].values.tolist() == [[h, "new"]]

    left = _csv(current, "PCN1", files.LEFT_FILE).set_index("person_token")
    assert left["reason"].to_dict() == {
        e: "died",
        f: "opted_out",
        g: "deregistered",
        h: "moved_pcn",
        j: "no_longer_scored",
        i: "fell_below_capacity",
    }
    assert left.loc[i, "current_rank"] == "10" and left.loc[i, "previous_rank"] == "7"
    assert left.loc[h, "current_rank"] == ""
    assert _csv(current, "PCN2", files.LEFT_FILE).empty
    assert current.manifest["previous_release_id"] is not None


def test_previous_list_older_than_hold_days_is_not_compared(world: World, settings: config.Settings) -> None:
    world.add(AS_OF, [P(tok(1), risk=0.9), P(tok(2), risk=0.8)])
    _publish(settings, AS_OF)
    later = AS_OF + timedelta(days=settings.lists.new_hold_days + 1)
    world.add(later, [P(tok(1), risk=0.9)])
    current = _publish(settings, later)
    assert _csv(current, "PCN1")["change"].tolist() == ["new"]
    assert _csv(current, "PCN1", files.LEFT_FILE).empty
    assert current.manifest["previous_release_id"] is None


def test_rerun_of_a_date_compares_with_the_earlier_date_not_itself(world: World, settings: config.Settings) -> None:
    world.add(AS_OF, [P(tok(1), risk=0.9)])
    _publish(settings, AS_OF)
    world.add(AS_OF_2, [P(tok(1), risk=0.9), P(tok(2), risk=0.95)])
    first = _csv(_publish(settings, AS_OF_2), "PCN1")
    second = _csv(_publish(settings, AS_OF_2), "PCN1")
    assert first["change"].tolist() == second["change"].tolist() == ["new", "unchanged"]


def test_files_open_in_excel_and_match_the_manifest(world: World, settings: config.Settings) -> None:
    world.add(AS_OF, [P(tok(1), risk=0.9, reasons=("=HYPERLINK(1)", "frailty score 12 (moderate)", "aged 80"))])
    current = _publish(settings, AS_OF)
    raw = (current.path / "pcn/PCN1/list.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    header = raw[3:].split(b"\r\n")[0].decode()
    assert header.split(",") == [column.name for column in files.LIST_COLUMNS]
    row = _csv(current, "PCN1").iloc[0]
    assert row["reason_1"] == "'=HYPERLINK(1)"  # not a formula to Excel
    assert row["risk"] == "0.9000" and row["tier"] in {"very_high", "high", "moderate", "low"}
    assert release.verify_release(current) == []
    listed = {entry["path"]: entry for entry in current.manifest["files"]}
    assert listed["pcn/PCN1/list.csv"]["rows"] == 1
    assert current.manifest["as_of"] == AS_OF.isoformat() and current.manifest["model_version"] == "v1"
    assert json.loads((current.path / "validation.json").read_text())["success"] is True
    (current.path / "pcn/PCN1/list.csv").write_bytes(raw.replace(b"0.9000", b"0.1000"))
    assert release.verify_release(current) == ["pcn/PCN1/list.csv: checksum differs from the manifest"]


def test_keeps_the_last_n_releases(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, keep_releases=2)
    world = World(settings.paths.warehouse)
    world.add(AS_OF, [P(tok(1), risk=0.9)])
    ids = [_publish(settings, AS_OF).release_id for _ in range(3)]
    root = release.lists_root(settings.paths.outputs)
    assert [r.release_id for r in release.releases(root)] == ids[1:]
    current = release.current_release(root)
    assert current is not None and current.release_id == ids[2]


def test_a_raw_nhs_number_fails_validation_and_keeps_the_previous_release(
    world: World, settings: config.Settings
) -> None:
    world.add(AS_OF, [P(tok(1), risk=0.9)])
    before = _publish(settings, AS_OF)
    world.add(AS_OF_2, [P(tok(1), risk=0.9, reasons=("NHS 943 476 5919 seen", "b", "c"))])
    segment.run(settings, AS_OF_2)
    with pytest.raises(StageError, match="nhs_like_cells") as caught:
        publish.run(settings, AS_OF_2)
    assert "previous release kept" in str(caught.value)
    root = release.lists_root(settings.paths.outputs)
    after = release.current_release(root)
    assert after is not None and after.release_id == before.release_id
    assert release.verify_release(after) == []
    assert [r.release_id for r in release.releases(root)] == [before.release_id]
    assert len(list((root / "failed").glob("*.json"))) == 1
    assert not any((root / "staging").iterdir())


def test_publish_needs_segments_for_the_date(world: World, settings: config.Settings) -> None:
    world.add(AS_OF, [P(tok(1), risk=0.9)])
    segment.run(settings, AS_OF)
    world.add(AS_OF_2, [P(tok(1), risk=0.9)])
    with pytest.raises(StageError, match="popheath segment"):
        publish.run(settings, AS_OF_2)


def test_model_is_chosen_by_setting_or_acsc_name(world: World) -> None:
    world.add(AS_OF, [P(tok(1), risk=0.9)])
    con = world.connect()
    con.execute(
        "INSERT INTO scores SELECT as_of, person_key, 'emergency_12m', 'v3', 0.1, rank, percentile,"
        " reason_1, reason_2, reason_3 FROM scores"
    )
    assert choose_model(con, AS_OF, "") == ("acsc_admission_12m", "v1")
    assert choose_model(con, AS_OF, "emergency_12m") == ("emergency_12m", "v3")
    assert choose_model(con, AS_OF_2, "") is None
    with pytest.raises(StageError, match="not scored"):
        choose_model(con, AS_OF, "any_admission")
    con.execute(
        "INSERT INTO scores SELECT as_of, person_key, 'other', 'v1', risk, rank, percentile,"
        " reason_1, reason_2, reason_3 FROM scores WHERE model_name = 'emergency_12m'"
    )
    con.execute("UPDATE scores SET model_name = 'acsc_b' WHERE model_name = 'other'")
    with pytest.raises(StageError, match="model_name"):
        choose_model(con, AS_OF, "")
    con.close()
