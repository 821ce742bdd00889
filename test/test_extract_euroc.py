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
from sorghum_depth_training.dataset_dir import load_dataset

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
    done = subprocess.run([sys.executable, '-m', 'sorghum_depth_training.extract', str(bag),
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
