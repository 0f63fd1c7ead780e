"""Feedback summaries and the hold off "new"; coverage flags on hand-made practices; the segment rule diff."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from popheath import config
from popheath.errors import InputError
from popheath.lists import coverage, feedback
from popheath.lists.annotate import annotate_lists
from popheath.lists.rules import DEFAULT_RULES
from popheath.stages import segment

from .listworld import P, World, tok

AS_OF = date(2025, 4, 1)


def test_latest_action_run_start_and_hold(tmp_path: Path) -> None:
    store = feedback.FeedbackStore(tmp_path / "fb.sqlite3")
    for day, action, reason in [
        (date(2025, 1, 5), "contacted", None),
        (date(2025, 2, 1), "already_on_caseload", None),
        (date(2025, 3, 1), "already_on_caseload", None),
    ]:
        store.record(feedback.Action("u", "PCN1", tok(1), action, reason, action_date=day), 500)
    store.record(
        feedback.Action("u", "PCN1", tok(2), "not_suitable", "risk_not_modifiable", action_date=date(2024, 6, 1)), 500
    )
    latest = feedback.latest_actions(store.actions()).set_index("person_token")
    assert latest.loc[tok(1), "action_summary"] == "on caseload since 2025-02-01"
    assert latest.loc[tok(2), "action_summary"] == "judged not suitable on 2024-06-01 (Risk not modifiable by the team)"
    held = feedback.held_off_new(latest.reset_index(), AS_OF, hold_days=90)
    assert held == {("PCN1", tok(1))}  # tok(2)'s action is older than 90 days
    with pytest.raises(InputError, match="field reason"):
        store.record(feedback.Action("u", "PCN1", tok(3), "contacted", "other"), 500)


def test_a_correction_is_a_new_row_and_replaces_the_entry(tmp_path: Path) -> None:
    store = feedback.FeedbackStore(tmp_path / "fb.sqlite3")
    first = store.record(feedback.Action("ann", "PCN1", tok(1), "contacted", action_date=date(2025, 3, 1)), 500)
    other = store.record(feedback.Action("ann", "PCN1", tok(2), "declined", action_date=date(2025, 3, 1)), 500)
    fixed = store.record(
        feedback.Action("ben", "PCN1", tok(1), "already_on_caseload", action_date=date(2025, 2, 20), corrects=1), 500
    )
    assert (first["action_id"], other["action_id"], fixed["action_id"], fixed["corrects"]) == (1, 2, 3, 1)
    # Actions in force: the corrected entry is gone, the correction stands (it also feeds the next list).
    assert store.actions()[["action_id", "action"]].values.tolist() == [[3, "already_on_caseload"], [2, "declined"]]
    latest = feedback.latest_actions(store.actions()).set_index("person_token")
    assert latest.loc[tok(1), "action_summary"] == "on caseload since 2025-02-20"
    # Nothing is deleted: the history keeps both rows, who corrected it and when.
    history = store.history("PCN1", tok(1))
    assert [(h["action_id"], h["user"], h["corrects"], h["corrected_by"]) for h in history] == [
        (1, "ann", None, 3),
        (3, "ben", 1, None),
    ]
    assert history[1]["recorded_at"]
    with pytest.raises(InputError, match="entry 1 was corrected by entry 3"):
        store.record(feedback.Action("ben", "PCN1", tok(1), "contacted", corrects=1), 500)
    with pytest.raises(InputError, match="field corrects"):  # another person's entry
        store.record(feedback.Action("ben", "PCN1", tok(1), "contacted", corrects=2), 500)
    with pytest.raises(InputError, match="field corrects"):  # another PCN's entry
        store.record(feedback.Action("ben", "PCN2", tok(2), "contacted", corrects=2), 500)
    with pytest.raises(InputError, match="field corrects"):  # no such entry
        store.record(feedback.Action("ben", "PCN1", tok(1), "contacted", corrects=99), 500)
    assert len(store.actions()) == 2


def test_a_store_made_before_corrections_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    con = sqlite3.connect(path)
    con.executescript(feedback.SCHEMA.replace(",\n    corrects INTEGER REFERENCES feedback_actions (action_id)", ""))
    con.execute(
        "INSERT INTO feedback_actions (recorded_at, action_date, user, pcn_code, person_token, action)"
        " VALUES ('2025-03-01T00:00:00+00:00', '2025-03-01', 'ann', 'PCN1', ?, 'contacted')",
        (tok(1),),
    )
    con.commit()
    con.close()
    store = feedback.FeedbackStore(path)
    assert store.actions()["corrects"].isna().all() and len(store.actions()) == 1  # read before any write
    store.record(feedback.Action("ben", "PCN1", tok(1), "declined", action_date=date(2025, 3, 2), corrects=1), 500)
    assert store.actions()["action"].tolist() == ["declined"]


def _practice_rows(**last: date | None) -> pd.DataFrame:
    return pd.DataFrame([{f"practice_last_{source}": last.get(source) for source in coverage.SOURCES}])


def test_coverage_flags_name_missing_and_stale_sources() -> None:
    fresh = date(2025, 3, 15)
    full = _practice_rows(acute=fresh, ed=fresh, outpatient=fresh, community=fresh, social_care=fresh)
    no_asc = _practice_rows(acute=fresh, ed=fresh, outpatient=fresh, community=fresh)
    stale = _practice_rows(
        acute=fresh, ed=fresh, outpatient=fresh, community=date(2024, 9, 30), social_care=date(2024, 10, 31)
    )
    flags = coverage.coverage_flags(pd.concat([full, no_asc, stale], ignore_index=True), AS_OF, stale_days=120)
    assert flags.tolist() == [
        "",
        "no social care data for this practice",
        "no community or social care data for this practice since 2024-10-31",
    ]


def test_performance_by_coverage_does_not_depend_on_row_order() -> None:
    """The bootstrap interval is seeded; the rows' order (a SQL join's, unordered) must not move it."""
    rng = np.random.default_rng(5)
    risk = rng.uniform(0, 0.3, 600)
    frame = pd.DataFrame(
        {
            "risk": risk,
            "outcome": (rng.uniform(size=600) < risk).astype(float),
            "coverage_group": np.where(rng.uniform(size=600) < 0.7, "full", "partial"),
        }
    )
    table = coverage.performance_by_coverage(frame, bootstrap=50)
    shuffled = coverage.performance_by_coverage(frame.sample(frac=1.0, random_state=3), bootstrap=50)
    pd.testing.assert_frame_equal(table, shuffled)
    assert list(table["coverage_group"]) == ["full", "partial"]
    assert (table["auroc_lower"] <= table["auroc"]).all() and (table["auroc"] <= table["auroc_upper"]).all()


def test_annotate_holds_new_and_adds_sources() -> None:
    lists = pd.DataFrame({"pcn_code": ["PCN1", "PCN1"], "person_token": [tok(1), tok(2)], "change": ["new", "new"]})
    latest = pd.DataFrame(
        {
            "pcn_code": ["PCN1"],
            "person_token": [tok(1)],
            "last_action": ["contacted"],
            "last_action_date": [date(2025, 3, 20)],
            "action_summary": ["contacted on 2025-03-20"],
        }
    )
    fresh = date(2025, 3, 1)
    cov = pd.DataFrame(
        {
            "person_key": [tok(1), tok(2)],
            "has_acute": [True, False],
            "has_ed": [True, False],
            "has_outpatient": [False, False],
            "has_community": [True, False],
            "has_social_care": [False, False],
            **{f"practice_last_{s}": [fresh, fresh] for s in coverage.SOURCES if s != "social_care"},
            "practice_last_social_care": [None, None],
        }
    )
    out = annotate_lists(lists, AS_OF, latest, cov, hold_days=90, stale_days=120)
    assert out["change"].tolist() == ["unchanged", "new"]
    assert out["data_sources"].tolist() == ["acute (inpatient), A&E, community", "none"]
    assert out["coverage_flag"].tolist() == ["no social care data for this practice"] * 2
    assert out["last_action"].iloc[0] == "contacted" and pd.isna(out["last_action"].iloc[1])


def test_coverage_practice_table_from_hand_made_coverage(world: World, settings: config.Settings) -> None:
    world.add(AS_OF, [P(tok(n), risk=0.1 * n, practice="A81001" if n < 3 else "A81002") for n in range(1, 5)])
    con = world.connect()
    con.execute(
        "CREATE TABLE coverage AS SELECT $as_of::DATE AS as_of, person_key, practice_code, pcn_code,"
        " person_key = $one AS has_acute, false AS has_ed, false AS has_outpatient, false AS has_community,"
        " false AS has_social_care,"
        " CASE WHEN practice_code = 'A81001' THEN DATE '2025-03-01' END AS practice_last_acute,"
        " NULL::DATE AS practice_last_ed, NULL::DATE AS practice_last_outpatient,"
        " NULL::DATE AS practice_last_community, NULL::DATE AS practice_last_social_care"
        " FROM cohort WHERE as_of = $as_of",
        {"as_of": AS_OF, "one": tok(1)},
    )
    con.close()
    result = segment.run(settings, AS_OF)
    assert result.summary["coverage (people / practice x source rows)"] == "4 / 10"
    con = duckdb.connect(str(settings.paths.warehouse))
    row = con.execute(
        "SELECT people, people_with_record, share_with_record, last_activity, days_since_last_activity"
        " FROM coverage_practice WHERE practice_code = 'A81001' AND source = 'acute'"
    ).fetchone()
    con.close()
    assert row == (2, 1, 0.5, date(2025, 3, 1), 31)


def test_segment_rule_diff_counts_who_moves_and_why(world: World, settings: config.Settings, tmp_path: Path) -> None:
    people = [P(tok(1), risk=0.9, hfrs=20.0), P(tok(2), risk=0.8, hfrs=10.0), P(tok(3), risk=0.7, hfrs=6.0)]
    world.add(AS_OF, people)
    segment.run(settings, AS_OF)
    rules = yaml.safe_load(DEFAULT_RULES.read_text())
    for rule in rules["rules"]:
        if rule["segment"] == "frailty_severe":
            rule["all"] = [{"column": "cohort.hfrs", "op": ">", "value": 8}]
    rules["version"] = "proposed"
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(yaml.safe_dump(rules))
    result = segment.run(settings, AS_OF, diff_rules=proposed)
    assert result.summary["people"] == 3 and result.summary["would move"] == 1
    assert result.summary["largest moves"] == {"frailty_moderate -> frailty_severe": 1}
    moves = pd.read_csv(next(p for p in result.outputs if p.suffix == ".csv"))
    moved = moves[moves["current_segment"] != moves["proposed_segment"]].iloc[0]
    # The rule trace is in words (segments.yaml labels), never a raw expression such as "cohort.hfrs > 8.0".
    assert moved["proposed_rule"] == "Severe frailty: Hospital Frailty Risk Score above 8"
    text = next(p for p in result.outputs if p.suffix == ".md").read_text()
    assert "1 of 3 people (33.3%) would change segment" in text
    # Nothing in the warehouse changed.
    con = duckdb.connect(str(settings.paths.warehouse))
    assert con.execute("SELECT segment FROM segments WHERE person_key = $k", {"k": tok(2)}).fetchone() == (
        "frailty_moderate",
    )
    con.close()
