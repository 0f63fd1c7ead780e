"""FastAPI app: server-rendered pages (Jinja2, no JavaScript build) and a JSON API mirroring them.

Every request that touches list data is written to the audit log; a request for another PCN's
list or person is refused with 403 and logged as ``denied``. Sessions are random ids held in
server memory (cookie ``popheath_session``, HttpOnly, SameSite=Strict); the API also takes
``Authorization: Bearer <token>``.

No ``from __future__ import annotations`` here: FastAPI must evaluate the ``Depends`` annotations
of the route functions, which refer to closures inside :func:`create_app`.
"""

import io
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pandas as pd
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from popheath.config import Settings
from popheath.errors import InputError, StageError
from popheath.lists import feedback, files
from popheath.lists.rules import load_rules
from popheath.lists.tiers import TIER_LABELS, TIERS
from popheath.serve import auth, page_data
from popheath.serve.audit import AuditLog

log = logging.getLogger(__name__)

COOKIE = "popheath_session"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


@dataclass
class Session:
    """A logged-in browser."""

    user: auth.User
    expires: float


@dataclass(frozen=True)
class Filters:
    """List filters shared by the page, the CSV download and the API."""

    practice: str | None = None
    segment: str | None = None
    tier: str | None = None
    change: str | None = None

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows matching every filter given."""
        for column in ("practice", "segment", "tier", "change"):
            value = getattr(self, column)
            if value:
                frame = frame[frame["practice_code" if column == "practice" else column] == value]
        return frame

    def as_dict(self) -> dict[str, str]:
        """The filters in use, for the audit log."""
        return {k: v for k, v in vars(self).items() if v}


class FeedbackIn(BaseModel):
    """An action a coordinator records for a person on their PCN's list."""

    action: str = Field(description="one of " + ", ".join(feedback.ACTIONS))
    reason: str | None = Field(
        None, description="with not_suitable: one of " + ", ".join(feedback.NOT_SUITABLE_REASONS)
    )
    note: str | None = Field(None, max_length=2000, description="free text for the team; never exported")
    action_date: date | None = Field(None, description="when it happened (default today)")


def _filters(
    practice: Annotated[str | None, Query(max_length=32)] = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    tier: Annotated[str | None, Query(max_length=32)] = None,
    change: Annotated[str | None, Query(max_length=32)] = None,
) -> Filters:
    return Filters(practice or None, segment or None, tier or None, change or None)


