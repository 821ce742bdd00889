# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The robot's route: `colcon build` installs scripts, packages, launch and config files."""

import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _colcon() -> str:
    exe = shutil.which('colcon') or str(Path(sys.executable).with_name('colcon'))
    if not os.access(exe, os.X_OK):
        pytest.skip('colcon is not installed (pip install colcon-common-extensions)')
    return exe


def test_colcon_build_installs_an_ament_python_package(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    (src / 'sorghum_depth').symlink_to(REPO_ROOT)
    cmd = [_colcon(), 'build', '--packages-select', 'sorghum_depth',
           '--build-base', str(tmp_path / 'build'), '--install-base', str(tmp_path / 'install'),
           '--base-paths', str(src)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    prefix = tmp_path / 'install' / 'sorghum_depth'
    script = prefix / 'lib' / 'sorghum_depth' / 'sorghum-depth-quickstart'
    assert script.is_file()
    share = prefix / 'share' / 'sorghum_depth'
    assert (share / 'package.xml').is_file()
    marker = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'sorghum_depth'
    assert marker.is_file()
    site = next(prefix.glob('lib/python3*/site-packages'))
    assert (site / 'sorghum_depth_training' / 'loop' / 'step.py').is_file()
    assert not (site / 'test').exists() and not (site / 'training').exists()
    env = {**os.environ, 'PYTHONPATH': str(site)}
    helped = subprocess.run([sys.executable, str(script), '--help'], env=env,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and '--steps' in helped.stdout, helped.stderr
