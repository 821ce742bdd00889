# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Test helper: a tiny exported model.ts (untrained weights, real export code path)."""

from dataclasses import asdict
import json
from pathlib import Path

from sorghum_depth.inference import weights_sha256
from sorghum_depth_training.export.main import ExportedDepth, METADATA_FILE, trace_generator
from sorghum_depth_training.loop.checkpoint import save_checkpoint
from sorghum_depth_training.nets.generator import Generator, GeneratorConfig
import torch

TINY = GeneratorConfig(enc_channels=(8, 16, 16, 32, 32, 32), dec_channels=(8, 8, 16, 16, 32, 32))


def make_tiny_model(path: Path, height: int = 64, width: int = 128, baseline_m: float = 0.11,
                    fx_over_width: float = 0.6, seed: int = 0) -> Path:
    """Script a randomly initialised tiny generator with full metadata into ``path``."""
    torch.manual_seed(seed)
    gen = Generator(TINY).eval()
    module = torch.jit.script(ExportedDepth(trace_generator(gen, height, width), height, width,
                                            post_process=False))
    meta = {'format': 'sorghum_depth.model/1', 'input_height': height, 'input_width': width,
            'max_disp_frac': TINY.max_disp_frac, 'baseline_m': baseline_m,
            'fx_over_width': fx_over_width, 'colour': 'rgb', 'input_range': [0.0, 1.0],
            'output': 'left disparity, px', 'post_process': False, 'config_hash': 'test',
            'git_revision': 'test', 'torch_version': str(torch.__version__), 'train_step': 0,
            'weights_sha256': weights_sha256(module)}
    module.save(str(path), _extra_files={METADATA_FILE: json.dumps(meta)})
    return Path(path)


def make_tiny_checkpoint(path: Path, height: int = 64, width: int = 128, seed: int = 0,
                         baseline_m: float = 0.11, fx_over_width: float = 0.6) -> Path:
    """Write a training checkpoint of a randomly initialised tiny generator to ``path``."""
    torch.manual_seed(seed)
    gen = Generator(TINY).eval()
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(TINY).items()}
    state = {'train_config': {'data': {'height': height, 'width': width},
                              'generator': {'max_disp_frac': TINY.max_disp_frac}},
             'calibration': {'baseline_m': baseline_m, 'fx_over_width': fx_over_width},
             'config_hash': 'test', 'git_revision': 'test', 'step': 0,
             'model': {'generator': config}, 'generator': gen.state_dict()}
    return save_checkpoint(Path(path), state)
