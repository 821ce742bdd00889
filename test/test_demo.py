# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The demo pipeline end to end: synthetic bag, replay over DDS, real node, GT scoring."""

import json
import os
from pathlib import Path
import subprocess
import sys

from tiny_model import make_tiny_model

REPO_ROOT = Path(__file__).resolve().parents[1]


def _demo(model: Path, out: Path, scratch: Path) -> subprocess.CompletedProcess:
    """Run the demo on 4 frames with its scratch folder under ``scratch`` (TMPDIR)."""
    scratch.mkdir()
    return subprocess.run([sys.executable, str(REPO_ROOT / 'scripts' / 'demo.py'), '--model',
                           str(model), '--frames', '4', '--rate', '0.5', '--out', str(out)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, 'TMPDIR': str(scratch)})


def test_demo_replays_a_bag_through_the_node_and_scores_it(tmp_path):
    model = make_tiny_model(tmp_path / 'model.ts', 128, 448, baseline_m=0.12)
    out = tmp_path / 'out'
    done = _demo(model, out, tmp_path / 'scratch')
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert list((tmp_path / 'scratch').iterdir()) == []     # its 6-7 MB scratch is gone
    summary = json.loads((out / 'demo.json').read_text())
    assert summary['node']['frames_sent'] == 4
    assert 1 <= summary['node']['frames_out'] <= 4
    assert summary['accuracy_vs_gt']['mae_px'] > 0
    assert (out / 'demo_panel.png').stat().st_size > 10_000
    assert summary['beside']['best_constant']['mae_pct'] > 0
    assert summary['beside']['sgbm']['density'] > 0
    for row in ('model (left image only)', 'SGBM (stereo, valid pixels)', 'best constant'):
        assert row in done.stdout


def test_demo_without_a_model_says_how_to_build_one(tmp_path):
    done = subprocess.run([sys.executable, str(REPO_ROOT / 'scripts' / 'demo.py'), '--model',
                           str(tmp_path / 'missing.ts')], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and 'make default-model' in done.stdout


def test_a_node_that_publishes_nothing_keeps_the_scratch_folder_and_names_it(tmp_path):
    model = tmp_path / 'model.ts'
    model.write_bytes(b'not a model')                # the node refuses it and exits
    done = _demo(model, tmp_path / 'out', tmp_path / 'scratch')
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert 'error: the node exited with code 2' in done.stdout
    [kept] = (tmp_path / 'scratch').iterdir()
    assert f'kept for a look: {kept}' in done.stdout
    assert 'not a loadable TorchScript' in (kept / 'node.log').read_text()
