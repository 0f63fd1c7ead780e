"""``popheath evaluate-lists`` end to end on a small warehouse with a planted effect and stored feedback."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from popheath import config
from popheath.lists import feedback
from popheath.stages import evaluate_lists
from popheath.synth.intervention import plant_intervention

AS_OF = date(2025, 5, 1)


def test_stage_writes_report_with_effect_and_calibration(tmp_path: Path) -> None:
    base = config.Settings()
    settings = dataclasses.replace(
        base,
        paths=dataclasses.replace(base.paths, warehouse=tmp_path / "w.duckdb", outputs=tmp_path / "out"),
        evaluation=dataclasses.replace(base.evaluation, bootstrap_samples=100),
    )
    world = plant_intervention(people=3000, rate_ratio=0.5, seed=11)
    pop = world.population
    admissions = world.admissions
    after = admissions[(admissions["admission_date"] >= pd.Timestamp(world.list_date))]
    admitted = set(after.loc[after["admission_date"] < pd.Timestamp(2025, 4, 1), "person_key"])
    con = duckdb.connect(str(settings.paths.warehouse))
    con.register("pop", pop)
    con.register("adm", admissions)
    con.execute(
        "CREATE TABLE scores AS SELECT list_date AS as_of, person_key, 'acsc_admission_12m' AS model_name,"
        " 'v1' AS model_version, risk FROM pop"
    )
    con.execute(
        "CREATE TABLE cohort AS SELECT list_date AS as_of, person_key, age_band, pcn_code, practice_code FROM pop"
    )
    con.execute(
        "CREATE TABLE segments AS SELECT list_date AS as_of, person_key, segment,"
        " CASE WHEN risk > 0.2 THEN 'high' ELSE 'low' END AS tier FROM pop"
    )
    con.register("admitted", pd.DataFrame({"person_key": sorted(admitted)}))
    con.execute(
        "CREATE TABLE labels AS SELECT list_date AS as_of, person_key,"
        " CAST(person_key IN (SELECT person_key FROM admitted) AS INTEGER) AS acsc_admission_12m FROM pop"
    )
    con.execute(
        "CREATE TABLE clin_spells AS SELECT person_key, CAST(admission_date AS DATE) AS admission_date,"
        " true AS is_emergency FROM adm"
    )
    con.close()
    store = feedback.FeedbackStore(feedback.feedback_path(settings.paths.outputs))
    for row in world.actions.to_dict("records"):
        store.record(
            feedback.Action(
                "coordinator",
                row["pcn_code"],
                row["person_token"],
                row["action"],
                action_date=row["action_date"],
                list_as_of=world.list_date,
            ),
            500,
        )
    result = evaluate_lists.run(settings, AS_OF)
    effect = pd.read_csv(settings.paths.outputs / "evaluation" / "latest" / "contact_effect.csv")
    twelve = effect[effect["horizon_months"] == 12].iloc[0]
    assert twelve["rate_ratio_lower"] <= 0.5 <= twelve["rate_ratio_upper"] and twelve["rate_ratio_upper"] < 1
    assert twelve["pairs"] >= 0.95 * world.contacted
    calibration = pd.read_csv(settings.paths.outputs / "evaluation" / "latest" / "calibration.csv")
    deciles = calibration[calibration["group_type"] == "risk_decile"]
    assert len(deciles) == 10 and deciles["people"].sum() == 3000
    assert set(calibration.loc[calibration["group_type"] == "tier", "group_value"]) == {"high", "low"}
    text = (settings.paths.outputs / "evaluation" / "latest" / "report.md").read_text()
    assert "observational comparison, not a trial" in text
    page = (settings.paths.outputs / "evaluation" / "latest" / "report.html").read_text()
    # Real HTML, not Markdown in <pre>: the same headings and tables, with no external resources.
    assert "<pre" not in page and "|---|" not in page
    assert "<h2>Contacted people against matched people</h2>" in page and "<h3>By risk decile</h3>" in page
    assert page.count("<table>") == sum(line.startswith("|---") for line in text.splitlines()) >= 4
    assert "http" not in page
    assert "2024-04-01 12m rate ratio" in result.summary
