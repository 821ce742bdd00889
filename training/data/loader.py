# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training pairs from one or more dataset folders, and deterministic batch augmentation.

Augmentation runs on whole batches with an explicit ``torch.Generator`` seeded from the
step number, so a resumed run sees exactly the augmentations an uninterrupted run would.
"""

from pathlib import Path
import sys

import cv2
import numpy as np
import torch

from .dataset_dir import DatasetError, load_dataset, StereoDataset
from .hints import HintCache, lr_consistent
from .sensor_augment import sensor_batch
from ..loop.config import AugmentConfig


def _to_tensor(image: np.ndarray, size_hw: tuple[int, int]) -> torch.Tensor:
    h, w = size_hw
    interp = cv2.INTER_AREA if image.shape[0] >= h else cv2.INTER_LINEAR
    resized = cv2.resize(image, (w, h), interpolation=interp)
    return torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1)


def resize_hint(hint_px: np.ndarray, size_hw: tuple[int, int], mode: str = 'nearest'
                ) -> np.ndarray:
    """
    One view's hint as a fraction of the width at ``size_hw``, 0 where there is none.

    :param hint_px: float (H0, W0) disparity in px of the stored width, NaN = no hint.
    :param size_hw: the training size (H, W).
    :param mode: ``nearest``, or ``area``: the mean of the hinted stored pixels under each
        training pixel, 0 where fewer than half of them are hinted (measured on the KITTI
        head at 128x416 against full-size SGBM: 6.7 % mean error against nearest's 9.3 %).
    :returns: float32 (H, W).
    """
    h, w = size_hw
    frac = hint_px.astype(np.float32) / hint_px.shape[1]
    if mode == 'nearest':
        return cv2.resize(np.nan_to_num(frac, nan=0.0), (w, h), interpolation=cv2.INTER_NEAREST)
    hinted = np.isfinite(frac)
    total = cv2.resize(np.where(hinted, frac, 0.0), (w, h), interpolation=cv2.INTER_AREA)
    cover = cv2.resize(hinted.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    return np.where(cover >= 0.5, total / np.maximum(cover, 1e-6), 0.0).astype(np.float32)


def _hint_tensor(hints_px: tuple[np.ndarray, np.ndarray], size_hw: tuple[int, int],
                 mode: str) -> torch.Tensor:
    """(2, H, W) left and right hints as a fraction of the width (``resize_hint``)."""
    return torch.from_numpy(np.stack([resize_hint(x, size_hw, mode) for x in hints_px]))


def rig_factor(dataset: StereoDataset) -> float:
    """``baseline_m * fx / W``: disparity (fraction of the width) times depth, in metres."""
    calib = dataset.calib
    return calib.baseline_m * calib.fx / calib.width


def reference_rig(datasets: list[StereoDataset]) -> int:
    """
    Index of the reference rig: the one with the smallest ``rig_factor``.

    The generator's output, bounded by ``max_disp_frac``, is the reference rig's
    disparity; every other rig's is that times a factor of at least 1, so the ceiling
    never clips a rig. (Measured: with KITTI, 4.3x the synthetic rig's factor, as the
    reference, the synthetic rows' near stalks needed outputs above the 0.3 ceiling.)
    """
    factors = [rig_factor(ds) for ds in datasets]
    return factors.index(min(factors))


class PairDataset(torch.utils.data.Dataset):
    """
    Rectified pairs of one split across several dataset folders (several rigs).

    Items are dicts with ``left`` and ``right``: float32 (3, H, W) RGB in [0, 1] at the
    training resolution; ``rig_scale``: this rig's ``rig_factor`` over the reference
    rig's (``reference_rig``: the generator's output is its disparity); ``index``;
    and with ``hints``, ``hints``: (2, H, W) left and right stereo hints (``hints``).
    """

    def __init__(self, datasets: list[StereoDataset], split: str, size_hw: tuple[int, int],
                 hints: bool = False, hint_resize: str = 'nearest',
                 hint_lr_check_px: float = 0.0):
        """
        Index every pair of ``split`` in ``datasets``, to be resized to ``size_hw``.

        ``hint_resize`` is ``resize_hint``'s mode; ``hint_lr_check_px`` > 0 keeps only the
        hints that pass ``lr_consistent`` with that tolerance (px of the stored width).
        """
        self.datasets = datasets
        self.size_hw = tuple(size_hw)
        self.items = [(i, name) for i, ds in enumerate(datasets) for name in ds.names(split)]
        reference = rig_factor(datasets[reference_rig(datasets)])
        self.rig_scales = [rig_factor(ds) / reference for ds in datasets]
        self.hint_caches = [HintCache(ds) for ds in datasets] if hints else None
        self.hint_resize = hint_resize
        self.hint_lr_check_px = hint_lr_check_px

    def __len__(self) -> int:
        """Return the number of pairs."""
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        """
        Load, convert and resize pair ``index``.

        A pair whose image does not decode (its header was fine when the dataset was
        opened) is replaced by the next pair that does, with a warning naming the file:
        the same pair every time, so a resumed run sees what an uninterrupted one saw.
        """
        for offset in range(len(self.items)):
            k = (index + offset) % len(self.items)
            try:
                return self._load(k, index)
            except DatasetError as err:
                ds_index, name = self.items[(k + 1) % len(self.items)]
                print(f'warning: {err}; pair {name} used instead', file=sys.stderr)
        raise DatasetError(f'no pair of {[str(d.root) for d in self.datasets]} decodes')

    def _load(self, k: int, index: int) -> dict:
        ds_index, name = self.items[k]
        left, right = self.datasets[ds_index].read_pair(name)
        item = {'left': _to_tensor(left, self.size_hw), 'right': _to_tensor(right, self.size_hw),
                'index': index, 'rig_scale': torch.tensor(self.rig_scales[ds_index])}
        if self.hint_caches is not None:
            hints = self.hint_caches[ds_index].read(name)
            if self.hint_lr_check_px > 0:
                hints = lr_consistent(*hints, self.hint_lr_check_px)
            item['hints'] = _hint_tensor(hints, self.size_hw, self.hint_resize)
        return item


def open_datasets(dirs: list[str]) -> list[StereoDataset]:
    """Open every dataset folder; the DatasetError of a bad one names it."""
    return [load_dataset(Path(d)) for d in dirs]


def _uniform(gen: torch.Generator, shape: tuple, bounds: tuple[float, float]) -> torch.Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(shape, generator=gen)


def augment_batch(left: torch.Tensor, right: torch.Tensor, cfg: AugmentConfig,
                  gen: torch.Generator, hints: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """
    Monodepth augmentation of a batch (B, 3, H, W) in [0, 1], and of its hints.

    A flipped sample becomes ``(mirror(right), mirror(left))``: mirroring a rectified pair
    swaps the roles of the two views, so the disparity sign convention still holds; its
    hints (B, 2, H, W) become ``(mirror(right hint), mirror(left hint))``. Colour jitter
    (gamma, brightness, per-channel gain) is the same for both views of a sample. Random
    numbers come from ``gen`` on the CPU, so results do not depend on the device. Then
    the optional zoom (``zoom_batch``) and camera corruptions (``sensor_batch``: grey,
    blur), each off by default. (``augment.noise_std`` is not applied here: it goes into
    the generator's input only, ``sensor_augment.input_noise``.)
    """
    b = left.shape[0]
    flip = (torch.rand(b, generator=gen) < cfg.flip_prob).view(b, 1, 1, 1).to(left.device)
    left, right = (torch.where(flip, right.flip(-1), left),
                   torch.where(flip, left.flip(-1), right))
    if hints is not None:
        hints = torch.where(flip, hints.flip(1).flip(-1), hints)
    jitter = (torch.rand(b, generator=gen) < cfg.jitter_prob).view(b, 1, 1, 1)
    gamma = _uniform(gen, (b, 1, 1, 1), cfg.gamma)
    gain = _uniform(gen, (b, 1, 1, 1), cfg.brightness) * _uniform(gen, (b, 3, 1, 1), cfg.colour)
    gamma = torch.where(jitter, gamma, torch.ones_like(gamma)).to(left.device)
    gain = torch.where(jitter, gain, torch.ones_like(gain)).to(left.device)
    left, right = (left ** gamma * gain).clamp(0, 1), (right ** gamma * gain).clamp(0, 1)
    if cfg.zoom_prob > 0 and cfg.zoom[1] > 1:
        left, right, hints = zoom_batch(left, right, hints, _zoom_crops(b, cfg, gen))
    left, right = sensor_batch(left, right, cfg.grey_prob, cfg.blur_prob, cfg.blur_sigma, gen)
    return left, right, hints


def _zoom_crops(b: int, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(B, 3): zoom factor and crop centre (x, y, in [-1, 1]) per sample; factor 1 = none."""
    zoom = (torch.rand(b, generator=gen) < cfg.zoom_prob).float()
    factor = 1 + zoom * (_uniform(gen, (b,), cfg.zoom) - 1)
    centre = (2 * torch.rand((b, 2), generator=gen) - 1) * (1 - 1 / factor)[:, None]
    return torch.cat((factor[:, None], centre), dim=1)


def zoom_batch(left: torch.Tensor, right: torch.Tensor, hints: torch.Tensor | None,
               crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """
    Zoom each sample in: the same crop of both views and hints, resized to the full size.

    :param crops: (B, 3) zoom factor s >= 1 and crop centre (x, y) in normalised
        coordinates; the crop is 1/s of the width and height.
    :returns: the views bilinearly resampled; the hints (fraction of the width) sampled
        nearest, so that 0 stays "no hint", and multiplied by s: a disparity of d px in
        the crop is s * d px once the crop fills the width.
    """
    s = crops[:, 0].to(left.device)
    theta = torch.zeros((left.shape[0], 2, 3), dtype=left.dtype, device=left.device)
    theta[:, 0, 0], theta[:, 1, 1] = 1 / s, 1 / s
    theta[:, :, 2] = crops[:, 1:].to(left.device, left.dtype)
    grid = torch.nn.functional.affine_grid(theta, list(left.shape), align_corners=False)
    sample = torch.nn.functional.grid_sample
    left, right = (sample(x, grid, mode='bilinear', padding_mode='border',
                          align_corners=False) for x in (left, right))
    if hints is not None:
        hints = sample(hints, grid.to(hints.dtype), mode='nearest',
                       align_corners=False) * s.view(-1, 1, 1, 1).to(hints.dtype)
    return left, right, hints
