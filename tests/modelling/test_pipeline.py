"""Train -> promote -> score on the planted population, end to end through the stage functions."""

import dataclasses
import json
import shutil
from datetime import date

import duckdb
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from popheath.errors import StageError
from popheath.modelling import estimators, promotion, registry, training
from popheath.results import StageResult
from popheath.stages import promote, score, train

from .conftest import PLANTED_TOP_FEATURE, TEST_AS_OF, TRAIN_AS_OF, PlantedWorld

ACSC = "acsc_admission_12m"


@pytest.fixture(scope="module")
def trained(world: PlantedWorld) -> tuple[PlantedWorld, StageResult, StageResult]:
    trained_result = train.run(world.settings, TEST_AS_OF)
    promoted = promote.run(world.settings, TEST_AS_OF)
    return world, trained_result, promoted


def _metrics(world: PlantedWorld, name: str = ACSC) -> dict:
    version = registry.champion(world.settings.paths.models, name)
    assert version is not None
    return registry.load(world.settings.paths.models, name, version).read_json(registry.METRICS_FILE)


def test_lightgbm_beats_every_baseline_and_finds_the_planted_feature(trained) -> None:
    world, _, _ = trained
    metrics = _metrics(world)
    aurocs = {name: values["auroc"] for name, values in metrics["populations"]["65plus"].items()}
    assert aurocs["lightgbm"] > aurocs["logistic"] + 0.01
    assert aurocs["lightgbm"] > aurocs["hfrs_only"] + 0.1
    assert aurocs["lightgbm"] > aurocs["rule_emergency_12m"] + 0.1
    # The generator's true probabilities are the ceiling, and LightGBM gets close to it.
    assert aurocs["lightgbm"] <= aurocs["oracle"] + 0.01
    assert aurocs["oracle"] - aurocs["lightgbm"] < 0.05
    assert metrics["oracle_coverage"] == 1.0
    assert next(iter(metrics["feature_importance_mean_abs_shap"])) == PLANTED_TOP_FEATURE


def test_champion_choice_ships_lightgbm_when_it_clears_the_margin_overall_and_in_frail(trained) -> None:
    world, result, _ = trained
    metrics = _metrics(world)
    choice = metrics["champion_choice"]
    populations = metrics["populations"]
    # The planted band of community contacts is non-linear: LightGBM beats logistic everywhere by more than 0.01.
    for comparison in choice["comparisons"]:
        models = populations[comparison["population"]]
        assert comparison["lightgbm_auroc"] == pytest.approx(models["lightgbm"]["auroc"])
        assert comparison["logistic_auroc"] == pytest.approx(models["logistic"]["auroc"])
        assert comparison["difference"] > choice["margin"] == world.settings.model.champion_auroc_margin
        low, high = comparison["difference_ci"]
        assert low < comparison["difference"] < high
        assert comparison["passed"]
    assert choice["winner"] == metrics["primary_model"] == "lightgbm"
    assert "LightGBM clears the margin" in result.summary[f"{ACSC} champion"]


