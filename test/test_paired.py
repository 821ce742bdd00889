# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Paired folders: synthetic labels, reading, refusals, import --paired, grey to colour."""

import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from sorghum_depth.errors import DatasetError
from sorghum_depth_training.data.dataset_dir import load_dataset
from sorghum_depth_training.data.paired import (GreyToColour, load_paired, open_paired,
                                                to_grey_rgb)
from sorghum_depth_training.data.synth_render import GROUND, LEAF, SKY, STALK
from sorghum_depth_training.data.synthetic import (render_left, render_pair, write_synthetic,
                                                   write_synthetic_paired)
import yaml

W, H = 128, 64


def _cli(module, *args):
    return subprocess.run([sys.executable, '-m', f'sorghum_depth_training.data.{module}',
                           *map(str, args)], capture_output=True, text=True)


def _refused(done, *words):
    assert done.returncode == 2, done.stdout + done.stderr
    assert 'Traceback' not in done.stderr, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith('error: '), done.stderr
    for word in words:
        assert word in line, line
    return line


@pytest.fixture(scope='module')
def synth_paired(tmp_path_factory):
    """Write a paired folder with sorghum-depth-synth --paired-stalks (5 scenes, seed 4)."""
    out = tmp_path_factory.mktemp('synth') / 'stalks'
    done = subprocess.run([sys.executable, '-m', 'sorghum_depth_training.data.synthetic',
                           out, '--paired-stalks', '--count', '5', '--seed', '4',
                           '--width', str(W), '--height', str(H)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_synth_paired_folder_reads_back(synth_paired):
    ds = load_paired(synth_paired)
    assert (ds.b_encoding, ds.task) == ('mono8', 'stalk_segmentation')
    train, val = ds.names('train'), ds.names('val')
    assert sorted(train + val) == ds.names() == [f'{i:06d}' for i in range(5)]
    assert len(val) == 1 and not set(train) & set(val)
    for i, name in enumerate(ds.names()):
        a, b = ds.read_a(name), ds.read_b(name)
        assert a.shape == (H, W, 3) and a.dtype == np.uint8
        assert b.shape == (H, W) and b.dtype == np.uint8
        rgb, classes = render_left(4, i, W, H)
        np.testing.assert_array_equal(a, rgb)
        np.testing.assert_array_equal(b, (classes == STALK) * 255)
        labels = cv2.imread(str(synth_paired / 'labels' / f'{name}.png'), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(labels, classes)
        assert set(np.unique(b)) == {0, 255}          # neither empty nor full
    # the same seed, split and files again
    again = write_synthetic_paired(synth_paired.parent / 'again', 5, seed=4, width=W, height=H)
    assert load_paired(again).splits == ds.splits


def test_synth_labels_agree_with_the_render(tmp_path):
    write_synthetic(tmp_path / 'ds', count=2, seed=9, width=W, height=H)
    ds = load_dataset(tmp_path / 'ds')
    assert ds.names() == ['000000', '000001']
    for i, name in enumerate(ds.names()):
        labels = cv2.imread(str(tmp_path / 'ds' / 'labels' / f'{name}.png'),
                            cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(tmp_path / 'ds' / 'stalk_mask' / f'{name}.png'),
                          cv2.IMREAD_UNCHANGED)
        assert labels.dtype == np.uint8 and labels.shape == (H, W)
        np.testing.assert_array_equal(mask, (labels == STALK) * 255)
        assert 0.01 < (mask == 255).mean() < 0.9
        assert set(np.unique(labels)) <= {SKY, GROUND, STALK, LEAF}
        # the class map comes from the same z-buffer as depth: sky exactly where no GT
        disp = ds.read_disp_gt(name)
        np.testing.assert_array_equal(labels == SKY, disp == 0)
        sample = render_pair(9, i, W, H)
        np.testing.assert_array_equal(sample.classes, labels)
        np.testing.assert_array_equal(sample.left, render_left(9, i, W, H)[0])
        left = cv2.imread(str(tmp_path / 'ds' / 'left' / f'{name}.png'))[..., ::-1]
        np.testing.assert_array_equal(left, sample.left)
        # stalks and leaves are green-brown, the sky is blue
        rgb = sample.left.astype(int)
        sky, plant = labels == SKY, (labels == STALK) | (labels == LEAF)
        if sky.any():
            assert (rgb[sky, 2] > rgb[sky, 1]).mean() > 0.9
        assert (rgb[plant, 1] > rgb[plant, 2]).mean() > 0.9


def test_old_stereo_dataset_without_labels_still_loads(tmp_path):
    write_synthetic(tmp_path / 'ds', count=2, seed=1, width=W, height=H)
    before = load_dataset(tmp_path / 'ds')
    for folder in ('labels', 'stalk_mask'):
        shutil.rmtree(tmp_path / 'ds' / folder)
    after = load_dataset(tmp_path / 'ds')
    assert after.splits == before.splits and after.skipped == []
    assert type(open_paired(tmp_path / 'ds')) is GreyToColour


def _manifest(root, **changes):
    path = root / 'paired.yaml'
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}))


