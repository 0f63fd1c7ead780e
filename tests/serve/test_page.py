"""Issue 23's page, files and API rules on the two-PCN release of conftest.py (known answers)."""

from __future__ import annotations

import argparse
import re
from datetime import date, timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from popheath import cli, config
from popheath.errors import ConfigError
from popheath.lists import feedback, files, release
from popheath.serve import auth, create_app, listing
from popheath.serve.audit import AuditLog
from popheath.serve.headers import CONTENT_SECURITY_POLICY
from popheath.stages import publish
from tests.lists.listworld import tok

from .servefixtures import AS_OF, TOKENS

BEARER = {"Authorization": f"Bearer {TOKENS['alice'][1]}"}


def _page(settings: config.Settings) -> TestClient:
    client = TestClient(create_app(settings))
    client.post("/login", data={"token": TOKENS["alice"][1]})
    return client


def _tokens(client: TestClient, query: str) -> list[str]:
    return [row["person_token"] for row in client.get(f"/api/v1/pcn/PCN1/list?{query}", headers=BEARER).json()["rows"]]


def test_security_headers_on_every_response(served: config.Settings) -> None:
    page = _page(served)
    anonymous = TestClient(create_app(served))
    responses = [
        anonymous.get("/login"),
        anonymous.get("/docs"),
        anonymous.get("/openapi.json"),
        anonymous.get("/static/page.css"),
        anonymous.get("/api/v1/pcn/PCN1/list"),  # 401
        anonymous.get("/pcn/PCN1", follow_redirects=False),  # 303
        page.get("/pcn/PCN1"),
        page.get("/pcn/PCN2"),  # 403
        page.get(f"/pcn/PCN1/person/{tok(99)}"),  # 404
        page.get("/pcn/PCN1/list.csv"),
        page.get("/pcn/PCN1?todo=maybe"),  # 422
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 401, 303, 200, 403, 404, 200, 422]
    for response in responses:
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        policy = response.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "script-src" not in policy  # default-src 'none': no script at all


def test_every_page_and_docs_work_offline_without_scripts(served: config.Settings) -> None:
    page = _page(served)
    publish.run(served, AS_OF)
    past = release.releases(release.lists_root(served.paths.outputs))[0].release_id
    urls = ["/docs", "/pcn/PCN1", "/pcn/PCN1/print", "/pcn/PCN1/releases", f"/pcn/PCN1/person/{tok(1)}", "/login"]
    for url in urls:
        text = page.get(url).text
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), url  # nothing fetched from elsewhere
        assert "<script" not in text and " style=" not in text and "<style" not in text, url
    docs = page.get("/docs").text
    assert "/api/v1/pcn/{pcn}/list" in docs and "corrects" in docs and "FeedbackIn" in docs
    assert page.get(f"/pcn/PCN1/releases/{past}/list.csv").status_code == 200


def test_search_sort_and_filters(served: config.Settings) -> None:
    client = TestClient(create_app(served))
    assert _tokens(client, "") == [tok(1), tok(2), tok(3), tok(4)]
    assert _tokens(client, "q=0003") == [tok(3)]
    assert _tokens(client, "q=%200003%20") == [tok(3)]  # spaces around a pasted token
    assert _tokens(client, "q=zz") == []
    assert _tokens(client, "sort=risk") == [tok(4), tok(3), tok(2), tok(1)]  # lowest risk first
    assert _tokens(client, "sort=rank&desc=1") == [tok(4), tok(3), tok(2), tok(1)]
    assert _tokens(client, "sort=not_a_column&desc=1") == [tok(1), tok(2), tok(3), tok(4)]  # ignored
    assert _tokens(client, "new=1") == [tok(1), tok(2), tok(3), tok(4)]  # the first release: everyone is new
    assert _tokens(client, "in_hospital=1") == []  # nobody on PCN1's list is in hospital now
    url = f"/api/v1/pcn/PCN1/person/{tok(2)}/feedback"
    assert client.post(url, json={"action": "contacted"}, headers=BEARER).status_code == 201
    assert _tokens(client, "todo=1") == [tok(1), tok(3), tok(4)]
    page = _page(served)
    listing_page = page.get("/pcn/PCN1?todo=1&sort=risk&desc=1").text
    assert 'id="filter-todo" checked' in listing_page and 'id="filter-in-hospital"' in listing_page
    assert 'aria-sort="descending"' in listing_page and "3 of 4 shown" in listing_page
    entry = AuditLog(served.serve.audit_log).read()[-1]  # type: ignore[arg-type]
    assert entry["filters"] == {"todo": True, "sort": "risk", "desc": True}


