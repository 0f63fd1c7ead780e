from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from popheath import config
from popheath.errors import ConfigError
from popheath.lists import release
from popheath.serve import auth, create_app
from popheath.serve.audit import AuditLog
from tests.lists.listworld import tok

from .servefixtures import AS_OF, TOKENS


def _client(settings: config.Settings) -> TestClient:
    return TestClient(create_app(settings))


def _bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[user][1]}"}


def _audit(settings: config.Settings) -> list[dict[str, object]]:
    assert settings.serve.audit_log is not None
    return AuditLog(settings.serve.audit_log).read()


def test_own_list_with_filters(served: config.Settings) -> None:
    client = _client(served)
    body = client.get("/api/v1/pcn/PCN1/list", headers=_bearer("alice")).json()
    assert [row["person_token"] for row in body["rows"]] == [tok(1), tok(2), tok(3), tok(4)]
    assert body["as_of"] == AS_OF.isoformat()
    first = body["rows"][0]
    assert first["reason_1"] == "2 emergency admissions in the last 6 months"
    assert first["last_emergency_admission"] == "2025-02-20" and first["days_since_emergency_discharge"] == 30
    practice = client.get("/api/v1/pcn/PCN1/list?practice=A81002", headers=_bearer("alice")).json()
    assert [row["person_token"] for row in practice["rows"]] == [tok(2), tok(4)]
    care_home = client.get("/api/v1/pcn/PCN1/list?segment=care_home", headers=_bearer("alice")).json()
    assert [row["person_token"] for row in care_home["rows"]] == [tok(4)]
    entry = _audit(served)[-1]
    assert entry["user"] == "alice" and entry["pcn"] == "PCN1" and entry["action"] == "view_list"
    assert entry["filters"] == {"segment": "care_home"} and entry["status"] == 200 and entry["when"]


def test_another_pcns_list_is_refused_and_logged(served: config.Settings) -> None:
    client = _client(served)
    for path in ("/api/v1/pcn/PCN2/list", "/api/v1/pcn/PCN2/left", "/api/v1/pcn/PCN2/list.csv"):
        assert client.get(path, headers=_bearer("alice")).status_code == 403
    denied = [e for e in _audit(served) if e["outcome"] == "denied"]
    assert [(e["user"], e["pcn"], e["target_pcn"], e["status"]) for e in denied] == [("alice", "PCN1", "PCN2", 403)] * 3
    assert client.get("/api/v1/pcn/PCN2/list", headers=_bearer("bob")).status_code == 200


def test_another_pcns_person_is_the_same_404_as_an_unknown_token_and_logged(served: config.Settings) -> None:
    # Issue 23: nothing tells another PCN's person from an unknown token (status, headers, body).
    client = _client(served)
    bobs_person = tok(7)
    # Through the other PCN's URL, disguised under one's own PCN, and a token nobody has.
    answers = [
        client.get(f"/api/v1/pcn/PCN2/person/{bobs_person}", headers=_bearer("alice")),
        client.get(f"/api/v1/pcn/PCN1/person/{bobs_person}", headers=_bearer("alice")),
        client.get(f"/api/v1/pcn/PCN1/person/{tok(99)}", headers=_bearer("alice")),
    ]
    assert {(a.status_code, a.content) for a in answers} == {(404, b'{"detail":"not on your PCN\'s list"}')}
    assert len({tuple(sorted((k, v) for k, v in a.headers.items() if k != "date")) for a in answers}) == 1
    denied = [e for e in _audit(served) if e["outcome"] == "denied"]
    assert [(e["user"], e["person"], e["target_pcn"], e["status"]) for e in denied] == [
        ("alice", bobs_person, "PCN2", 404)
    ] * 2
    assert _audit(served)[-1]["outcome"] == "not_found"
    page = TestClient(create_app(served))
    page.post("/login", data={"token": TOKENS["alice"][1]})
    pages = [page.get(f"/pcn/PCN1/person/{t}") for t in (bobs_person, tok(99))]
    assert [p.status_code for p in pages] == [404, 404] and pages[0].text == pages[1].text


