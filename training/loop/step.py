# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
One adversarial training step: discriminator update, then generator update.

Follows pix2pix: the discriminator learns on detached fakes first (depth: views rebuilt
by warping; translation: generated outputs), then the generator learns against the
updated discriminator with its weights frozen. ``train_step`` is the depth task's,
``translate_step`` the translation task's.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..nets.discriminator import PatchDiscriminator
from ..objectives import translate as translate_objective
from ..objectives.depth import (discriminator_losses, generator_losses, LossConfig,
                                reconstruct_views)


@dataclass
class StepModels:
    """What a step updates: the two networks and their optimisers."""

    generator: nn.Module
    discriminator: PatchDiscriminator | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    """Freeze (False) or unfreeze (True) every parameter of ``module``."""
    for p in module.parameters():
        p.requires_grad_(flag)


def rig_disparities(disps: list[torch.Tensor], rig_scale: torch.Tensor | None
                    ) -> list[torch.Tensor]:
    """
    Turn the generator's rig-independent output into each sample's own disparity.

    The generator predicts disparity for the reference rig (``data.reference_rig``);
    a sample from a rig with ``baseline * fx / W`` k times the reference's has k times
    that disparity for the same depth. ``rig_scale``: (B,) those factors, or None (all 1).
    """
    if rig_scale is None:
        return disps
    k = rig_scale.to(disps[0].dtype).view(-1, 1, 1, 1)
    return [d * k for d in disps]


def train_step(models: StepModels, left: torch.Tensor, right: torch.Tensor,
               cfg: LossConfig, amp: bool = False, rig_scale: torch.Tensor | None = None,
               hints: torch.Tensor | None = None, net_input: torch.Tensor | None = None
               ) -> dict[str, float]:
    """
    Run one step on a batch of rectified pairs (B, 3, H, W) in [0, 1].

    Returns the named losses as floats; ``total = generator + discriminator``. With ``amp``
    on a CUDA device, forward passes and losses run in bfloat16 autocast (no loss scaling
    needed); the optimiser steps stay in float32. ``rig_scale`` (B,) maps the generator's
    reference-rig disparity to each sample's rig (``rig_disparities``); ``hints``
    (B, 2, H, W) are the samples' stereo hints (fraction of the width, 0 = none).
    ``net_input`` (B, 3, H, W): what the generator sees instead of ``left`` (a noisy copy,
    ``augment.noise_std``); the losses still compare the views themselves.
    """
    autocast = _autocast(left, amp)
    with autocast:
        disps = rig_disparities(models.generator(left if net_input is None else net_input),
                                rig_scale)
        fakes = reconstruct_views(left, right, disps[0])
    disc = models.discriminator if cfg.w_gan > 0 else None
    return _d_then_g(models, disc, autocast,
                     lambda: discriminator_losses(disc, left, right, fakes, cfg),
                     lambda: generator_losses(left, right, disps, disc, cfg, fakes, hints))


def translate_step(models: StepModels, image_a: torch.Tensor, target_b: torch.Tensor,
                   cfg: translate_objective.TranslateLossConfig,
                   amp: bool = False) -> dict[str, float]:
    """
    Run one translation step on inputs (B, 3, H, W) and targets (B, C, H, W) in [-1, 1].

    ``models.generator`` returns the translator's pre-tanh logits (``LogitsView``). The
    discriminator is updated first on (input, target) against (input, output detached),
    then the generator; with ``cfg.gan_weight`` 0 there is no discriminator step. Returns
    the named losses as floats; ``total = generator + discriminator``. ``amp`` as in
    ``train_step``.
    """
    autocast = _autocast(image_a, amp)
    with autocast:
        logits = models.generator(image_a)
    disc = models.discriminator if cfg.gan_weight > 0 else None
    return _d_then_g(models, disc, autocast,
                     lambda: translate_objective.discriminator_losses(
                         disc, image_a, target_b, torch.tanh(logits), cfg),
                     lambda: translate_objective.generator_losses(
                         image_a, target_b, logits, disc, cfg))


def _autocast(x: torch.Tensor, amp: bool) -> torch.autocast:
    """Return bfloat16 autocast on ``x``'s device, on only with ``amp`` on CUDA."""
    return torch.autocast(x.device.type, dtype=torch.bfloat16,
                          enabled=amp and x.device.type == 'cuda')


def _d_then_g(models: StepModels, disc: nn.Module | None, autocast: torch.autocast,
              d_losses: Callable[[], dict], g_losses: Callable[[], dict]) -> dict[str, float]:
    """
    Update the discriminator (when ``disc`` is given), then the generator: pix2pix's order.

    ``d_losses`` / ``g_losses`` compute each side's named losses (``discriminator`` /
    ``generator`` the one to minimise) under ``autocast``. Returns every loss as a float
    and ``total = generator + discriminator`` (0 without a discriminator step).
    """
    d_out = {}
    if disc is not None:
        set_requires_grad(disc, True)
        models.opt_d.zero_grad(set_to_none=True)
        with autocast:
            d_out = d_losses()
        d_out['discriminator'].backward()
        models.opt_d.step()
        set_requires_grad(disc, False)
    models.opt_g.zero_grad(set_to_none=True)
    with autocast:
        g_out = g_losses()
    g_out['generator'].backward()
    models.opt_g.step()
    if disc is not None:
        set_requires_grad(disc, True)
    out = {'discriminator': 0.0}
    out.update({k: float(v.detach()) for k, v in {**g_out, **d_out}.items()})
    out['total'] = out['generator'] + out['discriminator']
    return out
