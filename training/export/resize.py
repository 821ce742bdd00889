# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The exported model's two resizes as gathers and weighted sums, the same in every runtime.

Before, the exported model resized with ``F.interpolate``: TorchScript ran torch's
kernels and the ONNX file ONNX Runtime's ``Resize``, which places its sample coordinates
differently (antialiased) or computes them another way (bilinear): a few 1e-5 in image
values at the input and in disparity fraction at the output, up to 2.4e-3 px between the
two files at camera sizes. Here each resize is written in plain tensor operations built
from the runtime sizes: per axis, the source indices and weights of each output sample
(computed as torch computes them, in float32), a gather of whole rows and the weighted
sum over the taps. TorchScript and ONNX Runtime then run the same arithmetic: the
indices and weights are bitwise equal, the sums differ at most in their order.

``resize_aa`` is torch's ``F.interpolate(mode='bilinear', antialias=True,
align_corners=False)`` (triangle filter widened by the scale when shrinking) and
``resize_bilinear`` its plain bilinear (``antialias=False``), each to about 2e-7 of the
image values.
"""

import torch


def _sizes(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Return (in_size as float32, in_size / out_size in float32: torch's ``scale``).

    Tensors, not Python floats: a float of a size fixes it in ``torch.export``.
    """
    n_in = torch.full((1,), in_size, dtype=torch.float32)
    return n_in, n_in / torch.full((1,), out_size, dtype=torch.float32)


def aa_taps(in_size: int, out_size: int, taps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Return source indices and weights (each (taps, out_size)) of the antialiased resize.

    As torch's CPU kernel: scale = in / out, support = max(scale, 1), the window of
    output ``i`` starts at int(center - support + 0.5) with center = scale (i + 0.5);
    weights = triangle((j + 0.5 - center) / max(scale, 1)), normalised over the window.
    Taps past the window or the input get weight 0 (and a valid index). ``taps`` must
    be at least ceil(2 support) + 1.
    """
    n_in, scale = _sizes(in_size, out_size)
    support = torch.clamp(scale, min=1.0)
    invscale = (1.0 / support.double()).float()
    i = torch.arange(out_size, dtype=torch.float64)
    center = (scale.double() * (i + 0.5)).float()
    start = torch.clamp(torch.trunc(center - support + 0.5), min=0.0)
    stop = torch.minimum(torch.trunc(center + support + 0.5), n_in)
    j = start[None, :] + torch.arange(taps, dtype=torch.float32)[:, None]
    arg = (((j - center[None, :]).double() + 0.5) * invscale.double()).float()
    weight = torch.clamp(1.0 - torch.abs(arg), min=0.0) * (j < stop[None, :]).float()
    weight = weight / torch.sum(weight, dim=0, keepdim=True)
    index = torch.minimum(j, n_in - 1.0).long()
    return index, weight


def aa_tap_count(in_size: int, out_size: int) -> int:
    """Return torch's window length: 2 ceil(max(in / out, 1)) + 1 (3 when enlarging)."""
    return (in_size + out_size - 1) // out_size * 2 + 1


def bilinear_taps(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Return source indices and weights (each (2, out_size)) of torch's plain bilinear.

    src = max(scale (i + 0.5) - 0.5, 0) in float32, i0 = floor(src), i1 = min(i0 + 1,
    in - 1), weights 1 - (src - i0) and src - i0.
    """
    n_in, scale = _sizes(in_size, out_size)
    i = torch.arange(out_size, dtype=torch.float64)
    src = torch.clamp((scale.double() * (i + 0.5) - 0.5).float(), min=0.0)
    low = torch.floor(src)
    lam = src - low
    index = torch.stack((low, torch.minimum(low + 1.0, n_in - 1.0))).long()
    return index, torch.stack((1.0 - lam, lam))


def resize_rows(x: torch.Tensor, index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """
    Resample dim 2 of ``x`` (B, C, H, W): out[:, :, i] = sum_k weight[k, i] x[:, :, index[k, i]].

    One gather of whole rows (a copy per row in both runtimes), then the sum over the
    taps as a batched (1 x taps) @ (taps x W) product: no (taps, out, W) product tensor.
    """
    taps, out_size = index.shape[0], index.shape[1]
    rows = torch.index_select(x, 2, index.t().reshape(-1)).unflatten(2, (out_size, taps))
    return torch.matmul(weight.t()[:, None, :].to(x.dtype), rows).squeeze(3)


def resize_aa(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """
    Antialiased bilinear resize of (B, C, H, W) to (B, C, ``height``, ``width``).

    torch's ``F.interpolate(x, (height, width), mode='bilinear', antialias=True,
    align_corners=False)`` to about 2e-7. Rows first, then columns on the transposed
    (contiguous) result, so that both gathers copy whole rows.
    """
    in_h, in_w = x.shape[-2], x.shape[-1]
    index, weight = aa_taps(in_h, height, aa_tap_count(in_h, height))
    x = resize_rows(x, index, weight).transpose(-1, -2).contiguous()
    index, weight = aa_taps(in_w, width, aa_tap_count(in_w, width))
    return resize_rows(x, index, weight).transpose(-1, -2)


def resize_bilinear(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """
    Plain bilinear resize of (B, C, h, w) to (B, C, ``height``, ``width``).

    torch's ``F.interpolate(x, (height, width), mode='bilinear', align_corners=False)``
    to about 2e-7: columns first (on the small input), then rows, each as two gathers,
    two products and a sum, evaluated in the same order in every runtime.
    """
    index, weight = bilinear_taps(x.shape[-1], width)
    weight = weight.to(x.dtype)
    x = (torch.index_select(x, 3, index[0]) * weight[0] +
         torch.index_select(x, 3, index[1]) * weight[1])
    index, weight = bilinear_taps(x.shape[-2], height)
    weight = weight.to(x.dtype)
    return (torch.index_select(x, 2, index[0]) * weight[0][:, None] +
            torch.index_select(x, 2, index[1]) * weight[1][:, None])
