# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The installed core stays ROS-free, and its geometry has the right units."""

import ast
import subprocess
import sys

from conftest import REPO_ROOT
import numpy as np
import pytest
from sorghum_depth.geometry import depth_from_disparity, disp_frac_to_px

# The ROS glue: the only modules allowed to import rclpy (DESIGN.md, "Layout").
ROS_MODULES = {'sorghum_depth.ros_node', 'sorghum_depth.bag_replay'}
PACKAGES = {'sorghum_depth': 'sorghum_depth', 'training': 'sorghum_depth_training'}


def core_modules() -> list[str]:
    """Return every module of both packages, found on disk, less the ROS glue."""
    names = []
    for folder, package in PACKAGES.items():
        names.append(package)
        for path in sorted((REPO_ROOT / folder).rglob('*.py')):
            parts = path.relative_to(REPO_ROOT / folder).with_suffix('').parts
            if parts[-1] == '__init__':
                parts = parts[:-1]
            if parts:
                names.append('.'.join((package,) + parts))
    return [n for n in names if n not in ROS_MODULES]


def test_core_modules_are_found_and_the_ros_list_is_current():
    modules = core_modules()
    assert {'sorghum_depth.inference', 'sorghum_depth_training.loop.step',
            'sorghum_depth_training.evaluation.evaluate'} <= set(modules)
    for name in ROS_MODULES:
        package, stem = name.split('.')
        assert (REPO_ROOT / package / f'{stem}.py').is_file(), f'{name} gone: fix ROS_MODULES'


def test_every_core_module_imports_without_rclpy():
    # One interpreter imports them all and names the first module that pulled rclpy in.
    code = ('import importlib, sys\n'
            'for name in sys.argv[1:]:\n'
            '    importlib.import_module(name)\n'
            '    if "rclpy" in sys.modules:\n'
            '        print(name)\n'
            '        break\n'
            'else:\n'
            '    print("clean")\n')
    out = subprocess.run([sys.executable, '-c', code, *core_modules()], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == 'clean', f'importing {out.stdout.strip()} pulled rclpy in'


def _imported_modules(path) -> set[str]:
    """Absolute module names a source file imports, anywhere in it (lazy imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module)
    return names


def test_the_robot_package_never_imports_the_training_package():
    # training/ depends on sorghum_depth/, never the reverse (issue 12: offline bag inference
    # and the bag readers it shares with extraction live in sorghum_depth/).
    files = sorted((REPO_ROOT / 'sorghum_depth').rglob('*.py'))
    assert len(files) > 10
    offenders = {str(f.relative_to(REPO_ROOT)): sorted(
        m for m in _imported_modules(f) if m.split('.')[0] == 'sorghum_depth_training')
        for f in files}
    assert not {f: m for f, m in offenders.items() if m}


def test_depth_known_values_and_invalid_is_nan():
    disp_px = np.array([[70.7, 7.07], [0.0, -1.0]])
    depth_m = depth_from_disparity(disp_px, fx_px=707.0, baseline_m=0.537)
    assert depth_m.dtype == np.float32
    np.testing.assert_allclose(depth_m[0], [5.37, 53.7], rtol=1e-5)
    assert np.isnan(depth_m[1]).all()


def test_disparity_fraction_to_pixels():
    np.testing.assert_allclose(disp_frac_to_px(np.array([0.1, 0.3]), 640), [64.0, 192.0])


def test_bad_calibration_is_rejected():
    with pytest.raises(ValueError, match='positive'):
        depth_from_disparity(np.ones(2), fx_px=0.0, baseline_m=0.5)
