# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The Python sources the linter tests check (everything but the virtualenv and builds)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ('sorghum_depth', 'training', 'test', 'launch', 'benchmarks', 'scripts')
CORE_DIRS = ('sorghum_depth', 'training')


def python_paths(dirs=SOURCE_DIRS) -> list[str]:
    """Existing source folders and top-level scripts, as absolute paths."""
    paths = [str(REPO_ROOT / d) for d in dirs if (REPO_ROOT / d).is_dir()]
    if dirs is SOURCE_DIRS:
        paths.append(str(REPO_ROOT / 'setup.py'))
    return paths


def python_files(dirs=SOURCE_DIRS) -> list[Path]:
    """Every .py file the linters check."""
    files = [REPO_ROOT / 'setup.py'] if dirs is SOURCE_DIRS else []
    for d in dirs:
        files.extend(sorted((REPO_ROOT / d).rglob('*.py')))
    return files
