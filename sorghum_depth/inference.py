# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Load an exported ``model.ts`` and predict disparity and metric depth from RGB arrays.

ROS-free: the node converts messages to arrays and calls this; so do offline tools.
"""

from dataclasses import dataclass
import hashlib
import json
from pathlib import Path
import time

import numpy as np
import torch

from .geometry import depth_from_disparity

METADATA_FILE = 'metadata.json'


class ModelLoadError(RuntimeError):
    """The model file is missing, corrupt, or not a sorghum_depth export."""


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
    """Return 'auto' -> CUDA when present, else CPU; or the named device."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(name)


@dataclass
class DepthModel:
    """A loaded export: the TorchScript module, its metadata, device and precision."""

    module: torch.jit.ScriptModule
    metadata: dict
    device: torch.device
    fp16: bool = False

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

    def warm_up(self, runs: int = 2) -> float:
        """
        Run the model ``runs`` times on a blank image of its training size.

        TorchScript optimises its graph during the first calls: without a warm-up the
        first two frames take about 8x and 3x the steady forward (shipped model, CPU:
        188 and 85 ms against 25 ms), whatever the camera's image size. Call it on the
        thread that will run the model: after a warm-up on another thread, torch's CPU
        thread pool ran each forward about 1.7x slower.

        :returns: the time taken, s.
        """
        blank = np.zeros((self.metadata['input_height'], self.metadata['input_width'], 3),
                         np.uint8)
        start = time.perf_counter()
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
               cpu_threads: int = 0) -> DepthModel:
    """
    Load ``model.ts`` and its metadata onto ``device`` ('auto', 'cpu', 'cuda', 'cuda:1').

    ``cpu_threads`` > 0 sets torch's CPU thread count for the process.

    :raises ModelLoadError: missing or unreadable file, or no sorghum_depth metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f'{path}: model file not found')
    dev = resolve_device(device)
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
    if not str(metadata.get('format', '')).startswith('sorghum_depth.model/'):
        raise ModelLoadError(f'{path}: no sorghum_depth metadata.json inside the model')
    expected = metadata.get('weights_sha256')
    if expected is not None and weights_sha256(module) != expected:
        raise ModelLoadError(f'{path}: the weights do not match the hash in its metadata '
                             '(a corrupted or altered copy); export the model again')
    use_fp16 = fp16 and dev.type == 'cuda'
    module = module.half() if use_fp16 else module
    return DepthModel(module.eval(), metadata, dev, use_fp16)
