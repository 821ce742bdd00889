# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Model files are code to ``torch.jit.load``: a copy whose weights changed is refused."""

import json

import pytest
from sorghum_depth.inference import load_model, METADATA_FILE, ModelLoadError
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
