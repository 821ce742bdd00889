# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Validation's guard against a collapsed run: a full-resolution head stuck at its start."""

import math

import pytest
from sorghum_depth_training.data.loader import open_datasets, PairDataset
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.loop.validate import (COLLAPSE_DISAGREEMENT, collapse_warning,
                                                  scale_disagreement, validate)
from sorghum_depth_training.nets.generator import Generator
from tiny_model import TINY
import torch

H, W = 64, 192


def test_scale_disagreement_known_values():
    half = torch.full((1, 2, 4, 8), 0.1)
    assert scale_disagreement([torch.full((1, 2, 8, 16), 0.1), half]) == pytest.approx(0.0)
    assert scale_disagreement([torch.full((1, 2, 8, 16), 0.15), half]) == pytest.approx(0.5)
    assert scale_disagreement([torch.full((1, 2, 8, 16), 0.1)]) is None


def test_collapse_warning_only_past_the_threshold_twice_in_a_row():
    high, low = {'scale_disagreement': 0.6}, {'scale_disagreement': 0.04}
    assert collapse_warning({'photometric': 0.2}, None) is None
    assert collapse_warning(low, high) is None
    text = collapse_warning({'scale_disagreement': 0.5}, high)
    assert text.startswith('warning: ') and '60 %' in text and '50 %' in text
    assert 'another seed' in text


def test_one_high_reading_is_not_a_collapse():
    """The recipe's first validation on KITTI reads 0.33-0.48, then 0.15: a healthy run."""
    assert collapse_warning({'scale_disagreement': 0.48}, None) is None
    assert collapse_warning({'scale_disagreement': 0.48}, {'scale_disagreement': 0.14}) is None
    assert collapse_warning({'scale_disagreement': 0.16}, {'scale_disagreement': 0.48}) is None


@pytest.fixture(scope='module')
def val_set(tmp_path_factory):
    root = tmp_path_factory.mktemp('collapse') / 'rows'
    write_synthetic(root, count=2, seed=3, width=W, height=H)
    return PairDataset(open_datasets([str(root)]), 'val', (H, W))


def _generator() -> Generator:
    torch.manual_seed(0)
    return Generator(TINY)


def test_validation_reports_a_stuck_full_resolution_head(val_set):
    fresh = validate(_generator(), val_set, torch.device('cpu'))
    assert fresh['scale_disagreement'] < COLLAPSE_DISAGREEMENT
    assert collapse_warning(fresh, fresh) is None
    stuck = _generator()
    half_head = [s.head for s in stuck.decoder if s.head is not None][-2]
    with torch.no_grad():                  # the half-resolution scale learnt 0.1 of the width
        half_head.bias.fill_(math.log(0.1 / (stuck.max_disp_frac - 0.1)))
    metrics = validate(stuck, val_set, torch.device('cpu'))
    assert metrics['scale_disagreement'] > 0.25
    assert collapse_warning(metrics, metrics) is not None
