# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Model files are code to ``torch.jit.load``: a copy whose weights changed is refused."""

import json
import re

import numpy as np
import pytest
from sorghum_depth.inference import DeviceError, load_model, METADATA_FILE, ModelLoadError
from tiny_model import make_tiny_model
import torch


def _altered_copy(src, dst):
    """Save ``src`` again with one weight changed and its metadata (hash included) kept."""
    extra = {METADATA_FILE: ''}
    module = torch.jit.load(str(src), _extra_files=extra)
    with torch.no_grad():
        next(iter(module.parameters())).view(-1)[0] += 0.5
    module.save(str(dst), _extra_files=extra)
    return json.loads(extra[METADATA_FILE])


def test_model_with_its_hash_loads(tmp_path):
    model = load_model(make_tiny_model(tmp_path / 'm.ts'), device='cpu')
    assert len(model.metadata['weights_sha256']) == 64


def test_altered_weights_are_refused(tmp_path):
    meta = _altered_copy(make_tiny_model(tmp_path / 'm.ts'), tmp_path / 'altered.ts')
    assert meta['weights_sha256']
    with pytest.raises(ModelLoadError, match='do not match the hash'):
        load_model(tmp_path / 'altered.ts', device='cpu')


GOOD_META = {'format': 'sorghum_depth.model/1', 'input_height': 16, 'input_width': 32,
             'max_disp_frac': 0.3, 'baseline_m': 0.1, 'fx_over_width': 0.6,
             'post_process': False}


class Constant(torch.nn.Module):
    """A model that runs: constant disparity, (B, 1, H, W) like the input."""

    def forward(self, image: torch.Tensor, post_process: int = -1) -> torch.Tensor:
        return torch.full_like(image[:, :1], 4.0)


class OneArgument(torch.nn.Module):
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image[:, :1]


class TupleOut(torch.nn.Module):
    def forward(self, image: torch.Tensor, post_process: int = -1
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return image[:, :1], image[:, :1]


class HalfSize(torch.nn.Module):
    def forward(self, image: torch.Tensor, post_process: int = -1) -> torch.Tensor:
        return image[:, :1, ::2, ::2]


class ThreeChannels(torch.nn.Module):
    def forward(self, image: torch.Tensor, post_process: int = -1) -> torch.Tensor:
        return image + 1.0


class TrainingSizeOnly(torch.nn.Module):
    """Forgets to resize back: right only at the training size (32 x 16)."""

    def forward(self, image: torch.Tensor, post_process: int = -1) -> torch.Tensor:
        return torch.ones(1, 1, 16, 32)


class NotFinite(torch.nn.Module):
    def forward(self, image: torch.Tensor, post_process: int = -1) -> torch.Tensor:
        return torch.full_like(image[:, :1], float('nan'))


def _save(path, module, **meta):
    """Script ``module`` into ``path`` with GOOD_META updated by ``meta`` (None drops)."""
    values = {k: v for k, v in {**GOOD_META, **meta}.items() if v is not None}
    torch.jit.script(module).save(str(path), _extra_files={METADATA_FILE: json.dumps(values)})
    return path


def test_a_foreign_model_that_keeps_the_contract_loads(tmp_path):
    model = load_model(_save(tmp_path / 'ok.ts', Constant()), device='cpu')
    assert model.predict_disparity(np.zeros((5, 7, 3), np.uint8)).shape == (5, 7)


@pytest.mark.parametrize('module,words', [
    (OneArgument(), 'cannot run'), (TupleOut(), 'returned a tuple'),
    (HalfSize(), 'shape (1, 1, 8, 16)'), (ThreeChannels(), 'shape (1, 3, 16, 32)'),
    (TrainingSizeOnly(), 'shape (1, 1, 16, 32) for a 37 x 23'),
    (NotFinite(), 'not finite')])
def test_a_model_that_cannot_run_is_refused_at_load(tmp_path, module, words):
    path = _save(tmp_path / 'bad.ts', module)
    with pytest.raises(ModelLoadError, match=re.escape(words)) as err:
        load_model(path, device='cpu')
    assert str(path) in str(err.value)


@pytest.mark.parametrize('meta,words', [
    ({'baseline_m': None}, 'lacks baseline_m'),
    ({'input_width': None, 'fx_over_width': None}, 'lacks input_width, fx_over_width'),
    ({'baseline_m': 0.0}, 'baseline_m is 0.0'), ({'baseline_m': -0.1}, 'baseline_m is -0.1'),
    ({'baseline_m': 'wide'}, "baseline_m is 'wide'"), ({'input_height': 0}, 'input_height'),
    ({'fx_over_width': float('nan')}, 'fx_over_width is nan'),
    ({'max_disp_frac': 2.0}, 'max_disp_frac is 2.0')])
def test_bad_metadata_is_refused_at_load(tmp_path, meta, words):
    with pytest.raises(ModelLoadError, match=words):
        load_model(_save(tmp_path / 'bad.ts', Constant(), **meta), device='cpu')


@pytest.mark.parametrize('device,words', [
    ('cuda:abc', "'cuda:abc' is not a device"), ('tpu', "'tpu' is not a device")])
def test_a_bad_device_is_named_not_the_model(tmp_path, device, words):
    with pytest.raises(DeviceError, match=words):
        load_model(_save(tmp_path / 'ok.ts', Constant()), device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a CUDA GPU')
@pytest.mark.parametrize('device', ['cuda', 'cuda:0', 'cuda:3'])
def test_cuda_without_a_gpu_is_a_device_error(tmp_path, device):
    with pytest.raises(DeviceError, match=f"device '{device}': CUDA is not available"):
        load_model(_save(tmp_path / 'ok.ts', Constant()), device=device)
