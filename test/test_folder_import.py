# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Folder import: real KITTI folders (calib.txt) and plain left/right folders."""

import shutil
import subprocess
import sys

from conftest import shared_data
import cv2
import numpy as np
import pytest
from sorghum_depth_training.data.dataset_dir import load_dataset


def _run(*args):
    return subprocess.run([sys.executable, '-m', 'sorghum_depth_training.data.folder_import',
                           *map(str, args)], capture_output=True, text=True)


def test_kitti_folder(tmp_path):
    src = shared_data('kitti_odometry', 'seq2')
    done = _run(src, '-o', tmp_path / 'ds', '--stride', '10', '--max-pairs', '4')
    assert done.returncode == 0, done.stderr
    assert 'pairs written: 4' in done.stdout
    ds = load_dataset(tmp_path / 'ds')
    assert (ds.calib.width, ds.calib.height) == (1241, 376)
    p0 = np.array((src / 'calib.txt').read_text().split()[:12], float)
    p1 = np.array((src / 'calib.txt').read_text().split()[12:24], float)
    assert ds.calib.fx == pytest.approx(p0[0]) and ds.calib.cy == pytest.approx(p0[6])
    assert ds.calib.baseline_m == pytest.approx(-p1[3] / p1[0])
    assert 0.5 < ds.calib.baseline_m < 0.6
    assert ds.names('val') == ['000003']
    got = cv2.imread(str(tmp_path / 'ds' / 'right' / '000002.png'), cv2.IMREAD_UNCHANGED)
    want = cv2.imread(str(src / 'image_r' / '000020.png'), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(got, want)


def test_plain_folders_resize_and_errors(tmp_path):
    src_kitti = shared_data('kitti_odometry', 'seq1')
    src = tmp_path / 'plain'
    for side, kitti_side in (('left', 'image_l'), ('right', 'image_r')):
        (src / side).mkdir(parents=True)
        for i in range(3):
            shutil.copy(src_kitti / kitti_side / f'{i:06d}.png', src / side / f'f{i}.png')
    shutil.copy(src_kitti / 'image_l' / '000003.png', src / 'left' / 'extra.png')
    missing = _run(src, '-o', tmp_path / 'ds')
    assert missing.returncode == 2 and '--fx and --baseline' in missing.stderr
    assert str(src) in missing.stderr and not (tmp_path / 'ds').exists()
    done = _run(src, '-o', tmp_path / 'ds', '--fx', '700', '--baseline', '0.5',
                '--size', '613x185')
    assert done.returncode == 0, done.stderr
    assert 'pairs written: 3' in done.stdout and '1 left without right' in done.stdout
    ds = load_dataset(tmp_path / 'ds')
    assert ds.calib.fx == pytest.approx(350.0) and ds.calib.baseline_m == 0.5
    assert ds.calib.cx == pytest.approx(306.0)
    again = _run(src, '-o', tmp_path / 'ds', '--fx', '700', '--baseline', '0.5')
    assert again.returncode == 2 and 'already holds a dataset' in again.stderr
    bad = cv2.imread(str(src / 'right' / 'f1.png'))
    cv2.imwrite(str(src / 'right' / 'f1.png'), bad[:, :-4])
    mismatch = _run(src, '-o', tmp_path / 'ds2', '--fx', '700', '--baseline', '0.5')
    assert mismatch.returncode == 2 and 'size mismatch' in mismatch.stderr
    assert 'f1.png' in mismatch.stderr and not (tmp_path / 'ds2').exists()
    assert not [p for p in tmp_path.iterdir() if '.tmp-' in p.name]


def test_kitti_calib_errors(tmp_path):
    (tmp_path / 'k' / 'image_l').mkdir(parents=True)
    (tmp_path / 'k' / 'image_r').mkdir()
    done = _run(tmp_path / 'k', '-o', tmp_path / 'ds')
    assert done.returncode == 2 and 'calib.txt not found' in done.stderr
    (tmp_path / 'k' / 'calib.txt').write_text('P0: 1 2 3\n')
    done = _run(tmp_path / 'k', '-o', tmp_path / 'ds')
    assert done.returncode == 2 and 'calib.txt' in done.stderr and 'P0 and P1' in done.stderr
    done = _run('--help')
    assert done.returncode == 0 and 'calib.txt' in done.stdout and '--baseline' in done.stdout


def test_an_unreadable_image_is_skipped_and_counted(tmp_path):
    rng = np.random.default_rng(5)
    for side in ('left', 'right'):
        (tmp_path / 'src' / side).mkdir(parents=True)
        for i in range(4):
            cv2.imwrite(str(tmp_path / 'src' / side / f'{i:03d}.png'),
                        rng.integers(0, 256, (32, 64, 3), dtype=np.uint8))
    (tmp_path / 'src' / 'left' / '001.png').write_bytes(b'not a png')
    (tmp_path / 'src' / 'right' / '002.png').write_bytes(b'')
    done = _run(tmp_path / 'src', '-o', tmp_path / 'out', '--fx', '50', '--baseline', '0.1')
    assert done.returncode == 0, done.stderr
    assert 'warning:' in done.stderr and '001.png' in done.stderr and '002.png' in done.stderr
    assert 'pairs written: 2' in done.stdout and '2 unreadable' in done.stdout
    assert len(load_dataset(tmp_path / 'out').names()) == 2
    for name in ('001', '002'):
        (tmp_path / 'src' / 'left' / f'{name}.png').write_bytes(b'')
    (tmp_path / 'src' / 'left' / '000.png').write_bytes(b'')
    (tmp_path / 'src' / 'left' / '003.png').write_bytes(b'')
    done = _run(tmp_path / 'src', '-o', tmp_path / 'none', '--fx', '50', '--baseline', '0.1')
    assert done.returncode == 2 and 'error:' in done.stderr and 'no readable pair' in done.stderr
    assert not (tmp_path / 'none').exists()