def test_champion_choice_ships_logistic_when_the_margin_is_not_cleared(world: PlantedWorld, tmp_path) -> None:
    settings = dataclasses.replace(
        world.settings,
        paths=dataclasses.replace(world.settings.paths, models=tmp_path / "models"),
        model=dataclasses.replace(world.settings.model, champion_auroc_margin=0.5, outcomes=(ACSC,)),
    )
    result = train.run(settings, TEST_AS_OF)
    promote.run(settings, TEST_AS_OF)
    version = registry.load_champion(settings.paths.models, ACSC)
    metrics = version.read_json(registry.METRICS_FILE)
    assert metrics["primary_model"] == "logistic" and not any(
        comparison["passed"] for comparison in metrics["champion_choice"]["comparisons"]
    )
    card = (version.path / "model_card.md").read_text()
    assert "**Logistic regression (L2, PARR/CPM-style) is deployed.**" in card
    assert "| Logistic regression (L2, PARR/CPM-style) (deployed) |" in card
    assert "Flagged subgroups for the deployed model (Logistic regression" in card or "No subgroup is flagged" in card
    assert result.summary[f"{ACSC} calibration"]["slope"] == pytest.approx(
        metrics["populations"]["65plus"]["logistic"]["calibration_slope"], abs=1e-3
    )
    # Scores, reasons and the drift reference come from the logistic regression.
    scored = score.run(settings, TEST_AS_OF)
    assert scored.summary[f"{ACSC} version"] == version.version
    con = duckdb.connect(str(settings.paths.warehouse), read_only=True)
    scores = con.execute("SELECT * FROM scores WHERE as_of = ? ORDER BY rank", [TEST_AS_OF]).df()
    con.close()
    labels = world.test.set_index("person_key").loc[scores["person_key"], ACSC].to_numpy()
    assert roc_auc_score(labels, scores["risk"]) == pytest.approx(metrics["populations"]["65plus"]["logistic"]["auroc"])
    assert scores.head(50)["reason_1"].notna().all()
    importance = metrics["feature_importance_mean_abs_shap"]
    assert set(importance) == set(version.features)
    assert promotion._stored_auroc(version) == metrics["populations"]["65plus"]["logistic"]["auroc"]


def test_evaluation_is_on_the_later_date_and_only_the_65_plus(trained) -> None:
    world, result, _ = trained
    metrics = _metrics(world)
    primary = metrics["populations"]["65plus"]["lightgbm"]
    test_65 = world.test.loc[world.test["is_65plus"]]
    assert primary["n"] == len(test_65)
    assert primary["events"] == int(test_65["acsc_admission_12m"].sum())
    assert metrics["test_as_of"] == TEST_AS_OF.isoformat()
    frail = metrics["populations"]["frail"]["lightgbm"]
    assert frail["n"] == int(test_65["is_frail"].sum())
    assert set(metrics["auroc_by_age_band"]["65plus"]["lightgbm"]) == {"65-74", "75-84", "85+"}
    for key in ("auroc_ci_low", "auprc", "brier", "calibration_slope", "calibration_intercept", "ppv_top_1pct"):
        assert primary[key] is not None
    assert primary["auroc_ci_low"] < primary["auroc"] < primary["auroc_ci_high"]
    assert 0.7 < primary["calibration_slope"] < 1.3
    assert result.summary["train_people"] == int(world.train["is_65plus"].sum())


def test_registry_holds_everything_the_card_needs(trained) -> None:
    world, result, promoted = trained
    assert promoted.summary["promoted"] == 2  # first versions become champions
    for path in result.outputs:
        names = {p.name for p in path.iterdir()}
        assert {
            "model.txt",
            "features.json",
            "training.json",
            "metrics.json",
            "calibration.csv",
            "subgroups.csv",
            "calibration.png",
            "importance.png",
            "model_card.md",
            "drift_reference.json",
            "logistic_baseline.json",
        } <= names
        assert (path / "calibration.png").read_bytes()[:4] == b"\x89PNG"
        features = json.loads((path / "features.json").read_text())
        assert features["feature_definition_version"] == "test-1.0"
        assert PLANTED_TOP_FEATURE in features["features"]
        training = json.loads((path / "training.json").read_text())
        assert training["train_as_of"] == "2023-04-01" and training["train_outcome_end"] == "2024-04-01"
        assert training["hyper_parameters"]["lightgbm"]["chosen"]["deterministic"] is True
        card = (path / "model_card.md").read_text()
        for heading in (
            "## Intended use",
            "## Population and data",
            "## Outcome",
            "## Predictors",
            "## Performance",
            "## Fairness",
            "## Limitations",
        ):
            assert heading in card
        assert "Recalibration of LightGBM: **" in card
        assert "Recalibration of Logistic regression (L2, PARR/CPM-style): **" in card
        assert "## Champion choice" in card and "### Calibration by subgroup (deployed model)" in card
        metrics = json.loads((path / "metrics.json").read_text())
        for comparison in metrics["champion_choice"]["comparisons"]:
            assert f"| {comparison['lightgbm_auroc']:.3f} (" in card
            assert f"| {comparison['logistic_auroc']:.3f} (" in card
        assert "target slope 0.9-1.1" in card
        subgroups = (path / "subgroups.csv").read_text().splitlines()[0]
        assert "flag_worse_discrimination" in subgroups and "flag_slope_outside_target" in subgroups
        assert "calibration_intercept" in subgroups


