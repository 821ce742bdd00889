# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
U-Net generator: left RGB image in, left and right disparity out at 4 scales.

The encoder is this project's from-scratch one or an ImageNet-pretrained one
(``encoders``); the decoder, skips and disparity heads are the same for all.

Disparity is a fraction of the image width, ``max_disp_frac * sigmoid(x)``, as in
monodepth (Godard et al. 2017). Channel 0 is the left disparity, channel 1 the right.
"""

from dataclasses import asdict, dataclass
import math

import torch
from torch import nn
import torch.nn.functional as F

from .encoders import build_encoder, ENCODERS, FrozenBatchNormMixin

PRETRAINED_LEVELS = 5


@dataclass
class GeneratorConfig:
    """
    Shape of the generator; stored in checkpoints so a model rebuilds itself.

    ``encoder`` picks the encoder (``encoders.ENCODERS``): ``unet`` (from scratch, 6
    levels, widths ``enc_channels``, input normalised by ``image_mean``/``image_std``) or
    an ImageNet-pretrained ``mobilenet_v2`` / ``efficientnet_lite0`` (5 levels, their own
    widths and ImageNet normalisation; ``pretrained: false`` starts them from random
    weights). ``dec_channels[i]`` is the width of the decoder stage at 1/2^i; pretrained
    encoders use the first 5 entries. ``freeze_bn`` keeps the pretrained encoder's
    BatchNorm statistics fixed in training mode (small CPU batches make poor batch
    statistics), except while the trainer adapts them (``adapt_batchnorm``). ``dropout``
    > 0 zeroes whole channels of the encoder's features with that probability in
    training (a regulariser for few training frames; none at inference). Inputs must have
    H and W divisible by ``divisor`` (64 for ``unet``, 32 otherwise).
    """

    encoder: str = 'unet'
    pretrained: bool = True
    freeze_bn: bool = True
    enc_channels: tuple[int, ...] = (32, 64, 128, 256, 384, 384)
    dec_channels: tuple[int, ...] = (16, 32, 64, 128, 192, 384)
    num_scales: int = 4
    max_disp_frac: float = 0.3
    init_disp_frac: float = 0.015
    image_mean: float = 0.45
    image_std: float = 0.225
    dropout: float = 0.0

    def __post_init__(self):
        """Validate the shape; tuples survive a round trip through YAML/JSON lists."""
        self.enc_channels = tuple(int(c) for c in self.enc_channels)
        self.dec_channels = tuple(int(c) for c in self.dec_channels)
        if self.encoder not in ENCODERS:
            raise ValueError(f'encoder must be one of {", ".join(ENCODERS)}, '
                             f'got {self.encoder!r}')
        if self.encoder == 'unet' and len(self.enc_channels) != len(self.dec_channels):
            raise ValueError('enc_channels and dec_channels must have the same length')
        if len(self.dec_channels) < self.levels:
            raise ValueError(f'dec_channels needs {self.levels} entries for encoder '
                             f'{self.encoder}, got {len(self.dec_channels)}')
        if not 1 <= self.num_scales <= self.levels:
            raise ValueError(f'num_scales must be in [1, {self.levels}]')
        if not 0.0 < self.max_disp_frac <= 1.0:
            raise ValueError('max_disp_frac must be in (0, 1]')
        if not 0.0 < self.init_disp_frac < self.max_disp_frac:
            raise ValueError('init_disp_frac must be in (0, max_disp_frac)')
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError('dropout must be in [0, 1)')

    @property
    def levels(self) -> int:
        """Count the encoder's feature maps (at 1/2, 1/4, ... of the input size)."""
        return len(self.enc_channels) if self.encoder == 'unet' else PRETRAINED_LEVELS

    @property
    def divisor(self) -> int:
        """Input H and W must be multiples of this."""
        return 2 ** self.levels

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


class _DecoderStage(nn.Module):
    def __init__(self, c_in: int, c_out: int, c_skip: int, c_disp_in: int, head: bool):
        super().__init__()
        self.upconv = _conv(c_in, c_out)
        self.iconv = _conv(c_out + c_skip + c_disp_in, c_out)
        self.head = nn.Conv2d(c_out, 2, 3, 1, 1, padding_mode='replicate') if head else None


class Generator(FrozenBatchNormMixin, nn.Module):
    """Monodepth-style U-Net: encoder, skip connections, multi-scale disparity heads."""

    __jit_ignored_attributes__ = ['config']

    def __init__(self, config: GeneratorConfig | None = None):
        """Build the network described by ``config`` (defaults: about 12.2 M parameters)."""
        super().__init__()
        self.config = cfg = config or GeneratorConfig()
        self.max_disp_frac = float(cfg.max_disp_frac)
        self.divisor = int(cfg.divisor)
        self.dropout = float(cfg.dropout)
        self.encoder = build_encoder(cfg.encoder, cfg.pretrained, cfg.enc_channels,
                                     cfg.image_mean, cfg.image_std)
        enc, dec = tuple(self.encoder.channels), cfg.dec_channels
        n, n_scales = len(enc), cfg.num_scales
        stages = []
        for i in reversed(range(n)):
            c_in = enc[-1] if i == n - 1 else dec[i + 1]
            c_skip = enc[i - 1] if i >= 1 else 0
            c_disp = 2 if i + 1 < n_scales else 0
            stages.append(_DecoderStage(c_in, dec[i], c_skip, c_disp, head=i < n_scales))
        self.decoder = nn.ModuleList(stages)
        self._init_heads()
        self.train()    # a new module is in training mode: freeze the BatchNorm from step 1

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

    def _freezes_bn(self) -> bool:
        """Whether ``freeze_bn`` applies: a pretrained-architecture encoder (not ``unet``)."""
        return self.config.freeze_bn and self.config.encoder != 'unet'

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """
        Predict disparities.

        :param image: (B, 3, H, W) RGB in [0, 1]; H, W multiples of ``config.divisor``.

        :returns: ``num_scales`` tensors, full resolution first: (B, 2, H / 2^s, W / 2^s),
            channel 0 left and channel 1 right disparity as a fraction of the width.
        """
        h, w = image.shape[-2], image.shape[-1]
        div = self.divisor
        if not torch.jit.is_tracing() and (image.dim() != 4 or image.shape[1] != 3
                                           or h % div != 0 or w % div != 0):
            raise ValueError('expected (B, 3, H, W) with H, W multiples of ' + str(div)
                             + ', got ' + str(list(image.shape)))
        skips = self.encoder(image)
        if self.training and self.dropout > 0.0:
            skips = [F.dropout2d(f, self.dropout, True) for f in skips]
        x = skips[-1]
        disps: list[torch.Tensor] = []
        n = len(skips)
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