def test_in_hospital_filter_and_sort_on_hand_made_rows() -> None:
    # The in_hospital_now column (Y / blank) comes from the list build; the page filters on it when present.
    rows = pd.DataFrame(
        {
            "rank": ["1", "2", "3", "4"],
            "person_token": ["A1", "B2", "C3", "D4"],
            "change": ["new", "unchanged", "new", "risen"],
            "in_hospital_now": ["Y", "", "Y", ""],
            "days_since_emergency_discharge": ["30", "", "5", "400"],
            "last_action": ["", "contacted", "", ""],
        }
    )
    assert listing.ListQuery(in_hospital=True).apply(rows)["person_token"].tolist() == ["A1", "C3"]
    assert listing.ListQuery(in_hospital=True, todo=True, new=True).apply(rows)["person_token"].tolist() == [
        "A1",
        "C3",
    ]
    assert listing.ListQuery(todo=True).apply(rows)["person_token"].tolist() == ["A1", "C3", "D4"]
    # Numbers sort as numbers (5 < 30 < 400, not "30" < "400" < "5"), blanks last either way.
    by_days = listing.ListQuery(sort="days_since_emergency_discharge").apply(rows)["person_token"].tolist()
    assert by_days == ["C3", "A1", "D4", "B2"]
    by_days_desc = (
        listing.ListQuery(sort="days_since_emergency_discharge", desc=True).apply(rows)["person_token"].tolist()
    )
    assert by_days_desc == ["D4", "A1", "C3", "B2"]
    assert listing.ListQuery(q="c3").apply(rows)["person_token"].tolist() == ["C3"]


def test_api_numbers_are_numbers(served: config.Settings) -> None:
    client = TestClient(create_app(served))
    rows = client.get("/api/v1/pcn/PCN1/list", headers=BEARER).json()["rows"]
    first, second = rows[0], rows[1]
    assert isinstance(first["rank"], int) and isinstance(first["practice_rank"], int)
    assert isinstance(first["risk"], float) and isinstance(first["percentile"], float)
    assert first["risk"] == pytest.approx(0.95) and first["days_since_emergency_discharge"] == 30
    assert (
        second["days_since_emergency_discharge"] is None and second["last_emergency_admission"] is None
    )  # blanks are null
    assert first["person_token"] == tok(1)  # plain token in JSON, never ="..."
    person = client.get(f"/api/v1/pcn/PCN1/person/{tok(1)}", headers=BEARER).json()["person"]
    assert person["rank"] == 1 and isinstance(person["risk"], float)


def test_download_has_todays_actions_and_excel_safe_tokens(served: config.Settings) -> None:
    page = _page(served)
    current = release.current_release(release.lists_root(served.paths.outputs))
    assert current is not None
    published = (current.path / "pcn/PCN1/list.csv").read_bytes()
    assert page.get("/pcn/PCN1/list.csv").content == published  # nothing recorded since: the published file
    assert b'"=""0000000000000001"""' in published  # the token as the text formula ="0000000000000001"
    page.post(f"/pcn/PCN1/person/{tok(3)}/feedback", data={"action": "declined", "action_date": "2025-04-02"})
    body = page.get("/pcn/PCN1/list.csv").content
    assert body != published and body.startswith(b"\xef\xbb\xbf") and body.count(b"\r\n") == 5
    path = served.paths.outputs / "downloaded.csv"
    path.write_bytes(body)
    rows = files.read_csv(path).set_index("person_token")
    assert rows.loc[tok(3), "last_action"] == "declined" and rows.loc[tok(3), "last_action_date"] == "2025-04-02"
    assert rows.loc[tok(3), "action_summary"] == "declined on 2025-04-02"
    assert rows.loc[tok(1), "last_action"] == ""
    left = page.get("/pcn/PCN1/left.csv")
    assert left.content == (current.path / "pcn/PCN1/left.csv").read_bytes()
    assert 'filename="PCN1_left_2025-04-01.csv"' in left.headers["content-disposition"]


