"""FastAPI app: server-rendered pages (Jinja2, no JavaScript) and a JSON API mirroring them.

Every request that touches list data is written to the audit log. A PCN's list is its own: another
PCN's list URL is refused with 403 and logged as ``denied``; a person who is not on the caller's
list answers one 404, the same status, body and work whether they are on another PCN's list or
unknown (the audit log records which). Sessions are random ids held in server memory (cookie
``popheath_session``, HttpOnly, SameSite=Strict); the API also takes ``Authorization: Bearer <token>``.
Every response carries the security headers of ``serve/headers.py``.

No ``from __future__ import annotations`` here: FastAPI must evaluate the ``Depends`` annotations
of the route functions, which refer to closures inside :func:`create_app`.
"""

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from popheath.config import Settings
from popheath.errors import InputError, StageError
from popheath.lists import feedback, files
from popheath.lists.release import Release
from popheath.lists.rules import load_rules
from popheath.lists.tiers import TIER_LABELS, TIERS
from popheath.serve import api_docs, auth, listing, page_data
from popheath.serve.audit import AuditLog
from popheath.serve.feedback_form import FeedbackIn, FormValues, explain
from popheath.serve.headers import SecurityHeaders
from popheath.serve.listing import ListQuery

log = logging.getLogger(__name__)

COOKIE = "popheath_session"
HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
# One answer for a person who is not on the caller's list, whoever's list they may be on.
NOT_ON_LIST = "not on your PCN's list"
RELEASE_FILES = (files.LIST_FILE, files.LEFT_FILE)


@dataclass
class Session:
    """A logged-in browser."""

    user: auth.User
    expires: float


