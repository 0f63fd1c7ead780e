import numpy as np
import pytest

from popheath.modelling import drift


def test_identical_distribution_has_zero_psi() -> None:
    values = np.random.default_rng(1).normal(size=5000)
    assert drift.psi(drift.reference_bins(values), values) == pytest.approx(0.0, abs=1e-12)


def test_shifted_distribution_exceeds_the_warning_level() -> None:
    rng = np.random.default_rng(2)
    reference = drift.reference_bins(rng.normal(size=20_000))
    same = drift.psi(reference, rng.normal(size=20_000))
    shifted = drift.psi(reference, rng.normal(loc=1.0, size=20_000))
    assert same < 0.01
    assert shifted > 0.2


def test_psi_known_answer_on_two_bins() -> None:
    # Training: half 0, half 1; now 80% are 1: (0.2-0.5)ln(0.2/0.5) + (0.8-0.5)ln(0.8/0.5).
    reference = drift.reference_bins(np.array([0.0, 1.0] * 50))
    assert sorted(share for share in reference.shares if share) == [0.5, 0.5]
    now = np.array([0.0] * 20 + [1.0] * 80)
    expected = (0.2 - 0.5) * np.log(0.2 / 0.5) + (0.8 - 0.5) * np.log(0.8 / 0.5)
    assert drift.psi(reference, now) == pytest.approx(expected)


def test_nulls_are_their_own_bin() -> None:
    reference = drift.reference_bins(np.array([1.0, 2.0, 3.0, np.nan]))
    assert reference.null_share == 0.25
    assert drift.psi(reference, np.array([1.0, 2.0, 3.0, 4.0])) > 0.1
