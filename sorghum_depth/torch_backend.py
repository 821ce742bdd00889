# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
TorchScript backend of ``inference.load_model``: ``model.ts`` run by torch.

Imported only when a TorchScript model is loaded, so that a robot running an ONNX
model never imports torch.
"""

from dataclasses import dataclass
import hashlib
from pathlib import Path

import numpy as np
import torch

from .inference import (check_metadata, DepthModel, DeviceError, DeviceOutOfMemory,
                        METADATA_FILE, ModelLoadError, parse_device, read_metadata)


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
    kind, index = parse_device(name)
    if kind == 'cuda':
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{name}': CUDA is not available on this machine "
                              "(no GPU, no driver, or a CPU build of torch); use 'cpu' or "
                              "'auto'")
        count = torch.cuda.device_count()
        if index is not None and index >= count:
            raise DeviceError(f"device '{name}': this machine has {count} CUDA device(s), "
                              f'cuda:0 to cuda:{count - 1}')
    return torch.device(name)


@dataclass
class TorchDepthModel(DepthModel):
    """A TorchScript export: the module, its metadata, device and precision."""

    module: torch.jit.ScriptModule
    metadata: dict
    device: torch.device
    fp16: bool = False
    path: str = ''
    backend: str = 'torchscript'

    def _to_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """Return (H, W, 3) RGB as a (1, 3, H, W) float tensor in [0, 1] on the device."""
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f'expected an (H, W, 3) RGB image, got shape {rgb.shape}')
        scale = 255.0 if rgb.dtype == np.uint8 else 65535.0 if rgb.dtype == np.uint16 else 1.0
        array = np.require(rgb, requirements=['C', 'W'])      # torch needs writable memory
        t = torch.from_numpy(array).to(self.device).permute(2, 0, 1)[None]
        t = t.float() / scale
        return t.half() if self.fp16 else t

    @torch.inference_mode()
    def _forward(self, rgb: np.ndarray, flag: int) -> object:
        """Run the module on one image; CUDA out of memory becomes DeviceOutOfMemory."""
        try:
            return self.module(self._to_tensor(rgb), flag)
        except torch.cuda.OutOfMemoryError as err:
            torch.cuda.empty_cache()
            raise DeviceOutOfMemory(str(err)) from err

    def _as_array(self, out: object) -> np.ndarray:
        """Return the output tensor as float32 (B, 1, H, W) numpy; ModelLoadError if none."""
        if not isinstance(out, torch.Tensor):
            raise ModelLoadError(f'{self.path}: the model returned a '
                                 f'{type(out).__name__}, not one disparity tensor')
        return out.float().cpu().numpy()


def read(path: Path, dev: torch.device, cpu_threads: int, check=check_metadata
         ) -> tuple[torch.jit.ScriptModule, dict]:
    """
    Return (module on ``dev``, metadata) of a TorchScript file, checked.

    ``check`` is the metadata check (``inference.read_metadata``'s): a depth model's by
    default, a translation model's from ``translation``.

    :raises ModelLoadError: missing or unreadable file, no or bad metadata, altered weights.
    """
    if not path.is_file():
        raise ModelLoadError(f'{path}: model file not found')
    if cpu_threads > 0:
        torch.set_num_threads(cpu_threads)
    extra = {METADATA_FILE: ''}
    try:
        module = torch.jit.load(str(path), map_location=dev, _extra_files=extra)
    except Exception as err:      # torch raises several types for corrupt archives
        raise ModelLoadError(f'{path}: not a loadable TorchScript model ({err})') from err
    metadata = read_metadata(path, extra[METADATA_FILE], 'weights_sha256',
                             lambda: weights_sha256(module), check)
    return module, metadata


def load(path: Path, device: str, fp16: bool, cpu_threads: int) -> TorchDepthModel:
    """
    Load ``model.ts`` and its metadata onto ``device`` (``inference.load_model``'s backend).

    :raises DeviceError: ``device`` is malformed or absent.
    :raises ModelLoadError: missing or unreadable file, no or bad metadata, altered weights.
    """
    dev = resolve_device(device)
    module, metadata = read(path, dev, cpu_threads)
    use_fp16 = fp16 and dev.type == 'cuda'
    module = module.half() if use_fp16 else module
    return TorchDepthModel(module.eval(), metadata, dev, use_fp16, str(path))
