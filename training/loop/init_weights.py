# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Start a run's generator from trained weights (``init_from``): fine-tuning.

A field user whose new recordings arrive continues from an earlier run's weights instead
of from ImageNet alone (starting a new rig from the shipped model measured no better than
ImageNet: docs/training.md, round 8). Only the generator's weights are taken: the step
count, the optimisers, the discriminator and the data are the new run's own, unlike
``--resume``.
"""

import json
from pathlib import Path
import warnings

from sorghum_depth.inference import METADATA_FILE
import torch

from .checkpoint import (CheckpointError, config_differences, exported_weights,
                         load_checkpoint)
from ..nets.generator import PRETRAINED_LEVELS

TS_PREFIX = 'generator.generator.'      # where an exported model.ts keeps the generator


def read_generator(path: Path) -> tuple[dict, dict]:
    """
    Return (generator config, generator state dict) of a checkpoint or an exported model.

    :param path: a training checkpoint (``.pt``: its exported weights, the average when it
        kept one) or a TorchScript export (``.ts``, as ``sorghum-depth-export`` writes it).
    :raises CheckpointError: missing, unreadable, or not a sorghum_depth depth model.
    """
    path = Path(path)
    if path.suffix != '.ts':
        state = load_checkpoint(path)
        task = (state.get('train_config') or {}).get('task', 'depth')
        if task != 'depth' or 'generator' not in state.get('model', {}):
            raise CheckpointError(f'{path}: a {task} checkpoint, not a depth model')
        return dict(state['model']['generator']), exported_weights(state)
    meta, weights = read_torchscript(path)
    return dict(meta['generator']), weights


def read_torchscript(path: Path) -> tuple[dict, dict]:
    """
    Return (metadata, generator state dict) of a depth model exported to TorchScript.

    The export keeps every weight of the generator under ``generator.generator.`` and its
    configuration in the metadata (``generator``).

    :raises CheckpointError: missing, unreadable, or not a sorghum_depth depth model.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'{path}: model not found')
    extra = {METADATA_FILE: ''}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            module = torch.jit.load(str(path), map_location='cpu', _extra_files=extra)
        meta = json.loads(extra[METADATA_FILE])
    except (RuntimeError, ValueError) as err:
        raise CheckpointError(f'{path}: not a readable TorchScript model ({err})') from err
    if meta.get('task', 'depth') != 'depth':
        raise CheckpointError(f"{path}: a {meta['task']} model, not a depth model")
    if 'generator' not in meta:
        raise CheckpointError(f'{path}: its metadata has no generator config')
    weights = {k[len(TS_PREFIX):]: v for k, v in module.state_dict().items()
               if k.startswith(TS_PREFIX)}
    return meta, weights


def read_init(path: Path, wanted: dict) -> dict:
    """
    Return the generator weights of ``path``, checked against this run's generator shape.

    Read before the data are opened, so that a wrong file fails at once.

    :param wanted: this run's generator config (``GeneratorConfig.to_dict()``); the saved
        one must give the same network (``_shape``).
    :raises CheckpointError: unreadable, or another generator shape (the keys named).
    """
    path = Path(path)
    saved, weights = read_generator(path)
    details = config_differences(_shape(saved), _shape(wanted), path.name, (saved, wanted))
    if details:
        raise CheckpointError(f'{path}: init_from needs the same generator ({details}); '
                              'set those generator keys to the saved values')
    return weights


def init_generator(generator: torch.nn.Module, weights: dict, path: Path) -> None:
    """
    Load ``weights`` (``read_init``'s, from ``path``) into ``generator``, in place.

    :raises CheckpointError: a tensor is missing or of another shape.
    """
    own = generator.state_dict()           # an export also keeps non-persistent buffers
    missing = [k for k in own if k not in weights]
    if missing:
        raise CheckpointError(f'{path}: its weights do not fit the generator ({len(missing)} '
                              f'tensors missing, first {missing[0]})')
    try:
        generator.load_state_dict({k: weights[k] for k in own})
    except RuntimeError as err:
        raise CheckpointError(f'{path}: its weights do not fit the generator ({err})') from err


def _shape(config: dict) -> dict:
    """
    Return the keys of a generator config that decide its weights, lists for tuples.

    ``pretrained`` only picks the starting weights, which these replace, and ``dropout``
    acts in training only; a pretrained encoder uses the first ``PRETRAINED_LEVELS``
    decoder widths and none of the U-Net's keys.
    """
    shape = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in config.items()
             if k not in ('pretrained', 'dropout')}
    if shape.get('encoder') != 'unet':
        for key in ('enc_channels', 'image_mean', 'image_std'):
            shape.pop(key, None)
        shape['dec_channels'] = shape.get('dec_channels', [])[:PRETRAINED_LEVELS]
    return shape
