from __future__ import annotations

import dataclasses
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from popheath import config  # noqa: E402
from popheath.serve import auth  # noqa: E402
from popheath.stages import publish, segment  # noqa: E402
from tests.lists.listworld import Attendance, P, Spell, World, settings_for, tok  # noqa: E402

from .servefixtures import AS_OF, REASONS, TOKENS  # noqa: E402


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two PCNs with a published release, a tokens file and spells for one person."""
    folder = tmp_path_factory.mktemp("served")
    settings = settings_for(folder, capacity_per_pcn=4)
    world = World(settings.paths.warehouse)
    world.spells = [
        Spell(tok(1), AS_OF - timedelta(days=40), AS_OF - timedelta(days=30), emergency=True),
        Spell(tok(1), AS_OF - timedelta(days=300), AS_OF - timedelta(days=290), emergency=False),
    ]
    people = [
        P(
            tok(n),
            pcn="PCN1" if n <= 6 else "PCN2",
            practice="A81001" if n % 2 else "A81002",
            risk=1 - n / 20,
            hfrs=n * 2.5,
            ltc=n % 3,
            care_home=n == 4,
            reasons=REASONS,
            social_care=n == 2,
        )
        for n in range(1, 12)
    ]
    # The ED feed runs to 2025-03-30 (tok 11, ranked below PCN2's call list, is "in hospital now" there).
    world.attendances = [Attendance(tok(1), date(2025, 1, 10), "01"), Attendance(tok(11), date(2025, 3, 30), "01")]
    world.add(AS_OF, people)
    segment.run(settings, AS_OF)
    publish.run(settings, AS_OF)
    lines = []
    for user, (pcn, token) in TOKENS.items():
        lines += [f"[users.{user}]", f'pcn = "{pcn}"', f'token_sha256 = "{auth.hash_token(token)}"', ""]
    (folder / "tokens.toml").write_text("\n".join(lines))
    return folder


@pytest.fixture
def served(published: Path, tmp_path: Path) -> config.Settings:
    """A private copy of the published outputs (tests may damage it) with its own audit log."""
    target = tmp_path / "served"
    shutil.copytree(published, target, symlinks=True)
    settings = settings_for(target, capacity_per_pcn=4)
    serve_settings = dataclasses.replace(
        settings.serve, tokens_file=target / "tokens.toml", audit_log=target / "audit.jsonl"
    )
    return dataclasses.replace(settings, serve=serve_settings)
