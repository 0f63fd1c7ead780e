from __future__ import annotations

import pytest

from tests.drills.workspace import Run, full_run


@pytest.fixture(scope="session")
def ics(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The session's small ICS, run end to end through the CLI with a snapshot after each stage."""
    return full_run(tmp_path_factory)
