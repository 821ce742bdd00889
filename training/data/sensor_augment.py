# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Camera-like corruptions of training views: grey, lens blur and sensor noise.

Rendered scenes are clean, in colour and perfectly sharp; real cameras give grey images
(KITTI, EuRoC, many field rigs), soft focus and noise. Seeing those in training keeps a
model trained on synthetic scenes from relying on what only the renderer gives.

Grey and blur are the same for both views of a sample, so the pair stays a consistent
stereo pair and the appearance loss stays valid. Noise goes into the generator's input
only (``input_noise``), never into the views the appearance loss compares: noise drawn
independently into both views of the loss (as two sensors give) left the full-resolution
output of one shipped-model run stuck at its initial constant (docs/training.md, round
7). Every random number comes from a CPU ``torch.Generator``.
"""

import torch
from torch.nn import functional as F

# ITU-R BT.601 luma weights
LUMA = (0.299, 0.587, 0.114)


def grey(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> the same shape, each channel the luma of the pixel."""
    weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True).expand_as(images).contiguous()


def gaussian_kernels(sigma_px: torch.Tensor, radius: int) -> torch.Tensor:
    """(B,) standard deviations in pixels -> (B, 2 * radius + 1) normalised 1-D kernels."""
    x = torch.arange(-radius, radius + 1, dtype=sigma_px.dtype, device=sigma_px.device)
    k = torch.exp(-0.5 * (x[None, :] / sigma_px[:, None].clamp_min(1e-3)) ** 2)
    return k / k.sum(1, keepdim=True)


def blur(images: torch.Tensor, sigma_px: torch.Tensor) -> torch.Tensor:
    """
    Separable Gaussian blur of each sample with its own width, borders replicated.

    :param images: (B, C, H, W).
    :param sigma_px: (B,) standard deviation in pixels; 0 leaves the sample as it is.
    :returns: (B, C, H, W).
    """
    b, c, h, w = images.shape
    radius = max(1, int(torch.ceil(3 * sigma_px.max()).item()))
    k = gaussian_kernels(sigma_px.to(images.dtype), radius).repeat_interleave(c, 0)
    x = F.pad(images.reshape(1, b * c, h, w), (radius, radius, radius, radius), 'replicate')
    x = F.conv2d(x, k.view(b * c, 1, 1, -1), groups=b * c)
    x = F.conv2d(x, k.view(b * c, 1, -1, 1), groups=b * c)
    return torch.where(sigma_px.view(b, 1, 1, 1) > 0, x.view(b, c, h, w), images)


def sensor_batch(left: torch.Tensor, right: torch.Tensor, grey_prob: float, blur_prob: float,
                 blur_sigma_px: tuple[float, float], gen: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Grey and blur a batch of pairs (B, 3, H, W) in [0, 1], each with its chance.

    :param grey_prob: share of samples turned grey (both views).
    :param blur_prob: share of samples blurred (both views, one width per sample drawn
        from ``blur_sigma_px``, in pixels of the training input).
    :returns: the corrupted views. With both chances 0 the views come back untouched and
        ``gen`` is not drawn from.
    """
    b = left.shape[0]
    if grey_prob > 0:
        pick = (torch.rand(b, generator=gen) < grey_prob).view(b, 1, 1, 1).to(left.device)
        left, right = torch.where(pick, grey(left), left), torch.where(pick, grey(right), right)
    if blur_prob > 0:
        low, high = blur_sigma_px
        sigma = low + (high - low) * torch.rand(b, generator=gen)
        sigma = torch.where(torch.rand(b, generator=gen) < blur_prob, sigma, 0.0)
        if bool((sigma > 0).any()):
            sigma = sigma.to(left.device)
            left, right = blur(left, sigma), blur(right, sigma)
    return left, right


def input_noise(image: torch.Tensor, noise_std: float, gen: torch.Generator
                ) -> torch.Tensor | None:
    """
    Return the generator's input: ``image`` (B, 3, H, W) in [0, 1] plus Gaussian noise.

    :param noise_std: largest standard deviation; each sample draws its own in
        [0, noise_std]. 0 = no noise: returns None and draws nothing from ``gen``.
    :returns: the noisy copy, clamped to [0, 1], or None.
    """
    if noise_std <= 0:
        return None
    b = image.shape[0]
    std = (noise_std * torch.rand(b, generator=gen)).view(b, 1, 1, 1)
    noise = (torch.randn(tuple(image.shape), generator=gen) * std).to(image.device, image.dtype)
    return (image + noise).clamp(0, 1)
