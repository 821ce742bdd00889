# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Dataset directory contract: atomic writes, refusal to clobber, splits, calibration I/O."""

import cv2
import numpy as np
import pytest
from sorghum_depth_training.data.dataset_dir import Calibration, DatasetError, DatasetWriter
from sorghum_depth_training.data.dataset_dir import load_dataset, make_splits, read_calibration
from sorghum_depth_training.data.loader import PairDataset
import yaml


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


def _dataset(tmp_path, count=6):
    rng = np.random.default_rng(4)
    with DatasetWriter(tmp_path / 'ds') as w:
        for _ in range(count):
            w.add_pair(*_pair(rng))
        w.finish(_calib())
    return tmp_path / 'ds'


def test_bad_pairs_are_found_at_open_and_skipped_with_a_count(tmp_path, capsys):
    root = _dataset(tmp_path)
    (root / 'left' / '000001.png').write_bytes(b'garbage, not an image')
    (root / 'right' / '000002.png').write_bytes(b'')
    data = (root / 'left' / '000003.png').read_bytes()
    (root / 'left' / '000003.png').write_bytes(data[:len(data) // 2])     # cut short
    cv2.imwrite(str(root / 'right' / '000004.png'), np.zeros((16, 64, 3), np.uint8))
    (root / 'splits' / 'train.txt').write_text('000000\n000001\n000002\n000003\n000004\n'
                                               '000009\n')
    ds = load_dataset(root)
    assert ds.names() == ['000000', '000005']
    assert ds.names('train') == ['000000'] and ds.names('val') == ['000005']
    reasons = dict(ds.skipped)
    assert set(reasons) == {root / 'left' / '000001.png', root / 'right' / '000002.png',
                            root / 'left' / '000003.png', root / 'right' / '000004.png',
                            root / 'left' / '000009.png'}
    assert '64x16' in reasons[root / 'right' / '000004.png']
    assert 'missing' in reasons[root / 'left' / '000009.png']
    err = capsys.readouterr().err
    assert 'warning:' in err and '5 of 7 pairs skipped' in err and '000001.png' in err


def test_a_dataset_without_a_good_pair_is_refused(tmp_path):
    root = _dataset(tmp_path, count=2)
    for name in ('000000', '000001'):
        (root / 'left' / f'{name}.png').write_bytes(b'')
    with pytest.raises(DatasetError, match='no readable pair'):
        load_dataset(root)


@pytest.mark.parametrize('key,value', [('baseline_m', 0.0), ('baseline_m', -0.1),
                                       ('baseline_m', float('nan')), ('fx', 0.0),
                                       ('fx', float('inf')), ('width', 0)])
def test_a_calibration_that_cannot_give_depth_is_refused(tmp_path, key, value):
    root = _dataset(tmp_path, count=2)
    calib = yaml.safe_load((root / 'calibration.yaml').read_text())
    calib[key] = value
    (root / 'calibration.yaml').write_text(yaml.safe_dump(calib))
    with pytest.raises(DatasetError, match=key):
        load_dataset(root)
    bad = Calibration(**{**_calib().to_dict(), key: value})
    with DatasetWriter(tmp_path / 'new') as w:
        w.add_pair(*_pair(np.random.default_rng(0)))
        with pytest.raises(DatasetError, match=key):
            w.finish(bad)
    assert not (tmp_path / 'new').exists()


def test_a_pair_that_does_not_decode_is_replaced_by_the_next_with_a_warning(tmp_path, capsys):
    root = _dataset(tmp_path)
    path = root / 'left' / '000001.png'
    data = bytearray(path.read_bytes())     # header and end intact, pixel data damaged
    data[len(data) // 2:len(data) // 2 + 50] = bytes(50)
    path.write_bytes(bytes(data))
    pairs = PairDataset([load_dataset(root)], 'train', (32, 64))
    assert len(pairs) == 5
    item = pairs[1]
    assert item['index'] == 1
    assert np.array_equal(item['left'].numpy(), pairs[2]['left'].numpy())
    err = capsys.readouterr().err
    assert 'warning:' in err and '000001.png' in err and 'pair 000002 used instead' in err


@pytest.mark.parametrize('damage', [b'', b'\x93NUMPY cut', 'wrong shape'])
def test_a_bad_ground_truth_file_drops_its_pair(tmp_path, capsys, damage):
    rng = np.random.default_rng(6)
    with DatasetWriter(tmp_path / 'ds') as w:
        for _ in range(3):
            w.add_pair(*_pair(rng), disp_gt_px=np.ones((32, 64), np.float32))
        w.finish(_calib())
    path = tmp_path / 'ds' / 'disp_gt' / '000001.npy'
    if damage == 'wrong shape':
        np.save(path, np.ones((16, 64), np.float32))
    else:
        path.write_bytes(damage)
    ds = load_dataset(tmp_path / 'ds')
    assert ds.names() == ['000000', '000002']
    assert 'warning:' in capsys.readouterr().err
    with pytest.raises(DatasetError, match='000001.npy'):
        ds.read_disp_gt('000001')


def test_a_failed_write_at_finish_is_a_dataset_error_and_leaves_nothing(tmp_path):
    rng = np.random.default_rng(7)
    with pytest.raises(DatasetError, match='cannot write'):
        with DatasetWriter(tmp_path / 'ds') as w:
            w.add_pair(*_pair(rng))
            (w.tmp_dir / 'splits').write_text('a file where a folder goes')
            w.finish(_calib())
    assert list(tmp_path.iterdir()) == []
