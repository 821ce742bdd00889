# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Monodepth loss terms (Godard et al. 2017) as small pure functions.

All images are (B, C, H, W) in [0, 1]; disparities (B, 1, H, W) as a fraction of width.
Each term returns a scalar tensor averaged over pixels (and channels, and the batch).
"""

import torch
import torch.nn.functional as F

from .warp import reconstruct_left, reconstruct_right

SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2


def box3(x: torch.Tensor) -> torch.Tensor:
    """
    Mean over 3x3 windows without padding: (..., H, W) -> (..., H - 2, W - 2).

    Equal to ``F.avg_pool2d(x, 3, 1)`` but about 4x faster on the CPU (measured at
    4x15x194x642: 17 against 67 ms), which matters: SSIM is most of the loss time.
    """
    rows = x[..., :, :-2] + x[..., :, 1:-1] + x[..., :, 2:]
    return (rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]) / 9.0


def ssim_dissimilarity(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """
    Per-pixel ``(1 - SSIM) / 2`` in [0, 1] over 3x3 windows (reflection padded).

    :param x: (B, C, H, W) image, H and W at least 2.
    :param y: (B, C, H, W) image.

    :returns: (B, C, H, W) dissimilarity: 0 where the windows are identical.
    """
    x = F.pad(x, (1, 1, 1, 1), mode='reflect')
    y = F.pad(y, (1, 1, 1, 1), mode='reflect')
    mu_x = box3(x)
    mu_y = box3(y)
    sigma_x = box3(x * x) - mu_x ** 2
    sigma_y = box3(y * y) - mu_y ** 2
    sigma_xy = box3(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
    den = (mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
    return torch.clamp((1 - num / den) / 2, 0.0, 1.0)


def appearance_loss(estimate: torch.Tensor, target: torch.Tensor,
                    alpha: float = 0.85) -> torch.Tensor:
    """Photometric error ``alpha * mean((1 - SSIM) / 2) + (1 - alpha) * mean|est - target|``."""
    ssim_term = ssim_dissimilarity(estimate, target).mean()
    l1_term = (estimate - target).abs().mean()
    return alpha * ssim_term + (1 - alpha) * l1_term


def lr_consistency_loss(disp_left: torch.Tensor, disp_right: torch.Tensor) -> torch.Tensor:
    """
    Left-right consistency both ways.

    ``mean|d_l - d_r warped to the left|`` plus ``mean|d_r - d_l warped to the right|``.
    """
    right_to_left = reconstruct_left(disp_right, disp_left)
    left_to_right = reconstruct_right(disp_left, disp_right)
    return (disp_left - right_to_left).abs().mean() + (disp_right - left_to_right).abs().mean()


def smoothness_loss(disp: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """
    Edge-aware first-order smoothness of ``disp`` (B, 1, H, W) guided by ``image``.

    ``mean(|dx d| exp(-mean_c |dx I|)) + mean(|dy d| exp(-mean_c |dy I|))``: gradients
    of the disparity are penalised less where the image has edges.
    """
    disp_dx = (disp[:, :, :, :-1] - disp[:, :, :, 1:]).abs()
    disp_dy = (disp[:, :, :-1, :] - disp[:, :, 1:, :]).abs()
    img_dx = (image[:, :, :, :-1] - image[:, :, :, 1:]).abs().mean(1, keepdim=True)
    img_dy = (image[:, :, :-1, :] - image[:, :, 1:, :]).abs().mean(1, keepdim=True)
    return (disp_dx * torch.exp(-img_dx)).mean() + (disp_dy * torch.exp(-img_dy)).mean()


def scale_pyramid(image: torch.Tensor, num_scales: int) -> list[torch.Tensor]:
    """``[image, image / 2, ...]`` by area averaging; ``num_scales`` levels, full first."""
    levels = [image]
    for _ in range(num_scales - 1):
        levels.append(F.avg_pool2d(levels[-1], 2))
    return levels


def appearance_map(estimate: torch.Tensor, target: torch.Tensor,
                   alpha: float = 0.85) -> torch.Tensor:
    """
    Per-pixel photometric error ``alpha * (1 - SSIM) / 2 + (1 - alpha) * |est - target|``.

    :param estimate: (B, C, H, W) rebuilt view.
    :param target: (B, C, H, W) real view.
    :returns: (B, 1, H, W), averaged over channels; its mean is ``appearance_loss``.
    """
    ssim_term = ssim_dissimilarity(estimate, target).mean(1, keepdim=True)
    l1_term = (estimate - target).abs().mean(1, keepdim=True)
    return alpha * ssim_term + (1 - alpha) * l1_term


def hint_loss(disp: torch.Tensor, hint: torch.Tensor, error_pred: torch.Tensor | None = None,
              error_hint: torch.Tensor | None = None) -> torch.Tensor:
    """
    Depth Hints loss (Watson et al. 2019): follow the hint only where it is better.

    ``mean(use * |log disp - log hint|)`` with ``use`` = hint valid (> 0) and the hint's
    photometric error below the prediction's. Log disparity makes the pull relative:
    a 10 % error costs the same near and far.

    :param disp: (B, 1, H, W) predicted disparity, fraction of the width.
    :param hint: (B, 1, H, W) hint disparity, same unit; 0 = no hint.
    :param error_pred: (B, 1, H, W) per-pixel photometric error of the prediction; None
        (with ``error_hint`` None) follows every valid hint, ungated.
    :param error_hint: (B, 1, H, W) the same for the hint.
    :returns: scalar, averaged over all pixels (zero where the prediction already wins).
    """
    use = hint > 0
    if error_pred is not None:
        use = use & (error_hint < error_pred.detach())
    use = use.to(disp.dtype)
    eps = 1e-6
    diff = (torch.log(disp.clamp_min(eps)) - torch.log(hint.clamp_min(eps))).abs()
    return (use * diff).mean()
