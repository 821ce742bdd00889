# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
U-Net generator: left RGB image in, left and right disparity out at 4 scales.

Disparity is a fraction of the image width, ``max_disp_frac * sigmoid(x)``, as in
monodepth (Godard et al. 2017). Channel 0 is the left disparity, channel 1 the right.
"""

from dataclasses import asdict, dataclass
import math

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class GeneratorConfig:
    """
    Shape of the generator; stored in checkpoints so a model rebuilds itself.

    ``enc_channels[k]`` is the width of the encoder block whose output is at 1/2^(k+1)
    resolution; ``dec_channels[i]`` the width of the decoder stage at 1/2^i. Inputs must
    have H and W divisible by ``2 ** len(enc_channels)`` (64 by default).
    """

    enc_channels: tuple[int, ...] = (32, 64, 128, 256, 384, 384)
    dec_channels: tuple[int, ...] = (16, 32, 64, 128, 192, 384)
    num_scales: int = 4
    max_disp_frac: float = 0.3
    init_disp_frac: float = 0.015
    image_mean: float = 0.45
    image_std: float = 0.225

    def __post_init__(self):
        """Validate the shape; tuples survive a round trip through YAML/JSON lists."""
        self.enc_channels = tuple(int(c) for c in self.enc_channels)
        self.dec_channels = tuple(int(c) for c in self.dec_channels)
        if len(self.enc_channels) != len(self.dec_channels):
            raise ValueError('enc_channels and dec_channels must have the same length')
        if not 1 <= self.num_scales <= len(self.dec_channels):
            raise ValueError(f'num_scales must be in [1, {len(self.dec_channels)}]')
        if not 0.0 < self.max_disp_frac <= 1.0:
            raise ValueError('max_disp_frac must be in (0, 1]')
        if not 0.0 < self.init_disp_frac < self.max_disp_frac:
            raise ValueError('init_disp_frac must be in (0, max_disp_frac)')

    @property
    def divisor(self) -> int:
        """Input H and W must be multiples of this."""
        return 2 ** len(self.enc_channels)

    def to_dict(self) -> dict:
        """Plain-type dict (lists, floats) for checkpoints and metadata."""
        d = asdict(self)
        d['enc_channels'] = list(self.enc_channels)
        d['dec_channels'] = list(self.dec_channels)
        return d


def _conv(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    pad = kernel // 2
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, pad, padding_mode='replicate'),
        nn.ELU(inplace=True))


def _encoder_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(_conv(c_in, c_out, kernel, 2), _conv(c_out, c_out, kernel, 1))


class _DecoderStage(nn.Module):
    def __init__(self, c_in: int, c_out: int, c_skip: int, c_disp_in: int, head: bool):
        super().__init__()
        self.upconv = _conv(c_in, c_out)
        self.iconv = _conv(c_out + c_skip + c_disp_in, c_out)
        self.head = nn.Conv2d(c_out, 2, 3, 1, 1, padding_mode='replicate') if head else None


class Generator(nn.Module):
    """Monodepth-style U-Net: encoder, skip connections, multi-scale disparity heads."""

    __jit_ignored_attributes__ = ['config']

    def __init__(self, config: GeneratorConfig | None = None):
        """Build the network described by ``config`` (defaults: about 12.2 M parameters)."""
        super().__init__()
        self.config = config or GeneratorConfig()
        self.max_disp_frac = float(self.config.max_disp_frac)
        self.image_mean = float(self.config.image_mean)
        self.image_std = float(self.config.image_std)
        self.divisor = int(self.config.divisor)
        enc, dec = self.config.enc_channels, self.config.dec_channels
        n, n_scales = len(enc), self.config.num_scales
        kernels = [5] + [3] * (n - 1)
        self.encoder = nn.ModuleList(
            _encoder_block(c_in, c, k) for c_in, c, k in zip((3,) + enc[:-1], enc, kernels))
        stages = []
        for i in reversed(range(n)):
            c_in = enc[-1] if i == n - 1 else dec[i + 1]
            c_skip = enc[i - 1] if i >= 1 else 0
            c_disp = 2 if i + 1 < n_scales else 0
            stages.append(_DecoderStage(c_in, dec[i], c_skip, c_disp, head=i < n_scales))
        self.decoder = nn.ModuleList(stages)
        self._init_heads()

    def _init_heads(self) -> None:
        """
        Start every head near ``init_disp_frac``: a small disparity, where real scenes are.

        With zero bias the heads would start at ``max_disp_frac / 2`` (15 % of the width),
        far from typical field disparities, where the photometric loss has no useful slope.
        """
        p = self.config.init_disp_frac / self.config.max_disp_frac
        for stage in self.decoder:
            if stage.head is not None:
                nn.init.constant_(stage.head.bias, math.log(p / (1 - p)))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """
        Predict disparities.

        :param image: (B, 3, H, W) RGB in [0, 1]; H, W multiples of ``config.divisor``.

        :returns: ``num_scales`` tensors, full resolution first: (B, 2, H / 2^s, W / 2^s),
            channel 0 left and channel 1 right disparity as a fraction of the width.
        """
        h, w = image.shape[-2], image.shape[-1]
        div = self.divisor
        if image.dim() != 4 or image.shape[1] != 3 or h % div != 0 or w % div != 0:
            raise ValueError('expected (B, 3, H, W) with H, W multiples of ' + str(div)
                             + ', got ' + str(list(image.shape)))
        x = (image - self.image_mean) / self.image_std
        skips: list[torch.Tensor] = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        disps: list[torch.Tensor] = []
        n = len(self.encoder)
        for j, stage in enumerate(self.decoder):
            i = n - 1 - j
            x = stage.upconv(F.interpolate(x, scale_factor=2.0, mode='nearest'))
            parts = [x]
            if i >= 1:
                parts.append(skips[i - 1])
            if len(disps) > 0:
                parts.append(F.interpolate(disps[-1], scale_factor=2.0, mode='bilinear',
                                           align_corners=False))
            x = stage.iconv(torch.cat(parts, dim=1))
            if stage.head is not None:
                disps.append(self.max_disp_frac * torch.sigmoid(stage.head(x)))
        return disps[::-1]


def count_parameters(model: nn.Module) -> int:
    """Count the trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
