"""Shared fixtures: the real public data in ../shared/data and scratch stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_path() -> Path:
    """Return the folder of real public data (``QPV_SHARED_DATA`` or ``../shared/data``)."""
    env = os.environ.get("QPV_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data shipped beside the repository (skip when absent)."""
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"real data folder not found: {path}")
    return path
