# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Mixed rigs: one reference rig's disparity, scaled to each sample's rig.

The generator's output is the reference rig's disparity (a depth), scaled to each
sample's rig in training, validation, export metadata and evaluation.

Two synthetic datasets render the same scenes from the same left camera with baselines
0.12 m (the reference, listed first) and 0.24 m: the same depth is twice the disparity
on the second rig. The reference rig's exact disparity must rebuild the views of both
rigs and score as exact on both; had the scale been taken from one rig, the other rig's
views would be rebuilt, and scored, with half the disparity.
"""

import numpy as np
import pytest
from sorghum_depth_training.data.loader import open_datasets, PairDataset
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.evaluation.evaluate import ModelPredictor
from sorghum_depth_training.evaluation.gt_io import find_pairs
from sorghum_depth_training.loop.step import rig_disparities
from sorghum_depth_training.loop.trainer import rig_calibration
from sorghum_depth_training.loop.validate import validate
from sorghum_depth_training.objectives.losses import appearance_loss
from sorghum_depth_training.objectives.warp import reconstruct_left
import torch
from torch import nn

H, W = 96, 320


@pytest.fixture(scope='module')
def rigs(tmp_path_factory):
    root = tmp_path_factory.mktemp('rigs')
    for name, baseline in (('narrow', 0.12), ('wide', 0.24)):
        write_synthetic(root / name, count=2, seed=11, width=W, height=H, baseline_m=baseline)
    return open_datasets([str(root / 'narrow'), str(root / 'wide')])


def _reference_frac(rigs, name: str) -> torch.Tensor:
    """Return the reference (narrow) rig's exact left disparity of ``name``, (1, 1, H, W)."""
    return torch.from_numpy(rigs[0].read_disp_gt(name) / W)[None, None].float()


class ReferenceOracle(nn.Module):
    """A generator that outputs the reference rig's exact disparity of one scene."""

    def __init__(self, disp_frac: torch.Tensor):
        super().__init__()
        self.disp_frac = disp_frac

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return [self.disp_frac.expand(image.shape[0], 2, -1, -1)]


def test_each_rig_gets_its_own_scale(rigs):
    data = PairDataset(rigs, 'val', (H, W))
    assert sorted(float(data[i]['rig_scale']) for i in range(len(data))) == pytest.approx(
        [1.0, 2.0])
    calib = rig_calibration(rigs)
    assert calib['baseline_m'] == pytest.approx(0.12)
    assert [r['baseline_m'] for r in calib['rigs']] == pytest.approx([0.12, 0.24])


def test_the_rig_with_the_smallest_disparities_is_the_reference(rigs):
    """Listed second, the narrow rig is still the reference: no rig needs outputs above 1x."""
    swapped = rigs[::-1]
    assert rig_calibration(swapped)['baseline_m'] == pytest.approx(0.12)
    assert rig_calibration(swapped)['reference'] == 1
    data = PairDataset(swapped, 'val', (H, W))
    assert data.rig_scales == pytest.approx([2.0, 1.0])


def test_reference_disparity_rebuilds_both_rigs_only_when_scaled(rigs):
    items = [PairDataset([ds], 'train', (H, W))[0] for ds in rigs]     # scene 000000
    left = torch.stack([it['left'] for it in items])
    right = torch.stack([it['right'] for it in items])
    assert torch.equal(left[0], left[1])         # one left camera, two right cameras
    reference = [_reference_frac(rigs, '000000').expand(2, 2, -1, -1)]
    scaled = rig_disparities(reference, torch.tensor([1.0, 2.0]))[0]

    def error(disp, i):
        return float(appearance_loss(reconstruct_left(right[i:i + 1], disp[i:i + 1, :1]),
                                     left[i:i + 1]))
    assert error(scaled, 1) == pytest.approx(error(scaled, 0), rel=0.5)
    assert error(reference[0], 1) > 1.5 * error(scaled, 1)     # measured: 0.30 vs 0.17


def test_validation_scores_every_rig_in_metres(rigs):
    oracle = ReferenceOracle(_reference_frac(rigs, '000001'))     # the val scene
    val = PairDataset(rigs, 'val', (H, W))
    assert [it[1] for it in val.items] == ['000001', '000001']
    assert validate(oracle, val, torch.device('cpu'))['gt_abs_rel'] < 1e-3
    one_rig = PairDataset(rigs, 'val', (H, W))
    one_rig.rig_scales = [1.0, 1.0]
    assert validate(oracle, one_rig, torch.device('cpu'))['gt_abs_rel'] > 0.2


class _ExportedStandIn:
    """A loaded model's interface: metadata of the reference rig, a fixed disparity."""

    def __init__(self, disp_px: np.ndarray):
        self.metadata = {'baseline_m': 0.12, 'fx_over_width': 0.6}
        self.disp_px = disp_px

    def predict_disparity(self, rgb: np.ndarray) -> np.ndarray:
        return self.disp_px


def test_evaluation_converts_the_reference_disparity_to_each_rig(rigs):
    narrow = find_pairs(rigs[0].root)[0].load()
    wide = find_pairs(rigs[1].root)[0].load()
    predictor = ModelPredictor(_ExportedStandIn(narrow.disp_gt_px))
    assert predictor.rig_scale(wide) == pytest.approx(2.0)
    np.testing.assert_allclose(predictor(wide), wide.disp_gt_px, rtol=1e-4, atol=1e-3)
