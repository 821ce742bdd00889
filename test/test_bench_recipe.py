# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The recipe benchmark's training commands: every variant's overrides reach the trainer."""

import argparse
from pathlib import Path
import sys

import pytest
from sorghum_depth_training.loop.config import load_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
import bench_recipe  # noqa: E402, I100  (benchmarks/ is not a package)


def _sets(cmd: list[str]) -> list[str]:
    return [cmd[i + 1] for i, x in enumerate(cmd) if x == '--set']


@pytest.mark.parametrize('name', list(bench_recipe.VARIANTS))
def test_each_variant_trains_with_its_own_overrides(name, repo_root):
    args = argparse.Namespace(minutes=20.0, snapshot=5.0, seed=0)
    data = [Path(f'/data/{i}') for i in range(5)]
    cmd = bench_recipe._command(name, data, Path('/tmp/run'), args)
    config = load_config(repo_root / 'config' / 'train.yaml', _sets(cmd))
    # the last value of each key wins: a variant's own must not be overridden (batch8
    # trained at batch 4 before the benchmark's batch size moved to the front)
    overrides = bench_recipe.VARIANTS[name][0]
    # the values the config loader itself reads from the variant's overrides alone
    alone = load_config(repo_root / 'config' / 'train.yaml', overrides)
    for key in {o.split('=', 1)[0] for o in overrides}:
        assert _value(config, key) == _value(alone, key), key


def _value(config, key: str):
    for part in key.split('.'):
        config = getattr(config, part)
    return config


def test_a_panel_without_scores_says_so_instead_of_staying_blank():
    row = {'minutes': 5.0, 'kitti_metric': {'mae_pct': 20.0}, 'middlebury_worst_ratio': 1.5}
    fig = bench_recipe.figure({'kitti_only': {'curve': [row, dict(row, minutes=10.0)]}})
    kitti, middlebury, rows = fig.axes
    assert [len(line.get_xdata()) for line in kitti.lines] == [2, 2]   # the variant, target
    assert not middlebury.texts
    assert rows.texts and 'not measured' in rows.texts[0].get_text()
