"""Splink linkage of ASC events without a token: known answers, ties, deaths, stability, report."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from popheath.config import Paths, Settings
from popheath.linkage import link_quality
from popheath.stages import link

from .conftest import Ics, asc_link, asc_row, synthetic_ics, token, write_ics, write_truth

AS_OF = date(2025, 4, 1)
# LSOAs and practices nobody else uses, so the hand-made cases have no other plausible candidate
TWIN_FIELDS = {"birth_year": 1931, "birth_month": 2, "sex": "M", "lsoa_code": "E01000998", "practice_code": "P00098"}
DEAD_FIELDS = {"birth_year": 1929, "birth_month": 11, "sex": "F", "lsoa_code": "E01000999", "practice_code": "P00099"}
# Twins again: the first was discharged from hospital the day before DISCHARGED's service started;
# ASSIGNED ties on every field between the two, and its LA also holds DISCHARGED as another client.
HOSPITAL_TWINS = {"birth_year": 1934, "birth_month": 4, "sex": "F", "lsoa_code": "E01000995", "practice_code": "P00095"}
# Twins again: the second registered with the GP only after the client's events.
REGISTERED = {"birth_year": 1936, "birth_month": 1, "sex": "F", "lsoa_code": "E01000993", "practice_code": "P00093"}


def known_answer_ics() -> Ics:
    """1,500 people, 300 ASC clients with two events each (half without a token, 5% noise per field),
    plus hand-made cases: an exact copy, identical twins, a client who died before the event, and
    twins told apart only by activity, by one-to-one assignment or by GP registration."""
    ics = synthetic_ics(n_people=1500, lsoas=60, practices=10, clients=300, noise=0.05, seed=7)
    template = dict(ics.people[0])
    extra = [
        {**template, **TWIN_FIELDS, "person_id": token(1, "B")},
        {**template, **TWIN_FIELDS, "person_id": token(2, "B")},
        {**template, **DEAD_FIELDS, "person_id": token(3, "B"), "date_of_death": date(2020, 1, 31)},
    ]
    ics.people += extra
    exact = ics.people[10]
    ics.asc += [
        asc_row("EXACT", None, {k: exact[k] for k in TWIN_FIELDS}),
        asc_row("TWIN", None, dict(TWIN_FIELDS)),
        asc_row("DEAD", None, dict(DEAD_FIELDS)),
    ]
    ics.truth.update({"EXACT": str(exact["person_id"]), "TWIN": token(1, "B"), "DEAD": token(3, "B")})
    twins = {
        "hospital": (HOSPITAL_TWINS, token(4, "B"), token(5, "B")),
        "registered": (REGISTERED, token(6, "B"), token(7, "B")),
    }
    for fields, first, second in twins.values():
        ics.people += [{**template, **fields, "person_id": first}, {**template, **fields, "person_id": second}]
    ics.people[-1]["registration_start"] = date(2024, 9, 1)
    ics.discharges.append(("HOSPITAL", token(4, "B"), date(2024, 5, 31)))

    def client_event(event_id: str, person_id: str | None, fields: dict[str, object], client: str) -> dict[str, object]:
        row = asc_row(event_id, person_id, dict(fields))
        row["client_id"] = client
        return row

    ics.asc += [
        client_event("DISCHARGED", None, HOSPITAL_TWINS, "K1"),  # service starts 2024-06-01
        client_event("ASSIGNED", None, HOSPITAL_TWINS, "K2") | {"event_start": date(2024, 8, 1)},
        client_event("REGISTERED", None, REGISTERED, "K3"),
    ]
    ics.truth.update(
        {
            "DISCHARGED": token(4, "B"),
            "ASSIGNED": token(5, "B"),
            "REGISTERED": token(6, "B"),
        }
    )
    return ics


def _settings(root: Path) -> Settings:
    return Settings(paths=Paths(warehouse=root / "w.duckdb", outputs=root / "outputs", truth=root / "truth"))


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    """Run the stage, then add a new APC delivery and run it again (rerun + new delivery)."""
    root = tmp_path_factory.mktemp("probabilistic")
    ics = known_answer_ics()
    write_ics(root / "w.duckdb", ics)
    write_truth(root / "truth", ics)
    settings = _settings(root)
    first = link.run(settings, AS_OF)
    con = duckdb.connect(str(settings.paths.warehouse))
    first_links = con.execute("SELECT * FROM person_link ORDER BY source, record_id").fetchall()
    con.execute(
        "INSERT INTO stg_apc (episode_id, person_id, provider_code) VALUES ('NEW1', ?, 'RXX01')",
        [str(ics.people[5]["person_id"])],
    )
    con.close()
    second = link.run(settings, AS_OF)
    con = duckdb.connect(str(settings.paths.warehouse), read_only=True)
    yield ics, settings, first, second, first_links, con
    con.close()


def test_exact_copy_links_to_its_person(linked) -> None:
    ics, _, _, _, _, con = linked
    person_key, method, probability = asc_link(con, "EXACT")
    assert (person_key, method) == (ics.truth["EXACT"], "probabilistic")
    assert probability > 0.99


def test_tie_between_identical_people_is_left_unlinked(linked) -> None:
    *_, con = linked
    assert asc_link(con, "TWIN") == (None, "unlinked", None)
    status, probability, candidates, solo = con.execute(
        "SELECT link_status, match_probability, candidate_count, solo_probability "
        "FROM link_asc_probabilistic WHERE record_id = 'E06000001|TWIN' AND NOT is_holdout"
    ).fetchall()[0]
    assert status == "ambiguous"
    assert candidates >= 2
    assert solo > 0.99  # either twin alone would be a confident link
    assert probability <= 0.5


def test_exact_ties_are_counted_and_reported(linked) -> None:
    """The twins' records tie on every identifier; the exact copy and the dead person's record do not."""
    _, settings, *_, con = linked
    ties = dict(link_quality.exact_ties(con, death_grace_days=30))
    keys = dict(
        con.execute(
            "SELECT event_id, client_key FROM link_asc_events WHERE event_id IN "
            "('TWIN', 'DISCHARGED', 'ASSIGNED', 'REGISTERED', 'EXACT', 'DEAD')"
        ).fetchall()
    )
    for tied in ("TWIN", "DISCHARGED", "ASSIGNED", "REGISTERED"):
        assert ties[keys[tied]] == 1  # one event each
    assert keys["EXACT"] not in ties
    assert keys["DEAD"] not in ties  # the only exact match died long before the event
    quality = json.loads((settings.paths.outputs / "link" / "2025-04-01" / "link_quality.json").read_text())
    assert quality["asc_without_token"]["exact_ties"] == {"clients": len(ties), "events": sum(ties.values())}
    markdown = (settings.paths.outputs / "link" / "2025-04-01" / "link_quality.md").read_text()
    assert f"Exact ties: {len(ties)} untraced client records" in markdown


def test_person_who_died_before_the_event_is_not_a_candidate(linked) -> None:
    *_, con = linked
    assert asc_link(con, "DEAD")[:2] == (None, "unlinked")
    status, best = con.execute(
        "SELECT link_status, best_person_id FROM link_asc_probabilistic "
        "WHERE record_id = 'E06000001|DEAD' AND NOT is_holdout"
    ).fetchall()[0]
    assert best != token(3, "B")  # the exact but dead match was dropped; only weak look-alikes remain
    assert status in ("no_candidate", "below_threshold")
    # without the death, the same fields would have linked: Splink scored the dead person highly
    assert (
        con.execute(
            "SELECT max(pair_probability) FROM link_asc_candidates "
            "WHERE unique_id = 'event|E06000001|DEAD' AND person_id = ?",
            [token(3, "B")],
        ).fetchall()[0][0]
        > 0.9
    )


def test_service_starting_at_a_discharge_picks_the_discharged_twin(linked) -> None:
    *_, con = linked
    person_key, method, probability = asc_link(con, "DISCHARGED")
    assert (person_key, method) == (token(4, "B"), "probabilistic")
    assert probability >= 0.9  # alone, the quasi-identifiers give each twin at most 0.5


def test_twin_linked_to_another_client_of_the_la_leaves_the_other_twin(linked) -> None:
    _, settings, *_, con = linked
    # ASSIGNED ties on every field; DISCHARGED, another client of the same LA, took the first twin.
    person_key, method, probability = asc_link(con, "ASSIGNED")
    assert (person_key, method) == (token(5, "B"), "probabilistic")
    assert probability > 0.99
    taken, assignment_round = con.execute(
        "SELECT p.taken_candidates, a.assignment_round FROM link_asc_probabilistic AS p "
        "JOIN link_asc_assigned AS a USING (unique_id) WHERE p.unique_id = 'client|E06000001|K2'"
    ).fetchall()[0]
    assert taken == 1 and assignment_round > 1  # assigned only once the twin had gone
    quality = json.loads((settings.paths.outputs / "link" / "2025-04-01" / "link_quality.json").read_text())
    assert quality["asc_without_token"]["clients_linked_after_rival_assigned"] >= 1


def test_registration_after_the_events_counts_against_a_twin(linked) -> None:
    *_, con = linked
    best, best_weight, second_weight = con.execute(
        "SELECT best_person_id, best_match_weight, second_match_weight FROM link_asc_probabilistic "
        "WHERE unique_id = 'client|E06000001|K3'"
    ).fetchall()[0]
    assert best == token(6, "B")
    assert best_weight - second_weight > 2  # at least a 4:1 likelihood ratio for the registered twin


def test_precision_and_recall_against_truth(linked) -> None:
    _, _, first, *_ = linked
    # Known answer: 5% noise on year, month and LSOA, 60% blank practice; twins and the dead client
    # are counted as misses, so recall cannot be 1.
    assert float(first.summary["truth_precision"]) >= 0.98
    assert float(first.summary["truth_recall"]) >= 0.88
    assert float(first.summary["holdout_recall"]) >= 0.88


def test_trained_model_recovers_the_noise_rates(linked) -> None:
    _, settings, *_ = linked
    quality = json.loads((settings.paths.outputs / "link" / "2025-04-01" / "link_quality.json").read_text())
    m = {(p["comparison"], p["level"]): p["m_probability"] for p in quality["model"]["parameters"]}
    assert m[("birth_year", "same year")] == pytest.approx(0.95, abs=0.04)
    assert 0.8 < m[("birth_month", "same month")] <= 0.97  # EM on 300 clients: a few points of error
    assert m[("sex", "same sex")] > 0.98


def test_every_asc_event_has_one_row_and_unlinked_are_counted(linked) -> None:
    ics, _, first, _, _, con = linked
    counts = dict(con.execute("SELECT method, count(*) FROM person_link WHERE source = 'asc' GROUP BY 1").fetchall())
    assert sum(counts.values()) == len(ics.asc)
    assert counts["unlinked"] == first.summary["unlinked"]
    assert con.execute("SELECT count(DISTINCT record_id) FROM person_link WHERE source = 'asc'").fetchall() == [
        (len(ics.asc),)
    ]
    linked_probabilities = con.execute(
        "SELECT min(match_probability) FROM person_link WHERE method = 'probabilistic'"
    ).fetchall()[0][0]
    assert linked_probabilities >= Settings().link.match_threshold


def test_keys_are_identical_across_reruns_and_new_deliveries(linked) -> None:
    ics, _, _, second, first_links, con = linked
    after = con.execute("SELECT * FROM person_link ORDER BY source, record_id").fetchall()
    assert [row for row in after if row[1] != "NEW1"] == first_links
    assert [row[2:4] for row in after if row[1] == "NEW1"] == [(ics.people[5]["person_id"], "deterministic")]
    assert second.summary["keys_changed_since_last_run"] == 0


def test_report_has_charts_offline_and_truth_block(linked) -> None:
    _, settings, *_ = linked
    folder = settings.paths.outputs / "link" / "2025-04-01"
    html = (folder / "match_weights.html").read_text()
    assert "cdn.jsdelivr" not in html and "vega" in html
    for name in ("match_weights.png", "match_probability.png", "precision_recall.png", "splink_model.json"):
        assert (folder / name).stat().st_size > 0
    markdown = (folder / "link_quality.md").read_text()
    assert "Accuracy against the synthetic truth" in markdown
    assert "| ambiguous | " in markdown
    model = json.loads((folder / "splink_model.json").read_text())
    assert model["link_type"] == "link_only"


def test_link_report_by_ethnic_group_and_imd_quintile(linked) -> None:
    """The by-group table covers every untraced event once per dimension; its overall row agrees with
    the truth block, and the ceiling removes exactly the events in exact ties."""
    ics, settings, *_, con = linked
    quality = json.loads((settings.paths.outputs / "link" / "2025-04-01" / "link_quality.json").read_text())
    rows = quality["by_group"]
    overall = rows[0]
    assert (overall["dimension"], overall["group"]) == ("all", "all untraced events")
    assert overall["events"] == quality["asc_without_token"]["records"]
    for dimension in ("ethnic_group", "imd_quintile"):
        assert sum(r["events"] for r in rows if r["dimension"] == dimension) == overall["events"]
    truth = quality["truth"]["at_threshold"]
    assert overall["precision"] == pytest.approx(truth["precision"])
    assert overall["recall"] == pytest.approx(truth["recall"])
    tied = quality["asc_without_token"]["exact_ties"]["events"]
    assert overall["ceiling"] == pytest.approx(1 - tied / overall["linkable"])
    assert overall["recall_of_ceiling"] == pytest.approx(overall["recall"] / overall["ceiling"])
    # The group is the true person's: the exact copy's event falls in its person's ethnic group.
    person = next(p for p in ics.people if p["person_id"] == ics.truth["EXACT"])
    groups = {"A": "White", "B": "White", "C": "White", "H": "Asian or Asian British", "M": "Black or Black British"}
    expected = groups.get(str(person["ethnic_category"]), None)
    if expected:
        assert any(r["group"] == expected for r in rows if r["dimension"] == "ethnic_group")
    markdown = (settings.paths.outputs / "link" / "2025-04-01" / "link_quality.md").read_text()
    assert "## Untraced social care events by ethnic group and IMD quintile" in markdown
    assert "| IMD quintile 1 |" in markdown
