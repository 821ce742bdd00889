# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The full adversarial objective: monodepth terms at every scale plus the GAN term.

``compute_losses`` returns the named loss dict that the trainer, the logs and the tests
share. The train step calls its two halves, ``discriminator_losses`` then
``generator_losses``, in pix2pix order.
"""

from dataclasses import asdict, dataclass

import torch

from .discriminator import GANLoss, PatchDiscriminator
from .losses import (appearance_loss, lr_consistency_loss, scale_pyramid,
                     smoothness_loss)
from .warp import reconstruct_left, reconstruct_right


@dataclass
class LossConfig:
    """Weights of the loss terms (monodepth defaults; ``w_gan = 0`` turns the GAN off)."""

    alpha_ssim: float = 0.85
    w_appearance: float = 1.0
    w_lr: float = 1.0
    w_smooth: float = 0.1
    w_gan: float = 0.01
    gan_mode: str = 'lsgan'

    def to_dict(self) -> dict:
        """Plain-type dict for checkpoints and run folders."""
        return asdict(self)


def reconstruct_views(left: torch.Tensor, right: torch.Tensor,
                      disp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-scale (left_est, right_est) from the other view and ``disp`` (B, 2, H, W)."""
    return reconstruct_left(right, disp[:, :1]), reconstruct_right(left, disp[:, 1:])


def _disc_input(view: torch.Tensor, other: torch.Tensor, conditional: bool) -> torch.Tensor:
    return torch.cat((view, other), dim=1) if conditional else view


def _disc_batch(disc: PatchDiscriminator, left_views: tuple[torch.Tensor, torch.Tensor],
                left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Discriminator input for (left-like, right-like) views, conditioned on the other."""
    cond = disc.config.conditional
    return torch.cat((_disc_input(left_views[0], right, cond),
                      _disc_input(left_views[1], left, cond)), dim=0)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """Return the module inside a DistributedDataParallel wrapper (or the module itself)."""
    return getattr(module, 'module', module)


def discriminator_losses(disc: torch.nn.Module, left: torch.Tensor, right: torch.Tensor,
                         fakes: tuple[torch.Tensor, torch.Tensor],
                         cfg: LossConfig) -> dict[str, torch.Tensor]:
    """
    Discriminator loss ``0.5 * (GAN(D(real), real) + GAN(D(fake.detach()), fake))``.

    Real and fake views go through the discriminator in one batch (one forward pass, as
    DistributedDataParallel needs; instance norm keeps the samples independent).
    """
    gan = GANLoss(cfg.gan_mode)
    inner = unwrap(disc)
    real = _disc_batch(inner, (left, right), left, right)
    fake = _disc_batch(inner, (fakes[0].detach(), fakes[1].detach()), left, right)
    logits_real, logits_fake = disc(torch.cat((real, fake), dim=0)).chunk(2, dim=0)
    d_real, d_fake = gan(logits_real, True), gan(logits_fake, False)
    return {'disc_real': d_real, 'disc_fake': d_fake, 'discriminator': 0.5 * (d_real + d_fake)}


def monodepth_losses(left: torch.Tensor, right: torch.Tensor, disps: list[torch.Tensor],
                     cfg: LossConfig) -> dict[str, torch.Tensor]:
    """Appearance, LR consistency and smoothness (divided by 2^s), summed over scales."""
    lefts, rights = scale_pyramid(left, len(disps)), scale_pyramid(right, len(disps))
    zero = left.new_zeros(())
    appearance, lr, smooth = zero, zero, zero
    for s, (disp, img_l, img_r) in enumerate(zip(disps, lefts, rights)):
        d_l, d_r = disp[:, :1], disp[:, 1:]
        left_est, right_est = reconstruct_views(img_l, img_r, disp)
        appearance = appearance + appearance_loss(left_est, img_l, cfg.alpha_ssim) \
            + appearance_loss(right_est, img_r, cfg.alpha_ssim)
        lr = lr + lr_consistency_loss(d_l, d_r)
        smooth = smooth + (smoothness_loss(d_l, img_l) + smoothness_loss(d_r, img_r)) / 2 ** s
    return {'appearance': appearance, 'lr_consistency': lr, 'smoothness': smooth}


def generator_losses(left: torch.Tensor, right: torch.Tensor, disps: list[torch.Tensor],
                     disc: PatchDiscriminator | None, cfg: LossConfig,
                     fakes: tuple[torch.Tensor, torch.Tensor] | None = None
                     ) -> dict[str, torch.Tensor]:
    """
    Monodepth terms, the adversarial term and their weighted sum ``generator``.

    ``fakes`` are the full-scale reconstructions if already computed. Without a
    discriminator (or with ``w_gan = 0``) the adversarial term is zero. A DDP-wrapped
    discriminator is used unwrapped here: the generator step never updates it.
    """
    losses = monodepth_losses(left, right, disps, cfg)
    adv = left.new_zeros(())
    if disc is not None and cfg.w_gan > 0:
        disc = unwrap(disc)
        fakes = fakes if fakes is not None else reconstruct_views(left, right, disps[0])
        adv = GANLoss(cfg.gan_mode)(disc(_disc_batch(disc, fakes, left, right)), True)
    losses['gan_g'] = adv
    losses['generator'] = (cfg.w_appearance * losses['appearance'] + cfg.w_lr
                           * losses['lr_consistency'] + cfg.w_smooth * losses['smoothness']
                           + cfg.w_gan * adv)
    return losses


def compute_losses(left: torch.Tensor, right: torch.Tensor, disps: list[torch.Tensor],
                   disc: PatchDiscriminator | None, cfg: LossConfig) -> dict[str, torch.Tensor]:
    """
    Every named loss for one batch: generator terms, discriminator terms and ``total``.

    ``total = generator + discriminator`` (the three curves of the origin project are
    ``generator``, ``discriminator`` and ``total``).
    """
    fakes = reconstruct_views(left, right, disps[0])
    losses = generator_losses(left, right, disps, disc, cfg, fakes)
    if disc is not None and cfg.w_gan > 0:
        losses.update(discriminator_losses(disc, left, right, fakes, cfg))
    else:
        losses['discriminator'] = left.new_zeros(())
    losses['total'] = losses['generator'] + losses['discriminator']
    return losses
