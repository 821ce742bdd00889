# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared pytest fixtures: repository paths, the real data in ../shared/data, tiny exports."""

import os
from pathlib import Path
import socket
import subprocess
import sys

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get('SORGHUM_DEPTH_DATA', REPO_ROOT.parent / 'shared' / 'data'))


def shared_data(*parts: str) -> Path:
    """Return a path under the shared real-data folder, or skip the test if absent."""
    path = DATA_ROOT.joinpath(*parts)
    if not path.exists():
        pytest.skip(f'real data not found: {path} (set SORGHUM_DEPTH_DATA to the data folder)')
    return path


def kitti_image(height: int = 96, width: int = 320):
    """KITTI odometry seq1 000000 (left), area-resized: a (1, 3, H, W) float tensor in [0, 1]."""
    import cv2
    import torch
    path = shared_data('kitti_odometry', 'seq1', 'image_l', '000000.png')
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return torch.from_numpy(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
                            ).permute(2, 0, 1)[None].float() / 255.0


def torchrun_train(tmp_path: Path, *train_args: str) -> None:
    """
    Run ``sorghum_depth_training.loop.train`` as two CPU processes under torchrun.

    The rendezvous port is one free now (a fixed one clashes with other runs); torchrun's
    worker logs, a folder it leaves behind, go to ``tmp_path`` (TMPDIR), not to /tmp.
    """
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_addr', '127.0.0.1', '--master_port', str(port),
           '-m', 'sorghum_depth_training.loop.train', *train_args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, 'TMPDIR': str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(tmp_path.glob('torchelastic_*')), 'its logs, not in /tmp'


@pytest.fixture
def repo_root() -> Path:
    """Root of the repository checkout."""
    return REPO_ROOT


@pytest.fixture(scope='session')
def tiny_exports(tmp_path_factory):
    """
    Return (model.ts, model.onnx): one tiny checkpoint exported with ``--format both``.

    Shared by every test that needs an ONNX file, because one ONNX export takes 30-40 s
    here (the dynamo exporter traces both post-processing branches). It is written under
    umask 022, as a trainer's shell would: the robot-user file-mode test reads its modes.
    """
    pytest.importorskip('onnxruntime', reason='onnxruntime not installed (requirements.txt)')
    pytest.importorskip('onnxscript', reason='onnxscript not installed (the dynamo exporter)')
    from sorghum_depth_training.export import main as export
    from tiny_model import make_tiny_checkpoint
    root = tmp_path_factory.mktemp('tiny_exports')
    checkpoint = make_tiny_checkpoint(root / 'tiny.pt', seed=3)
    old = os.umask(0o022)
    try:
        assert export.main([str(checkpoint), str(root / 'model.ts'), '--format', 'both']) == 0
    finally:
        os.umask(old)
    return root / 'model.ts', root / 'model.onnx'
