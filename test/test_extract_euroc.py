# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Real EuRoC bag (raw, distorted, full stereo CameraInfo): extraction row-aligns pairs."""

import subprocess
import sys

from conftest import shared_data
import cv2
import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.image import message_to_cvimage
from sorghum_depth_training.data.dataset_dir import load_dataset

STRIDE = 10


def _vertical_offsets(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Vertical offsets y_left - y_right (px) of cross-checked ORB matches, gross outliers out."""
    orb = cv2.ORB_create(2000)
    kl, dl = orb.detectAndCompute(left, None)
    kr, dr = orb.detectAndCompute(right, None)
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(dl, dr)
    pl = np.array([kl[m.queryIdx].pt for m in matches])
    pr = np.array([kr[m.trainIdx].pt for m in matches])
    dx, dy = pl[:, 0] - pr[:, 0], pl[:, 1] - pr[:, 1]
    keep = (dx > -20) & (dx < 150) & (np.abs(dy) < 40)
    assert keep.sum() > 200, 'too few ORB matches to measure anything'
    return dy[keep]


def _raw_pairs(bag, every):
    images = {}
    with AnyReader([bag]) as reader:
        conns = [c for c in reader.connections if c.msgtype == 'sensor_msgs/msg/Image']
        for conn, _, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            side = 'left' if 'left' in conn.topic else 'right'
            images.setdefault(stamp, {})[side] = message_to_cvimage(msg)
    stamps = sorted(images)[::every]
    return [(images[s]['left'], images[s]['right']) for s in stamps]


def test_euroc_extraction_rectifies_rows_and_baseline(tmp_path):
    bag = shared_data('euroc_v101_stereo_bag')
    out = tmp_path / 'euroc'
    done = subprocess.run([sys.executable, '-m', 'sorghum_depth_training.data.extract', str(bag),
                           '-o', str(out), '--stride', str(STRIDE)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '/stereo/left/image_raw' in done.stdout and 'rectifying from CameraInfo' in done.stdout
    assert 'pairs written: 10' in done.stdout and '85 stride' in done.stdout
    ds = load_dataset(out)
    assert abs(ds.calib.baseline_m - 0.110) < 0.001
    assert (ds.calib.width, ds.calib.height) == (752, 480)
    raw = _raw_pairs(bag, STRIDE)
    assert len(raw) == len(ds.names()) == 10
    before, after = [], []
    for (raw_l, raw_r), name in zip(raw, ds.names()):
        before.append(_vertical_offsets(raw_l, raw_r))
        left, right = (cv2.imread(str(out / side / f'{name}.png'), cv2.IMREAD_UNCHANGED)
                       for side in ('left', 'right'))
        after.append(_vertical_offsets(left, right))
    med_before = float(np.median(np.abs(np.concatenate(before))))
    med_after = float(np.median(np.abs(np.concatenate(after))))
    within_1px = float(np.mean(np.abs(np.concatenate(after)) <= 1.0))
    print(f'ORB |dy| median raw {med_before:.2f} px, rectified {med_after:.2f} px '
          f'({within_1px:.0%} of matches within 1 px); baseline {ds.calib.baseline_m:.5f} m')
    assert med_before > 10.0
    assert med_after <= 0.5
    assert within_1px > 0.6


def test_a_bag_cut_short_gives_the_pairs_before_the_damage(tmp_path):
    src = next(shared_data('euroc_v101_stereo_bag').glob('*.mcap'))
    cut = tmp_path / 'cut.mcap'          # power loss: the file ends mid-way, no summary
    with open(src, 'rb') as f:
        cut.write_bytes(f.read(src.stat().st_size * 45 // 100))
    done = subprocess.run([sys.executable, '-m', 'sorghum_depth_training.data.extract', str(cut),
                           '-o', str(tmp_path / 'cut_ds'), '--stride', str(STRIDE)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert 'warning:' in done.stderr and 'cut short' in done.stderr, done.stderr
    assert 'Traceback' not in done.stderr
    salvaged = load_dataset(tmp_path / 'cut_ds')
    count = len(salvaged.names())
    assert 3 <= count < 10
    done = subprocess.run([sys.executable, '-m', 'sorghum_depth_training.data.extract', str(src),
                           '-o', str(tmp_path / 'full'), '--stride', str(STRIDE),
                           '--max-pairs', str(count)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in salvaged.names():          # the very pairs of the intact bag
        for side in ('left', 'right'):
            a, b = (cv2.imread(str(d / side / f'{name}.png'), cv2.IMREAD_UNCHANGED)
                    for d in (tmp_path / 'cut_ds', tmp_path / 'full'))
            assert np.array_equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cut.mcap', 'cut_ds', 'full']
