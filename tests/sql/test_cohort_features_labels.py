"""Known-answer tests for the cohort, the point-in-time features and the 12-month labels."""

from datetime import date
from pathlib import Path

import pytest

from popheath import db
from popheath.clinical import feature_tables as features

from .ics_builder import Ics, build, one, rows, settings_for

AS_OF = date(2024, 4, 1)


def test_cohort_membership_and_demographics(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("in", birth_year=1940, birth_month=4, ethnic_category="H", imd_decile=3)  # 84 on 2024-04-01
    ics.person("young", birth_year=1960, birth_month=5, sex="M", ethnic_category="99", imd_decile=10)  # 63
    ics.person("type1", type1_opt_out=True)
    ics.person("died_before", date_of_death=date(2024, 3, 31))
    ics.person("dies_on_as_of", date_of_death=AS_OF)
    ics.person("deregistered", registration_end=date(2024, 3, 31))
    ics.person("leaves_on_as_of", registration_end=AS_OF)
    ics.person("registers_later", registration_start=date(2024, 4, 2))
    ics.person("out_of_area", in_population=False)
    con = build(ics, tmp_path, AS_OF)
    cohort = {r["person_key"]: r for r in rows(con, "SELECT * FROM asof_cohort")}
    assert sorted(cohort) == ["dies_on_as_of", "in", "leaves_on_as_of", "young"]
    assert cohort["in"]["age"] == 84 and cohort["in"]["age_band"] == "75-84"
    assert cohort["in"]["ethnic_group"] == "Asian" and cohort["in"]["imd_quintile"] == 2
    assert cohort["in"]["is_65plus"] is True
    assert cohort["young"]["age"] == 63 and cohort["young"]["age_band"] == "18-64"
    assert cohort["young"]["ethnic_group"] == "Unknown" and cohort["young"]["imd_quintile"] == 5
    assert cohort["young"]["is_65plus"] is False and cohort["young"]["is_frail"] is False
    for table in ("asof_features", "asof_labels"):
        found = [r["person_key"] for r in rows(con, f"SELECT person_key FROM {table} ORDER BY 1")]
        assert found == sorted(cohort), table


@pytest.mark.parametrize(
    ("overrides", "frail"),
    [
        ({}, {"care_home": True, "social_care": True, "placement": True, "neither": False}),
        (
            {"cohort.frail_include_care_home": False},
            {"care_home": False, "social_care": True, "placement": True, "neither": False},
        ),
        (
            {"cohort.frail_include_social_care": False, "cohort.frail_include_care_home": False},
            {"care_home": False, "social_care": False, "placement": False, "neither": False},
        ),
        ({"cohort.min_age": 90}, {"care_home": False, "social_care": False, "placement": False, "neither": False}),
    ],
)
def test_frailty_rules_follow_settings(tmp_path: Path, overrides: dict, frail: dict) -> None:
    ics = Ics()
    ics.person("care_home", care_home=True)
    ics.person("social_care")
    ics.social_care("social_care", date(2023, 1, 1), None, "home_care")
    ics.person("placement")  # residential placement under way: a care-home resident and long-term care
    ics.social_care("placement", date(2023, 1, 1), date(2024, 4, 1), "nursing")
    ics.person("neither")
    ics.social_care("neither", date(2023, 1, 1), date(2024, 3, 31), "home_care")  # ended the day before
    ics.social_care("neither", date(2023, 1, 1), None, "reablement")  # short-term
    con = build(ics, tmp_path, AS_OF, settings=settings_for(tmp_path / "w.duckdb", **overrides))
    got = {r["person_key"]: r for r in rows(con, "SELECT * FROM asof_cohort")}
    assert {key: got[key]["is_frail"] for key in frail} == frail
    assert got["placement"]["care_home"] is True and got["placement"]["social_care_long_term"] is True
    assert got["neither"]["care_home"] is False and got["neither"]["social_care_long_term"] is False


def test_features_known_answers(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1")
    # Emergency stays: 2024-02-01..02-11 (10 days, 2 months before), 2023-06-01..06-05 (4 days),
    # 2022-06-01..06-03 (24-month window), one under way at the as-of date since 2024-03-25.
    ics.episode("p1", date(2024, 2, 1), date(2024, 2, 11), ["J441"])
    ics.episode("p1", date(2023, 6, 1), date(2023, 6, 5), ["S720", "W19"])
    ics.episode("p1", date(2022, 6, 1), date(2022, 6, 3), ["N390"])
    ics.episode("p1", date(2024, 3, 25), date(2024, 4, 20), ["R69"])
    ics.episode("p1", date(2023, 9, 1), date(2023, 9, 2), ["R69"], admission_method="11")  # elective
    # A stay straddling the 12-month window start counts its days inside the window only.
    ics.episode("p1", date(2023, 3, 25), date(2023, 4, 4), ["R69"])
    # Not linked well enough / outside the population: ignored.
    ics.episode("p1", date(2024, 1, 5), date(2024, 1, 6), ["R69"], link={"match_probability": 0.5})
    ics.episode("p1", date(2024, 1, 7), date(2024, 1, 8), ["R69"], link={"out_of_area": True})
    ics.episode("p1", date(2023, 12, 1), date(2023, 12, 1), ["Z515"], admission_method="11")  # palliative care
    for day in (date(2024, 3, 31), date(2024, 1, 1), date(2023, 5, 1), date(2022, 5, 1), AS_OF):
        ics.ed("p1", day)
    ics.outpatient("p1", date(2024, 3, 1))
    ics.outpatient("p1", date(2023, 12, 1), attended=False)
    ics.outpatient("p1", date(2023, 12, 2), attended=False)
    ics.community("p1", date(2024, 3, 1), "district_nursing")
    ics.community("p1", date(2024, 3, 2), "district_nursing")
    ics.community("p1", date(2023, 8, 1), "community_matron")
    ics.community("p1", date(2023, 8, 2), "therapy")
    ics.community("p1", date(2023, 8, 3), "rapid_response", attended=False)  # not attended: not a contact
    # Home care 7 hours a week at 20 per hour = 20 a day: 2024-03-02 .. ongoing -> 30 days before as-of.
    ics.social_care("p1", date(2024, 3, 2), None, "home_care")
    # Reablement 2023-01-01 .. 2023-04-10: 10 days inside the 12-month window at 10 a day.
    ics.social_care("p1", date(2023, 1, 1), date(2023, 4, 10), "reablement", unit_cost=10.0)
    ics.social_care("p1", date(2023, 5, 1), None, "home_care", event_type="assessment")  # not a service
    con = build(ics, tmp_path, AS_OF)
    f = one(con, "SELECT * FROM asof_features")
    assert (
        f["emergency_admissions_3m"],
        f["emergency_admissions_6m"],
        f["emergency_admissions_12m"],
        f["emergency_admissions_24m"],
    ) == (2, 2, 3, 5)
    assert f["acsc_admissions_12m"] == 1 and f["acsc_admissions_24m"] == 2  # J44.1 and N39.0
    assert f["fall_admissions_12m"] == 1 and f["fall_admissions_24m"] == 1
    assert f["other_admissions_12m"] == 2
    # Bed days: 10 + 4 + 7 (under way, cut at as-of) + 3 (2023-04-01..04-04) in 12 months.
    assert f["emergency_bed_days_3m"] == 17 and f["emergency_bed_days_12m"] == 24
    assert f["emergency_bed_days_24m"] == 10 + 4 + 7 + 10 + 2
    assert f["days_since_last_emergency_discharge"] == (AS_OF - date(2024, 2, 11)).days
    assert (f["ed_attendances_3m"], f["ed_attendances_12m"], f["ed_attendances_24m"]) == (2, 3, 4)
    assert f["op_attendances_12m"] == 1 and f["op_dnas_12m"] == 2 and f["op_dnas_3m"] == 0
    assert f["community_contacts_12m"] == 4 and f["community_contacts_3m"] == 2
    assert f["district_nursing_contacts_12m"] == 2 and f["community_matron_contacts_12m"] == 1
    assert f["rehabilitation_therapy_contacts_12m"] == 1 and f["rapid_response_contacts_12m"] == 0
    assert f["social_care_services_3m"] == 1 and f["social_care_services_12m"] == 2
    assert f["home_care_services_12m"] == 1 and f["reablement_services_12m"] == 1
    assert f["social_care_cost_12m"] == pytest.approx(30 * 20.0 + 10 * 10.0)
    assert f["social_care_long_term"] == 1 and f["end_of_life_proxy"] == 1
    assert f["age"] == 83 and f["sex_female"] == 1 and f["imd_decile"] == 3 and f["care_home"] == 0


def test_unpaid_carers_events_are_not_social_care_use(tmp_path: Path) -> None:
    """ASC-CLD events of a client who is an unpaid carer are kept out of clin_social_care, so a carer's
    own direct payment makes neither a long-term social care client nor a social care feature; a
    short-term care home stay (long_term_support false) is a placement but not long-term support."""
    ics = Ics()
    ics.person("carer")
    carer = {"client_type": "unpaid_carer", "unpaid_carer": True, "long_term_support": False}
    ics.social_care("carer", date(2024, 1, 1), None, "direct_payment", **carer)
    ics.social_care("carer", date(2024, 2, 1), None, "home_care", event_type="assessment", **carer)
    ics.person("user")
    ics.social_care("user", date(2024, 1, 1), None, "home_care", client_type="service_user", unpaid_carer=False,
                    long_term_support=True)  # fmt: skip
    ics.person("respite")
    ics.social_care("respite", date(2024, 3, 20), date(2024, 4, 10), "residential", long_term_support=False)
    con = build(ics, tmp_path, AS_OF)
    assert rows(con, "SELECT person_key, service_type, is_long_term FROM clin_social_care ORDER BY 1") == [
        {"person_key": "respite", "service_type": "residential", "is_long_term": False},
        {"person_key": "user", "service_type": "home_care", "is_long_term": True},
    ]
    cohort = {r["person_key"]: r for r in rows(con, "SELECT * FROM asof_cohort")}
    assert cohort["carer"]["social_care_long_term"] is False and cohort["carer"]["is_frail"] is False
    assert cohort["user"]["social_care_long_term"] is True
    assert cohort["respite"]["care_home"] is True and cohort["respite"]["social_care_long_term"] is False
    features = {r["person_key"]: r for r in rows(con, "SELECT * FROM asof_features")}
    assert features["carer"]["social_care_services_12m"] == 0 and features["carer"]["social_care_cost_12m"] == 0
    assert features["user"]["social_care_services_12m"] == 1


def test_no_history_gives_zeros_and_null_days_since(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("p1", sex="U")
    con = build(ics, tmp_path, AS_OF)
    f = one(con, "SELECT * FROM asof_features")
    assert f["days_since_last_emergency_discharge"] is None and f["sex_female"] is None
    counts = {k: v for k, v in f.items() if k.endswith(("_12m", "_24m", "_3m", "_6m"))}
    assert counts and all(v == 0 for v in counts.values())
    assert (f["hfrs"], f["charlson_score"], f["elixhauser_vw"], f["long_term_conditions"]) == (0, 0, 0, 0)


def test_labels_and_censoring(tmp_path: Path) -> None:
    ics = Ics()
    ics.person("acsc")
    ics.episode("acsc", AS_OF, date(2024, 4, 6), ["J441"])  # on the as-of date: in the window
    ics.episode("acsc", date(2025, 4, 1), date(2025, 4, 3), ["S720", "W19"])  # as-of + 12 months: outside
    ics.person("fall")
    ics.episode("fall", date(2024, 10, 1), date(2024, 10, 8), ["S720", "W19"])
    ics.episode("fall", date(2024, 3, 20), date(2024, 4, 3), ["J441"])  # under way at as-of: not a new admission
    ics.person("dies", date_of_death=date(2024, 6, 10))
    ics.episode("dies", date(2024, 6, 1), date(2024, 6, 10), ["R69"], discharge_method="4")
    ics.person("moves_away", registration_end=date(2024, 5, 31))
    ics.episode("moves_away", date(2024, 7, 1), date(2024, 7, 3), ["J441"])  # after leaving: censored
    ics.person("to_care_home")
    ics.episode(
        "to_care_home", date(2024, 8, 1), date(2024, 8, 21), ["R69"], admission_method="11", discharge_destination="54"
    )
    ics.person("placement")
    ics.social_care("placement", date(2024, 9, 1), None, "residential")
    ics.person("already_in_care_home", care_home=True)
    ics.social_care("already_in_care_home", date(2024, 9, 1), None, "nursing")
    ics.person("long_stay")
    ics.episode("long_stay", date(2025, 3, 1), date(2025, 5, 1), ["R69"])  # cut at the horizon
    con = build(ics, tmp_path, AS_OF)
    labels = {r.pop("person_key"): r for r in rows(con, "SELECT * EXCLUDE (as_of) FROM asof_labels")}
    zero = {
        "acsc_admission_12m": 0,
        "emergency_admission_12m": 0,
        "fall_admission_12m": 0,
        "emergency_bed_days_12m": 0,
        "care_home_admission_12m": 0,
        "died_12m": 0,
        "followup_days": 365,
    }
    assert labels["acsc"] == {
        **zero,
        "acsc_admission_12m": 1,
        "emergency_admission_12m": 1,
        "emergency_bed_days_12m": 5,
    }
    assert labels["fall"] == {
        **zero,
        "fall_admission_12m": 1,
        "emergency_admission_12m": 1,
        "emergency_bed_days_12m": 7,
    }
    assert labels["dies"] == {
        **zero,
        "emergency_admission_12m": 1,
        "emergency_bed_days_12m": 9,
        "died_12m": 1,
        "followup_days": (date(2024, 6, 11) - AS_OF).days,
    }
    assert labels["moves_away"] == {**zero, "followup_days": (date(2024, 6, 1) - AS_OF).days}
    assert labels["to_care_home"] == {**zero, "care_home_admission_12m": 1}
    assert labels["placement"] == {**zero, "care_home_admission_12m": 1}
    assert labels["already_in_care_home"] == zero
    assert labels["long_stay"] == {
        **zero,
        "emergency_admission_12m": 1,
        "emergency_bed_days_12m": (date(2025, 4, 1) - date(2025, 3, 1)).days,
    }


@pytest.mark.parametrize(("include", "expected"), [(True, 2), (False, 1)])
def test_out_of_ics_provider_activity_follows_settings(tmp_path: Path, include: bool, expected: int) -> None:
    ics = Ics()
    ics.person("p1")
    ics.episode("p1", date(2023, 6, 1), date(2023, 6, 2))
    ics.episode("p1", date(2023, 8, 1), date(2023, 8, 2), provider_code="RZZ", link={"out_of_ics_provider": True})
    settings = settings_for(tmp_path / "w.duckdb", **{"link.include_out_of_ics_providers": include})
    con = build(ics, tmp_path, AS_OF, settings=settings)
    assert one(con, "SELECT emergency_admissions_12m FROM asof_features")["emergency_admissions_12m"] == expected
    assert one(con, "SELECT count(*) AS n FROM clin_spells WHERE out_of_ics_provider")["n"] == expected - 1


def test_spine_care_home_flag_is_not_used_before_the_population_snapshot(tmp_path: Path) -> None:
    """The spine's flag is a snapshot at extract time: before it, only dated placements count."""
    ics = Ics()
    ics.person("moved_in_later", care_home=True)  # in a care home by extract time, no dated placement
    ics.person("placed", care_home=True)
    ics.social_care("placed", date(2023, 1, 1), None, "residential")
    con = build(ics, tmp_path, AS_OF)
    ics_snapshot = date(AS_OF.year + 1, 3, 1)  # the population delivery a year after the as-of date
    parameters = features.sql_parameters(settings_for(tmp_path / "w.duckdb"), AS_OF)
    db.run_layer(con, features.FEATURES_LAYER, parameters | {"population_snapshot": ics_snapshot})
    got = {r["person_key"]: r["care_home"] for r in rows(con, "SELECT person_key, care_home FROM asof_cohort")}
    assert got == {"moved_in_later": False, "placed": True}
    db.run_layer(con, features.FEATURES_LAYER, parameters | {"population_snapshot": AS_OF})  # spine current
    got = {r["person_key"]: r["care_home"] for r in rows(con, "SELECT person_key, care_home FROM asof_cohort")}
    assert got == {"moved_in_later": True, "placed": True}
