"""Candidate models: LightGBM (main), a PARR/CPM-style logistic baseline, HFRS alone, and a simple rule.

LightGBM and scikit-learn are imported inside the functions that use them, so scoring (which needs
neither's training code) starts quickly.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from popheath.errors import StageError
from popheath.modelling.metrics import calibration_in_the_large, calibration_slope_intercept, expit, logit

if TYPE_CHECKING:
    import lightgbm

log = logging.getLogger(__name__)

# Small grid searched on the validation part of the training date; learning rate fixed, rounds by early stopping.
LGBM_GRID: dict[str, tuple[Any, ...]] = {"num_leaves": (15, 63), "min_child_samples": (50, 200)}
LGBM_BASE: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "feature_fraction": 0.9,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "verbose": -1,
    "deterministic": True,
    "force_col_wise": True,
    # The Dataset is built once and reused across the grid, so features must not be pre-filtered
    # for one min_child_samples value.
    "feature_pre_filter": False,
}
MAX_ROUNDS = 2000
EARLY_STOPPING_ROUNDS = 50
# The logistic regression's L2 strength C is chosen by stratified k-fold cross-validated log loss on the
# whole training date, from a log grid wide enough that the choice is never at an edge in practice: with
# few events per feature (the demo's ACSC outcome has ~100 events for ~60 features) a strong penalty is
# what keeps the test calibration slope near 1.
LOGISTIC_C_GRID: tuple[float, ...] = tuple(float(c) for c in np.logspace(-4, 1, 11))  # 1e-4 .. 10, half-decade steps
LOGISTIC_CV_FOLDS = 5
AGE_FEATURE = "age"  # the logistic regression lets every other feature's weight change with it
# Recalibrate when, on the validation part, the calibration slope is outside this range or the
# calibration-in-the-large intercept is further than this from zero.
CALIBRATION_SLOPE_RANGE = (0.9, 1.1)
CALIBRATION_INTERCEPT_TOLERANCE = 0.1
# Below this many validation events a recalibration map is too noisy to trust; the raw model is kept.
MIN_RECALIBRATION_EVENTS = 100


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (fit, validation): a seeded split of the training date's people, stratified by outcome.

    Both parts come from the same as-of date, so tuning never sees the later test date.
    """
    from sklearn.model_selection import train_test_split

    rows = np.arange(y.size)
    stratify = y if 0 < int(y.sum()) < y.size and min(int(y.sum()), int(y.size - y.sum())) >= 2 else None
    fit_rows, validation_rows = train_test_split(
        rows, test_size=fraction, random_state=seed % (2**32), stratify=stratify
    )
    return np.sort(fit_rows), np.sort(validation_rows)


@dataclass
class LightGBMResult:
    """A trained booster with the search that chose it."""

    booster: lightgbm.Booster
    params: dict[str, Any]
    best_iteration: int
    validation_log_loss: float
    validation_auroc: float
    search: list[dict[str, Any]] = field(default_factory=list)


