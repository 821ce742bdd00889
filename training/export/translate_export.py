# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The translation side of ``sorghum-depth-export``: a ``task: translate`` checkpoint to files.

The exported graph takes float RGB (B, 3, H, W) in [0, 1] of any size; with
``input_transform`` 'grey' it first replaces the image by its luminance (ITU-R BT.601
weights, as ``data.paired``) on all three channels; it resizes to the training size (bilinear,
antialiased, as the depth export), maps to [-1, 1], runs the translator, resizes the
output back to (H, W) and maps it to [0, 1]: (B, C, H, W). ``metadata.json`` sits where
a depth model's does (TorchScript extra file, ONNX ``metadata_props``); the robot side
is ``sorghum_depth.translation``. Files are written, checked and replaced by
``main.write_checked``, as depth models are.
"""

from dataclasses import asdict
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from sorghum_depth.inference import ModelLoadError, weights_sha256
from sorghum_depth.translation import load_translation_model, ONNX_INPUTS, ONNX_OUTPUT
import torch
from torch import nn
import torch.nn.functional as F
import yaml

from .main import ExportError, load_written
from ..data.paired import LUMA_WEIGHTS
from ..loop.checkpoint import exported_weights

TASK = 'translate'


class ExportedTranslation(nn.Module):
    """Grey (optional), resize to the training size, run the translator, resize back."""

    def __init__(self, core: nn.Module, height: int, width: int, grey: bool):
        """
        Wrap ``core``, trained at ``height`` x ``width``.

        ``core`` maps (B, 3, ``height``, ``width``) in [-1, 1] to (B, C, ``height``,
        ``width``) in [-1, 1]: the eval translator or its trace.
        """
        super().__init__()
        self.core = core
        self.height, self.width = height, width
        self.grey = grey
        self.luma = tuple(float(v) for v in LUMA_WEIGHTS)     # as the training data's grey

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """
        Translate ``image``.

        :param image: (B, 3, H, W) float RGB in [0, 1], any H and W.
        :returns: (B, C, H, W) float in [0, 1].
        """
        h, w = image.shape[-2], image.shape[-1]
        if self.grey:
            r, g, b = self.luma
            luma = image[:, 0:1] * r + image[:, 1:2] * g + image[:, 2:3] * b
            image = luma.expand(-1, 3, -1, -1)
        x = F.interpolate(image, size=(self.height, self.width), mode='bilinear',
                          align_corners=False, antialias=True)
        y = self.core(x * 2.0 - 1.0)
        y = F.interpolate(y, size=(h, w), mode='bilinear', align_corners=False)
        return (y + 1.0) * 0.5


def is_translate(state: dict) -> bool:
    """Return whether a checkpoint is a translation model's (train_config task)."""
    cfg = state.get('train_config')
    return isinstance(cfg, dict) and cfg.get('task') == TASK


def translate_fields(state: dict) -> tuple[str, str]:
    """
    Return (translate_task, input_transform) of a translate checkpoint.

    The checkpoint's own ``translate_task`` and ``input_transform`` (the trainer writes
    them) win. Else ``translate.source`` grey2colour gives ('grey2colour', 'grey'): the
    exported graph makes the grey input itself; other sources take RGB, and the task
    text of the training data's ``paired.yaml`` when that folder is still readable.
    """
    section = state['train_config'].get('translate') or {}
    grey = section.get('source') == 'grey2colour'
    transform = state.get('input_transform') or ('grey' if grey else 'rgb')
    task = state.get('translate_task') or ('grey2colour' if grey else '')
    root = state.get('data_root') or section.get('data')
    if not task and root:
        try:
            manifest = yaml.safe_load((Path(root) / 'paired.yaml').read_text())
            task = manifest.get('task') if isinstance(manifest, dict) else ''
        except (OSError, yaml.YAMLError):
            task = ''
    return str(task or ''), str(transform)


def translation_metadata(state: dict, translator_cfg: dict) -> dict:
    """Build a translation model's metadata.json from a checkpoint and its translator config."""
    section = state['train_config']['translate']
    out_channels = int(translator_cfg['out_channels'])
    task, transform = translate_fields(state)
    encoding = {1: 'mono8', 3: 'rgb8'}.get(out_channels, f'{out_channels} channels')
    if state.get('output_encoding', encoding) != encoding:
        raise ValueError(f"the checkpoint says output_encoding {state['output_encoding']!r} "
                         f'but its translator has {out_channels} output channels')
    return {
        'format': 'sorghum_depth.model/1', 'task': TASK,
        'in_channels': int(translator_cfg.get('in_channels', 3)), 'out_channels': out_channels,
        'output_encoding': encoding,
        'input_transform': transform, 'height': int(section['height']),
        'width': int(section['width']), 'translate_task': task,
        'colour': 'rgb', 'input_range': [0.0, 1.0], 'output_range': [0.0, 1.0],
        'config_hash': state.get('config_hash', ''), 'git_revision': state.get('git_revision', ''),
        'torch_version': str(torch.__version__), 'train_step': state.get('step', 0),
        'encoder': translator_cfg.get('encoder', 'unet'), 'translator': translator_cfg,
    }


