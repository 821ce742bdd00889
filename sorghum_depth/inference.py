# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Load an exported ``model.ts`` and predict disparity and metric depth from RGB arrays.

ROS-free: the node converts messages to arrays and calls this; so do offline tools.
"""

from dataclasses import dataclass
import hashlib
import json
import math
from pathlib import Path
import re
import time

import numpy as np
import torch

from .geometry import depth_from_disparity

METADATA_FILE = 'metadata.json'
REQUIRED_METADATA = ('input_height', 'input_width', 'max_disp_frac', 'baseline_m',
                     'fx_over_width')


class ModelLoadError(RuntimeError):
    """The model file is missing, corrupt, or not a sorghum_depth export."""


class DeviceError(ValueError):
    """The device named is malformed or not present on this machine."""


def weights_sha256(module: torch.nn.Module) -> str:
    """
    SHA-256 of every parameter and buffer of ``module``: names, dtypes, shapes and bytes.

    Exported into the metadata and checked at load, so a corrupted or altered copy of a
    model file is refused instead of run. Computed on the CPU before any fp16 cast.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        array = tensor.detach().cpu().contiguous()
        digest.update(f'{name}|{array.dtype}|{tuple(array.shape)}|'.encode())
        digest.update(array.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def resolve_device(name: str = 'auto') -> torch.device:
    """
    Return 'auto' -> CUDA when present, else CPU; or the named device, checked.

    :raises DeviceError: not 'auto', 'cpu', 'cuda' or 'cuda:N', or a CUDA device that
        this machine does not have.
    """
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    match = re.fullmatch(r'(cpu|cuda)(?::([0-9]+))?', str(name))
    if match is None or (match[1] == 'cpu' and match[2] is not None):
        raise DeviceError(f"{name!r} is not a device: use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if match[1] == 'cuda':
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{name}': CUDA is not available on this machine "
                              "(no GPU, no driver, or a CPU build of torch); use 'cpu' or "
                              "'auto'")
        count = torch.cuda.device_count()
        if match[2] is not None and int(match[2]) >= count:
            raise DeviceError(f"device '{name}': this machine has {count} CUDA device(s), "
                              f'cuda:0 to cuda:{count - 1}')
    return torch.device(name)


def _metadata_problems(meta: dict) -> list[str]:
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


@dataclass
class DepthModel:
    """A loaded export: the TorchScript module, its metadata, device and precision."""

    module: torch.jit.ScriptModule
    metadata: dict
    device: torch.device
    fp16: bool = False
    path: str = ''

    def _to_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f'expected an (H, W, 3) RGB image, got shape {rgb.shape}')
        scale = 255.0 if rgb.dtype == np.uint8 else 65535.0 if rgb.dtype == np.uint16 else 1.0
        array = np.require(rgb, requirements=['C', 'W'])      # torch needs writable memory
        t = torch.from_numpy(array).to(self.device).permute(2, 0, 1)[None]
        t = t.float() / scale
        return t.half() if self.fp16 else t

    @torch.inference_mode()
    def predict_disparity(self, rgb: np.ndarray, post_process: bool | None = None
                          ) -> np.ndarray:
        """
        Left disparity in pixels of the input width.

        :param rgb: (H, W, 3) RGB, uint8 / uint16, or float in [0, 1].
        :param post_process: flip post-processing on/off; None = as exported.
        :returns: (H, W) float32 disparity in px.
        """
        flag = -1 if post_process is None else int(post_process)
        disp = self.module(self._to_tensor(rgb), flag)
        return disp[0, 0].float().cpu().numpy()

    def check(self) -> None:
        """
        Run the model once at its training size and once at another size; check the output.

        The contract (DESIGN.md): ``forward(image, post_process)`` returns one tensor of
        shape (B, 1, H, W) for any H, W, finite on a blank frame.

        :raises ModelLoadError: the model cannot run, or its output breaks the contract.
        """
        height, width = self.metadata['input_height'], self.metadata['input_width']
        for h, w in ((height, width), (height * 3 // 4 + 11, width * 3 // 4 + 13)):
            blank = self._to_tensor(np.zeros((h, w, 3), np.uint8))
            try:
                with torch.inference_mode():
                    out = self.module(blank, -1)
            except Exception as err:    # TorchScript raises RuntimeError and more
                raise ModelLoadError(f'{self.path}: the model cannot run on a blank {w} x {h} '
                                     f'frame ({type(err).__name__}: {err})') from err
            if not isinstance(out, torch.Tensor):
                raise ModelLoadError(f'{self.path}: the model returned a '
                                     f'{type(out).__name__}, not one disparity tensor')
            if tuple(out.shape) != (1, 1, h, w):
                raise ModelLoadError(f'{self.path}: the model returned shape '
                                     f'{tuple(out.shape)} for a {w} x {h} frame, expected '
                                     f'(1, 1, {h}, {w})')
            if not bool(torch.isfinite(out).all()):
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
               cpu_threads: int = 0, check: bool = True) -> DepthModel:
    """
    Load ``model.ts`` and its metadata onto ``device`` ('auto', 'cpu', 'cuda', 'cuda:1').

    ``cpu_threads`` > 0 sets torch's CPU thread count for the process. ``check`` runs
    ``DepthModel.check`` (the node runs it in its warm-up, on its worker thread).

    :raises DeviceError: ``device`` is malformed or absent.
    :raises ModelLoadError: missing or unreadable file, no sorghum_depth metadata, bad
        metadata, altered weights, or (``check``) a model that cannot run.
    """
    path = Path(path)
    dev = resolve_device(device)
    if not path.is_file():
        raise ModelLoadError(f'{path}: model file not found')
    if cpu_threads > 0:
        torch.set_num_threads(cpu_threads)
    extra = {METADATA_FILE: ''}
    try:
        module = torch.jit.load(str(path), map_location=dev, _extra_files=extra)
    except Exception as err:      # torch raises several types for corrupt archives
        raise ModelLoadError(f'{path}: not a loadable TorchScript model ({err})') from err
    try:
        metadata = json.loads(extra[METADATA_FILE])
    except json.JSONDecodeError:
        metadata = {}
    if not isinstance(metadata, dict) or \
            not str(metadata.get('format', '')).startswith('sorghum_depth.model/'):
        raise ModelLoadError(f'{path}: no sorghum_depth metadata.json inside the model')
    problems = _metadata_problems(metadata)
    if problems:
        raise ModelLoadError(f'{path}: ' + '; '.join(problems))
    expected = metadata.get('weights_sha256')
    if expected is not None and weights_sha256(module) != expected:
        raise ModelLoadError(f'{path}: the weights do not match the hash in its metadata '
                             '(a corrupted or altered copy); export the model again')
    use_fp16 = fp16 and dev.type == 'cuda'
    module = module.half() if use_fp16 else module
    model = DepthModel(module.eval(), metadata, dev, use_fp16, str(path))
    if check:
        model.check()
    return model