def create_app(settings: Settings) -> FastAPI:
    """Build the app for these settings (tokens file, outputs folder, audit log)."""
    app = FastAPI(
        title="popheath coordinator lists",
        description="Each primary care network's current risk list: who to call or review this week, and why.",
        version="1",
        docs_url=None,  # Swagger UI would load from a CDN: /docs below is served from here
        redoc_url=None,
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    store = page_data.ReleaseStore(settings.paths.outputs)
    audit = AuditLog(settings.serve.audit_log or settings.paths.outputs / "serve" / "audit.jsonl")
    users_lock = threading.Lock()
    users_state: dict[str, Any] = {"users": {}, "mtime": None}
    sessions: dict[str, Session] = {}
    rules = load_rules(settings.lists.segment_rules)
    feedback_store = feedback.FeedbackStore(feedback.feedback_path(settings.paths.outputs))

    def users() -> dict[str, auth.User]:
        # Re-read the tokens file when it changes, so adding or revoking a token needs no restart.
        path = settings.serve.tokens_file
        mtime = path.stat().st_mtime if path is not None and path.exists() else None
        with users_lock:
            if mtime != users_state["mtime"]:
                users_state["users"], users_state["mtime"] = auth.load_users(path), mtime
            loaded: dict[str, auth.User] = users_state["users"]
            return loaded

    def client(request: Request) -> str:
        return request.client.host if request.client else "?"

    def who(request: Request) -> auth.User | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return auth.find_user(users(), header[7:].strip())
        session = sessions.get(request.cookies.get(COOKIE, ""))
        if session is None or session.expires < time.time():
            return None
        # A revoked user loses access at once, even with a live session.
        current = users().get(session.user.name)
        return current if current is not None and current.pcn == session.user.pcn else None

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def require_user(request: Request) -> auth.User:
        user = who(request)
        if user is None:
            if is_api(request):
                raise HTTPException(401, "log in with a bearer token", headers={"WWW-Authenticate": "Bearer"})
            raise HTTPException(303, headers={"Location": "/login"})
        return user

    def loaded() -> page_data.LoadedRelease:
        try:
            return store.current()
        except StageError as error:
            log.error("%s", error)
            raise HTTPException(503, str(error)) from error

    def refused(request: Request, user: auth.User, action: str, **entry: Any) -> None:
        audit.write(user=user.name, pcn=user.pcn, action=action, path=request.url.path, client=client(request), **entry)

    def scope(request: Request, user: auth.User, pcn: str, action: str) -> None:
        """Another PCN's list: 403 (the same for any code, so it tells nothing), audited as denied."""
        if user.pcn != pcn:
            refused(request, user, action, target_pcn=pcn, status=403, outcome="denied")
            raise HTTPException(403, "this list belongs to another PCN")

    def record(request: Request, user: auth.User, action: str, release: page_data.LoadedRelease, **extra: Any) -> None:
        audit.write(
            user=user.name,
            pcn=user.pcn,
            action=action,
            target_pcn=user.pcn,
            status=200,
            outcome="allowed",
            release_id=release.release.release_id,
            path=request.url.path,
            client=client(request),
            **extra,
        )

    def live(release: page_data.LoadedRelease, pcn: str) -> pd.DataFrame:
        # Feedback recorded since the release was built shows at once, on the page and in downloads.
        latest = feedback.latest_actions(feedback_store.actions(pcn))
        return listing.with_live_actions(release.pcn_list(pcn), latest)

    def find_person(
        request: Request, user: auth.User, pcn: str, token: str, action: str
    ) -> tuple[page_data.LoadedRelease, pd.DataFrame, pd.DataFrame]:
        """The person's row on (or off) the caller's current list; one 404 for anyone else.

        Every lookup runs whatever the answer, so an unknown token and another PCN's person take the
        same work; only the audit log says which it was.
        """
        release = loaded()
        rows, left = live(release, user.pcn), release.pcn_left(user.pcn)
        rows, left = rows[rows["person_token"] == token], left[left["person_token"] == token]
        elsewhere = release.pcn_of(token)
        if pcn != user.pcn or (rows.empty and left.empty):
            other = pcn != user.pcn or (elsewhere is not None and elsewhere != user.pcn)
            refused(
                request,
                user,
                action,
                target_pcn=elsewhere or pcn,
                person=token,
                status=404,
                outcome="denied" if other else "not_found",
            )
            raise HTTPException(404, NOT_ON_LIST)
        return release, rows, left

    def person_rows(request: Request, user: auth.User, pcn: str, token: str, action: str) -> dict[str, Any]:
        release, row, left = find_person(request, user, pcn, token, action)
        events = page_data.timeline(settings, token, release.as_of)
        record(request, user, action, release, person=token)
        return {
            "release": release,
            "person": row.iloc[0].to_dict() if len(row) else None,
            "left": left.iloc[0].to_dict() if len(left) else None,
            "timeline": events,
            "feedback": feedback_store.history(pcn, token),
        }

    def save_feedback(request: Request, user: auth.User, pcn: str, token: str, body: FeedbackIn) -> dict[str, Any]:
        """Store the action (audited; the note never is); InputError, audited as rejected, when it is not valid."""
        release, _, _ = find_person(request, user, pcn, token, "record_feedback")
        try:
            stored = feedback_store.record(
                feedback.Action(
                    user=user.name,
                    pcn_code=pcn,
                    person_token=token,
                    action=body.action,
                    reason=body.reason or None,
                    note=body.note,
                    action_date=body.action_date,
                    release_id=release.release.release_id,
                    list_as_of=release.as_of,
                    corrects=body.corrects,
                ),
                settings.lists.feedback_note_max_chars,
            )
        except InputError as error:
            refused(
                request, user, "record_feedback", target_pcn=pcn, person=token, status=422, outcome="rejected",
                detail=str(error),
            )  # fmt: skip
            raise
        record(
            request,
            user,
            "record_feedback",
            release,
            person=token,
            feedback_action=stored["action"],
            feedback_id=stored["action_id"],
            corrects=stored["corrects"],
            note_chars=len(body.note or ""),
        )
        return stored

    def csv_response(body: bytes, name: str) -> Response:
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    def list_csv(release: page_data.LoadedRelease, pcn: str, query: ListQuery) -> Response:
        # The published rows with today's actions, written as the published file is: with no filter
        # and no action since the release it is that file byte for byte (its SHA-256 is in the manifest).
        rows = query.apply(live(release, pcn))
        filtered = any(v for k, v in query.as_dict().items() if k not in ("sort", "desc"))
        kind = "list_filtered" if filtered else "list"
        return csv_response(files.csv_bytes(rows, files.LIST_COLUMNS), f"{pcn}_{kind}_{release.as_of.isoformat()}.csv")

    def page_context(release: page_data.LoadedRelease, pcn: str) -> dict[str, Any]:
        pcn_list = release.pcn_list(pcn)
        return {
            "release": release,
            "pcn": pcn,
            "practices": sorted(set(pcn_list["practice_code"])),
            "segments": [s for s in rules.segments if s in set(pcn_list["segment"])],
            "segment_labels": rules.labels,
            "tiers": TIERS,
            "tier_labels": TIER_LABELS,
            "changes": files.CHANGES,
            "actions": feedback.ACTIONS,
            "not_suitable_reasons": feedback.NOT_SUITABLE_REASONS,
            "note_max_chars": settings.lists.feedback_note_max_chars,
            "has_in_hospital": listing.IN_HOSPITAL in release.lists.columns,
            "is_yes": listing.is_yes,
            "table_columns": listing.table_columns(release.lists),
            "detail_columns": listing.detail_columns(release.lists),
        }

    def list_view(request: Request, user: auth.User, pcn: str, query: ListQuery, template: str) -> Response:
        scope(request, user, pcn, "print_list" if template == "print.html" else "view_list")
        release = loaded()
        rows = query.apply(live(release, pcn))
        action = "print_list" if template == "print.html" else "view_list"
        record(request, user, action, release, filters=query.as_dict(), rows=len(rows))
        context = page_context(release, pcn) | {
            "user": user,
            "rows": rows.to_dict("records"),
            "query": query,
            "total": len(release.pcn_list(pcn)),
            "left": release.pcn_left(pcn).to_dict("records"),
        }
        return TEMPLATES.TemplateResponse(request, template, context)

    def person_view(
        request: Request, user: auth.User, pcn: str, token: str, extra: dict[str, Any], status: int = 200
    ) -> Response:
        found = person_rows(request, user, pcn, token, "view_person")
        today = datetime.now(UTC).date().isoformat()
        by_id = {entry["action_id"]: entry for entry in found["feedback"]}
        context = page_context(found["release"], pcn) | {"user": user, "today": today, "by_id": by_id, **found}
        context |= {"form": FormValues(action_date=today), "form_error": None, "saved": None, "correcting": None}
        return TEMPLATES.TemplateResponse(request, "person.html", context | extra, status_code=status)

    def release_files(found: Release, pcn: str) -> dict[str, int]:
        rows = {str(e["path"]): int(e.get("rows") or 0) for e in found.manifest.get("files", [])}
        return {name: rows[f"pcn/{pcn}/{name}"] for name in RELEASE_FILES if f"pcn/{pcn}/{name}" in rows}

    def past_file(request: Request, user: auth.User, pcn: str, release_id: str, name: str) -> Response:
        scope(request, user, pcn, "download_past")
        try:
            found = store.past(release_id)
        except StageError as error:
            raise HTTPException(503, str(error)) from error
        if found is None or name not in RELEASE_FILES or name not in release_files(found, pcn):
            raise HTTPException(404, "no such file for your PCN")
        audit.write(
            user=user.name, pcn=user.pcn, action="download_past", target_pcn=pcn, status=200, outcome="allowed",
            release_id=release_id, file=name, path=request.url.path, client=client(request),
        )  # fmt: skip
        kind = name.removesuffix(".csv")
        return csv_response((found.path / "pcn" / pcn / name).read_bytes(), f"{pcn}_{kind}_{found.as_of}.csv")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 303:
            return RedirectResponse(error.headers["Location"] if error.headers else "/login", status_code=303)
        if is_api(request):
            return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)
        return TEMPLATES.TemplateResponse(
            request, "error.html", {"status": error.status_code, "detail": error.detail}, status_code=error.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> Response:
        if is_api(request):
            return await request_validation_exception_handler(request, error)
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in error.errors())
        return TEMPLATES.TemplateResponse(request, "error.html", {"status": 422, "detail": detail}, status_code=422)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(request: Request) -> Response:
        schema = app.openapi()
        context = {"schema": schema, "operations": api_docs.operations(schema), "models": api_docs.models(schema)}
        return TEMPLATES.TemplateResponse(request, "docs.html", context | {"user": who(request)})

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        user = who(request)
        return RedirectResponse(f"/pcn/{user.pcn}" if user else "/login", status_code=303)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {"error": None})

    @app.post("/login", include_in_schema=False)
    def login(request: Request, token: Annotated[str, Form(max_length=200)]) -> Response:
        user = auth.find_user(users(), token.strip())
        if user is None:
            audit.write(user=None, pcn=None, action="login", status=401, outcome="denied", client=client(request))
            return TEMPLATES.TemplateResponse(
                request, "login.html", {"error": "That token was not recognised."}, status_code=401
            )
        session_id = secrets.token_urlsafe(32)
        sessions[session_id] = Session(user, time.time() + 60 * settings.serve.session_minutes)
        audit.write(user=user.name, pcn=user.pcn, action="login", status=200, outcome="allowed", client=client(request))
        response = RedirectResponse(f"/pcn/{user.pcn}", status_code=303)
        response.set_cookie(
            COOKIE,
            session_id,
            httponly=True,
            samesite="strict",
            max_age=60 * settings.serve.session_minutes,
            secure=request.url.scheme == "https",
        )
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        session = sessions.pop(request.cookies.get(COOKIE, ""), None)
        if session is not None:
            audit.write(user=session.user.name, pcn=session.user.pcn, action="logout", status=200, outcome="allowed")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    User = Annotated[auth.User, Depends(require_user)]
    Filters = Annotated[ListQuery, Depends(listing.query_params)]

    @app.get("/pcn/{pcn}", response_class=HTMLResponse, include_in_schema=False)
    def list_page(request: Request, pcn: str, user: User, query: Filters) -> Response:
        return list_view(request, user, pcn, query, "list.html")

    @app.get("/pcn/{pcn}/print", response_class=HTMLResponse, include_in_schema=False)
    def print_page(request: Request, pcn: str, user: User, query: Filters) -> Response:
        return list_view(request, user, pcn, query, "print.html")

    @app.get("/pcn/{pcn}/list.csv", include_in_schema=False)
    def list_csv_page(request: Request, pcn: str, user: User, query: Filters) -> Response:
        scope(request, user, pcn, "download_csv")
        release = loaded()
        record(request, user, "download_csv", release, filters=query.as_dict())
        return list_csv(release, pcn, query)

    @app.get("/pcn/{pcn}/left.csv", include_in_schema=False)
    def left_csv_page(request: Request, pcn: str, user: User) -> Response:
        scope(request, user, pcn, "download_left")
        release = loaded()
        record(request, user, "download_left", release)
        body = (release.release.path / "pcn" / pcn / files.LEFT_FILE).read_bytes()
        return csv_response(body, f"{pcn}_left_{release.as_of.isoformat()}.csv")

    @app.get("/pcn/{pcn}/releases", response_class=HTMLResponse, include_in_schema=False)
    def releases_page(request: Request, pcn: str, user: User) -> Response:
        scope(request, user, pcn, "view_releases")
        current = loaded()
        record(request, user, "view_releases", current)
        past = [(found, release_files(found, pcn)) for found in store.history()]
        context = {"user": user, "pcn": pcn, "current": current.release.release_id, "past": past}
        return TEMPLATES.TemplateResponse(request, "releases.html", context)

    @app.get("/pcn/{pcn}/releases/{release_id}/{name}", include_in_schema=False)
    def past_file_page(request: Request, pcn: str, release_id: str, name: str, user: User) -> Response:
        return past_file(request, user, pcn, release_id, name)

    @app.get("/pcn/{pcn}/person/{token}", response_class=HTMLResponse, include_in_schema=False)
    def person_page(
        request: Request,
        pcn: str,
        token: str,
        user: User,
        saved: Annotated[int | None, Query()] = None,
        correct: Annotated[int | None, Query()] = None,
    ) -> Response:
        history = {e["action_id"]: e for e in feedback_store.history(user.pcn, token)} if pcn == user.pcn else {}
        extra: dict[str, Any] = {"saved": history.get(saved)}
        target = history.get(correct)
        if target is not None and target["corrected_by"] is None:
            extra["correcting"] = target
            extra["form"] = FormValues(
                target["action"], target["reason"] or "", target["note"] or "", target["action_date"], str(correct)
            )
        return person_view(request, user, pcn, token, extra)

    @app.post("/pcn/{pcn}/person/{token}/feedback", include_in_schema=False)
    def feedback_form(
        request: Request,
        pcn: str,
        token: str,
        user: User,
        action: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
        action_date: Annotated[str, Form()] = "",
        corrects: Annotated[str, Form()] = "",
    ) -> Response:
        # Everything is checked in one place (feedback.check_action) so a mistake comes back on the
        # page with what was typed and what to fix, never as a bare error.
        typed = FormValues(action, reason, note, action_date, corrects)
        try:
            try:
                body = typed.body()
            except InputError as error:
                find_person(request, user, pcn, token, "record_feedback")
                refused(request, user, "record_feedback", target_pcn=pcn, person=token, status=422, outcome="rejected",
                        detail=str(error))  # fmt: skip
                raise
            stored = save_feedback(request, user, pcn, token, body)
        except InputError as error:
            history = {e["action_id"]: e for e in feedback_store.history(user.pcn, token)}
            correcting = history.get(int(corrects)) if corrects.strip().isdigit() else None
            extra = {"form": typed, "form_error": explain(error), "error_field": error.field, "correcting": correcting}
            return person_view(request, user, pcn, token, extra, status=422)
        return RedirectResponse(f"/pcn/{pcn}/person/{token}?saved={stored['action_id']}#feedback", status_code=303)

    # JSON API: the same data and rules as the pages (bearer token or session cookie). Numbers are
    # JSON numbers, blanks null, columns as in the CSV (typed by lists/files.py).
    @app.get("/api/v1/me", tags=["api"])
    def api_me(user: User) -> dict[str, str]:
        """Who the token belongs to and which PCN it may see."""
        return {"user": user.name, "pcn": user.pcn}

    @app.get("/api/v1/release", tags=["api"])
    def api_release(request: Request, user: User) -> dict[str, Any]:
        """The current release: as-of date, model, and this PCN's row counts."""
        release = loaded()
        manifest = release.release.manifest
        record(request, user, "view_release", release)
        return {
            "release_id": release.release.release_id,
            "as_of": manifest["as_of"],
            "model_name": manifest["model_name"],
            "model_version": manifest["model_version"],
            "created_at": manifest["created_at"],
            "listed": len(release.pcn_list(user.pcn)),
            "left": len(release.pcn_left(user.pcn)),
        }

    @app.get("/api/v1/pcn/{pcn}/releases", tags=["api"])
    def api_releases(request: Request, pcn: str, user: User) -> dict[str, Any]:
        """Releases still kept (newest first) with this PCN's rows per file; download with .../releases/{id}/{file}."""
        scope(request, user, pcn, "view_releases")
        current = loaded()
        record(request, user, "view_releases", current)
        return {
            "pcn": pcn,
            "releases": [
                {
                    "release_id": found.release_id,
                    "as_of": found.as_of.isoformat(),
                    "created_at": found.manifest.get("created_at"),
                    "current": found.release_id == current.release.release_id,
                    "rows": release_files(found, pcn),
                }
                for found in store.history()
            ],
        }

    @app.get("/api/v1/pcn/{pcn}/releases/{release_id}/{name}", tags=["api"])
    def api_past_file(request: Request, pcn: str, release_id: str, name: str, user: User) -> Response:
        """A kept release's list.csv or left.csv for this PCN, byte for byte as published."""
        return past_file(request, user, pcn, release_id, name)

    @app.get("/api/v1/pcn/{pcn}/list", tags=["api"])
    def api_list(request: Request, pcn: str, user: User, query: Filters) -> dict[str, Any]:
        """The PCN's current list (search, filters and sort as on the page), with today's actions."""
        scope(request, user, pcn, "view_list")
        release = loaded()
        rows = query.apply(live(release, pcn))
        record(request, user, "view_list", release, filters=query.as_dict(), rows=len(rows))
        return {
            "release_id": release.release.release_id,
            "as_of": release.as_of.isoformat(),
            "pcn": pcn,
            "rows": listing.typed_rows(rows, files.LIST_COLUMNS),
        }

    @app.get("/api/v1/pcn/{pcn}/left", tags=["api"])
    def api_left(request: Request, pcn: str, user: User) -> dict[str, Any]:
        """Who left the PCN's list since the previous release, and why."""
        scope(request, user, pcn, "view_left")
        release = loaded()
        rows = release.pcn_left(pcn)
        record(request, user, "view_left", release, rows=len(rows))
        return {
            "release_id": release.release.release_id,
            "pcn": pcn,
            "rows": listing.typed_rows(rows, files.LEFT_COLUMNS),
        }

    @app.get("/api/v1/pcn/{pcn}/list.csv", tags=["api"])
    def api_list_csv(request: Request, pcn: str, user: User, query: Filters) -> Response:
        """The PCN's list as CSV (UTF-8 with BOM, tokens as ="..."), with today's actions."""
        return list_csv_page(request, pcn, user, query)

    @app.get("/api/v1/pcn/{pcn}/left.csv", tags=["api"])
    def api_left_csv(request: Request, pcn: str, user: User) -> Response:
        """Who left the PCN's list, as CSV: the published file byte for byte."""
        return left_csv_page(request, pcn, user)

    @app.get("/api/v1/pcn/{pcn}/person/{token}", tags=["api"])
    def api_person(request: Request, pcn: str, token: str, user: User) -> dict[str, Any]:
        """One person on the PCN's list: the list row, reasons, and recent activity (404 if not on your list)."""
        found = person_rows(request, user, pcn, token, "view_person")
        person, left = found["person"], found["left"]
        return {
            "release_id": found["release"].release.release_id,
            "person": listing.typed_rows(pd.DataFrame([person]), files.LIST_COLUMNS)[0] if person else None,
            "left": listing.typed_rows(pd.DataFrame([left]), files.LEFT_COLUMNS)[0] if left else None,
            "timeline": found["timeline"].events,
            "timeline_unavailable": found["timeline"].unavailable,
        }

    @app.get("/api/v1/pcn/{pcn}/person/{token}/feedback", tags=["api"])
    def api_feedback_history(request: Request, pcn: str, token: str, user: User) -> dict[str, Any]:
        """Every entry this PCN recorded for the person, newest first, corrections included (notes: this PCN's own)."""
        release, _, _ = find_person(request, user, pcn, token, "view_feedback")
        history = feedback_store.history(pcn, token)
        record(request, user, "view_feedback", release, person=token, rows=len(history))
        return {"pcn": pcn, "person_token": token, "actions": history}

    @app.post("/api/v1/pcn/{pcn}/person/{token}/feedback", tags=["api"], status_code=201)
    def api_feedback(request: Request, pcn: str, token: str, body: FeedbackIn, user: User) -> dict[str, Any]:
        """Record an action for a person on the PCN's list; with ``corrects``, a correction of an earlier entry."""
        try:
            return save_feedback(request, user, pcn, token, body)
        except InputError as error:
            raise HTTPException(422, str(error)) from error

    @app.get("/api/v1/feedback/vocabulary", tags=["api"])
    def api_feedback_vocabulary(user: User) -> dict[str, Any]:
        """The actions and not-suitable reasons accepted, with their labels."""
        return {
            "actions": feedback.ACTIONS,
            "not_suitable_reasons": feedback.NOT_SUITABLE_REASONS,
            "note_max_chars": settings.lists.feedback_note_max_chars,
        }

    return app
