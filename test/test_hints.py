# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Depth Hints: the loss on known values, SGBM fusion, the cache and its invalidation."""

import os

from conftest import kitti_image
import cv2
import numpy as np
import pytest
from sorghum_depth_training.data import hints as hints_mod
from sorghum_depth_training.data.dataset_dir import DatasetError, load_dataset
from sorghum_depth_training.data.hints import (fuse_candidates, HintCache, lr_consistent,
                                               pair_hints)
from sorghum_depth_training.data.loader import augment_batch, PairDataset, resize_hint
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.loop.config import AugmentConfig
from sorghum_depth_training.objectives.depth import LossConfig, monodepth_losses
from sorghum_depth_training.objectives.losses import hint_loss
from sorghum_depth_training.objectives.warp import reconstruct_right
import torch


def _maps(value, shape=(1, 1, 2, 2)):
    return torch.full(shape, float(value))


def test_hint_loss_is_zero_where_the_prediction_already_wins():
    disp, hint = _maps(0.02), _maps(0.04)
    assert float(hint_loss(disp, hint, error_pred=_maps(0.1), error_hint=_maps(0.2))) == 0.0


def test_hint_loss_is_the_log_difference_where_the_hint_wins():
    disp, hint = _maps(0.02), _maps(0.04)
    loss = hint_loss(disp, hint, error_pred=_maps(0.3), error_hint=_maps(0.1))
    assert float(loss) == pytest.approx(np.log(2.0), rel=1e-5)


def test_hint_loss_ignores_pixels_without_a_hint_and_averages_over_all_pixels():
    disp = _maps(0.02)
    hint = torch.tensor([[[[0.04, 0.0], [0.0, 0.0]]]])
    loss = hint_loss(disp, hint, error_pred=_maps(0.3), error_hint=_maps(0.1))
    assert float(loss) == pytest.approx(np.log(2.0) / 4, rel=1e-5)


