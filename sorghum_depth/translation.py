# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Load an exported image-translation model and translate RGB frames (ROS-free).

A translation model (``sorghum-depth-export`` of a ``task: translate`` checkpoint,
DESIGN.md / docs/translation.md) maps a float RGB image (1, 3, H, W) in [0, 1] of any
size to (1, C, H, W) in [0, 1]; its metadata says what C means: ``output_encoding``
``mono8`` (C = 1, a mask: value > 0.5 is 255, else 0) or ``rgb8`` (C = 3, round(v x 255)).
The backend goes by the file name as for depth models: ``*.onnx`` on ONNX Runtime (no
torch imported), any other name on TorchScript. The ONNX graph has one input ``image``
and one output ``translated``; the metadata sits where a depth model's does.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
import time

import numpy as np

from .inference import ModelLoadError, ONNX_SUFFIX, parse_device, to_nchw
from .interrupt import ctrl_c_held

TASK = 'translate'
ENCODINGS = {'mono8': 1, 'rgb8': 3}       # output_encoding -> output channels
INPUT_TRANSFORMS = ('rgb', 'grey')
ONNX_INPUTS = ('image',)
ONNX_OUTPUT = 'translated'


def check_translation_metadata(path: Path, metadata: object) -> dict:
    """
    Return ``metadata`` if it is a translation model's, else raise ModelLoadError.

    :raises ModelLoadError: not sorghum_depth metadata, a depth model's, or bad fields.
    """
    if not isinstance(metadata, dict) or \
            not str(metadata.get('format', '')).startswith('sorghum_depth.model/'):
        raise ModelLoadError(f'{path}: no sorghum_depth metadata.json inside the model')
    task = metadata.get('task', 'depth')
    if task != TASK:
        raise ModelLoadError(f'{path}: a {task} model, not a translation model (metadata task '
                             f'{task!r}, expected {TASK!r}); give a depth model as model_path '
                             '(--model), a translation model as translation_model_path '
                             '(--translation-model)')
    problems = [f'metadata {k} is {metadata.get(k)!r}, expected a positive integer'
                for k in ('height', 'width', 'in_channels', 'out_channels')
                if type(metadata.get(k)) is not int or metadata[k] <= 0]
    encoding = metadata.get('output_encoding')
    if encoding not in ENCODINGS:
        problems.append(f'metadata output_encoding is {encoding!r}, expected one of '
                        f'{", ".join(ENCODINGS)}')
    elif metadata.get('out_channels') != ENCODINGS[encoding]:
        problems.append(f"metadata out_channels is {metadata.get('out_channels')!r}, "
                        f'expected {ENCODINGS[encoding]} for {encoding}')
    if metadata.get('in_channels') != 3:
        problems.append(f"metadata in_channels is {metadata.get('in_channels')!r}, expected 3")
    if metadata.get('input_transform') not in INPUT_TRANSFORMS:
        problems.append(f"metadata input_transform is {metadata.get('input_transform')!r}, "
                        f'expected one of {", ".join(INPUT_TRANSFORMS)}')
    if problems:
        raise ModelLoadError(f'{path}: ' + '; '.join(problems))
    return metadata


def to_pixels(out: np.ndarray, encoding: str) -> np.ndarray:
    """
    Convert a (C, H, W) float output in [0, 1] to mono8 (H, W) or rgb8 (H, W, 3) uint8.

    mono8 is a mask (value > 0.5: 255, else 0); rgb8 is round(value x 255), clipped.
    """
    if encoding == 'mono8':
        return np.where(out[0] > 0.5, np.uint8(255), np.uint8(0))
    scaled = np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0) * np.float32(255.0)
    return np.ascontiguousarray(np.rint(scaled).astype(np.uint8).transpose(1, 2, 0))


