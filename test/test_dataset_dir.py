# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Dataset directory contract: atomic writes, refusal to clobber, splits, calibration I/O."""

import numpy as np
import pytest
from sorghum_depth_training.dataset_dir import Calibration, DatasetError, DatasetWriter
from sorghum_depth_training.dataset_dir import load_dataset, make_splits, read_calibration


def _calib(w=64, h=32):
    return Calibration(w, h, 50.0, 51.0, 31.5, 15.5, 0.2, {'bag': 'x.mcap'})


def _pair(rng, h=32, w=64):
    return (rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_write_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    pairs = [_pair(rng) for _ in range(5)]
    with DatasetWriter(tmp_path / 'ds') as w:
        for left, right in pairs:
            w.add_pair(left, right, disp_gt_px=np.full((32, 64), 3.5, np.float32))
        w.finish(_calib())
    ds = load_dataset(tmp_path / 'ds')
    assert ds.calib == _calib()
    assert ds.names('train') == ['000000', '000001', '000002', '000003']
    assert ds.names('val') == ['000004']
    left, right = ds.read_pair('000002')
    assert left.shape == (32, 64, 3) and left.dtype == np.float32
    np.testing.assert_allclose(left, pairs[2][0][..., ::-1] / 255.0, atol=1e-6)
    np.testing.assert_allclose(right, pairs[2][1][..., ::-1] / 255.0, atol=1e-6)
    assert ds.has_disp_gt and float(ds.read_disp_gt('000001')[0, 0]) == 3.5
    assert [p.name for p in tmp_path.iterdir()] == ['ds'], 'temporary folder left behind'


def test_failure_leaves_nothing(tmp_path):
    rng = np.random.default_rng(1)
    with pytest.raises(RuntimeError):
        with DatasetWriter(tmp_path / 'ds') as w:
            w.add_pair(*_pair(rng))
            raise RuntimeError('interrupted')
    assert list(tmp_path.iterdir()) == []


def test_refuses_existing_dataset_unless_overwrite(tmp_path):
    rng = np.random.default_rng(2)
    for overwrite, n in ((False, 2), (True, 3)):
        with DatasetWriter(tmp_path / 'ds', overwrite=overwrite) as w:
            for _ in range(n):
                w.add_pair(*_pair(rng))
            w.finish(_calib())
    assert len(load_dataset(tmp_path / 'ds').names()) == 3
    with pytest.raises(DatasetError, match='already holds a dataset.*--overwrite'):
        DatasetWriter(tmp_path / 'ds')
    (tmp_path / 'other').mkdir()
    (tmp_path / 'other' / 'notes.txt').write_text('keep me')
    with pytest.raises(DatasetError, match='not empty'):
        DatasetWriter(tmp_path / 'other', overwrite=True)


def test_size_mismatch_and_empty_are_errors(tmp_path):
    rng = np.random.default_rng(3)
    with DatasetWriter(tmp_path / 'ds') as w:
        left, _ = _pair(rng)
        with pytest.raises(DatasetError, match='size mismatch'):
            w.add_pair(left, left[:, :10])
        with pytest.raises(DatasetError, match='no pairs'):
            w.finish(_calib())
    assert list(tmp_path.iterdir()) == []


def test_splits_are_deterministic_tail():
    names = [f'{i:06d}' for i in range(20)]
    s = make_splits(names, 0.2)
    assert s == make_splits(list(names), 0.2)
    assert s['val'] == names[16:] and s['train'] == names[:16]
    assert make_splits(names[:1], 0.1) == {'train': names[:1], 'val': []}


def test_calibration_resize_keeps_pixel_centres():
    c = _calib(64, 32).resized(32, 64)
    assert (c.fx, c.fy, c.baseline_m) == (25.0, 102.0, 0.2)
    assert c.cx == pytest.approx(15.5) and c.cy == pytest.approx(31.5)


def test_read_calibration_names_bad_file(tmp_path):
    bad = tmp_path / 'calibration.yaml'
    bad.write_text('width: 3\n')
    with pytest.raises(DatasetError, match='calibration.yaml.*invalid'):
        read_calibration(tmp_path)
    with pytest.raises(DatasetError, match='not found'):
        read_calibration(tmp_path / 'nope')
