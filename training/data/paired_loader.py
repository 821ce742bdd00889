# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Translation pairs as tensors, and pix2pix's random jitter applied to whole batches.

Items are resized once (deterministically, in the worker processes); the random crop and
flip run on the batch with an explicit ``torch.Generator`` seeded from the step number,
the same crop and flip for the input and its target, so a resumed run sees exactly the
augmentations an uninterrupted run would (as ``loader.augment_batch`` for depth).
"""

import math

import cv2
import numpy as np
import torch

from .paired import open_paired


def open_translation_source(spec: str, source: str):
    """
    Open the pairs of a translate run (``paired.open_paired``).

    :param spec: a paired folder, or (``source`` 'grey2colour') a stereo dataset folder.
    :param source: 'paired' or 'grey2colour'.
    :raises DatasetError: a folder that is neither (the message names it).
    """
    return open_paired(spec, 'grey2colour' if source == 'grey2colour' else None)


def _unit(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W) or (H, W, C) -> float32 (C, H, W) in [-1, 1]."""
    if image.ndim == 2:
        image = image[:, :, None]
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    return tensor.float() / 127.5 - 1.0


def resize_pair(image_a: np.ndarray, image_b: np.ndarray, size_hw: tuple[int, int],
                mask: bool) -> tuple[np.ndarray, np.ndarray]:
    """
    Resize an input and its target to ``size_hw`` (H, W).

    The input with area averaging when shrinking (linear when enlarging); a mask target
    with nearest neighbour, so it stays 0/255; a colour target like the input.
    """
    h, w = size_hw
    interp = cv2.INTER_AREA if image_a.shape[0] >= h else cv2.INTER_LINEAR
    a = cv2.resize(image_a, (w, h), interpolation=interp)
    b = cv2.resize(image_b, (w, h), interpolation=cv2.INTER_NEAREST if mask else interp)
    return a, b


class TranslationDataset(torch.utils.data.Dataset):
    """
    The pairs of one split of a ``PairedDataset`` or ``GreyToColour``.

    Items are dicts with ``a``: float32 (3, H, W) and ``b``: float32 (1 or 3, H, W), both
    in [-1, 1] (a mask is -1 background, 1 stalk), at ``size_hw`` times ``scale`` (rounded
    up to whole pixels; the training split is enlarged by pix2pix's jitter and cropped
    back by ``random_crop_flip``), and ``index``.
    """

    def __init__(self, pairs, split: str, size_hw: tuple[int, int], scale: float = 1.0):
        """Index the names of ``split`` of ``pairs``, to be resized to ``size_hw * scale``."""
        self.pairs = pairs
        self.names = pairs.names(split)
        self.size_hw = tuple(size_hw)
        self.load_hw = tuple(int(math.ceil(s * scale)) for s in size_hw)
        self.mask = pairs.b_encoding == 'mono8'

    def __len__(self) -> int:
        """Return the number of pairs."""
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        """Read, resize and convert pair ``index``."""
        name = self.names[index]
        a, b = resize_pair(self.pairs.read_a(name), self.pairs.read_b(name), self.load_hw,
                           self.mask)
        return {'a': _unit(a), 'b': _unit(b), 'index': index}


def random_crop_flip(image_a: torch.Tensor, image_b: torch.Tensor, size_hw: tuple[int, int],
                     flip_prob: float, gen: torch.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Crop each sample of a batch to ``size_hw`` at a random place and flip it left-right.

    :param image_a: (B, Ca, H', W') inputs, H' >= H and W' >= W.
    :param image_b: (B, Cb, H', W') targets; each gets its input's crop and flip.
    :param flip_prob: probability of a left-right flip per sample.
    :param gen: the random source (CPU generator), for reproducible runs.
    :returns: the cropped (and flipped) inputs and targets, (B, C, H, W).
    """
    h, w = size_hw
    big_h, big_w = image_a.shape[-2:]
    n = image_a.shape[0]
    tops = torch.randint(0, big_h - h + 1, (n,), generator=gen).tolist()
    lefts = torch.randint(0, big_w - w + 1, (n,), generator=gen).tolist()
    flips = (torch.rand(n, generator=gen) < flip_prob).tolist()
    out_a, out_b = [], []
    for i in range(n):
        crop_a = image_a[i, :, tops[i]:tops[i] + h, lefts[i]:lefts[i] + w]
        crop_b = image_b[i, :, tops[i]:tops[i] + h, lefts[i]:lefts[i] + w]
        if flips[i]:
            crop_a, crop_b = crop_a.flip(-1), crop_b.flip(-1)
        out_a.append(crop_a)
        out_b.append(crop_b)
    return torch.stack(out_a), torch.stack(out_b)
