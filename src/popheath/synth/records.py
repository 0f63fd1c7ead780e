"""What one simulated year is: its group, spell-kind and service numbering and its per-year records."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from popheath.synth.codes import ACSC_GROUPS, ELECTIVE_GROUPS, EMERGENCY_GROUPS

# Group numbering shared with the extracts: ACSC groups, then emergency, elective, maternity.
N_ACSC = len(ACSC_GROUPS)
N_EMERGENCY = len(EMERGENCY_GROUPS)
N_ELECTIVE = len(ELECTIVE_GROUPS)
FIRST_EMERGENCY = N_ACSC
FIRST_ELECTIVE = N_ACSC + N_EMERGENCY
MATERNITY = FIRST_ELECTIVE + N_ELECTIVE

# Spell kinds.
EMERGENCY, TRANSFER, ELECTIVE, DELIVERY = 0, 1, 2, 3

# Social care service types (ASC-CLD canonical service_type values).
SERVICE_TYPES = ("home_care", "direct_payment", "day_care", "supported_living", "reablement", "residential", "nursing")
SERVICE_INDEX = {name: i for i, name in enumerate(SERVICE_TYPES)}
# ASC-CLD event types, by the event code of the simulator's ASC frames.
EVENT_TYPES = ("Request", "Assessment", "Service", "Review")


@dataclass
class RiskState:
    """Risk at a 1 April: the rate, ACSC share and death probability for the following year."""

    at_day: int
    age: np.ndarray
    has: np.ndarray  # (people, conditions) bool
    frailty_count: np.ndarray
    care_home: np.ndarray
    social_care: np.ndarray
    rate: np.ndarray
    acsc_share: np.ndarray
    death_probability: np.ndarray


@dataclass
class YearActivity:
    """What happened in one financial year, as frames of person indexes, days and category codes."""

    year_start: int
    year_end: int
    state: RiskState
    spells: pl.DataFrame
    ecds: pl.DataFrame
    opa: pl.DataFrame
    csds: pl.DataFrame
    emergency_count: np.ndarray
    acsc_count: np.ndarray
    truth: pl.DataFrame | None = None
    extra: dict[str, int] = field(default_factory=dict)