def test_token_cells_known_answers(tmp_path: pytest.TempPathFactory) -> None:
    # Tokens that spreadsheets would turn into numbers: all digits (63), scientific notation (1E5).
    frame = pd.DataFrame({"person_token": ["0000000000000063", "00000000001E5000", "ABCDEF0123456789"], "n": [1, 2, 3]})
    columns = (files.Column("person_token", "token", "t"), files.Column("n", "int", "n"))
    shown = files.csv_frame(frame, columns)
    assert shown["person_token"].tolist() == ['="0000000000000063"', '="00000000001E5000"', '="ABCDEF0123456789"']
    path = tmp_path / "t.csv"  # type: ignore[operator]
    files.write_csv(shown, path)
    assert path.read_bytes().splitlines()[1] == b'"=""0000000000000063""",1'
    assert files.read_csv(path)["person_token"].tolist() == frame["person_token"].tolist()
    # A file saved back by a spreadsheet has plain tokens; it reads the same.
    assert files.unwrap_text("0000000000000063") == "0000000000000063"
    assert files.unwrap_text('="=1+1"') == '="=1+1"'  # only token characters are unwrapped
    with pytest.raises(Exception, match="person_token"):
        files.excel_text('1"+HYPERLINK("x')


def test_add_token_refuses_an_unknown_pcn(served: config.Settings) -> None:
    args = argparse.Namespace(add_token="carol", pcn="U99999", host=None, port=None)
    with pytest.raises(ConfigError, match=r"PCN U99999 is not in the current release .*known PCNs: PCN1, PCN2"):
        cli._serve(args, served)
    assert "carol" not in auth.load_users(served.serve.tokens_file)
    cli._serve(argparse.Namespace(add_token="carol", pcn="PCN2", host=None, port=None), served)
    assert auth.load_users(served.serve.tokens_file)["carol"].pcn == "PCN2"


def test_previous_lists_and_their_files(served: config.Settings) -> None:
    page = _page(served)
    first = release.current_release(release.lists_root(served.paths.outputs))
    assert first is not None
    publish.run(served, AS_OF)  # a second release (the world has scores for one date only)
    listing_page = page.get("/pcn/PCN1/releases").text
    assert listing_page.count("/list.csv") == 2 and "(current)" in listing_page and first.release_id in listing_page
    old = page.get(f"/pcn/PCN1/releases/{first.release_id}/list.csv")
    assert old.content == (first.path / "pcn/PCN1/list.csv").read_bytes()
    assert 'filename="PCN1_list_2025-04-01.csv"' in old.headers["content-disposition"]
    assert page.get(f"/pcn/PCN1/releases/{first.release_id}/manifest.json").status_code == 404
    assert page.get("/pcn/PCN1/releases/..%2F..%2Fetc/list.csv").status_code == 404
    assert page.get(f"/pcn/PCN2/releases/{first.release_id}/list.csv").status_code == 403
    api = TestClient(create_app(served)).get("/api/v1/pcn/PCN1/releases", headers=BEARER).json()["releases"]
    assert [(r["release_id"] == first.release_id, r["current"], r["rows"]["list.csv"]) for r in api] == [
        (False, True, 4),
        (True, False, 4),
    ]


def test_print_view(served: config.Settings) -> None:
    text = _page(served).get("/pcn/PCN1/print?practice=A81002").text
    assert "MDT review: PCN PCN1, data as of 2025-04-01" in text and "MDT decision" in text
    assert tok(2) in text and tok(4) in text and tok(1) not in text and "practice=A81002" in text