def test_person_shows_reasons_and_timeline(served: config.Settings) -> None:
    client = _client(served)
    body = client.get(f"/api/v1/pcn/PCN1/person/{tok(1)}", headers=_bearer("alice")).json()
    assert body["person"]["reason_2"] == "frailty score 12 (moderate)"
    assert [(e["date"], e["kind"]) for e in body["timeline"]] == [
        ("2025-02-20", "Emergency admission"),
        ("2025-01-10", "A&E attendance"),
        ("2024-06-05", "Hospital admission (planned)"),
    ]
    assert "discharged 2025-03-02" in body["timeline"][0]["detail"]
    entry = _audit(served)[-1]
    assert (entry["action"], entry["person"], entry["user"]) == ("view_person", tok(1), "alice")


def test_csv_download_is_the_published_file(served: config.Settings) -> None:
    client = _client(served)
    response = client.get("/api/v1/pcn/PCN1/list.csv", headers=_bearer("alice"))
    current = release.current_release(release.lists_root(served.paths.outputs))
    assert current is not None
    assert response.content == (current.path / "pcn/PCN1/list.csv").read_bytes()
    assert 'filename="PCN1_list_2025-04-01.csv"' in response.headers["content-disposition"]
    filtered = client.get("/api/v1/pcn/PCN1/list.csv?tier=very_high", headers=_bearer("alice")).content
    assert filtered.startswith(b"\xef\xbb\xbf") and filtered.count(b"\r\n") == 1 + 0  # header only: nobody very high
    assert _audit(served)[-1]["action"] == "download_csv"


def test_login_session_and_pages(served: config.Settings) -> None:
    client = _client(served)
    assert client.get("/pcn/PCN1", follow_redirects=False).headers["location"] == "/login"
    bad = client.post("/login", data={"token": "guess"}, follow_redirects=False)
    assert bad.status_code == 401 and _audit(served)[-1]["action"] == "login"
    good = client.post("/login", data={"token": TOKENS["alice"][1]}, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/pcn/PCN1"
    assert "httponly" in good.headers["set-cookie"].lower() and "samesite=strict" in good.headers["set-cookie"].lower()
    page = client.get("/pcn/PCN1?tier=&segment=care_home")
    assert page.status_code == 200 and tok(4) in page.text and tok(1) not in page.text
    assert client.get("/pcn/PCN2").status_code == 403
    person = client.get(f"/pcn/PCN1/person/{tok(1)}")
    assert "Emergency admission" in person.text and "frailty score 12 (moderate)" in person.text
    client.post("/logout")
    assert client.get("/pcn/PCN1", follow_redirects=False).status_code == 303


def test_no_or_revoked_token_is_401(served: config.Settings) -> None:
    client = _client(served)
    assert client.get("/api/v1/pcn/PCN1/list").status_code == 401
    assert client.get("/api/v1/me", headers=_bearer("alice")).json() == {"user": "alice", "pcn": "PCN1"}
    assert served.serve.tokens_file is not None
    text = served.serve.tokens_file.read_text()
    served.serve.tokens_file.write_text(text.replace(auth.hash_token(TOKENS["alice"][1]), "0" * 64) + "\n")
    assert client.get("/api/v1/me", headers=_bearer("alice")).status_code == 401


def test_damaged_release_is_not_served(served: config.Settings) -> None:
    current = release.current_release(release.lists_root(served.paths.outputs))
    assert current is not None
    (current.path / "pcn/PCN1/list.csv").write_text("rank,person_token\n1,0000000000000063\n")
    response = _client(served).get("/api/v1/pcn/PCN1/list", headers=_bearer("alice"))
    assert response.status_code == 503 and "manifest" in response.json()["detail"]


def test_openapi_documents_the_api(served: config.Settings) -> None:
    paths = _client(served).get("/openapi.json").json()["paths"]
    assert {"/api/v1/pcn/{pcn}/list", "/api/v1/pcn/{pcn}/person/{token}", "/api/v1/pcn/{pcn}/list.csv"} <= set(paths)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_add_token_stores_only_the_hash(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"tokens{suffix}"
    token = auth.add_token(path, "carol", "PCN3")
    auth.add_token(path, "dan", "PCN4")
    assert token not in path.read_text() and auth.hash_token(token) in path.read_text()
    users = auth.load_users(path)
    assert auth.find_user(users, token) == auth.User("carol", "PCN3", auth.hash_token(token))
    assert set(users) == {"carol", "dan"}
    if suffix == ".json":
        assert json.loads(path.read_text())["users"]["carol"]["pcn"] == "PCN3"


def test_bad_tokens_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text('[users.eve]\npcn = "PCN1"\ntoken_sha256 = "not-a-hash"\n')
    with pytest.raises(ConfigError, match="eve"):
        auth.load_users(path)
