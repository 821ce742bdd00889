# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Run logging: TensorBoard scalars and image panels, plus a plain ``losses.jsonl``.

The generator, discriminator and total losses are the three curves of the origin
project's results figure; ``losses.jsonl`` lets scripts plot them without TensorBoard.
"""

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from ..objectives.depth import reconstruct_views


def colourise(disp: np.ndarray) -> np.ndarray:
    """Map a disparity (H, W) to an RGB uint8 image (magma), scaled to its own range."""
    span = max(float(np.nanmax(disp) - np.nanmin(disp)), 1e-9)
    scaled = np.nan_to_num((disp - np.nanmin(disp)) / span * 255.0).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_MAGMA), cv2.COLOR_BGR2RGB)


def _truncate_after(path: Path, step: int) -> None:
    """Keep the lines of ``path`` (JSON lines with a ``step``) up to ``step``."""
    kept = []
    for line in path.read_text(encoding='utf-8').splitlines():
        try:
            if json.loads(line).get('step', 0) <= step:
                kept.append(line + '\n')
        except ValueError:
            continue    # a line cut short by the kill
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(''.join(kept), encoding='utf-8')
    tmp.replace(path)


class RunLogger:
    """Writes TensorBoard events and ``losses.jsonl`` under the run folder (rank 0 only)."""

    def __init__(self, out_dir: Path, enabled: bool = True, resume_step: int | None = None):
        """
        Open the writers when ``enabled``; otherwise every call does nothing.

        ``resume_step``: the step of the checkpoint a resumed run starts from. Entries the
        interrupted run logged after it are dropped (from ``losses.jsonl`` and from
        TensorBoard), so no step appears twice.
        """
        self.enabled = enabled
        if enabled:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            path = Path(out_dir) / 'losses.jsonl'
            if resume_step is not None and path.is_file():
                _truncate_after(path, resume_step)
            purge = None if resume_step is None else resume_step + 1
            self.writer = SummaryWriter(str(Path(out_dir) / 'tb'), purge_step=purge)
            self.jsonl = open(path, 'a', encoding='utf-8')

    def scalars(self, tag: str, values: dict[str, float], step: int) -> None:
        """Log every value as ``tag/name`` and append one JSON line."""
        if not self.enabled:
            return
        for name, value in values.items():
            self.writer.add_scalar(f'{tag}/{name}', value, step)
        self.jsonl.write(json.dumps({'split': tag, 'step': step, **values}) + '\n')
        self.jsonl.flush()

    @torch.no_grad()
    def panel(self, generator: torch.nn.Module, batch: dict, step: int,
              device: torch.device) -> None:
        """Log left | disparity / left rebuilt | right rebuilt for the first sample."""
        if not self.enabled:
            return
        was_training = generator.training
        generator.eval()
        left = batch['left'][:1].to(device)
        right = batch['right'][:1].to(device)
        disp = generator(left)[0]
        if 'rig_scale' in batch:
            disp = disp * batch['rig_scale'][:1].to(disp).view(1, 1, 1, 1)
        left_est, right_est = reconstruct_views(left, right, disp)
        generator.train(was_training)

        def rgb(t):
            return (t[0].permute(1, 2, 0).float().cpu().numpy() * 255).astype(np.uint8)
        top = np.hstack([rgb(left), colourise(disp[0, 0].float().cpu().numpy())])
        bottom = np.hstack([rgb(left_est), rgb(right_est)])
        self.writer.add_image('panel', np.vstack([top, bottom]), step, dataformats='HWC')

    def image(self, name: str, image_rgb: np.ndarray, step: int) -> None:
        """Log an RGB uint8 (H, W, 3) image as ``name``."""
        if self.enabled:
            self.writer.add_image(name, image_rgb, step, dataformats='HWC')

    def close(self) -> None:
        """Flush and close the writers."""
        if self.enabled:
            self.writer.close()
            self.jsonl.close()
