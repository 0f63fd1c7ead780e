"""The coordinator web page and JSON API (``popheath serve``): each PCN sees only its own current list."""

from popheath.serve.app import create_app, serve

__all__ = ["create_app", "serve"]