def train_lightgbm(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    feature_names: Sequence[str],
    *,
    threads: int,
    seed: int,
    grid: dict[str, tuple[Any, ...]] | None = None,
) -> LightGBMResult:
    """Grid search with early stopping on the validation part; keep the lowest validation log loss."""
    import lightgbm
    from sklearn.metrics import log_loss, roc_auc_score

    grid = grid or LGBM_GRID
    names = list(feature_names)
    fit_set = lightgbm.Dataset(x_fit, label=y_fit, feature_name=names, free_raw_data=False)
    validation_set = lightgbm.Dataset(x_validation, label=y_validation, reference=fit_set, free_raw_data=False)
    best: LightGBMResult | None = None
    search: list[dict[str, Any]] = []
    keys = sorted(grid)
    for values in itertools.product(*(grid[key] for key in keys)):
        params = {
            **LGBM_BASE,
            **dict(zip(keys, values, strict=True)),
            "num_threads": threads,
            "seed": seed,
            "metric": "binary_logloss",
        }
        booster = lightgbm.train(
            params,
            fit_set,
            num_boost_round=MAX_ROUNDS,
            valid_sets=[validation_set],
            callbacks=[lightgbm.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
        )
        predicted = booster.predict(x_validation, num_iteration=booster.best_iteration)
        loss = float(log_loss(y_validation, predicted, labels=[0, 1]))
        auroc = (
            float(roc_auc_score(y_validation, predicted)) if 0 < y_validation.sum() < y_validation.size else math.nan
        )
        entry = {**dict(zip(keys, values, strict=True)), "best_iteration": booster.best_iteration, "log_loss": loss}
        entry["auroc"] = auroc
        search.append(entry)
        log.info(
            "lightgbm %s: %d rounds, validation log loss %.5f, AUROC %.4f", entry, booster.best_iteration, loss, auroc
        )
        if best is None or loss < best.validation_log_loss:
            best = LightGBMResult(booster, params, int(booster.best_iteration), loss, auroc)
    if best is None:
        raise StageError("LightGBM grid is empty")
    best.search = search
    return best


def predict_lightgbm(booster: lightgbm.Booster, x: np.ndarray) -> np.ndarray:
    """Predicted probabilities at the booster's best iteration."""
    result: np.ndarray = np.asarray(booster.predict(x, num_iteration=booster.best_iteration or None), dtype=float)
    return result


def contributions(booster: lightgbm.Booster, x: np.ndarray) -> np.ndarray:
    """Per-person SHAP contributions in log-odds (TreeSHAP, LightGBM's ``pred_contrib``); last column is the bias.

    The result equals ``booster.predict(x, pred_contrib=True)``, computed tree by tree on fewer rows.
    SHAP values add up over the trees of an ensemble, and LightGBM's (path-dependent) TreeSHAP value
    for one tree depends on a row only through the way the row goes at each split of that tree. Rows
    that fall in the same interval between the tree's thresholds on every feature it splits on (a
    missing value and an exact zero count as intervals of their own, since a split may send either
    to its default side) get identical contributions from that tree. So each tree is explained by
    LightGBM once per distinct interval pattern, on one representative row, and the result is given
    to every row with that pattern. A tree of 15 leaves sees about 1% as many patterns as there are
    people. Categorical splits (popheath's features have none) fall back to LightGBM on every row.
    """
    iterations = booster.best_iteration or booster.current_iteration()
    trees = booster.dump_model(num_iteration=iterations)["tree_info"]
    found = [_tree_splits(tree["tree_structure"]) for tree in trees]
    splits = [split for split in found if split is not None]
    if booster.num_model_per_iteration() != 1 or len(splits) < len(found):
        return np.asarray(booster.predict(x, num_iteration=iterations, pred_contrib=True), dtype=float)
    intervals = _Intervals(x, splits)
    result = np.zeros((x.shape[1] + 1, x.shape[0]))  # one row per feature: contiguous accumulation
    for index, tree_splits in enumerate(splits):
        representative, inverse = _groups(intervals.pattern(tree_splits))
        explained = np.asarray(
            booster.predict(x[representative], start_iteration=index, num_iteration=1, pred_contrib=True), dtype=float
        )
        for column in [*tree_splits, x.shape[1]]:
            result[column] += explained[:, column][inverse]
    return np.ascontiguousarray(result.T)


def _tree_splits(node: dict[str, Any]) -> dict[int, np.ndarray] | None:
    """Feature index -> sorted thresholds of one dumped LightGBM tree; None if it has a categorical split."""
    found: dict[int, set[float]] = {}
    stack = [node]
    while stack:
        current = stack.pop()
        if "split_feature" not in current:
            continue
        if current.get("decision_type", "<=") != "<=":
            return None
        found.setdefault(int(current["split_feature"]), set()).add(float(current["threshold"]))
        stack += [current["left_child"], current["right_child"]]
    return {feature: np.array(sorted(values)) for feature, values in found.items()}


class _Intervals:
    """Each row's interval on every feature, between the thresholds all trees use on it.

    Codes: 0..len(thresholds) for values (a value <= threshold t goes left of t, so values with the
    same ``searchsorted`` position compare alike with every threshold), then missing, then zero.
    A tree uses a subset of the thresholds; :meth:`pattern` maps the shared codes to the tree's own.
    """

    def __init__(self, x: np.ndarray, splits: list[dict[int, np.ndarray]]) -> None:
        thresholds: dict[int, set[float]] = {}
        for tree in splits:
            for feature, values in tree.items():
                thresholds.setdefault(feature, set()).update(values.tolist())
        self.rows = x.shape[0]
        self.thresholds = {feature: np.array(sorted(values)) for feature, values in thresholds.items()}
        self.codes: dict[int, np.ndarray] = {}
        for feature, shared in self.thresholds.items():
            values = x[:, feature]
            code = np.searchsorted(shared, values, side="left")
            code[np.isnan(values)] = shared.size + 1
            code[values == 0] = shared.size + 2
            self.codes[feature] = code.astype(np.int32)

    def pattern(self, tree_splits: dict[int, np.ndarray]) -> np.ndarray:
        """One integer per row naming its interval on every split feature of a tree."""
        import pandas as pd

        pattern = np.zeros(self.rows, dtype=np.int64)
        span = 1
        for feature, own in sorted(tree_splits.items()):
            shared = self.thresholds[feature]
            # A value in shared interval i (<= shared[i]) lies below exactly the own thresholds < shared[i].
            to_own = np.concatenate([np.searchsorted(own, shared, side="left"), [own.size, own.size + 1, own.size + 2]])
            radix = own.size + 3
            if span * radix >= 2**62:  # renumber the patterns so far before the integer would overflow
                pattern = pd.factorize(pattern)[0].astype(np.int64)
                span = int(pattern.max()) + 1
            pattern = pattern * radix + to_own[self.codes[feature]]
            span *= radix
        return pattern


def _groups(pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one representative row per distinct pattern, each row's group number), by hashing."""
    import pandas as pd

    inverse, distinct = pd.factorize(pattern, sort=False)
    representative = np.empty(distinct.size, dtype=np.int64)
    representative[inverse] = np.arange(pattern.size)
    return representative, inverse


@dataclass
class LogisticBaseline:
    """L2-regularised logistic regression on the same features (a PARR/CPM-style linear model).

    Pre-processing, fitted on the training rows and stored with the coefficients:
    features with no negative values are ``log1p``-transformed (counts and days are right-skewed);
    a NULL is replaced by the training median and flagged by a 0/1 missing indicator for every
    feature that had NULLs in training; everything is standardised (mean 0, SD 1).

    With ``age_column`` set, every other feature also enters multiplied by standardised age (then
    standardised itself): a predictor's weight changes linearly with age. In people 65+ weights do
    change with age - prior admissions and conditions say less about next year at 90 than at 70 -
    and without it the model was under-confident at 65-74 (calibration slope 1.41-1.48 at 100,000
    people; 0.96-1.16 with it) however its penalty was chosen.
    """

    features: list[str]
    log_transform: list[bool]
    medians: list[float]
    indicators: list[bool]
    means: list[float]
    scales: list[float]
    coefficients: list[float]
    intercept: float
    c: float
    age_column: int | None = None  # versions registered before the age interactions have none

    def design(self, x: np.ndarray) -> np.ndarray:
        """Transformed, imputed and standardised design matrix (age interactions last, if any)."""
        return _design(x, self.log_transform, self.medians, self.indicators, self.means, self.scales, self.age_column)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted probabilities."""
        return expit(self.design(x) @ np.asarray(self.coefficients) + self.intercept)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-person contributions in log-odds, one column per feature, the intercept last.

        For a linear model these are its exact SHAP values against the training population
        (Lundberg and Lee 2017, NeurIPS: phi_j = beta_j * (z_j - mean z_j), and the standardised
        design has mean 0 on the training rows). A feature's missing-value indicator belongs to that
        feature, and so does its age interaction (the feature's effect at the person's age; Shapley
        would split that term between the feature and age). Each row adds up to the person's
        log-odds, as LightGBM's ``pred_contrib`` does.
        """
        terms = self.design(x) * np.asarray(self.coefficients)
        width = len(self.features)
        flagged = np.flatnonzero(np.asarray(self.indicators, dtype=bool))
        result = np.empty((x.shape[0], width + 1))
        result[:, :width] = terms[:, :width]
        result[:, flagged] += terms[:, width : width + flagged.size]
        if self.age_column is not None:
            result[:, _interacting(width, self.age_column)] += terms[:, width + flagged.size :]
        result[:, -1] = self.intercept
        return result

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (for the registry)."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogisticBaseline:
        """Rebuild from :meth:`to_dict`."""
        return cls(**data)


def _transform(x: np.ndarray, log_transform: Sequence[bool]) -> np.ndarray:
    out = np.array(x, dtype=float, copy=True)
    columns = np.flatnonzero(np.asarray(log_transform, dtype=bool))
    out[:, columns] = np.log1p(np.clip(out[:, columns], 0, None))
    return out


def _interacting(width: int, age_column: int) -> np.ndarray:
    """The feature columns that get an age interaction: every one but age itself."""
    return np.delete(np.arange(width), age_column)


def _age_products(standardised: np.ndarray, x: np.ndarray, age_column: int) -> np.ndarray:
    """Every other feature times age, both standardised."""
    return standardised[:, _interacting(x.shape[1], age_column)] * standardised[:, [age_column]]


def _design(
    x: np.ndarray,
    log_transform: Sequence[bool],
    medians: Sequence[float],
    indicators: Sequence[bool],
    means: Sequence[float],
    scales: Sequence[float],
    age_column: int | None = None,
) -> np.ndarray:
    transformed = _transform(x, log_transform)
    missing = np.isnan(transformed)
    filled = np.where(missing, np.asarray(medians)[None, :], transformed)
    flags = missing[:, np.asarray(indicators, dtype=bool)].astype(float)
    full = np.hstack([filled, flags])
    main = full.shape[1]
    standardised = (full - np.asarray(means[:main])) / np.asarray(scales[:main])
    if age_column is None:
        return standardised
    products = _age_products(standardised, x, age_column)
    return np.hstack([standardised, (products - np.asarray(means[main:])) / np.asarray(scales[main:])])


@dataclass(frozen=True)
class LogisticFit:
    """The logistic baseline refitted on every training row, and its out-of-fold predictions at the chosen C."""

    model: LogisticBaseline
    out_of_fold: np.ndarray
    cv_log_loss: dict[float, float]


def train_logistic(x: np.ndarray, y: np.ndarray, feature_names: Sequence[str], *, seed: int) -> LogisticFit:
    """Fit the logistic baseline on the training date, choosing the L2 strength C by cross-validation.

    C is the grid value with the lowest mean log loss over :data:`LOGISTIC_CV_FOLDS` stratified folds
    (scikit-learn's ``LogisticRegressionCV``), then the model is refitted on every row. The
    out-of-fold predictions at that C (``cross_val_predict`` on the same folds) are honest
    predictions for every training person, which the recalibration check uses: with all the
    training date's events rather than a validation part's, it can judge the slope at demo sizes.
    The pre-processing (log1p, medians, standardisation) uses no outcome, so it is fitted on all rows.
    """
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    with np.errstate(invalid="ignore"):
        log_transform = [bool(np.nanmin(col, initial=0.0) >= 0) for col in x.T]
    transformed = _transform(x, log_transform)
    medians = [float(np.nanmedian(col)) if np.isfinite(col).any() else 0.0 for col in transformed.T]
    indicators = [bool(np.isnan(col).any()) for col in transformed.T]
    filled = np.where(np.isnan(transformed), np.asarray(medians)[None, :], transformed)
    full = np.hstack([filled, np.isnan(transformed)[:, np.asarray(indicators, dtype=bool)].astype(float)])
    means = full.mean(axis=0)
    scales = full.std(axis=0)
    scales[scales == 0] = 1.0
    design = (full - means) / scales
    age_column = list(feature_names).index(AGE_FEATURE) if AGE_FEATURE in feature_names else None
    if age_column is not None:
        products = _age_products(design, x, age_column)
        product_means, product_scales = products.mean(axis=0), products.std(axis=0)
        product_scales[product_scales == 0] = 1.0
        design = np.hstack([design, (products - product_means) / product_scales])
        means, scales = np.concatenate([means, product_means]), np.concatenate([scales, product_scales])
    folds = StratifiedKFold(n_splits=LOGISTIC_CV_FOLDS, shuffle=True, random_state=seed % (2**32))
    search = LogisticRegressionCV(
        Cs=list(LOGISTIC_C_GRID),
        l1_ratios=(0.0,),
        cv=folds,
        scoring="neg_log_loss",
        solver="lbfgs",
        max_iter=2000,
        use_legacy_attributes=False,
    )
    search.fit(design, y)
    c = float(search.C_)
    scores = np.asarray(search.scores_).reshape(LOGISTIC_CV_FOLDS, len(LOGISTIC_C_GRID))
    cv_log_loss = {grid_c: float(-loss) for grid_c, loss in zip(LOGISTIC_C_GRID, scores.mean(axis=0), strict=True)}
    log.info("logistic: C=%g by %d-fold CV log loss %s", c, LOGISTIC_CV_FOLDS, cv_log_loss)
    single = LogisticRegression(C=c, l1_ratio=0.0, solver="lbfgs", max_iter=2000)
    out_of_fold = cross_val_predict(single, design, y, cv=folds, method="predict_proba")[:, 1]
    model = LogisticBaseline(
        features=list(feature_names),
        log_transform=log_transform,
        medians=medians,
        indicators=indicators,
        means=means.tolist(),
        scales=scales.tolist(),
        coefficients=np.ravel(search.coef_).tolist(),
        intercept=float(np.ravel(search.intercept_)[0]),
        c=c,
        age_column=age_column,
    )
    return LogisticFit(model, np.asarray(out_of_fold, dtype=float), cv_log_loss)


@dataclass(frozen=True)
class PlattMap:
    """Maps a score to a probability: ``p = expit(intercept + slope * score)``."""

    intercept: float
    slope: float

    def apply(self, score: np.ndarray) -> np.ndarray:
        """Probability for each score."""
        return expit(self.intercept + self.slope * np.asarray(score, dtype=float))

    @classmethod
    def fit(cls, score: np.ndarray, y: np.ndarray) -> PlattMap:
        """Unpenalised logistic regression of the outcome on the score."""
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000)
        model.fit(np.asarray(score, dtype=float).reshape(-1, 1), y)
        return cls(float(model.intercept_[0]), float(model.coef_[0, 0]))


def hfrs_only(hfrs_fit: np.ndarray, y_fit: np.ndarray) -> PlattMap:
    """HFRS alone, turned into a probability by a one-variable logistic fit on the training rows (NULL = 0)."""
    return PlattMap.fit(np.nan_to_num(hfrs_fit, nan=0.0), y_fit)


def rule_probability(flag_fit: np.ndarray, y_fit: np.ndarray) -> tuple[float, float]:
    """Training outcome rate (without, with) the rule "emergency admission in the last 12 months"."""
    flag = flag_fit.astype(bool)
    without = float(y_fit[~flag].mean()) if (~flag).any() else float(y_fit.mean())
    with_flag = float(y_fit[flag].mean()) if flag.any() else float(y_fit.mean())
    return without, with_flag


@dataclass(frozen=True)
class Recalibration:
    """Platt recalibration of LightGBM's output on the logit scale, if the validation part asked for it."""

    applied: bool
    method: str
    intercept: float
    slope: float
    validation_slope: float
    validation_intercept: float
    reason: str

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Recalibrated probabilities (unchanged when not applied)."""
        if not self.applied:
            return np.asarray(p, dtype=float)
        return expit(self.intercept + self.slope * logit(p))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recalibration:
        """Rebuild from :meth:`to_dict`."""
        return cls(**data)


VALIDATION_PART = "the validation part of the training date"
OUT_OF_FOLD = f"the {LOGISTIC_CV_FOLDS}-fold out-of-fold predictions on the training date"


def choose_recalibration(
    p_validation: np.ndarray, y_validation: np.ndarray, sample: str = VALIDATION_PART
) -> Recalibration:
    """Fit Platt scaling on held-out predictions (``sample`` names them) when their slope or intercept is off."""
    slope, _ = calibration_slope_intercept(y_validation, p_validation)
    citl = calibration_in_the_large(y_validation, p_validation)
    low, high = CALIBRATION_SLOPE_RANGE
    events = int(y_validation.sum())

    def raw_model_kept(reason: str) -> Recalibration:
        return Recalibration(False, "none", 0.0, 1.0, slope, citl, reason)

    if events < MIN_RECALIBRATION_EVENTS:
        return raw_model_kept(
            f"only {events} events in {sample} (fewer than {MIN_RECALIBRATION_EVENTS}): the raw model is kept; "
            f"calibration slope {slope:.3f}, calibration-in-the-large {citl:+.3f}"
        )
    needed = math.isfinite(slope) and (not low <= slope <= high or abs(citl) > CALIBRATION_INTERCEPT_TOLERANCE)
    if not needed:
        return raw_model_kept(
            f"calibration slope {slope:.3f} within {low}-{high} and calibration-in-the-large "
            f"{citl:+.3f} within +/-{CALIBRATION_INTERCEPT_TOLERANCE} on {sample}"
        )
    platt = PlattMap.fit(logit(p_validation), y_validation)
    return Recalibration(
        True,
        "platt",
        platt.intercept,
        platt.slope,
        slope,
        citl,
        f"calibration slope {slope:.3f} / calibration-in-the-large {citl:+.3f} on {sample} outside tolerance: "
        f"Platt scaling (logistic regression on logit(p)) fitted on {sample}",
    )
