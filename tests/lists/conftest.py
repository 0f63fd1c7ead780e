from __future__ import annotations

from pathlib import Path

import pytest

from popheath import config

from .listworld import World, settings_for


@pytest.fixture
def settings(tmp_path: Path) -> config.Settings:
    return settings_for(tmp_path, capacity_per_pcn=3)


@pytest.fixture
def world(settings: config.Settings) -> World:
    return World(settings.paths.warehouse)