def test_reader_refusals_name_the_problem(synth_paired, tmp_path):
    root = _copy(synth_paired, tmp_path / 'p')
    (root / 'B' / '000001.png').unlink()
    (root / 'B' / '000003.png').rename(root / 'B' / 'extra.png')
    with pytest.raises(DatasetError, match=r'unpaired names: 2 in .*A without a match in '
                       r'.*B \(000001, 000003\); 1 in .*B without a match in .*A \(extra\)'):
        load_paired(root)
    cases = {  # damage -> expected message
        'missing B': (lambda r: shutil.rmtree(r / 'B'), r'B: folder not found'),
        'no manifest': (lambda r: (r / 'paired.yaml').unlink(), 'manifest not found'),
        'format': (lambda r: _manifest(r, format='pix2pix'), 'format is'),
        'version': (lambda r: _manifest(r, version=2), 'version is 2'),
        'encoding': (lambda r: _manifest(r, b_encoding='rgb16'), 'b_encoding is'),
        'key': (lambda r: _manifest(r, task=None), "key 'task' missing"),
        'count': (lambda r: _manifest(r, count=7), 'count is 7, A/ and B/ hold 5'),
        'yaml': (lambda r: (r / 'paired.yaml').write_text('a: [b'), 'unreadable manifest'),
        'b as rgb': (lambda r: _manifest(r, b_encoding='rgb8'),
                     '000000.png: 8-bit grey PNG; the manifest says b_encoding rgb8'),
        'size': (lambda r: cv2.imwrite(str(r / 'B' / '000002.png'),
                                       np.zeros((H, W // 2), np.uint8)),
                 rf'size mismatch: .*A/000002.png is {W}x{H}, .*B/000002.png is {W // 2}x{H}'),
        'jpeg': (lambda r: cv2.imwrite(str(r / 'A' / 'x.jpg'), np.zeros((4, 4, 3), np.uint8)),
                 r'not in PNG \(x.jpg\)'),
        'split': (lambda r: (r / 'splits' / 'val.txt').write_text('000004\nnope\n'),
                  r'val.txt: 1 name\(s\) with no pair .*\(nope\)'),
        'cut': (lambda r: (r / 'A' / '000000.png').write_bytes(b''), 'empty file'),
    }
    for what, (damage, message) in cases.items():
        root = _copy(synth_paired, tmp_path / what.replace(' ', '_'))
        damage(root)
        with pytest.raises(DatasetError, match=message):
            load_paired(root)
    _refused(_cli('paired', tmp_path / 'size'), 'size mismatch', '000002.png')
    done = _cli('paired', synth_paired)
    assert done.returncode == 0 and '4 train + 1 val' in done.stdout, done.stderr


def _user_folders(root, n=7, colour_b=False):
    rng = np.random.default_rng(3)
    (root / 'in').mkdir(parents=True)
    (root / 'out').mkdir()
    for i in range(n):
        a = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
        cv2.imwrite(str(root / 'in' / f'plot_{i}.png'), a)
        b = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8) if colour_b \
            else (rng.random((30, 40)) > 0.7).astype(np.uint8)       # a 0/1 mask
        cv2.imwrite(str(root / 'out' / f'plot_{i}{".png" if colour_b else ".bmp"}'), b)
    cv2.imwrite(str(root / 'in' / 'plot_0.png'), np.full((30, 40), 90, np.uint8))  # grey
    return root / 'in', root / 'out'


def test_import_paired_round_trip(tmp_path):
    a_dir, b_dir = _user_folders(tmp_path / 'mask')
    done = _cli('folder_import', '--paired', a_dir, b_dir, tmp_path / 'p1', '--seed', '5')
    assert done.returncode == 0, done.stderr
    assert 'pairs written: 7 (b_encoding mono8' in done.stdout
    ds = load_paired(tmp_path / 'p1')
    assert ds.names() == [f'plot_{i}' for i in range(7)] and len(ds.names('val')) == 1
    for name in ds.names():
        src_b = cv2.imread(str(b_dir / f'{name}.bmp'), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(ds.read_b(name), src_b * 255)
        src_a = cv2.imread(str(a_dir / f'{name}.png'), cv2.IMREAD_COLOR)[..., ::-1]
        np.testing.assert_array_equal(ds.read_a(name), src_a)
    assert (ds.read_a('plot_0') == 90).all()
    again = _cli('folder_import', '--paired', a_dir, b_dir, tmp_path / 'p2', '--seed', '5')
    assert again.returncode == 0 and load_paired(tmp_path / 'p2').splits == ds.splits
    a_dir, b_dir = _user_folders(tmp_path / 'colour', colour_b=True)
    done = _cli('folder_import', '--paired', a_dir, b_dir, tmp_path / 'p3', '--task', 'recolour',
                '--size', '20x16')
    assert done.returncode == 0, done.stderr
    ds = load_paired(tmp_path / 'p3')
    assert (ds.b_encoding, ds.task) == ('rgb8', 'recolour')
    assert ds.read_b('plot_3').shape == (16, 20, 3)


def test_import_paired_refusals_keep_outputs(tmp_path):
    a_dir, b_dir = _user_folders(tmp_path)
    for i in (1, 2, 4, 5):
        (b_dir / f'plot_{i}.bmp').unlink()
    cv2.imwrite(str(b_dir / 'stray.png'), np.zeros((30, 40), np.uint8))
    line = _refused(_cli('folder_import', '--paired', a_dir, b_dir, tmp_path / 'o'),
                    'unpaired names: 4 in', '(plot_1, plot_2, plot_4 and 1 more)',
                    'without a match in', '(stray)')
    assert str(a_dir) in line and str(b_dir) in line
    assert not (tmp_path / 'o').exists() and not list(tmp_path.glob('.o.tmp-*'))
    (b_dir / 'stray.png').unlink()
    for i in (1, 2, 4, 5):
        cv2.imwrite(str(b_dir / f'plot_{i}.bmp'), np.zeros((30, 41), np.uint8))
    _refused(_cli('folder_import', '--paired', a_dir, b_dir, tmp_path / 'o'),
             'size mismatch', 'plot_1', '40x30', '41x30')
    assert not (tmp_path / 'o').exists() and not list(tmp_path.glob('.o.tmp-*'))
    write_synthetic(tmp_path / 'stereo', count=2, seed=1, width=64, height=64)
    _refused(_cli('folder_import', '--paired', a_dir, b_dir, tmp_path / 'stereo',
                  '--overwrite'), 'holds a stereo dataset')
    assert load_dataset(tmp_path / 'stereo').names() == ['000000', '000001']
    _refused(_cli('folder_import', '--paired', a_dir, tmp_path / 'none', tmp_path / 'o'),
             'none: folder not found')


def test_grey_to_colour(tmp_path, synth_paired):
    colours = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255],
                         [10, 20, 30]]], np.uint8)
    grey = to_grey_rgb(colours)
    assert grey.dtype == np.uint8 and grey.shape == (1, 5, 3)
    np.testing.assert_array_equal(grey[..., 0], grey[..., 1])
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])
    np.testing.assert_array_equal(grey[0, :, 0], [76, 150, 29, 255, 18])   # BT.601 luma
    write_synthetic(tmp_path / 'ds', count=2, seed=2, width=W, height=H)
    pairs = open_paired(tmp_path / 'ds', 'grey2colour')
    assert (pairs.b_encoding, pairs.task) == ('rgb8', 'grey2colour')
    assert pairs.names('train') == ['000000'] and pairs.names('val') == ['000001']
    left = cv2.imread(str(tmp_path / 'ds' / 'left' / '000001.png'))[..., ::-1]
    np.testing.assert_array_equal(pairs.read_b('000001'), left)
    a = pairs.read_a('000001').astype(float)
    assert a.shape == (H, W, 3)
    assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()
    luma = left.astype(float) @ [0.299, 0.587, 0.114]
    assert np.abs(a[..., 0] - luma).max() <= 0.5 + 1e-6
    from_a = open_paired(synth_paired, 'grey2colour')
    assert type(from_a) is GreyToColour and from_a.names() == load_paired(synth_paired).names()
    np.testing.assert_array_equal(from_a.read_b('000002'), render_left(4, 2, W, H)[0])
    assert type(open_paired(synth_paired)).__name__ == 'PairedDataset'
    grey_ds = _copy(tmp_path / 'ds', tmp_path / 'grey')
    for side in ('left', 'right'):
        for p in (grey_ds / side).iterdir():
            cv2.imwrite(str(p), cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))
    with pytest.raises(DatasetError, match='grey image; grey-to-colour pairs need'):
        GreyToColour(grey_ds)
    with pytest.raises(DatasetError, match='only grey2colour pairs'):
        open_paired(tmp_path / 'ds', 'stalk_segmentation')
    _refused(_cli('paired', tmp_path), 'neither a paired folder')
