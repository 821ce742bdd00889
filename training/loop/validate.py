# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Validation: photometric error on the val split, and GT metrics where a dataset has GT.

The photometric error needs no ground truth: the left view rebuilt from the right one
with the predicted left disparity, scored with the appearance loss at full scale.
``scale_disagreement`` watches for a collapsed run: a full-resolution head stuck at its
initial constant while the coarser scales learn (``collapse_warning``).
``validate_translate`` scores a translation run: IoU and boundary F-score of mask
targets, PSNR and SSIM of colour targets (``evaluation.translate_metrics``).
"""

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..data.loader import PairDataset
from ..data.paired_loader import TranslationDataset
from ..evaluation.metrics import evaluate_disparity, mean_metrics
from ..evaluation.translate_metrics import colour_metrics, mask_metrics
from ..objectives.losses import appearance_loss
from ..objectives.warp import reconstruct_left


def _gt_metrics(val_set: PairDataset, index: int, disp_frac: torch.Tensor) -> dict | None:
    ds_index, name = val_set.items[index]
    dataset = val_set.datasets[ds_index]
    if not dataset.has_disp_gt:
        return None
    gt_px = dataset.read_disp_gt(name)
    h, w = gt_px.shape
    pred_px = cv2.resize(disp_frac.numpy(), (w, h), interpolation=cv2.INTER_LINEAR) * w
    return evaluate_disparity(pred_px, gt_px, alignment='metric', fx_px=dataset.calib.fx,
                              baseline_m=dataset.calib.baseline_m)


# Median |full - half resolution| / half-resolution disparity, measured on 11 real and
# synthetic images: 0.14 for a fresh generator, 0.03-0.09 in six healthy runs after 5 CPU
# minutes and 0.01-0.05 at their end; 0.41-0.94 where the full-resolution head was stuck
# at its initial constant (docs/training.md, round 7). A healthy run can pass the threshold
# at its first validation, as the coarse heads move first (the recipe on KITTI: 0.33 and
# 0.48 at step 19, 0.15 and 0.16 at step 38), so one reading alone never warns.
COLLAPSE_DISAGREEMENT = 0.25


def scale_disagreement(disps: list[torch.Tensor]) -> float | None:
    """
    How far the full-resolution left disparity is from the half-resolution one.

    :param disps: the generator's output, full resolution first, (B, 2, H / 2^s, W / 2^s).
    :returns: the median over pixels of |full - upsampled half| divided by the median of
        the upsampled half (0 = the scales agree); None with a single scale.
    """
    if len(disps) < 2:
        return None
    full = disps[0][:, :1].float()
    half = F.interpolate(disps[1][:, :1].float(), size=full.shape[-2:], mode='bilinear',
                         align_corners=False)
    return float((full - half).abs().median() / half.median().clamp_min(1e-6))


def collapse_warning(metrics: dict[str, float], previous: dict[str, float] | None) -> str | None:
    """
    Return a warning when validation's ``scale_disagreement`` says the run collapsed.

    :param metrics: this validation's metrics.
    :param previous: the previous validation's metrics in this process (None: the first).
    :returns: the warning when both are past ``COLLAPSE_DISAGREEMENT``, else None.
    """
    values = [m.get('scale_disagreement', 0.0) for m in (previous or {}, metrics)]
    if not all(v > COLLAPSE_DISAGREEMENT for v in values):
        return None
    return (f'warning: the full-resolution disparity differs from the half-resolution one by '
            f'{100 * values[0]:.0f} % and then {100 * values[1]:.0f} % at two validations in '
            'a row (healthy runs: under 10 %): its head has stopped learning and this run '
            'will not give usable depth; start it again with another seed or other settings')


@torch.no_grad()
def validate(generator: torch.nn.Module, val_set: PairDataset,
             device: torch.device, alpha_ssim: float = 0.85) -> dict[str, float]:
    """
    Score ``generator`` on every pair of ``val_set``.

    :param generator: the (unwrapped) generator; put back in training mode afterwards.
    :param val_set: validation pairs at the training resolution.
    :param device: where to run the generator.
    :param alpha_ssim: SSIM weight of the photometric error.
    :returns: ``photometric`` (mean appearance error of the rebuilt left view),
        ``scale_disagreement`` (mean of ``scale_disagreement``; with two scales or more)
        and, when GT exists, ``gt_mae_px``, ``gt_bad_3`` and ``gt_abs_rel`` (no alignment).
    """
    was_training = generator.training
    generator.eval()
    photometric, gt_results, disagreement = [], [], []
    for index in range(len(val_set)):
        item = val_set[index]
        left, right = item['left'][None].to(device), item['right'][None].to(device)
        disps = generator(left)
        disagreement.append(scale_disagreement(disps))
        disp_left = disps[0][:, :1] * float(item['rig_scale'])
        photometric.append(float(appearance_loss(reconstruct_left(right, disp_left), left,
                                                 alpha_ssim)))
        gt = _gt_metrics(val_set, index, disp_left[0, 0].float().cpu())
        if gt is not None:
            gt_results.append(gt)
    generator.train(was_training)
    out = {'photometric': float(np.mean(photometric)) if photometric else float('nan')}
    if disagreement and None not in disagreement:
        out['scale_disagreement'] = float(np.mean(disagreement))
    if gt_results:
        mean = mean_metrics(gt_results)
        out.update({f'gt_{k}': mean[k] for k in ('mae_px', 'bad_3', 'abs_rel') if k in mean})
    return out


def translation_scores(output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """
    Score one translation (C, H, W) against its target, both in [-1, 1].

    One channel: masks ``output > 0`` (probability above 0.5) and ``target > 0``, scored
    with ``iou`` and ``boundary_f``; three: images in [0, 1], ``psnr`` and ``ssim``.
    """
    out, gt = output.float().cpu().numpy(), target.float().cpu().numpy()
    if out.shape[0] == 1:
        return mask_metrics(out[0] > 0, gt[0] > 0)
    to_unit = (lambda x: np.clip(x.transpose(1, 2, 0) * 0.5 + 0.5, 0.0, 1.0))
    return colour_metrics(to_unit(out), to_unit(gt))


@torch.no_grad()
def validate_translate(translator: torch.nn.Module, val_set: TranslationDataset,
                       device: torch.device, batch_size: int = 8) -> dict[str, float]:
    """
    Score ``translator`` (eval mode: no dropout) on every pair of ``val_set``.

    :returns: the mean of ``translation_scores`` over the pairs (``iou`` and
        ``boundary_f`` for masks, ``psnr`` and ``ssim`` for colour); NaN when empty.
    """
    was_training = translator.training
    translator.eval()
    scores: list[dict[str, float]] = []
    for start in range(0, len(val_set), batch_size):
        items = [val_set[i] for i in range(start, min(start + batch_size, len(val_set)))]
        outputs = translator(torch.stack([it['a'] for it in items]).to(device))
        scores += [translation_scores(o, it['b']) for o, it in zip(outputs, items)]
    translator.train(was_training)
    keys = ('iou', 'boundary_f') if val_set.mask else ('psnr', 'ssim')
    return {k: float(np.mean([s[k] for s in scores])) if scores else float('nan')
            for k in keys}