@dataclass
class TranslationModel:
    """
    A loaded translation model: ``translate`` an RGB frame, ``encoding`` of its output.

    ``forward`` maps float32 (1, 3, H, W) in [0, 1] to float32 (1, C, H, W) (numpy in
    and out); the backend loaders build it. ``device`` is printable.
    """

    forward: Callable[[np.ndarray], np.ndarray]
    metadata: dict
    device: str
    path: str = ''
    backend: str = ''

    @property
    def encoding(self) -> str:
        """Return the output's sensor_msgs/Image encoding: 'mono8' or 'rgb8'."""
        return self.metadata['output_encoding']

    def translate_float(self, rgb: np.ndarray) -> np.ndarray:
        """Return the raw output (C, H, W) float32 in [0, 1] of an (H, W, 3) RGB image."""
        out = np.asarray(self.forward(to_nchw(rgb)), np.float32)
        h, w = rgb.shape[:2]
        if out.shape != (1, self.metadata['out_channels'], h, w):
            raise ModelLoadError(f'{self.path}: the model returned shape {out.shape} for a '
                                 f"{w} x {h} frame, expected (1, {self.metadata['out_channels']}"
                                 f', {h}, {w})')
        return out[0]

    def translate(self, rgb: np.ndarray) -> np.ndarray:
        """
        Translate one frame.

        :param rgb: (H, W, 3) RGB, uint8 / uint16, or float in [0, 1].
        :returns: uint8 (H, W) for mono8 models, (H, W, 3) for rgb8 models.
        """
        return to_pixels(self.translate_float(rgb), self.encoding)

    def check(self) -> None:
        """
        Run the model on blank frames of the training size and another size.

        :raises ModelLoadError: the model cannot run, or returns a wrong shape or NaN.
        """
        height, width = self.metadata['height'], self.metadata['width']
        for h, w in ((height, width), (height * 3 // 4 + 11, width * 3 // 4 + 13)):
            try:
                out = self.translate_float(np.zeros((h, w, 3), np.uint8))
            except ModelLoadError:
                raise
            except Exception as err:    # TorchScript and ORT raise RuntimeError and more
                raise ModelLoadError(f'{self.path}: the model cannot run on a blank {w} x {h} '
                                     f'frame ({type(err).__name__}: {err})') from err
            if not bool(np.isfinite(out).all()):
                raise ModelLoadError(f'{self.path}: the model output is not finite on a blank '
                                     f'{w} x {h} frame')

    def warm_up(self, runs: int = 2) -> float:
        """Check the model, then run it ``runs`` times at its training size; return s taken."""
        blank = np.zeros((self.metadata['height'], self.metadata['width'], 3), np.uint8)
        start = time.perf_counter()
        self.check()
        for _ in range(runs):
            self.translate_float(blank)
        return time.perf_counter() - start


def _load_onnx(path: Path, device: str, cpu_threads: int) -> TranslationModel:
    """Load a translation ``model.onnx`` into an ONNX Runtime session (no torch)."""
    with ctrl_c_held():
        from .onnx_backend import make_session, read
    proto, metadata = read(path, ONNX_INPUTS, check_translation_metadata)
    session, name = make_session(proto, path, device, False, cpu_threads)
    return TranslationModel(lambda x: session.run(None, {'image': x})[0], metadata, name,
                            str(path), 'onnxruntime')


def _load_torch(path: Path, device: str, cpu_threads: int) -> TranslationModel:
    """Load a translation ``model.ts`` with torch."""
    with ctrl_c_held():
        import torch
        from .torch_backend import read, resolve_device
    dev = resolve_device(device)
    module, metadata = read(path, dev, cpu_threads, check_translation_metadata)
    module.eval()

    @torch.inference_mode()
    def forward(x: np.ndarray) -> np.ndarray:
        return module(torch.from_numpy(x).to(dev)).float().cpu().numpy()
    return TranslationModel(forward, metadata, str(dev), str(path), 'torchscript')


def load_translation_model(path: str | Path, device: str = 'auto', cpu_threads: int = 0,
                           check: bool = True, onnx: bool | None = None) -> TranslationModel:
    """
    Load an exported translation model onto ``device`` ('auto', 'cpu', 'cuda', 'cuda:1').

    ``*.onnx`` runs on ONNX Runtime, any other file on TorchScript (as ``load_model``);
    ``onnx`` True / False overrides the choice by suffix (a temporary file's name).

    :raises DeviceError: ``device`` is malformed or absent.
    :raises ModelLoadError: missing or unreadable file, a depth model (or no sorghum_depth
        metadata), bad metadata, altered weights, a backend that is not installed, or
        (``check``) a model that cannot run.
    """
    path = Path(path)
    if str(device) != 'auto':
        parse_device(device)
    onnx = onnx if onnx is not None else path.suffix.lower() == ONNX_SUFFIX
    try:
        model = (_load_onnx if onnx else _load_torch)(path, device, cpu_threads)
    except ImportError as err:
        need = 'onnxruntime onnx' if onnx else 'torch (or export the model to ONNX)'
        raise ModelLoadError(f'{path}: the runtime of this model is not installed ({err}); '
                             f'install {need}') from err
    if check:
        model.check()
    return model
