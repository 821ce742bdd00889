# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Middlebury 2014 Motorcycle, a real scene with exact disparity, from the scikit-image wheel.

Quarter size (741x500), disparity 7-60 px, 93 % of the pixels known. Measured only (its
terms are Middlebury's), in pixels: the rig's principal points differ by 31 px (``doff``),
so the depth of a pixel is not ``fx * baseline / disparity`` and metric depth is left out.
"""

import numpy as np

from .gt_io import GTError, read_rgb, StereoPair
from ..data.dataset_dir import DatasetError
from ..data.skimage_files import skimage_data_dir


def motorcycle_pair() -> StereoPair:
    """
    Return the pair: RGB views, GT disparity in px (0 where unknown), known-pixel mask.

    :raises DatasetError: scikit-image's wheel is not installed, or its files are damaged.
    """
    folder = skimage_data_dir()
    with np.load(folder / 'motorcycle_disp.npz') as npz:
        disp_px = npz['arr_0'].astype(np.float32)
    disp_px = np.where(np.isfinite(disp_px) & (disp_px > 0), disp_px, 0).astype(np.float32)
    try:
        left, right = (read_rgb(folder / f'motorcycle_{v}.png') for v in ('left', 'right'))
    except GTError as err:
        raise DatasetError(str(err)) from err
    if not left.shape == right.shape == disp_px.shape + (3,):
        raise DatasetError(f'{folder}: Motorcycle views and disparity differ in size')
    return StereoPair('motorcycle', left, right, disp_px, mask=disp_px > 0)
