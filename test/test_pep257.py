# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_pep257 on all sources; public API of the installed packages must be documented."""

from ament_pep257.main import main
from lint_paths import CORE_DIRS, python_paths
import pytest


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    assert main(argv=python_paths()) == 0, 'Found code style errors / warnings'


@pytest.mark.linter
@pytest.mark.pep257
def test_public_api_has_docstrings():
    # --add-select takes several values: it must come after the paths.
    argv = python_paths(CORE_DIRS) + ['--add-select', 'D101', 'D102', 'D103']
    assert main(argv=argv) == 0, 'Public classes / functions without a docstring'
