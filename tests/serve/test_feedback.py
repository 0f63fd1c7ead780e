"""Coordinator feedback through the API and the page: stored, audited, PCN-scoped, shown on the next list."""

from __future__ import annotations

from fastapi.testclient import TestClient

from popheath import config
from popheath.lists import feedback, files, release
from popheath.serve import create_app
from popheath.serve.audit import AuditLog
from popheath.stages import publish
from tests.lists.listworld import tok

from .servefixtures import AS_OF, TOKENS


def _bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[user][1]}"}


def _audit(settings: config.Settings) -> list[dict[str, object]]:
    assert settings.serve.audit_log is not None
    return AuditLog(settings.serve.audit_log).read()


def test_api_records_an_action_audits_it_and_the_next_release_shows_it(served: config.Settings) -> None:
    client = TestClient(create_app(served))
    note = "spoke to daughter; prefers mornings"
    response = client.post(
        f"/api/v1/pcn/PCN1/person/{tok(2)}/feedback",
        json={"action": "already_on_caseload", "note": note, "action_date": "2025-04-03"},
        headers=_bearer("alice"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["action"] == "already_on_caseload" and "note" not in response.json()
    history = client.get(f"/api/v1/pcn/PCN1/person/{tok(2)}/feedback", headers=_bearer("alice")).json()
    assert [(a["action"], a["note"], a["user"]) for a in history["actions"]] == [("already_on_caseload", note, "alice")]
    entries = _audit(served)
    write = [e for e in entries if e["action"] == "record_feedback"][0]
    assert (write["user"], write["pcn"], write["person"], write["feedback_action"], write["status"]) == (
        "alice",
        "PCN1",
        tok(2),
        "already_on_caseload",
        200,
    )
    assert note not in served.serve.audit_log.read_text()  # type: ignore[union-attr]
    # The store lives outside the releases and survives a rerun and a new release.
    store_path = feedback.feedback_path(served.paths.outputs)
    assert store_path.exists() and release.lists_root(served.paths.outputs) not in store_path.parents
    publish.run(served, AS_OF)
    publish.run(served, AS_OF)
    current = release.current_release(release.lists_root(served.paths.outputs))
    assert current is not None
    rows = files.read_csv(current.path / "pcn" / "PCN1" / files.LIST_FILE)
    row = rows[rows["person_token"] == tok(2)].iloc[0]
    assert row["last_action"] == "already_on_caseload" and row["last_action_date"] == "2025-04-03"
    assert row["action_summary"] == "on caseload since 2025-04-03"
    assert row["change"] == "unchanged"  # held off "new" (lists.new_hold_days)
    others = rows[rows["person_token"] != tok(2)]
    assert set(others["last_action"]) == {""}
    for path in current.path.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json"):
            assert note not in path.read_text(encoding="utf-8-sig")


def test_another_pcn_cannot_read_or_write_feedback(served: config.Settings) -> None:
    client = TestClient(create_app(served))
    bobs_person = tok(7)
    for url in (f"/api/v1/pcn/PCN2/person/{bobs_person}/feedback", f"/api/v1/pcn/PCN1/person/{bobs_person}/feedback"):
        assert client.get(url, headers=_bearer("alice")).status_code == 404
        assert client.post(url, json={"action": "contacted"}, headers=_bearer("alice")).status_code == 404
    denied = [e for e in _audit(served) if e["outcome"] == "denied"]
    assert len(denied) == 4 and {e["user"] for e in denied} == {"alice"}
    assert {e["target_pcn"] for e in denied} == {"PCN2"}
    assert feedback.FeedbackStore(feedback.feedback_path(served.paths.outputs)).actions().empty
    ok = client.post(
        f"/api/v1/pcn/PCN2/person/{bobs_person}/feedback", json={"action": "contacted"}, headers=_bearer("bob")
    )
    assert ok.status_code == 201
    # Alice's PCN sees nothing of Bob's feedback, on the list page either.
    assert client.get(f"/api/v1/pcn/PCN1/person/{tok(1)}/feedback", headers=_bearer("alice")).json()["actions"] == []


def test_bad_actions_are_rejected_with_the_field(served: config.Settings) -> None:
    client = TestClient(create_app(served))
    url = f"/api/v1/pcn/PCN1/person/{tok(1)}/feedback"
    bad = client.post(url, json={"action": "phoned"}, headers=_bearer("alice"))
    assert bad.status_code == 422 and "field action" in bad.json()["detail"]
    no_reason = client.post(url, json={"action": "not_suitable"}, headers=_bearer("alice"))
    assert no_reason.status_code == 422 and "field reason" in no_reason.json()["detail"]
    long_note = client.post(url, json={"action": "contacted", "note": "x" * 501}, headers=_bearer("alice"))
    assert long_note.status_code == 422 and "at most 500" in long_note.json()["detail"]
    good = client.post(url, json={"action": "not_suitable", "reason": "risk_not_modifiable"}, headers=_bearer("alice"))
    assert good.status_code == 201
    rejected = [e for e in _audit(served) if e.get("outcome") == "rejected"]
    assert len(rejected) == 3
    assert (
        client.post(
            f"/api/v1/pcn/PCN1/person/{'F' * 16}/feedback", json={"action": "contacted"}, headers=_bearer("alice")
        ).status_code
        == 404
    )


def test_page_form_records_and_shows_the_action(served: config.Settings) -> None:
    client = TestClient(create_app(served))
    client.post("/login", data={"token": TOKENS["alice"][1]})
    page = client.get(f"/pcn/PCN1/person/{tok(4)}")
    assert "Why this segment" in page.text and "lives in a care home" in page.text  # the rule that placed them
    posted = client.post(
        f"/pcn/PCN1/person/{tok(4)}/feedback", data={"action": "care_plan_in_place", "note": "ACP agreed"}
    )
    assert posted.status_code == 200 and "ACP agreed" in posted.text and "Care plan in place" in posted.text
    listing = client.get("/pcn/PCN1")
    assert "care plan in place since" in listing.text
    assert [e["action"] for e in _audit(served)][-2:] == ["view_person", "view_list"]
    assert any(e["action"] == "record_feedback" and e["person"] == tok(4) for e in _audit(served))