def _translator_from_state(state: dict) -> tuple[nn.Module, dict]:
    """Return (eval Translator, its config dict) of a translate checkpoint."""
    from ..nets.translator import Translator, TranslatorConfig
    saved = dict(state['train_config']['translate'].get('generator') or
                 state['model']['generator'])
    cfg = TranslatorConfig(**{**saved, 'pretrained': False})
    net = Translator(cfg)
    net.load_state_dict(exported_weights(state))
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
    return net.eval(), config


def build_from_state(state: dict):
    """
    Return the export ``Built`` of a translate checkpoint's state.

    :raises ExportError: the state does not describe a translator, or its
        metadata breaks the contract (output channels other than 1 or 3).
    """
    try:
        net, cfg = _translator_from_state(state)
        meta = translation_metadata(state, cfg)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ExportError(f'checkpoint does not describe a translator '
                          f'({type(err).__name__}: {err})') from err
    return build(net, meta)


def build(net: nn.Module, meta: dict):
    """
    Return the export ``Built`` (metadata, eager and scripted modules, checks) of ``net``.

    ``net`` is any module keeping the translator contract ((B, 3, h, w) in [-1, 1] to
    (B, C, h, w) in [-1, 1] at the training size ``meta['height']`` x ``meta['width']``).
    """
    from sorghum_depth.translation import check_translation_metadata
    try:
        check_translation_metadata(Path('checkpoint'), meta)
    except ModelLoadError as err:
        raise ExportError(str(err).removeprefix('checkpoint: ')) from err
    meta = {k: v for k, v in meta.items() if k != 'weights_sha256'}
    h, w, grey = meta['height'], meta['width'], meta['input_transform'] == 'grey'
    net = net.eval()
    eager = ExportedTranslation(net, h, w, grey).eval()
    example = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        traced = torch.jit.trace(net, example, check_trace=False)
    scripted = torch.jit.script(ExportedTranslation(traced, h, w, grey).eval())
    meta['weights_sha256'] = weights_sha256(scripted)
    return SimpleNamespace(meta=meta, eager=eager, scripted=scripted, compare=compare,
                           to_onnx=to_onnx, describe=describe)


def compare(path: Path, eager: nn.Module, meta: dict, onnx: bool = False) -> float:
    """
    Load the written file as the robot does; return the largest |exported - eager|.

    Compared at the training size and at 97 x 211, outputs in [0, 1].

    :raises ExportError: the file does not load, or carries other metadata.
    """
    loaded = load_written(load_translation_model, path, meta, onnx)
    max_diff = 0.0
    rng = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for size in ((meta['height'], meta['width']), (97, 211)):
            image = torch.rand(1, 3, *size, generator=rng)
            got = loaded.translate_float(image[0].permute(1, 2, 0).numpy())
            diff = float(np.abs(got - eager(image)[0].numpy()).max())
            max_diff = max(max_diff, diff if math.isfinite(diff) else math.inf)   # NaN too
    return max_diff


def to_onnx(eager: nn.Module, meta: dict):
    """Export ``eager`` (an ``ExportedTranslation``) to ONNX; ``meta`` gets the ONNX hash."""
    from .onnx_export import export_program
    example = (torch.rand(2, 3, meta['height'] + 7, meta['width'] + 9,
                          generator=torch.Generator().manual_seed(0)),)
    batch = torch.export.Dim('batch', min=1, max=64)
    height = torch.export.Dim('height', min=2, max=16384)
    width = torch.export.Dim('width', min=2, max=16384)
    return export_program(eager, example, ({0: batch, 2: height, 3: width},),
                          list(ONNX_INPUTS), [ONNX_OUTPUT], meta)


def describe(path: Path, meta: dict, diff: float) -> str:
    """Return the line printed for one written file."""
    task = f" {meta['translate_task']}" if meta.get('translate_task') else ''
    return (f"exported {path} (translation{task}, {meta['width']}x{meta['height']}, "
            f"{meta['input_transform']} in, {meta['output_encoding']} out); "
            f'max |exported - eager| = {diff:.2e} (outputs in [0, 1])')