def test_scoring_writes_ranked_risks_with_reasons_and_is_idempotent(trained) -> None:
    world, _, _ = trained
    first = score.run(world.settings, TEST_AS_OF)
    second = score.run(world.settings, TEST_AS_OF)
    assert first.summary == second.summary
    con = duckdb.connect(str(world.settings.paths.warehouse), read_only=True)
    scores = con.execute("SELECT * FROM scores WHERE as_of = ? ORDER BY rank", [TEST_AS_OF]).df()
    drift = con.execute("SELECT * FROM drift WHERE as_of = ?", [TEST_AS_OF]).df()
    con.close()
    expected = int(world.test["is_65plus"].sum())
    assert len(scores) == expected and scores["person_key"].is_unique
    assert set(scores["model_name"]) == {ACSC}
    assert scores["rank"].tolist() == list(range(1, expected + 1))
    assert scores["risk"].is_monotonic_decreasing
    assert scores["percentile"].iloc[0] == 100.0
    top = scores.head(50)
    assert top["reason_1"].notna().all()
    assert top["reason_1"].str.contains("community care contacts").mean() > 0.5
    # The scored risk ranks the test outcome as well as at training time.
    labels = world.test.set_index("person_key").loc[scores["person_key"], "acsc_admission_12m"].to_numpy()
    assert roc_auc_score(labels, scores["risk"]) == pytest.approx(
        _metrics(world)["populations"]["65plus"]["lightgbm"]["auroc"]
    )
    assert len(drift) == 17 and set(drift["kind"]) == {"feature", "score"}
    # Same generating process a year apart: nothing should drift materially.
    assert drift["psi"].max() < 0.2 and not first.warnings


def test_scoring_warns_when_a_feature_drifts(trained, tmp_path) -> None:
    world, _, _ = trained
    copy = tmp_path / "drifted.duckdb"
    shutil.copy(world.settings.paths.warehouse, copy)
    con = duckdb.connect(str(copy))
    con.execute("UPDATE features SET hfrs = hfrs + 8 WHERE as_of = ?", [TEST_AS_OF])
    con.close()
    settings = dataclasses.replace(world.settings, paths=dataclasses.replace(world.settings.paths, warehouse=copy))
    result = score.run(settings, TEST_AS_OF)
    assert any("feature hfrs has drifted" in warning for warning in result.warnings)


def test_scoring_refuses_other_feature_definitions(trained, tmp_path) -> None:
    world, _, _ = trained
    other = tmp_path / "dictionary.yaml"
    other.write_text(world.settings.model.feature_dictionary.read_text().replace("test-1.0", "test-2.0"))
    settings = dataclasses.replace(
        world.settings, model=dataclasses.replace(world.settings.model, feature_dictionary=other)
    )
    with pytest.raises(StageError, match="feature-definition version test-1.0.*test-2.0"):
        score.run(settings, TEST_AS_OF)


def test_scoring_refuses_another_feature_list(trained, tmp_path) -> None:
    world, _, _ = trained
    copy = tmp_path / "fewer.duckdb"
    shutil.copy(world.settings.paths.warehouse, copy)
    con = duckdb.connect(str(copy))
    con.execute("ALTER TABLE features DROP COLUMN charlson_score")
    con.execute("ALTER TABLE features ADD COLUMN frailty_index DOUBLE")
    con.close()
    settings = dataclasses.replace(world.settings, paths=dataclasses.replace(world.settings.paths, warehouse=copy))
    with pytest.raises(
        StageError, match="missing from table features: charlson_score.*not known to the model: frailty_index"
    ):
        score.run(settings, TEST_AS_OF)


