# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
An exponential moving average of a network's weights (``optim.ema``).

After every optimiser step ``average = decay * average + (1 - decay) * live`` for each
floating-point parameter; buffers (BatchNorm statistics) are copied as they are. The
decay is warmed up as ``min(decay, (1 + n) / (10 + n))`` after n updates, so the
average does not remember the random start for thousands of steps.
"""

import copy

import torch
from torch import nn


class WeightAverage:
    """The averaged copy of ``live``; ``update()`` after each optimiser step."""

    def __init__(self, live: nn.Module, decay: float):
        """Start the average as a frozen copy of ``live``; ``decay`` in [0, 1)."""
        if not 0 <= decay < 1:
            raise ValueError(f'EMA decay must be in [0, 1), got {decay}')
        self.live, self.decay, self.updates = live, decay, 0
        self.module = copy.deepcopy(live).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        """Return the decay the next update uses (warmed up over the first updates)."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Move the average towards the live weights by one step."""
        weight = 1.0 - self.current_decay()
        avg = [p for p in self.module.parameters() if p.is_floating_point()]
        live = [p.detach() for p in self.live.parameters() if p.is_floating_point()]
        torch._foreach_lerp_(avg, live, weight)
        for mine, theirs in zip(self.module.buffers(), self.live.buffers()):
            mine.copy_(theirs)
        self.updates += 1

    def state_dict(self) -> dict:
        """Return the averaged weights and the update count (for checkpoints)."""
        return {'weights': self.module.state_dict(), 'updates': self.updates}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned."""
        self.module.load_state_dict(state['weights'])
        self.updates = int(state['updates'])
