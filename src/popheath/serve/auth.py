"""Per-user tokens for the coordinator page: stored as SHA-256 hashes in a TOML or JSON file.

File format (TOML; JSON is the same mapping)::

    [users.alice]
    pcn = "U12345"
    token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

Tokens are long random strings made by :func:`add_token` (``popheath serve --add-token``), so a
plain SHA-256 is enough to store them safely (this is not a password hash: never use a
human-chosen password as a token). Only the hash is written; the token is shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from popheath.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class User:
    """A coordinator: name, the one PCN they may see, and their token's hash."""

    name: str
    pcn: str
    token_sha256: str


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the tokens file: {error}") from error
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {error}") from error
    users = data.get("users", data)
    if not isinstance(users, dict):
        raise ConfigError(f"{path}: expected a mapping of user -> {{pcn, token_sha256}}")
    return users


def load_users(path: Path | None) -> dict[str, User]:
    """Users from the tokens file; an empty mapping (nobody can log in) when no file is configured."""
    if path is None or not path.exists():
        return {}
    users = {}
    for name, entry in _read(path).items():
        if not isinstance(entry, dict) or not _NAME.match(str(name)):
            raise ConfigError(f"{path}: user {name!r}: expected a name and a table with pcn and token_sha256")
        pcn, digest = str(entry.get("pcn", "")), str(entry.get("token_sha256", "")).lower()
        if not pcn or not _HASH.match(digest):
            raise ConfigError(f"{path}: user {name}: expected pcn and a 64-hex-digit token_sha256")
        users[str(name)] = User(str(name), pcn, digest)
    return users


def find_user(users: dict[str, User], token: str) -> User | None:
    """The user whose hash matches ``token`` (compared in constant time against every user)."""
    digest = hash_token(token)
    found = None
    for user in users.values():
        if hmac.compare_digest(user.token_sha256, digest):
            found = user
    return found


def _toml(users: dict[str, Any]) -> str:
    lines = ["# Coordinator tokens for popheath serve: user -> PCN and SHA-256 of the token.", ""]
    for name, entry in sorted(users.items()):
        lines += [f"[users.{json.dumps(name)}]", f"pcn = {json.dumps(entry['pcn'])}"]
        lines += [f"token_sha256 = {json.dumps(entry['token_sha256'])}", ""]
    return "\n".join(lines)


def add_token(path: Path, user: str, pcn: str) -> str:
    """Create (or replace) ``user``'s token for ``pcn`` in the tokens file; returns the token, shown once."""
    if not _NAME.match(user):
        raise ConfigError(f"user name {user!r}: letters, digits, '.', '_', '@', '-' only")
    if not re.match(r"^[A-Za-z0-9_-]{1,32}$", pcn):
        raise ConfigError(f"PCN code {pcn!r}: letters, digits, '-' or '_' only")
    users = _read(path) if path.exists() else {}
    token = secrets.token_urlsafe(32)
    users[user] = {"pcn": pcn, "token_sha256": hash_token(token)}
    text = json.dumps({"users": users}, indent=2) + "\n" if path.suffix.lower() == ".json" else _toml(users)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return token
