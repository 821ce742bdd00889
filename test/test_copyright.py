# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Every source file starts with a copyright line and the package's SPDX licence tag.

ament_copyright is not installable from PyPI, so this is the same check written small.
"""

import re

from lint_paths import python_files, REPO_ROOT
import pytest

COPYRIGHT = re.compile(r'^# Copyright (19|20)\d\d(-(19|20)\d\d)? \S.*$')
LICENSE_TAG = '# SPDX-License-Identifier: Apache-2.0'


def _header_problem(text: str) -> str:
    lines = text.splitlines()[:3]
    if lines and lines[0].startswith('#!'):
        lines = lines[1:]
    if not lines or not COPYRIGHT.match(lines[0]):
        return 'no "# Copyright YEAR OWNER" first line'
    if len(lines) < 2 or lines[1] != LICENSE_TAG:
        return f'second line is not "{LICENSE_TAG}"'
    return ''


def test_header_check_rejects_missing_header():
    assert _header_problem('"""Doc."""\n') != ''
    assert _header_problem('# Copyright 2026 X\n# SPDX-License-Identifier: MIT\n') != ''
    assert _header_problem(f'#!/usr/bin/env python3\n# Copyright 2026 X\n{LICENSE_TAG}\n') == ''


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    files = python_files()
    assert len(files) > 5, 'linter found suspiciously few files'
    bad = [f'{p.relative_to(REPO_ROOT)}: {why}' for p in files
           if (why := _header_problem(p.read_text(encoding='utf-8')))]
    assert not bad, 'Files without a copyright header:\n' + '\n'.join(bad)
    assert (REPO_ROOT / 'LICENSE').read_text().lstrip().startswith('Apache License')
