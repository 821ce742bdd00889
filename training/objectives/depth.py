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
import torch.nn.functional as F

from .losses import appearance_map, hint_loss, lr_consistency_loss, scale_pyramid, smoothness_loss
from .warp import reconstruct_left, reconstruct_right
from ..nets.discriminator import GANLoss, PatchDiscriminator


@dataclass
class LossConfig:
    """
    Weights of the loss terms (monodepth defaults; ``w_gan = 0`` turns the GAN off).

    ``w_hint`` weighs the Depth Hints term (0 = off: no SGBM hints are computed or read).
    ``full_res``: monodepth2's multi-scale appearance loss, each scale's disparity
    upsampled to the input size before warping, instead of warping at each scale.
    ``hint_gate``: ``photometric`` follows a hint only where it rebuilds the view better
    than the prediction (Depth Hints); ``always`` follows every valid hint (SGBM as a
    proxy label).
    """

    alpha_ssim: float = 0.85
    w_appearance: float = 1.0
    w_lr: float = 1.0
    w_smooth: float = 0.1
    w_gan: float = 0.01
    gan_mode: str = 'lsgan'
    w_hint: float = 1.0
    full_res: bool = False
    hint_gate: str = 'photometric'

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


def _upsample(disp: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(disp.shape[-2:]) == tuple(size):
        return disp
    return F.interpolate(disp, size=size, mode='bilinear', align_corners=False)


def _view_errors(left: torch.Tensor, right: torch.Tensor, disp: torch.Tensor,
                 alpha: float) -> torch.Tensor:
    """Per-pixel photometric errors (B, 2, H, W) of the left and right views rebuilt."""
    left_est, right_est = reconstruct_views(left, right, disp)
    return torch.cat((appearance_map(left_est, left, alpha),
                      appearance_map(right_est, right, alpha)), dim=1)


def hint_errors(left: torch.Tensor, right: torch.Tensor, hints: torch.Tensor,
                alpha: float) -> torch.Tensor:
    """Per-pixel photometric errors (B, 2, H, W) of the views rebuilt with the hints."""
    with torch.no_grad():
        return _view_errors(left, right, hints, alpha)


def monodepth_losses(left: torch.Tensor, right: torch.Tensor, disps: list[torch.Tensor],
                     cfg: LossConfig, hints: torch.Tensor | None = None
                     ) -> dict[str, torch.Tensor]:
    """
    Appearance, LR consistency, smoothness (divided by 2^s) and hints, summed over scales.

    :param hints: (B, 2, H, W) left and right hint disparities at full resolution,
        fraction of the width, 0 = none; used when ``cfg.w_hint > 0``. Each scale's
        disparity is upsampled to full resolution for the hint term; the pixels where the
        hint beats the prediction are decided with that scale's full-resolution error when
        ``cfg.full_res`` (which computes it anyway), else with scale 0's (no extra warps).
    """
    lefts, rights = scale_pyramid(left, len(disps)), scale_pyramid(right, len(disps))
    full = tuple(left.shape[-2:])
    use_hints = hints is not None and cfg.w_hint > 0
    gated = use_hints and cfg.hint_gate == 'photometric'
    err_hint = hint_errors(left, right, hints, cfg.alpha_ssim) if gated else None
    zero = left.new_zeros(())
    appearance, lr, smooth, hint = zero, zero, zero, zero
    err_pred = None
    for s, (disp, img_l, img_r) in enumerate(zip(disps, lefts, rights)):
        d_l, d_r = disp[:, :1], disp[:, 1:]
        up = _upsample(disp, full) if cfg.full_res or use_hints else disp
        if cfg.full_res or s == 0:
            err = _view_errors(left, right, up, cfg.alpha_ssim)
            err_pred = err.detach() if cfg.full_res or err_pred is None else err_pred
        else:
            err = _view_errors(img_l, img_r, disp, cfg.alpha_ssim)
        appearance = appearance + 2 * err.mean()
        if use_hints:
            gate = (err_pred, err_hint) if gated else (None, None)
            hint = hint + hint_loss(up, hints, *gate) / len(disps)
        lr = lr + lr_consistency_loss(d_l, d_r)
        smooth = smooth + (smoothness_loss(d_l, img_l) + smoothness_loss(d_r, img_r)) / 2 ** s
    return {'appearance': appearance, 'lr_consistency': lr, 'smoothness': smooth,
            'hint': hint}


def generator_losses(left: torch.Tensor, right: torch.Tensor, disps: list[torch.Tensor],
                     disc: PatchDiscriminator | None, cfg: LossConfig,
                     fakes: tuple[torch.Tensor, torch.Tensor] | None = None,
                     hints: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """
    Monodepth terms, the adversarial term and their weighted sum ``generator``.

    ``fakes`` are the full-scale reconstructions if already computed. Without a
    discriminator (or with ``w_gan = 0``) the adversarial term is zero. A DDP-wrapped
    discriminator is used unwrapped here: the generator step never updates it.
    """
    losses = monodepth_losses(left, right, disps, cfg, hints)
    adv = left.new_zeros(())
    if disc is not None and cfg.w_gan > 0:
        disc = unwrap(disc)
        fakes = fakes if fakes is not None else reconstruct_views(left, right, disps[0])
        adv = GANLoss(cfg.gan_mode)(disc(_disc_batch(disc, fakes, left, right)), True)
    losses['gan_g'] = adv
    losses['generator'] = (cfg.w_appearance * losses['appearance'] + cfg.w_lr
                           * losses['lr_consistency'] + cfg.w_smooth * losses['smoothness']
                           + cfg.w_gan * adv + cfg.w_hint * losses['hint'])
    return losses


def compute_losses(left: torch.Tensor, right: torch.Tensor, disps: list[torch.Tensor],
                   disc: PatchDiscriminator | None, cfg: LossConfig,
                   hints: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """
    Every named loss for one batch: generator terms, discriminator terms and ``total``.

    ``total = generator + discriminator`` (the three curves of the origin project are
    ``generator``, ``discriminator`` and ``total``).
    """
    fakes = reconstruct_views(left, right, disps[0])
    losses = generator_losses(left, right, disps, disc, cfg, fakes, hints)
    if disc is not None and cfg.w_gan > 0:
        losses.update(discriminator_losses(disc, left, right, fakes, cfg))
    else:
        losses['discriminator'] = left.new_zeros(())
    losses['total'] = losses['generator'] + losses['discriminator']
    return losses
