"""The coordinator web page and JSON API (``popheath serve``): each PCN sees only its own current list."""

import logging

from popheath.config import Settings
from popheath.serve.app import create_app

__all__ = ["create_app", "serve"]
log = logging.getLogger(__name__)


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
