# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared pytest fixtures: repository paths and the real data in ../shared/data."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get('SORGHUM_DEPTH_DATA', REPO_ROOT.parent / 'shared' / 'data'))


def shared_data(*parts: str) -> Path:
    """Return a path under the shared real-data folder, or skip the test if absent."""
    path = DATA_ROOT.joinpath(*parts)
    if not path.exists():
        pytest.skip(f'real data not found: {path} (set SORGHUM_DEPTH_DATA to the data folder)')
    return path


@pytest.fixture
def repo_root() -> Path:
    """Root of the repository checkout."""
    return REPO_ROOT