def test_promotion_gate_refuses_a_worse_challenger_and_accepts_a_better_one(trained) -> None:
    world, _, _ = trained
    root = world.settings.paths.models
    champion = registry.champion(root, ACSC)
    assert champion is not None
    source = root / ACSC / champion
    stored = json.loads((source / "metrics.json").read_text())
    auroc = stored["populations"]["65plus"]["lightgbm"]["auroc"]

    def challenger(label: str, delta: float) -> str:
        version = f"29990101T0000{label}Z-challenger"
        shutil.copytree(source, root / ACSC / version)
        stored["populations"]["65plus"]["lightgbm"]["auroc"] = auroc + delta
        (root / ACSC / version / "metrics.json").write_text(json.dumps(stored))
        return version

    worse = challenger("01", -0.02)
    refused = promote.run(world.settings, TEST_AS_OF, model_name=ACSC)
    assert registry.champion(root, ACSC) == champion and refused.warnings
    assert "fails" in refused.summary[ACSC]
    within_margin = challenger("02", -0.004)  # margin 0.005: not worse by more than the margin
    promote.run(world.settings, TEST_AS_OF, model_name=ACSC)
    assert registry.champion(root, ACSC) == within_margin
    shutil.rmtree(root / ACSC / worse)
    registry.set_champion(root, ACSC, champion)
    shutil.rmtree(root / ACSC / within_margin)


def test_gate_rescores_both_models_when_their_test_data_differ(trained) -> None:
    world, _, _ = trained
    root = world.settings.paths.models
    champion = registry.champion(root, ACSC)
    assert champion is not None
    version = "29990101T000003Z-retested"
    shutil.copytree(root / ACSC / champion, root / ACSC / version)
    stored = json.loads((root / ACSC / version / "metrics.json").read_text())
    stored["test_fingerprint"] = "another test set"
    stored["populations"]["65plus"]["lightgbm"]["auroc"] = 0.99  # must not be trusted
    (root / ACSC / version / "metrics.json").write_text(json.dumps(stored))
    decision = promotion.compare(
        world.settings, registry.load(root, ACSC, version), registry.load(root, ACSC, champion)
    )
    assert decision.promote
    assert decision.challenger_auroc == pytest.approx(decision.champion_auroc)
    assert decision.challenger_auroc == pytest.approx(_metrics(world)["populations"]["65plus"]["lightgbm"]["auroc"])
    shutil.rmtree(root / ACSC / version)


def test_gate_rule() -> None:
    assert promotion.gate(0.80, 0.80, 0.005).promote
    assert promotion.gate(0.796, 0.80, 0.005).promote
    assert not promotion.gate(0.79, 0.80, 0.005).promote
    assert not promotion.gate(float("nan"), 0.80, 0.005).promote


def test_temporal_split_never_overlaps() -> None:
    assert training.check_temporal_split(TRAIN_AS_OF, TEST_AS_OF) == 12
    assert training.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert training.add_months(date(2023, 2, 28), 12) == date(2024, 2, 28)
    with pytest.raises(StageError, match="inside the training outcome window"):
        training.check_temporal_split(TRAIN_AS_OF, date(2024, 3, 31))
    with pytest.raises(StageError, match="inside the training outcome window"):
        training.check_temporal_split(TRAIN_AS_OF, TRAIN_AS_OF)


def test_training_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 4))
    y = (rng.random(3000) < 1 / (1 + np.exp(-(x[:, 0] * 2 - 2)))).astype(int)
    fit, validation = estimators.validation_split(y, 0.2, seed=5)
    models = [
        estimators.train_lightgbm(
            x[fit],
            y[fit],
            x[validation],
            y[validation],
            ["a", "b", "c", "d"],
            threads=2,
            seed=5,
            grid={"num_leaves": (7,), "min_child_samples": (50,)},
        ).booster.model_to_string()
        for _ in range(2)
    ]
    assert models[0] == models[1]
    assert np.array_equal(fit, estimators.validation_split(y, 0.2, seed=5)[0])
    assert np.intersect1d(fit, validation).size == 0