def create_app(settings: Settings) -> FastAPI:
    """Build the app for these settings (tokens file, outputs folder, audit log)."""
    app = FastAPI(
        title="popheath coordinator lists",
        description="Each primary care network's current risk list: who to call or review this week, and why.",
        version="1",
    )
    store = page_data.ReleaseStore(settings.paths.outputs)
    audit = AuditLog(settings.serve.audit_log or settings.paths.outputs / "serve" / "audit.jsonl")
    users_lock = threading.Lock()
    users_state: dict[str, Any] = {"users": {}, "mtime": None}
    sessions: dict[str, Session] = {}
    rules = load_rules(settings.lists.segment_rules)
    segment_labels = rules.labels
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

    def deny(request: Request, user: auth.User, action: str, target_pcn: str, person: str | None, why: str) -> NoReturn:
        """Audit a refused request for another PCN's data, then refuse it (403)."""
        audit.write(
            user=user.name,
            pcn=user.pcn,
            action=action,
            target_pcn=target_pcn,
            person=person,
            status=403,
            outcome="denied",
            path=request.url.path,
            client=client(request),
        )
        raise HTTPException(403, why)

    def scope(request: Request, user: auth.User, pcn: str, action: str, person: str | None = None) -> None:
        if user.pcn != pcn:
            deny(request, user, action, pcn, person, "this list belongs to another PCN")

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

    def find_person(
        request: Request, user: auth.User, pcn: str, token: str, action: str
    ) -> tuple[page_data.LoadedRelease, pd.DataFrame, pd.DataFrame]:
        # The person must be on (or have left) this PCN's current list; another PCN's person is 403.
        scope(request, user, pcn, action, token)
        release = loaded()
        row = release.pcn_list(pcn)
        row = row[row["person_token"] == token]
        left = release.pcn_left(pcn)
        left = left[left["person_token"] == token]
        if row.empty and left.empty:
            elsewhere = release.pcn_of(token)
            if elsewhere is not None:
                deny(request, user, action, elsewhere, token, "this person is on another PCN's list")
            raise HTTPException(404, "not on this PCN's current list")
        return release, row, left

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
                ),
                settings.lists.feedback_note_max_chars,
            )
        except InputError as error:
            audit.write(
                user=user.name,
                pcn=user.pcn,
                action="record_feedback",
                target_pcn=pcn,
                person=token,
                status=422,
                outcome="rejected",
                detail=str(error),
                path=request.url.path,
                client=client(request),
            )
            raise HTTPException(422, str(error)) from error
        # The note itself is never written to the audit log, only whether there was one.
        record(
            request,
            user,
            "record_feedback",
            release,
            person=token,
            feedback_action=stored["action"],
            feedback_id=stored["action_id"],
            note_chars=len(body.note or ""),
        )
        return stored

    def live_actions(pcn: str) -> dict[str, dict[str, Any]]:
        # Feedback recorded since the release was built shows at once on the page (the CSV gets it next release).
        latest = feedback.latest_actions(feedback_store.actions(pcn))
        return {str(r["person_token"]): r for r in latest.to_dict("records")}

    def csv_response(release: page_data.LoadedRelease, pcn: str, filters: Filters) -> Response:
        name = f"{pcn}_list_{release.as_of.isoformat()}.csv"
        if not filters.as_dict():
            # Unfiltered: the published file itself, byte for byte (its SHA-256 is in the manifest).
            body = (release.release.path / "pcn" / pcn / files.LIST_FILE).read_bytes()
        else:
            buffer = io.StringIO()
            filters.apply(release.pcn_list(pcn)).to_csv(buffer, index=False, lineterminator=files.LINE_END)
            body = buffer.getvalue().encode(files.ENCODING)
            name = name.replace("_list_", "_list_filtered_")
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    def page_context(release: page_data.LoadedRelease, pcn: str) -> dict[str, Any]:
        pcn_list = release.pcn_list(pcn)
        return {
            "release": release,
            "pcn": pcn,
            "practices": sorted(set(pcn_list["practice_code"])),
            "segments": [s for s in rules.segments if s in set(pcn_list["segment"])],
            "segment_labels": segment_labels,
            "tiers": TIERS,
            "tier_labels": TIER_LABELS,
            "changes": files.CHANGES,
            "actions": feedback.ACTIONS,
            "not_suitable_reasons": feedback.NOT_SUITABLE_REASONS,
            "note_max_chars": settings.lists.feedback_note_max_chars,
        }

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 303:
            return RedirectResponse(error.headers["Location"] if error.headers else "/login", status_code=303)
        if is_api(request):
            return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)
        return TEMPLATES.TemplateResponse(
            request, "error.html", {"status": error.status_code, "detail": error.detail}, status_code=error.status_code
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

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

    @app.get("/pcn/{pcn}", response_class=HTMLResponse, include_in_schema=False)
    def list_page(
        request: Request,
        pcn: str,
        user: Annotated[auth.User, Depends(require_user)],
        filters: Annotated[Filters, Depends(_filters)],
    ) -> Response:
        scope(request, user, pcn, "view_list")
        release = loaded()
        rows = filters.apply(release.pcn_list(pcn))
        record(request, user, "view_list", release, filters=filters.as_dict(), rows=len(rows))
        context = page_context(release, pcn) | {
            "user": user,
            "rows": rows.to_dict("records"),
            "filters": filters,
            "total": len(release.pcn_list(pcn)),
            "left": release.pcn_left(pcn).to_dict("records"),
            "query": request.url.query,
            "live_actions": live_actions(pcn),
        }
        return TEMPLATES.TemplateResponse(request, "list.html", context)

    @app.get("/pcn/{pcn}/list.csv", include_in_schema=False)
    def list_csv_page(
        request: Request,
        pcn: str,
        user: Annotated[auth.User, Depends(require_user)],
        filters: Annotated[Filters, Depends(_filters)],
    ) -> Response:
        scope(request, user, pcn, "download_csv")
        release = loaded()
        record(request, user, "download_csv", release, filters=filters.as_dict())
        return csv_response(release, pcn, filters)

    @app.get("/pcn/{pcn}/person/{token}", response_class=HTMLResponse, include_in_schema=False)
    def person_page(
        request: Request, pcn: str, token: str, user: Annotated[auth.User, Depends(require_user)]
    ) -> Response:
        found = person_rows(request, user, pcn, token, "view_person")
        context = page_context(found["release"], pcn) | {"user": user, **found}
        return TEMPLATES.TemplateResponse(request, "person.html", context)

    @app.post("/pcn/{pcn}/person/{token}/feedback", include_in_schema=False)
    def feedback_form(
        request: Request,
        pcn: str,
        token: str,
        user: Annotated[auth.User, Depends(require_user)],
        action: Annotated[str, Form(max_length=64)],
        reason: Annotated[str, Form(max_length=64)] = "",
        note: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        save_feedback(
            request,
            user,
            pcn,
            token,
            FeedbackIn(action=action, reason=reason or None, note=note or None, action_date=None),
        )
        return RedirectResponse(f"/pcn/{pcn}/person/{token}?saved=1", status_code=303)

    # JSON API: the same data and rules as the pages (bearer token or session cookie).
    @app.get("/api/v1/me", tags=["api"])
    def api_me(user: Annotated[auth.User, Depends(require_user)]) -> dict[str, str]:
        """Who the token belongs to and which PCN it may see."""
        return {"user": user.name, "pcn": user.pcn}

    @app.get("/api/v1/release", tags=["api"])
    def api_release(request: Request, user: Annotated[auth.User, Depends(require_user)]) -> dict[str, Any]:
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

    @app.get("/api/v1/pcn/{pcn}/list", tags=["api"])
    def api_list(
        request: Request,
        pcn: str,
        user: Annotated[auth.User, Depends(require_user)],
        filters: Annotated[Filters, Depends(_filters)],
    ) -> dict[str, Any]:
        """The PCN's current list (filter by practice, segment, tier, change); columns as in the CSV."""
        scope(request, user, pcn, "view_list")
        release = loaded()
        rows = filters.apply(release.pcn_list(pcn))
        record(request, user, "view_list", release, filters=filters.as_dict(), rows=len(rows))
        return {
            "release_id": release.release.release_id,
            "as_of": release.as_of.isoformat(),
            "pcn": pcn,
            "rows": rows.to_dict("records"),
        }

    @app.get("/api/v1/pcn/{pcn}/left", tags=["api"])
    def api_left(request: Request, pcn: str, user: Annotated[auth.User, Depends(require_user)]) -> dict[str, Any]:
        """Who left the PCN's list since the previous release, and why."""
        scope(request, user, pcn, "view_left")
        release = loaded()
        rows = release.pcn_left(pcn)
        record(request, user, "view_left", release, rows=len(rows))
        return {"release_id": release.release.release_id, "pcn": pcn, "rows": rows.to_dict("records")}

    @app.get("/api/v1/pcn/{pcn}/list.csv", tags=["api"])
    def api_list_csv(
        request: Request,
        pcn: str,
        user: Annotated[auth.User, Depends(require_user)],
        filters: Annotated[Filters, Depends(_filters)],
    ) -> Response:
        """The PCN's list as CSV (UTF-8 with BOM); unfiltered it is the published file byte for byte."""
        return list_csv_page(request, pcn, user, filters)

    @app.get("/api/v1/pcn/{pcn}/person/{token}", tags=["api"])
    def api_person(
        request: Request, pcn: str, token: str, user: Annotated[auth.User, Depends(require_user)]
    ) -> dict[str, Any]:
        """One person on the PCN's list: the list row, reasons, and recent activity."""
        found = person_rows(request, user, pcn, token, "view_person")
        return {
            "release_id": found["release"].release.release_id,
            "person": found["person"],
            "left": found["left"],
            "timeline": found["timeline"].events,
            "timeline_unavailable": found["timeline"].unavailable,
        }

    @app.get("/api/v1/pcn/{pcn}/person/{token}/feedback", tags=["api"])
    def api_feedback_history(
        request: Request, pcn: str, token: str, user: Annotated[auth.User, Depends(require_user)]
    ) -> dict[str, Any]:
        """Actions this PCN recorded for the person, newest first (notes included: this PCN's own)."""
        release, _, _ = find_person(request, user, pcn, token, "view_feedback")
        history = feedback_store.history(pcn, token)
        record(request, user, "view_feedback", release, person=token, rows=len(history))
        return {"pcn": pcn, "person_token": token, "actions": history}

    @app.post("/api/v1/pcn/{pcn}/person/{token}/feedback", tags=["api"], status_code=201)
    def api_feedback(
        request: Request,
        pcn: str,
        token: str,
        body: FeedbackIn,
        user: Annotated[auth.User, Depends(require_user)],
    ) -> dict[str, Any]:
        """Record an action for a person on the PCN's list (contacted, care_plan_in_place, ...)."""
        return save_feedback(request, user, pcn, token, body)

    @app.get("/api/v1/feedback/vocabulary", tags=["api"])
    def api_feedback_vocabulary(user: Annotated[auth.User, Depends(require_user)]) -> dict[str, Any]:
        """The actions and not-suitable reasons accepted, with their labels."""
        return {
            "actions": feedback.ACTIONS,
            "not_suitable_reasons": feedback.NOT_SUITABLE_REASONS,
            "note_max_chars": settings.lists.feedback_note_max_chars,
        }

    return app


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    if settings.serve.tokens_file is None or not settings.serve.tokens_file.exists():
        log.warning("no tokens file (settings [serve] tokens_file): nobody can log in; add one with --add-token")
    uvicorn.run(
        create_app(settings),
        host=host or settings.serve.host,
        port=port or settings.serve.port,
        log_level="info",
        access_log=False,
    )
