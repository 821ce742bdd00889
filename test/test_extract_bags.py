# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Bags written with rosbags from real KITTI frames: every format extracts to the same pairs.

Also every bad input: truncated/corrupt bag, missing topic, size mismatch, unsupported
encoding, missing camera_info, existing output. Frames are downscaled to keep it fast.
"""

import shutil
import subprocess
import sys

from conftest import shared_data
import cv2
import numpy as np
import pytest
from sorghum_depth_training.data.bag_io import camera_info, StereoBagWriter
from sorghum_depth_training.data.dataset_dir import load_dataset
from sorghum_depth_training.data.extract import extract, ExtractOptions

W, H, N = 320, 96, 3
T0_NS = 1_600_000_000 * 10**9
STORAGES = ('sqlite3', 'mcap', 'rosbag1')


@pytest.fixture(scope='module')
def kitti():
    """Three real KITTI pairs, downscaled, tinted to RGB, with a scaled calibration."""
    root = shared_data('kitti_odometry', 'seq1')
    p0, p1 = (np.array(line.split()[-12:], float) for line in
              (root / 'calib.txt').read_text().strip().splitlines()[:2])
    frames = []
    for i in range(N):
        pair = []
        for side in ('image_l', 'image_r'):
            gray = cv2.imread(str(root / side / f'{i:06d}.png'), cv2.IMREAD_GRAYSCALE)
            small = cv2.resize(gray, (W, H), interpolation=cv2.INTER_AREA)
            pair.append(np.stack([small, (small * 0.7).astype(np.uint8), 255 - small], -1))
        frames.append(pair)
    sx = W / gray.shape[1]
    fx, baseline_m = p0[0] * sx, -p1[3] / p1[0]
    cx, cy = (p0[2] + 0.5) * sx - 0.5, (p0[6] + 0.5) * H / gray.shape[0] - 0.5
    infos = (camera_info(W, H, fx, fx * H / gray.shape[0] / sx, cx, cy),
             camera_info(W, H, fx, fx * H / gray.shape[0] / sx, cx, cy, baseline_m))
    return frames, infos, baseline_m


def _write_bag(path, frames, infos, storage='mcap', encoding='rgb8', compress=None, **kw):
    with StereoBagWriter(path, storage, encoding, compress, **kw) as bag:
        for i, (left, right) in enumerate(frames):
            bag.write_pair(left, right, T0_NS + i * 50_000_000, infos)
    return path


def _bag_path(tmp_path, storage, name):
    return tmp_path / (f'{name}.bag' if storage == 'rosbag1' else name)


def _extract(bag, out, **opts):
    extract([bag], out, ExtractOptions(**opts), log=lambda *a: None)
    ds = load_dataset(out)
    imgs = [[cv2.imread(str(out / s / f'{n}.png'), cv2.IMREAD_UNCHANGED) for s in ('left',
             'right')] for n in ds.names()]
    return ds, imgs


@pytest.mark.parametrize('storage', STORAGES)
def test_formats_extract_to_the_same_pairs(tmp_path, kitti, storage):
    frames, infos, baseline_m = kitti
    bgr = [[cv2.cvtColor(im, cv2.COLOR_RGB2BGR) for im in pair] for pair in frames]
    gray = [[cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in pair] for pair in frames]
    cases = [('rgb8', None, bgr, 0), ('bgr8', None, bgr, 0), ('bgra8', None, bgr, 0),
             ('mono8', None, gray, 0), ('mono16', None, gray, 0), ('rgb8', 'png', bgr, 0),
             ('rgb8', 'jpeg', bgr, 10.0), ('bayer_rggb8', None, bgr, 8.0),
             ('bayer_gbrg8', None, bgr, 8.0)]
    for encoding, compress, expected, tol in cases:
        name = f'{encoding}_{compress}'
        bag = _write_bag(_bag_path(tmp_path, storage, name), frames, infos, storage, encoding,
                         compress)
        ds, imgs = _extract(bag, tmp_path / f'out_{name}')
        assert ds.names() == ['000000', '000001', '000002'], name
        assert ds.calib.fx == pytest.approx(infos[0]['p'][0]), name
        assert ds.calib.baseline_m == pytest.approx(baseline_m), name
        for got, want in zip(imgs, expected):
            for g, w in zip(got, want):
                err = np.abs(g.astype(float) - w).mean()
                assert err <= tol, f'{storage} {name}: mean abs error {err:.2f} > {tol}'
    bayer = [_extract(_write_bag(_bag_path(tmp_path, storage, f'b{k}'), frames, infos,
                                 storage, 'bayer_rggb8'), tmp_path / f'b{k}_out')[1]
             for k in range(2)]
    np.testing.assert_array_equal(np.array(bayer[0]), np.array(bayer[1]))


def test_pairing_tolerance_window_stride_and_resize(tmp_path, kitti):
    frames, infos, baseline_m = kitti
    bag = tmp_path / 'jitter'
    with StereoBagWriter(bag, 'mcap') as w:
        for i in range(6):
            left, right = frames[i % N]
            jitter = 40_000_000 if i == 2 else 2_000_000
            w.write_pair(left, right, T0_NS + i * 100_000_000, infos, T0_NS + i * 100_000_000
                         + jitter)
    summary = extract([bag], tmp_path / 'a', ExtractOptions(tolerance_s=0.005), log=print)
    assert summary.written == 5
    assert summary.dropped['unmatched left'] == 1 and summary.dropped['unmatched right'] == 1
    summary = extract([bag], tmp_path / 'b', ExtractOptions(
        tolerance_s=0.05, start_s=0.15, end_s=0.45, stride=2, size=(160, 64)), log=print)
    assert summary.written == 2 and summary.dropped['outside time window'] == 3
    assert summary.dropped['stride'] == 1
    ds = load_dataset(tmp_path / 'b')
    assert (ds.calib.width, ds.calib.height) == (160, 64)
    assert ds.calib.fx == pytest.approx(infos[0]['p'][0] / 2)
    assert ds.calib.fy == pytest.approx(infos[0]['p'][5] * 64 / H)
    assert ds.calib.baseline_m == pytest.approx(baseline_m)
    left, _ = ds.read_pair('000000')
    want = cv2.resize(frames[2][0], (160, 64), interpolation=cv2.INTER_AREA) / 255.0
    np.testing.assert_allclose(left, want, atol=1.5 / 255)


def _run(*args):
    return subprocess.run([sys.executable, '-m', 'sorghum_depth_training.data.extract', *map(
        str, args)], capture_output=True, text=True)


def _assert_fails(tmp_path, done, *needles):
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith('error: '), done.stderr
    for needle in needles:
        assert str(needle) in done.stderr, done.stderr
    assert not (tmp_path / 'out').exists()
    assert not [p for p in tmp_path.iterdir() if '.tmp-' in p.name], 'temp folder left'


def test_bad_bags_fail_cleanly(tmp_path, kitti):
    frames, infos, _ = kitti
    good = _write_bag(tmp_path / 'good', frames, infos, 'mcap')
    cut = tmp_path / 'cut'
    shutil.copytree(good, cut)
    mcap = next(cut.glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[:mcap.stat().st_size // 2])
    _assert_fails(tmp_path, _run(cut, '-o', tmp_path / 'out'), cut, 'truncated or corrupt')
    junk = tmp_path / 'junk.bag'
    junk.write_bytes(b'#ROSBAG V2.0\n' + bytes(range(256)) * 8)
    _assert_fails(tmp_path, _run(junk, '-o', tmp_path / 'out'), junk, 'truncated or corrupt')
    _assert_fails(tmp_path, _run(tmp_path / 'nope', '-o', tmp_path / 'out'), 'not found')
    _assert_fails(tmp_path, _run(good, '-o', tmp_path / 'out', '--left-topic', '/cam/x'),
                  '/cam/x', 'not found')


def test_bad_content_fails_cleanly(tmp_path, kitti):
    frames, infos, _ = kitti
    small = [(left, right[:, :W - 16]) for left, right in frames]
    bag = _write_bag(tmp_path / 'size', small, infos)
    _assert_fails(tmp_path, _run(bag, '-o', tmp_path / 'out'), 'size mismatch',
                  '/stereo/right/image_raw', f'{W - 16}x{H}')
    floats = [(left[..., 0].astype(np.float32), right[..., 0].astype(np.float32))
              for left, right in frames]
    bag = _write_bag(tmp_path / 'float', floats, infos, encoding='32FC1')
    _assert_fails(tmp_path, _run(bag, '-o', tmp_path / 'out'), '/stereo/left/image_raw',
                  "unsupported image encoding '32FC1'")
    bag = _write_bag(tmp_path / 'noinfo', frames, None, with_info=False)
    _assert_fails(tmp_path, _run(bag, '-o', tmp_path / 'out'), 'missing camera_info',
                  '/stereo/left/image_raw')


def test_bags_of_two_rigs_are_refused(tmp_path, kitti):
    frames, infos, baseline_m = kitti
    first = _write_bag(tmp_path / 'rig_a', frames, infos)
    other = list(infos)
    other[1] = {**infos[1], 'p': infos[1]['p'].copy()}
    other[1]['p'][3] = -other[1]['p'][0] * baseline_m * 1.5     # a wider rig
    second = _write_bag(tmp_path / 'rig_b', frames, other)
    same = _write_bag(tmp_path / 'rig_a_again', frames, infos)
    refused = _run(first, second, '-o', tmp_path / 'out')
    assert refused.returncode == 2, refused.stderr
    assert f'{second.name}: 100%' not in refused.stderr, 'refused only after extracting it'
    last = refused.stderr.strip().splitlines()[-1]          # after the progress bars
    assert last.startswith(f'error: {second}: calibration differs from the first bag'), last
    assert not (tmp_path / 'out').exists()
    done = _run(first, same, '-o', tmp_path / 'out')
    assert done.returncode == 0, done.stderr
    assert len(load_dataset(tmp_path / 'out').names()) == 2 * N


def test_existing_dataset_refused_unless_overwrite(tmp_path, kitti):
    frames, infos, _ = kitti
    bag = _write_bag(tmp_path / 'bag', frames, infos)
    first = _run(bag, '-o', tmp_path / 'ds', '--max-pairs', '2')
    assert first.returncode == 0, first.stderr
    assert 'pairs written: 2' in first.stdout and '1 over --max-pairs' in first.stdout
    again = _run(bag, '-o', tmp_path / 'ds')
    assert again.returncode == 2 and 'already holds a dataset' in again.stderr
    assert '--overwrite' in again.stderr
    assert len(load_dataset(tmp_path / 'ds').names()) == 2
    forced = _run(bag, '-o', tmp_path / 'ds', '--overwrite')
    assert forced.returncode == 0, forced.stderr
    assert len(load_dataset(tmp_path / 'ds').names()) == 3


def test_help_explains():
    done = _run('--help')
    assert done.returncode == 0
    for word in ('camera_info', '--tolerance', '--stride', '--size', '--overwrite', 'MCAP'):
        assert word in done.stdout


def test_an_undecodable_frame_is_skipped_and_counted(tmp_path, kitti):
    frames, infos, _ = kitti
    bag_path = tmp_path / 'bag'
    with StereoBagWriter(bag_path, 'mcap', compress='png') as bag:
        for i, (left, right) in enumerate(frames):
            bag.write_pair(left, right, T0_NS + i * 50_000_000, infos)
        ns = T0_NS + N * 50_000_000               # one more pair; its left frame is junk
        bag.write_pair(frames[0][0], frames[0][1], ns, infos)
        header = bag._header(ns + 50_000_000, 'stereo_left_optical_frame')
        junk = bag.ts.types['sensor_msgs/msg/CompressedImage'](
            header=header, format='png', data=np.frombuffer(b'not a png', np.uint8))
        bag._put('left', junk, ns + 50_000_000)
        bag.write_pair(frames[1][0], frames[1][1], ns + 100_000_000, infos)
        bag._put('right', bag._image_msg(frames[2][1], header), ns + 50_000_000)
    done = _run(bag_path, '-o', tmp_path / 'out')
    assert done.returncode == 0, done.stderr
    assert 'warning:' in done.stderr and 'cannot decode' in done.stderr
    assert '/stereo/left/image_raw/compressed' in done.stderr
    assert 'pairs written: 5' in done.stdout and '1 undecodable' in done.stdout
    assert len(load_dataset(tmp_path / 'out').names()) == 5


def test_partial_output_of_a_killed_run_is_removed(tmp_path, kitti):
    frames, infos, _ = kitti
    bag = _write_bag(tmp_path / 'bag', frames, infos)
    dead = tmp_path / '.out.tmp-killed'           # what a killed run leaves
    (dead / 'left').mkdir(parents=True)
    (dead / 'left' / '000000.png').write_bytes(b'half')
    done = _run(bag, '-o', tmp_path / 'out')
    assert done.returncode == 0, done.stderr
    assert not dead.exists()
    assert 'removed' in done.stderr and str(dead) in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bag', 'out']


def test_a_sqlite3_bag_cut_short_says_what_to_do(tmp_path, kitti):
    frames, infos, _ = kitti
    bag = _write_bag(tmp_path / 'bag', frames, infos, 'sqlite3')
    db = next(bag.glob('*.db3'))
    db.write_bytes(db.read_bytes()[:db.stat().st_size // 2])
    done = _run(bag, '-o', tmp_path / 'out')
    _assert_fails(tmp_path, done, db.name, 'sqlite3', 'mcap')


def test_a_message_that_does_not_deserialize_is_skipped_and_counted(tmp_path, kitti):
    frames, infos, _ = kitti
    with StereoBagWriter(tmp_path / 'bag', 'mcap') as bag:
        for i, (left, right) in enumerate(frames):
            bag.write_pair(left, right, T0_NS + i * 50_000_000, infos)
        bag.writer.write(bag.conns['left'], T0_NS + N * 50_000_000, b'\x00\x01\x00\x00junk')
    done = _run(tmp_path / 'bag', '-o', tmp_path / 'out')
    assert done.returncode == 0, done.stderr
    assert 'warning:' in done.stderr and '/stereo/left/image_raw' in done.stderr
    assert 'pairs written: 3' in done.stdout and '1 unreadable message' in done.stdout
