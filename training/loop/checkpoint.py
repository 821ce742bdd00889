# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Self-describing checkpoints, written atomically.

A checkpoint holds the model configs, the training config, the step, the optimiser and
RNG states and the rig calibration, so ``--resume`` continues exactly and export needs
nothing but the file.
"""

import io
import os
from pathlib import Path
import random
import subprocess

import torch

FORMAT = 'sorghum_depth.checkpoint/1'


class CheckpointError(ValueError):
    """An unreadable checkpoint or one that does not fit the requested model."""


def git_revision() -> str:
    """Return the git commit of the source tree, or 'unknown' outside a checkout."""
    try:
        out = subprocess.run(['git', 'rev-parse', '--short=12', 'HEAD'], capture_output=True,
                             text=True, timeout=10, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return out.stdout.strip() if out.returncode == 0 else 'unknown'


def rng_state() -> dict:
    """Capture the RNG states that training touches."""
    state = {'torch': torch.get_rng_state(), 'python': random.getstate()}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` captured."""
    torch.set_rng_state(state['torch'])
    random.setstate(state['python'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def save_checkpoint(path: Path, state: dict) -> Path:
    """
    Write ``state`` to ``path`` through a temporary file and an atomic rename.

    :raises CheckpointError: the file cannot be written (a full disk); ``path`` keeps
        its previous content and no temporary file stays.
    """
    path = Path(path)
    tmp = path.with_name(f'.{path.name}.tmp')
    buffer = io.BytesIO()   # torch.save to a path may abort the process when a write fails
    torch.save({'format': FORMAT, **state}, buffer)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, 'wb') as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f'{path}: cannot write the checkpoint ({err}); the previous '
                              'one, if any, is kept') from err
    return path


def load_checkpoint(path: Path) -> dict:
    """
    Read a checkpoint written by ``save_checkpoint``.

    :raises CheckpointError: missing, corrupt, or not a sorghum_depth checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'{path}: checkpoint not found')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:   # torch raises many types for corrupt files
        raise CheckpointError(f'{path}: not a readable checkpoint ({err})') from err
    if not isinstance(state, dict) or state.get('format') != FORMAT:
        raise CheckpointError(f'{path}: not a sorghum_depth checkpoint (format {FORMAT})')
    return state


def exported_weights(state: dict) -> dict:
    """Return the generator weights a checkpoint exports: the average when it has one."""
    if 'generator_ema' in state:
        return state['generator_ema']['weights']
    return state['generator']


def config_differences(saved: dict, wanted: dict, saved_label: str = 'checkpoint',
                       shown: tuple[dict, dict] | None = None) -> str:
    """
    Name every key whose value differs between two configs ('' when none does).

    :param shown: the (saved, wanted) configs whose values the message shows, when the
        compared ones are normalised forms of them.
    """
    shown_saved, shown_wanted = shown or (saved, wanted)
    diff = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    return ', '.join(f'{k}: {saved_label} {shown_saved.get(k)!r} vs config '
                     f'{shown_wanted.get(k)!r}' for k in diff)


# Model config keys added after checkpoints were first written, each with the value that
# behaves as a checkpoint written before it did: an older run resumes as it was.
LATER_KEYS = {'generator': {'dropout': 0.0}, 'discriminator': {}}


def check_model_config(path: Path, state: dict, generator: dict, discriminator: dict) -> None:
    """Refuse a checkpoint whose model configs differ from the requested ones (named)."""
    for name, wanted in (('generator', generator), ('discriminator', discriminator)):
        details = config_differences({**LATER_KEYS[name], **state['model'][name]}, wanted)
        if details:
            raise CheckpointError(f'{path}: {name} config differs from this run ({details})')