def test_form_mistake_keeps_what_was_typed_and_says_what_to_fix(served: config.Settings) -> None:
    page = _page(served)
    url = f"/pcn/PCN1/person/{tok(1)}/feedback"
    typed = {"action": "not_suitable", "reason": "", "note": "moved to daughter's", "action_date": "2025-04-02"}
    wrong = page.post(url, data=typed)
    assert wrong.status_code == 422 and 'id="form-error"' in wrong.text
    assert "If not suitable, why: choose a reason" in wrong.text
    assert 'value="moved to daughter&#39;s"' in wrong.text and 'value="2025-04-02"' in wrong.text
    assert '<option value="not_suitable" selected>' in wrong.text
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    future = page.post(url, data={"action": "contacted", "action_date": tomorrow})
    assert future.status_code == 422 and "Date: expected today or earlier" in future.text
    garbled = page.post(url, data={"action": "contacted", "action_date": "2 April"})
    assert garbled.status_code == 422 and "Date: expected a date (YYYY-MM-DD) (you entered 2 April)" in garbled.text
    none = page.post(url, data={"action": ""})
    assert none.status_code == 422 and "Action: choose one of the actions" in none.text
    long_note = page.post(url, data={"action": "contacted", "note": "x" * 501})
    assert long_note.status_code == 422 and "Note: expected at most 500 characters" in long_note.text
    assert feedback.FeedbackStore(feedback.feedback_path(served.paths.outputs)).actions().empty
    rejected = [e for e in AuditLog(served.serve.audit_log).read() if e["outcome"] == "rejected"]  # type: ignore[arg-type]
    assert len(rejected) == 5
    saved = page.post(url, data=typed | {"reason": "risk_not_modifiable"}, follow_redirects=False)
    assert saved.status_code == 303 and re.search(r"\?saved=\d+#feedback$", saved.headers["location"])
    shown = page.get(saved.headers["location"]).text
    assert "Saved: Not suitable (Risk not modifiable by the team) on 2025-04-02" in shown


def test_an_entry_is_corrected_by_a_new_row(served: config.Settings) -> None:
    page = _page(served)
    url = f"/pcn/PCN1/person/{tok(2)}/feedback"
    first = page.post(url, data={"action": "contacted", "note": "left voicemail", "action_date": "2025-04-02"})
    entry = int(re.search(r"entry (\d+)", first.text).group(1))  # type: ignore[union-attr]
    form = page.get(f"/pcn/PCN1/person/{tok(2)}?correct={entry}").text
    assert f"Correcting entry {entry}" in form and 'value="left voicemail"' in form
    assert '<option value="contacted" selected>' in form and f'name="corrects" value="{entry}"' in form
    fixed = page.post(url, data={"action": "declined", "action_date": "2025-04-02", "corrects": str(entry)})
    assert fixed.status_code == 200 and f"correcting entry {entry}" in fixed.text
    assert f"corrected by entry {entry + 1}" in fixed.text
    store = feedback.FeedbackStore(feedback.feedback_path(served.paths.outputs))
    assert store.actions()[["action_id", "action", "corrects"]].values.tolist() == [[entry + 1, "declined", entry]]
    history = store.history("PCN1", tok(2))
    assert [(h["action_id"], h["corrected_by"]) for h in history] == [(entry + 1, None), (entry, entry + 1)]
    assert "declined on 2025-04-02" in page.get("/pcn/PCN1").text
    again = page.post(url, data={"action": "contacted", "corrects": str(entry)})
    assert again.status_code == 422 and f"was corrected by entry {entry + 1}" in again.text
    elsewhere = page.post(
        f"/pcn/PCN1/person/{tok(3)}/feedback", data={"action": "contacted", "corrects": str(entry + 1)}
    )
    assert elsewhere.status_code == 422 and "Correcting entry: expected the id of an entry recorded" in elsewhere.text
    audit = [e for e in AuditLog(served.serve.audit_log).read() if e["action"] == "record_feedback"]  # type: ignore[arg-type]
    correction = [e for e in audit if e.get("corrects") == entry][0]
    assert (correction["user"], correction["status"], correction["feedback_id"]) == ("alice", 200, entry + 1)
    assert correction["when"]
