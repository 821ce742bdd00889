# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Test helper: tiny translate checkpoints and exported translation models (untrained)."""

from dataclasses import asdict
from pathlib import Path

from sorghum_depth_training.export import main as export
from sorghum_depth_training.loop.checkpoint import save_checkpoint
from sorghum_depth_training.nets.translator import Translator, TranslatorConfig
import torch


def make_translate_checkpoint(path: Path, out_channels: int = 1, source: str = 'paired',
                              height: int = 32, width: int = 64, seed: int = 0,
                              task: str | None = None) -> Path:
    """Write a translate checkpoint of a randomly initialised 4-channel U-Net to ``path``."""
    torch.manual_seed(seed)
    task = task or ('grey2colour' if source == 'grey2colour' else 'stalk_segmentation')
    cfg = TranslatorConfig(out_channels=out_channels, base_channels=4, pretrained=False)
    net = Translator(cfg).eval()
    state = {'train_config': {'task': 'translate',
                              'translate': {'data': '', 'source': source, 'height': height,
                                            'width': width, 'generator': asdict(cfg)}},
             # the top-level fields TranslateTrainer writes beside the shared ones
             'task': 'translate', 'translate_task': task,
             'output_encoding': 'mono8' if out_channels == 1 else 'rgb8',
             'input_transform': 'grey' if source == 'grey2colour' else 'rgb',
             'config_hash': 'test', 'git_revision': 'test', 'step': 0,
             'model': {'generator': asdict(cfg)}, 'generator': net.state_dict()}
    return save_checkpoint(Path(path), state)


def make_translation_model(path: Path, out_channels: int = 1, source: str = 'paired',
                           seed: int = 0) -> Path:
    """Export a tiny translation model to ``path`` (.ts, or .onnx when so named)."""
    path = Path(path)
    checkpoint = make_translate_checkpoint(path.with_name(path.stem + '_ckpt.pt'),
                                           out_channels, source, seed=seed)
    fmt = 'onnx' if path.suffix == '.onnx' else 'ts'
    assert export.main([str(checkpoint), str(path), '--format', fmt]) == 0
    return path
