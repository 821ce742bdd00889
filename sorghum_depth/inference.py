# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Load an exported model and predict disparity and metric depth from RGB arrays.

ROS-free and backend-neutral: the node converts messages to arrays and calls this; so do
offline tools. Two backends keep one contract (DESIGN.md, "Exported model"), chosen by
the file name: ``*.onnx`` runs on ONNX Runtime (``onnx_backend``, no torch imported),
any other name (``model.ts``, ``model.pt``) is TorchScript (``torch_backend``). Each
backend is imported only when a model of its kind is loaded.
"""

from collections.abc import Callable
import json
import math
from pathlib import Path
import re
import time

import numpy as np

from .geometry import depth_from_disparity
from .interrupt import ctrl_c_held

METADATA_FILE = 'metadata.json'
REQUIRED_METADATA = ('input_height', 'input_width', 'max_disp_frac', 'baseline_m',
                     'fx_over_width')
ONNX_SUFFIX = '.onnx'


class ModelLoadError(RuntimeError):
    """The model file is missing, corrupt, or not a sorghum_depth export."""


class DeviceError(ValueError):
    """The device named is malformed or not present on this machine."""


class DeviceOutOfMemory(MemoryError):
    """The accelerator ran out of memory on one frame (its cache was emptied)."""


def parse_device(name: str) -> tuple[str, int | None]:
    """
    Split 'cpu', 'cuda' or 'cuda:N' into (kind, index or None).

    :raises DeviceError: any other text ('auto' is the caller's to resolve).
    """
    match = re.fullmatch(r'(cpu|cuda)(?::([0-9]+))?', str(name))
    if match is None or (match[1] == 'cpu' and match[2] is not None):
        raise DeviceError(f"{name!r} is not a device: use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    return match[1], None if match[2] is None else int(match[2])


def metadata_problems(meta: dict) -> list[str]:
    """Return what is wrong with the numbers of a model's metadata (empty: nothing)."""
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        return [f'metadata.json lacks {", ".join(missing)}']
    problems = [f'metadata {k} is {meta[k]!r}, expected a positive integer'
                for k in ('input_height', 'input_width')
                if type(meta[k]) is not int or meta[k] <= 0]
    bounds = {'baseline_m': (0.0, 1e3), 'fx_over_width': (1e-3, 1e3), 'max_disp_frac': (0.0, 1.0)}
    for key, (low, high) in bounds.items():
        value = meta[key]
        ok = type(value) in (int, float) and math.isfinite(value) and low < value <= high
        if not ok:
            problems.append(f'metadata {key} is {value!r}, expected a number in '
                            f'({low:g}, {high:g}]')
    return problems


def check_metadata(path: Path, metadata: object) -> dict:
    """
    Return ``metadata`` if it is a sorghum_depth model's, else raise ModelLoadError.

    :raises ModelLoadError: not a dict of format ``sorghum_depth.model/*``, or bad numbers.
    """
    if not isinstance(metadata, dict) or \
            not str(metadata.get('format', '')).startswith('sorghum_depth.model/'):
        raise ModelLoadError(f'{path}: no sorghum_depth metadata.json inside the model')
    if metadata.get('task', 'depth') != 'depth':
        raise ModelLoadError(f"{path}: a {metadata['task']} model, not a depth model (metadata "
                             f"task {metadata['task']!r}); give it as translation_model_path "
                             '(--translation-model), a depth model as model_path (--model)')
    problems = metadata_problems(metadata)
    if problems:
        raise ModelLoadError(f'{path}: ' + '; '.join(problems))
    return metadata


def read_metadata(path: Path, text: str, hash_key: str, weights_hash: Callable[[], str],
                  check: Callable[[Path, object], dict] = check_metadata) -> dict:
    """
    Parse and check the metadata.json ``text`` of a model file; compare its weights hash.

    ``weights_hash`` computes the loaded weights' hash; it runs only when the metadata
    holds ``hash_key`` (exports older than the hash have none). ``check`` checks the
    parsed dict (``check_metadata``: a depth model's; translation models have their own).

    :raises ModelLoadError: no or bad sorghum_depth metadata, or weights that changed.
    """
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError:
        metadata = {}
    check(path, metadata)
    expected = metadata.get(hash_key)
    if expected is not None and weights_hash() != expected:
        raise ModelLoadError(f'{path}: the weights do not match the hash in its metadata '
                             '(a corrupted or altered copy); export the model again')
    return metadata


def to_nchw(rgb: np.ndarray) -> np.ndarray:
    """
    Convert an (H, W, 3) RGB image to float32 (1, 3, H, W) in [0, 1].

    :param rgb: uint8 (/255), uint16 (/65535) or float (taken as already in [0, 1]).
    :raises ValueError: not (H, W, 3).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) RGB image, got shape {rgb.shape}')
    scale = 255.0 if rgb.dtype == np.uint8 else 65535.0 if rgb.dtype == np.uint16 else 1.0
    chw = np.transpose(rgb, (2, 0, 1))[None].astype(np.float32)
    return chw / np.float32(scale) if scale != 1.0 else chw


class DepthModel:
    """
    A loaded export: backend, metadata, device and precision (``load_model`` makes one).

    Backends implement ``_forward`` and ``_as_array``; everything else is shared.
    ``metadata`` (dict), ``device`` (printable), ``fp16`` (bool), ``path`` (str) and
    ``backend`` ('torchscript' or 'onnxruntime') are attributes of every model.
    """

    metadata: dict
    fp16: bool
    path: str
    backend: str = ''

    def _forward(self, rgb: np.ndarray, flag: int) -> object:
        """Run the model on one (H, W, 3) image; ``flag`` 1 on, 0 off, -1 as exported."""
        raise NotImplementedError

    def _as_array(self, out: object) -> np.ndarray:
        """Return the backend's output as a float32 (B, 1, H, W) array, or raise ModelLoadError."""
        raise NotImplementedError

    def predict_disparity(self, rgb: np.ndarray, post_process: bool | None = None
                          ) -> np.ndarray:
        """
        Left disparity in pixels of the input width.

        :param rgb: (H, W, 3) RGB, uint8 / uint16, or float in [0, 1].
        :param post_process: flip post-processing on/off; None = as exported.
        :returns: (H, W) float32 disparity in px.
        :raises DeviceOutOfMemory: the accelerator's memory ran out on this frame.
        """
        flag = -1 if post_process is None else int(post_process)
        return self._as_array(self._forward(rgb, flag))[0, 0]

    def check(self) -> None:
        """
        Run the model once at its training size and once at another size; check the output.

        The contract (DESIGN.md): ``forward(image, post_process)`` returns one tensor of
        shape (B, 1, H, W) for any H, W, finite on a blank frame.

        :raises ModelLoadError: the model cannot run, or its output breaks the contract.
        """
        height, width = self.metadata['input_height'], self.metadata['input_width']
        for h, w in ((height, width), (height * 3 // 4 + 11, width * 3 // 4 + 13)):
            try:
                out = self._forward(np.zeros((h, w, 3), np.uint8), -1)
            except Exception as err:    # TorchScript and ORT raise RuntimeError and more
                raise ModelLoadError(f'{self.path}: the model cannot run on a blank {w} x {h} '
                                     f'frame ({type(err).__name__}: {err})') from err
            out = self._as_array(out)
            if tuple(out.shape) != (1, 1, h, w):
                raise ModelLoadError(f'{self.path}: the model returned shape '
                                     f'{tuple(out.shape)} for a {w} x {h} frame, expected '
                                     f'(1, 1, {h}, {w})')
            if not bool(np.isfinite(out).all()):
                raise ModelLoadError(f'{self.path}: the model output is not finite on a blank '
                                     f'{w} x {h} frame')

    def warm_up(self, runs: int = 2) -> float:
        """
        Check the model (``check``), then run it ``runs`` times on a blank training-size image.

        TorchScript optimises its graph during the first calls: without a warm-up the
        first two frames take about 8x and 3x the steady forward (shipped model, CPU:
        188 and 85 ms against 25 ms), whatever the camera's image size. Call it on the
        thread that will run the model: after a warm-up on another thread, torch's CPU
        thread pool ran each forward about 1.7x slower.

        :returns: the time taken, s.
        :raises ModelLoadError: the model breaks the contract (see ``check``).
        """
        blank = np.zeros((self.metadata['input_height'], self.metadata['input_width'], 3),
                         np.uint8)
        start = time.perf_counter()
        self.check()
        for _ in range(runs):
            self.predict_disparity(blank)
        return time.perf_counter() - start

    def geometry(self, width_px: int, fx_px: float = 0.0, baseline_m: float = 0.0
                 ) -> tuple[float, float]:
        """Return (fx px, baseline m): positive given values win, else the training rig's."""
        meta = self.metadata
        fx = fx_px if fx_px > 0 else meta['fx_over_width'] * width_px
        return float(fx), float(baseline_m if baseline_m > 0 else meta['baseline_m'])

    def predict_depth(self, rgb: np.ndarray, fx_px: float | None = None,
                      baseline_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """
        Disparity (px) and metric depth (m, NaN invalid) of ``rgb``.

        ``fx_px`` defaults to the training rig's fx / W times this image's width, and
        ``baseline_m`` to the training rig's baseline (both from the metadata).
        """
        disp_px = self.predict_disparity(rgb)
        fx_px, baseline_m = self.geometry(rgb.shape[1], fx_px or 0.0, baseline_m or 0.0)
        return disp_px, depth_from_disparity(disp_px, fx_px, baseline_m)


def load_model(path: str | Path, device: str = 'auto', fp16: bool = False,
               cpu_threads: int = 0, check: bool = True, onnx: bool | None = None
               ) -> DepthModel:
    """
    Load an exported model and its metadata onto ``device`` ('auto', 'cpu', 'cuda', 'cuda:1').

    ``*.onnx`` runs on ONNX Runtime (CUDA / TensorRT providers when present), any other
    file on TorchScript. ``cpu_threads`` > 0 sets the CPU thread count (torch: for the
    process; ORT: for this session). ``fp16`` applies on an accelerator only. ``check``
    runs ``DepthModel.check`` (the node runs it in its warm-up, on its worker thread).
    ``onnx`` True / False overrides the choice by suffix (a temporary file's name).

    :raises DeviceError: ``device`` is malformed or absent.
    :raises ModelLoadError: missing or unreadable file, no sorghum_depth metadata, bad
        metadata, altered weights, a backend that is not installed, or (``check``) a
        model that cannot run.
    """
    path = Path(path)
    if str(device) != 'auto':
        parse_device(device)
    if onnx if onnx is not None else path.suffix.lower() == ONNX_SUFFIX:
        try:
            with ctrl_c_held():
                from . import onnx_backend as backend
        except ImportError as err:
            raise ModelLoadError(f'{path}: ONNX Runtime is not installed ({err}); '
                                 'pip install onnxruntime onnx') from err
    else:
        try:
            with ctrl_c_held():
                from . import torch_backend as backend
        except ImportError as err:      # the robot install (requirements-robot.txt)
            raise ModelLoadError(f'{path}: a TorchScript model needs torch, which is not '
                                 f'installed ({err}); export the model to ONNX '
                                 '(sorghum-depth-export --format onnx) or install '
                                 'requirements.txt') from err
    model = backend.load(path, device, fp16, cpu_threads)
    if check:
        model.check()
    return model


def __getattr__(name: str) -> object:
    """Give ``weights_sha256`` and ``resolve_device`` (torch) from ``torch_backend``, lazily."""
    if name in ('weights_sha256', 'resolve_device'):
        from . import torch_backend
        return getattr(torch_backend, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
