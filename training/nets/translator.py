# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Image-to-image translation generator: the U-Net of pix2pix (Isola et al. 2017).

An image in [-1, 1] goes in, the translated image in [-1, 1] (tanh) comes out: a stalk
mask (1 channel) or a colour image (3 channels). The encoder is pix2pix's own (4x4
stride-2 convolutions, batch norm, leaky ReLU) or one of the depth task's
ImageNet-pretrained encoders (``encoders.build_encoder``); all give 5 feature maps at
1/2 ... 1/32 of the input, so H and W must be multiples of 32. The decoder mirrors the
encoder with transposed convolutions and skip connections; dropout (p = ``dropout``) in
its first three stages is the noise z of pix2pix. Dropout is active in training mode
only: an exported (eval) model is deterministic.
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .encoders import build_encoder, ENCODERS, FrozenBatchNormMixin

LEVELS = 5
DROPOUT_STAGES = 3


@dataclass
class TranslatorConfig:
    """
    Shape of the translator; stored in checkpoints so a model rebuilds itself.

    ``encoder``: 'unet' (pix2pix's encoder, widths ``base_channels`` x 1, 2, 4, 8, 8,
    trained from scratch) or a pretrained ``mobilenet_v2`` / ``efficientnet_lite0``
    (``pretrained: false`` starts them from random weights; with ImageNet weights their
    batch-norm statistics stay fixed). ``in_channels``: 3 (inputs are always RGB; a grey
    image is its luminance replicated). ``out_channels``: 1 (mask) or 3 (colour).
    """

    encoder: str = 'unet'
    in_channels: int = 3
    out_channels: int = 1
    base_channels: int = 64
    dropout: float = 0.5
    pretrained: bool = True

    def __post_init__(self):
        """Validate the shape."""
        if self.encoder not in ENCODERS:
            raise ValueError(f'encoder must be one of {", ".join(ENCODERS)}, '
                             f'got {self.encoder!r}')
        if self.in_channels != 3:
            raise ValueError(f'in_channels must be 3 (RGB), got {self.in_channels!r}')
        if self.out_channels not in (1, 3):
            raise ValueError(f'out_channels must be 1 or 3, got {self.out_channels!r}')
        if self.base_channels < 1:
            raise ValueError(f'base_channels must be at least 1, got {self.base_channels!r}')
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f'dropout must be in [0, 1), got {self.dropout!r}')

    @property
    def divisor(self) -> int:
        """Input H and W must be multiples of this."""
        return 2 ** LEVELS

    def to_dict(self) -> dict:
        """Plain-type dict for checkpoints and metadata."""
        return asdict(self)


class Pix2PixEncoder(nn.ModuleList):
    """pix2pix's encoder: C64-C128-C256-C512-C512, 4x4 stride-2 convolutions."""

    def __init__(self, in_channels: int, base: int):
        """Build 5 levels; the first and the innermost have no batch norm (as pix2pix)."""
        widths = [base * min(2 ** i, 8) for i in range(LEVELS)]
        levels = [nn.Conv2d(in_channels, widths[0], 4, 2, 1)]
        for i in range(1, LEVELS):
            inner = i == LEVELS - 1
            levels.append(nn.Sequential(
                nn.LeakyReLU(0.2), nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1, bias=inner),
                nn.Identity() if inner else nn.BatchNorm2d(widths[i])))
        super().__init__(levels)
        self.channels = tuple(widths)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, H, W) in [-1, 1] -> features at 1/2 ... 1/32."""
        feats: list[torch.Tensor] = []
        x = image
        for level in self:
            x = level(x)
            feats.append(x)
        return feats


def _up(c_in: int, c_out: int, dropout: float) -> nn.Sequential:
    """pix2pix decoder stage: ReLU, 4x4 transposed convolution, batch norm, dropout."""
    layers: list[nn.Module] = [nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                               nn.BatchNorm2d(c_out)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def init_pix2pix(module: nn.Module) -> None:
    """Initialise as pix2pix: weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Translator(FrozenBatchNormMixin, nn.Module):
    """U-Net translator: (B, 3, H, W) in [-1, 1] -> (B, out_channels, H, W) in [-1, 1]."""

    __jit_ignored_attributes__ = ['config']

    def __init__(self, config: TranslatorConfig | None = None):
        """Build the network of ``config`` (default: pix2pix's widths, 1 output channel)."""
        super().__init__()
        self.config = cfg = config or TranslatorConfig()
        self.divisor = int(cfg.divisor)
        self.in_channels = int(cfg.in_channels)
        self.from_unit_range = cfg.encoder != 'unet'   # pretrained encoders take [0, 1]
        if cfg.encoder == 'unet':
            self.encoder = Pix2PixEncoder(cfg.in_channels, cfg.base_channels)
        else:
            self.encoder = build_encoder(cfg.encoder, cfg.pretrained)
        enc = tuple(self.encoder.channels)
        dec = [cfg.base_channels * 2 ** i for i in range(LEVELS - 1)]
        stages = []
        for n, i in enumerate(reversed(range(LEVELS - 1))):
            c_in = enc[-1] if i == LEVELS - 2 else dec[i + 1] + enc[i + 1]
            stages.append(_up(c_in, dec[i], cfg.dropout if n < DROPOUT_STAGES else 0.0))
        self.decoder = nn.ModuleList(stages)
        self.head = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(dec[0] + enc[0],
                                                                cfg.out_channels, 4, 2, 1))
        for part in (self.decoder, self.head) + ((self.encoder,) if cfg.encoder == 'unet'
                                                 else ()):
            part.apply(init_pix2pix)
        self.train()    # a new module is in training mode: freeze the BatchNorm from step 1

    def _freezes_bn(self) -> bool:
        """Whether the encoder is an ImageNet one, whose BatchNorm statistics stay fixed."""
        return self.config.encoder != 'unet' and self.config.pretrained

    def forward_logits(self, image: torch.Tensor) -> torch.Tensor:
        """
        Return the output before its tanh, z (the objective's cross-entropy works on it).

        :param image: (B, 3, H, W) in [-1, 1]; H, W multiples of 32.
        :returns: (B, out_channels, H, W), unbounded.
        """
        h, w = image.shape[-2], image.shape[-1]
        div = self.divisor
        if not torch.jit.is_tracing() and (image.dim() != 4
                                           or image.shape[1] != self.in_channels
                                           or h % div != 0 or w % div != 0):
            raise ValueError('expected (B, ' + str(self.in_channels) + ', H, W) with H, W '
                             'multiples of ' + str(div) + ', got ' + str(list(image.shape)))
        feats = self.encoder(image * 0.5 + 0.5 if self.from_unit_range else image)
        x = feats[-1]
        n = len(feats)
        for j, stage in enumerate(self.decoder):
            x = torch.cat((stage(x), feats[n - 2 - j]), dim=1)
        return self.head(x)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """
        Translate ``image``.

        :param image: (B, 3, H, W) in [-1, 1]; H, W multiples of 32.
        :returns: (B, out_channels, H, W) in [-1, 1].
        """
        return torch.tanh(self.forward_logits(image))


class LogitsView(nn.Module):
    """
    Training view of a ``Translator`` whose forward returns ``forward_logits``.

    DistributedDataParallel synchronises gradients through ``forward`` only, so the
    training step calls this wrapper; checkpoints save the translator itself.
    """

    def __init__(self, translator: Translator):
        """Wrap ``translator`` (its parameters are this module's)."""
        super().__init__()
        self.translator = translator

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Pre-tanh output of the translator."""
        return self.translator.forward_logits(image)
