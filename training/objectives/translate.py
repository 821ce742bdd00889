# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The translation objective of pix2pix: conditional GAN plus lambda times a per-pixel term.

The discriminator sees pairs, cat(input, output) on channels (4 or 6 channels): the real
pair (input, target) against the generated pair (input, G(input)), detached for its own
update. The generator minimises ``gan_weight * GAN(D(input, G(input)), real) + lambda *
reconstruction``. The reconstruction is L1 in [-1, 1] (pix2pix) or, with ``kind: ce``, a
per-pixel binary cross-entropy on a mask target: the "FCN" baseline of the pix2pix paper.

Cross-entropy works on the generator's logit z (before its tanh): the mask probability is
``(tanh(z) + 1) / 2 = sigmoid(2 z)``, so the loss is BCE-with-logits of ``2 z`` against
the 0/1 target, and the exported model's output in [0, 1] is that same probability.
"""

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..nets.discriminator import GANLoss

KINDS = ('l1', 'ce')


@dataclass
class TranslateLossConfig:
    """
    Weights of the translation objective (pix2pix: vanilla GAN, L1, lambda = 100).

    ``gan_weight: 0`` trains the generator on the per-pixel term alone (no discriminator
    step); ``kind: ce`` needs a 1-channel mask target.
    """

    kind: str = 'l1'
    lambda_rec: float = 100.0
    gan_weight: float = 1.0
    gan_mode: str = 'vanilla'

    def __post_init__(self):
        """Validate the choices."""
        if self.kind not in KINDS:
            raise ValueError(f'kind must be one of {", ".join(KINDS)}, got {self.kind!r}')
        if self.gan_mode not in ('vanilla', 'lsgan'):
            raise ValueError(f"gan_mode must be 'vanilla' or 'lsgan', got {self.gan_mode!r}")

    def to_dict(self) -> dict:
        """Plain-type dict for checkpoints and run folders."""
        return asdict(self)


def pair(image_a: torch.Tensor, image_b: torch.Tensor) -> torch.Tensor:
    """
    Stack an input and an output, both in [-1, 1], on channels, mapped to [0, 1].

    ``PatchDiscriminator`` takes [0, 1] (it maps to [-1, 1] itself).
    """
    return torch.cat((image_a, image_b), dim=1) * 0.5 + 0.5


def discriminator_losses(disc: torch.nn.Module, image_a: torch.Tensor, real_b: torch.Tensor,
                         fake_b: torch.Tensor, cfg: TranslateLossConfig
                         ) -> dict[str, torch.Tensor]:
    """
    Return the discriminator loss ``0.5 * (GAN(D(a, b), real) + GAN(D(a, G(a).detach()), fake))``.

    Both pairs go through the discriminator in one batch (one forward pass, as
    DistributedDataParallel needs; instance norm keeps the samples independent).
    """
    gan = GANLoss(cfg.gan_mode)
    batch = torch.cat((pair(image_a, real_b), pair(image_a, fake_b.detach())), dim=0)
    logits_real, logits_fake = disc(batch).chunk(2, dim=0)
    d_real, d_fake = gan(logits_real, True), gan(logits_fake, False)
    return {'disc_real': d_real, 'disc_fake': d_fake, 'discriminator': 0.5 * (d_real + d_fake)}


def reconstruction_loss(logits: torch.Tensor, target_b: torch.Tensor,
                        kind: str) -> torch.Tensor:
    """
    Per-pixel term of the generator output against ``target_b`` (in [-1, 1]).

    :param logits: the generator's pre-tanh output z, (B, C, H, W).
    :param kind: 'l1': mean |tanh(z) - target|; 'ce': mean binary cross-entropy of the
        probability sigmoid(2 z) against the mask target > 0 (C must be 1).
    """
    if kind == 'ce':
        if logits.shape[1] != 1:
            raise ValueError(f'kind ce needs a 1-channel mask output, got {logits.shape[1]}')
        return F.binary_cross_entropy_with_logits(2.0 * logits, (target_b > 0).to(logits))
    return (torch.tanh(logits) - target_b).abs().mean()


def generator_losses(image_a: torch.Tensor, target_b: torch.Tensor, logits: torch.Tensor,
                     disc: torch.nn.Module | None, cfg: TranslateLossConfig
                     ) -> dict[str, torch.Tensor]:
    """
    Return the generator loss ``gan_weight * GAN(D(a, G(a)), real) + lambda_rec * reconstruction``.

    ``disc`` None (or ``gan_weight`` 0) leaves the adversarial term at 0.
    Returns ``gen_gan``, ``gen_rec`` (unweighted) and ``generator`` (the weighted sum).
    """
    rec = reconstruction_loss(logits, target_b, cfg.kind)
    adv = logits.new_zeros(())
    if disc is not None and cfg.gan_weight > 0:
        adv = GANLoss(cfg.gan_mode)(disc(pair(image_a, torch.tanh(logits))), True)
    total = cfg.gan_weight * adv + cfg.lambda_rec * rec
    return {'gen_gan': adv, 'gen_rec': rec, 'generator': total}


def discriminator_channels(in_channels: int, out_channels: int) -> int:
    """Channels the conditional discriminator sees: the input's plus the output's."""
    return int(in_channels) + int(out_channels)
