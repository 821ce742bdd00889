# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""DepthPipeline: the validity rule and depth = f t / d, against the model's own output."""

import json
from pathlib import Path

import numpy as np
from sorghum_depth.inference import load_model, METADATA_FILE
from sorghum_depth.pipeline import DepthPipeline, INVALID_DISPARITY
from tiny_model import make_tiny_model
import torch


def test_valid_range_marks_disparity_and_depth_consistently(tmp_path):
    model = load_model(make_tiny_model(tmp_path / 'tiny.ts', seed=3), device='cpu')
    rgb = np.random.default_rng(0).integers(0, 255, (90, 200, 3), dtype=np.uint8)
    raw = model.predict_disparity(rgb)
    fx, base = model.geometry(200)
    lo, hi = np.quantile(raw, [0.3, 0.7])            # about 60 % of pixels fall outside
    result = DepthPipeline(model).run(rgb, min_depth_m=fx * base / hi,
                                      max_depth_m=fx * base / lo)
    inside = (raw >= result.min_disp_px) & (raw <= result.max_disp_px)
    assert 0.3 < inside.mean() < 0.5 and result.min_disp_px > 0
    assert result.disp_px.dtype == np.float32 and result.depth_m.dtype == np.float32
    np.testing.assert_array_equal(result.disp_px[inside], raw[inside])
    assert (result.disp_px[~inside] == INVALID_DISPARITY).all()
    assert np.isnan(result.depth_m[~inside]).all()
    np.testing.assert_allclose(result.depth_m[inside], fx * base / raw[inside], rtol=1e-6)


def test_warm_up_leaves_the_predictions_unchanged(tmp_path):
    model = load_model(make_tiny_model(tmp_path / 'tiny.ts', seed=4), device='cpu')
    rgb = np.random.default_rng(1).integers(0, 255, (70, 150, 3), dtype=np.uint8)
    cold = model.predict_disparity(rgb)
    assert model.warm_up(runs=3) > 0
    np.testing.assert_allclose(model.predict_disparity(rgb), cold, atol=1e-5)


def exported_with_post_processing(tmp_path) -> Path:
    """Return a tiny model exported with post-processing on (module flag and metadata)."""
    extra = {METADATA_FILE: ''}
    module = torch.jit.load(str(make_tiny_model(tmp_path / 'plain.ts', seed=5)),
                            _extra_files=extra)
    module.post_process = True
    meta = {**json.loads(extra[METADATA_FILE]), 'post_process': True}
    module.save(str(tmp_path / 'pp.ts'), _extra_files={METADATA_FILE: json.dumps(meta)})
    return tmp_path / 'pp.ts'


def test_the_exported_post_processing_is_the_default(tmp_path):
    model = load_model(exported_with_post_processing(tmp_path), device='cpu')
    rgb = np.random.default_rng(2).integers(0, 255, (64, 128, 3), dtype=np.uint8)
    on, off = model.predict_disparity(rgb, True), model.predict_disparity(rgb, False)
    assert np.abs(on - off).max() > 1e-3, 'the flip must change this frame'
    fx, base = model.geometry(128)
    wide = {'min_depth_m': fx * base / 1e6, 'max_depth_m': 1e9}
    np.testing.assert_allclose(DepthPipeline(model).run(rgb, **wide).disp_px, on, rtol=1e-6)
    np.testing.assert_allclose(DepthPipeline(model, False).run(rgb, **wide).disp_px, off,
                               rtol=1e-6)
