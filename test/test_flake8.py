# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_flake8: ROS 2 style, 99 columns, single quotes, google import order."""

from ament_flake8.main import main_with_errors
from lint_paths import python_paths
import pytest


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    rc, errors = main_with_errors(argv=python_paths())
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