def test_ungated_hint_loss_follows_every_valid_hint():
    disp = _maps(0.02)
    hint = torch.tensor([[[[0.04, 0.0], [0.01, 0.02]]]])
    expected = (np.log(2.0) + np.log(2.0) + 0.0) / 4     # the 0 hint is skipped
    assert float(hint_loss(disp, hint)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('gate, pulled', [('photometric', False), ('always', True)])
def test_hint_gate_decides_whether_a_worse_hint_still_pulls(gate, pulled):
    # the true disparity rebuilds the views exactly; a hint twice as large does not
    left = kitti_image(32, 96)
    true_frac = 4.0 / 96
    right = torch.roll(left, -4, dims=-1)     # right(x) = left(x + 4 px)
    disp = torch.full((1, 2, 32, 96), true_frac)
    hints = torch.full((1, 2, 32, 96), 2 * true_frac)
    cfg = LossConfig(hint_gate=gate)
    hint = float(monodepth_losses(left, right, [disp], cfg, hints)['hint'])
    assert (hint > 0.5) == pulled, hint
    assert pulled or hint < 0.05


def test_hint_loss_pulls_the_prediction_toward_the_hint():
    for start, target in ((0.02, 0.04), (0.06, 0.04)):
        disp = _maps(start).requires_grad_()
        hint_loss(disp, _maps(target), _maps(0.3), _maps(0.1)).backward()
        step = -disp.grad   # gradient descent direction
        assert bool((torch.sign(step) == np.sign(target - start)).all())


def test_fusion_picks_the_candidate_that_rebuilds_the_view():
    left = kitti_image()
    h, w = left.shape[-2:]
    true_px = 7.0
    right = reconstruct_right(left, torch.full((1, 1, h, w), true_px / w))
    # the left view rebuilt from that right view at disparity 7 is the left view again
    candidates = np.stack([np.full((h, w), 3.0), np.full((h, w), true_px),
                           np.full((h, w), 12.0), np.full((h, w), np.nan)]).astype(np.float32)
    fused = fuse_candidates(left, right, candidates, right_view=False)
    inner = fused[4:-4, 20:-4]
    assert np.mean(inner == true_px) > 0.9
    all_nan = fuse_candidates(left, right, np.full((2, h, w), np.nan, np.float32), False)
    assert np.isnan(all_nan).all()


@pytest.fixture
def synth(tmp_path):
    out = tmp_path / 'synth'
    write_synthetic(out, count=3, seed=5, width=512, height=160)
    return out


def test_pair_hints_agree_with_the_exact_disparity(synth):
    ds = load_dataset(synth)
    left, right = ds.read_pair('000000')
    hint_l, hint_r = pair_hints(left, right)
    gt = ds.read_disp_gt('000000')
    valid = np.isfinite(hint_l) & (gt > 0)
    assert valid.mean() > 0.4
    rel = np.abs(hint_l[valid] - gt[valid]) / gt[valid]
    assert np.median(rel) < 0.05
    assert np.isfinite(hint_r).mean() > 0.4


def test_cache_fills_once_and_recomputes_only_changed_pairs(synth):
    cache = HintCache(load_dataset(synth))
    assert cache.ensure(progress=False) == 3
    assert cache.ensure(progress=False) == 0
    hl, hr = cache.read('000001')
    assert hl.dtype == np.float32 and hl.shape == (160, 512) and np.isnan(hl).any()
    image = synth / 'right' / '000001.png'
    cv2.imwrite(str(image), cv2.imread(str(image))[:, :, ::-1])   # a changed image
    st = image.stat()
    os.utime(image, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cache.stale() == ['000001']
    assert cache.ensure(progress=False) == 1


def test_changed_settings_invalidate_the_cache(synth, monkeypatch):
    cache = HintCache(load_dataset(synth))
    cache.ensure(progress=False)
    monkeypatch.setattr(hints_mod, 'HINT_SETTINGS', ((5, 1),))
    assert len(cache.stale()) == 3


def test_corrupt_hint_file_is_a_clear_error(synth):
    cache = HintCache(load_dataset(synth))
    cache.ensure(progress=False)
    (synth / 'hints' / '000002.npz').write_bytes(b'not a zip')
    with pytest.raises(DatasetError, match='000002.npz: unreadable hints'):
        cache.read('000002')


def test_command_line(synth, tmp_path, capsys):
    assert hints_mod.main([str(synth)]) == 0
    assert '3 pairs computed' in capsys.readouterr().out
    assert hints_mod.main([str(tmp_path / 'missing')]) == 2
    assert capsys.readouterr().err.startswith('error: ')


def test_flip_mirrors_and_swaps_the_hints():
    left, right = torch.rand(1, 3, 4, 6), torch.rand(1, 3, 4, 6)
    hints = torch.rand(1, 2, 4, 6)
    cfg = AugmentConfig(flip_prob=1.0, jitter_prob=0.0)
    _, _, flipped = augment_batch(left, right, cfg, torch.Generator().manual_seed(0), hints)
    assert torch.equal(flipped[:, 0], hints[:, 1].flip(-1))
    assert torch.equal(flipped[:, 1], hints[:, 0].flip(-1))


@pytest.mark.parametrize('damage', [b'', b'PK\x03\x04 cut short'])
def test_a_damaged_hints_file_is_recomputed_not_fatal(tmp_path, damage):
    root = tmp_path / 'ds'
    write_synthetic(root, count=3, seed=2, width=128, height=64)
    cache = HintCache(load_dataset(root))
    assert cache.ensure(progress=False) == 3
    (root / 'hints' / '000001.npz').write_bytes(damage)     # a killed copy, a full disk
    with pytest.raises(DatasetError, match='000001.npz'):
        cache.read('000001')
    assert cache.stale() == ['000001']
    assert cache.ensure(progress=False) == 1
    left, right = cache.read('000001')
    assert left.shape == (64, 128)


def test_resize_hint_area_averages_the_hinted_pixels_of_each_block():
    nan = np.nan
    stored_px = np.array([[8, 8, 4, nan],
                          [8, 8, nan, nan],
                          [2, 6, 1, nan],
                          [nan, nan, 3, nan]], np.float32)   # a 4 px wide image
    area = resize_hint(stored_px, (2, 2), 'area')
    # fractions of the width: 8 px of 4 = 2.0; one of four hinted = none; (2 + 6) / 2;
    # (1 + 3) / 2 with exactly half hinted
    np.testing.assert_allclose(area, [[2.0, 0.0], [1.0, 0.5]], rtol=1e-6)
    # nearest: one stored pixel per block (rows and columns 0 and 2), as before
    np.testing.assert_array_equal(resize_hint(stored_px, (2, 2), 'nearest'),
                                  [[2.0, 1.0], [0.5, 0.25]])


def test_lr_check_keeps_agreeing_hints_and_drops_the_rest():
    nan = np.nan
    left = np.array([[nan, 1, 1, 2, 2, 5]], np.float32)
    right = np.array([[1, 1, 2, 2, nan, 0]], np.float32)
    kept_left, kept_right = lr_consistent(left, right, 0.5)
    # left x=3 (d 2) meets right x=1 (d 1); left x=5 (d 5) meets right x=0 (d 1)
    np.testing.assert_array_equal(kept_left, [[nan, 1, 1, nan, 2, nan]])
    # right x=3 (d 2) meets left x=5 (d 5); right x=5 (d 0) meets left x=5 (d 5)
    np.testing.assert_array_equal(kept_right, [[1, 1, 2, nan, nan, nan]])
    # a match that lands outside the other image has nothing to agree with
    lone, _ = lr_consistent(np.array([[3, 3]], np.float32), np.array([[3, 3]], np.float32), 9)
    assert np.isnan(lone).all()


def test_loader_lr_check_drops_the_disagreeing_hints(synth):
    dataset = load_dataset(synth)
    HintCache(dataset).ensure(progress=False)
    plain, checked = (PairDataset([dataset], 'train', (64, 192), hints=True,
                                  hint_lr_check_px=px) for px in (0.0, 1.0))
    hinted = [int((ds[0]['hints'] > 0).sum()) for ds in (plain, checked)]
    assert 0 < hinted[1] < hinted[0]
