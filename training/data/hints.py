# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Stereo proxy disparities ("depth hints", Watson et al. ICCV 2019) and their cache.

For every training pair, OpenCV SGBM runs with several settings (``HINT_SETTINGS``) in
both directions. Per pixel, the candidate whose disparity rebuilds the view best
(3x3 SSIM + L1, the appearance error of the losses) becomes the hint; pixels where
every candidate failed SGBM's checks get none. The training loss uses a hint only
where it rebuilds the view better than the network's current prediction.

Hints are cached beside the images, ``<dataset>/hints/NNNNNN.npz`` (float16 left and
right disparity, px of the stored image width, NaN = no hint), with
``hints/manifest.json`` holding the settings and each pair's image signatures (size
and modification time): a changed image or changed settings recompute that pair only.

typical use (training also fills a missing or stale cache on its own):
  sorghum-depth-hints data/field data/kitti
"""

import argparse
import json
import os
from pathlib import Path
import sys
import zipfile

import cv2
import numpy as np
import torch
from tqdm import tqdm

from .dataset_dir import DatasetError, load_dataset, StereoDataset
from ..objectives.losses import appearance_map
from ..objectives.warp import reconstruct_left, reconstruct_right

FORMAT = 'sorghum_depth.hints/1'
HINTS_DIR = 'hints'
# (block size, smoothness multiplier): P1 = 8 * 3 * b^2 * m, P2 = 32 * 3 * b^2 * m.
# P2 above about 10^4 overflows SGBM's 16-bit path costs (block 9 at m = 4 gave noise).
HINT_SETTINGS = ((3, 1), (5, 1), (9, 1), (3, 4), (5, 4), (7, 2))
NUM_DISP_FRAC = 0.25
# SGBM's speckle filter (blobs under 100 px that differ by more than 2 px from their
# surroundings) on each candidate. Measured on 12 synthetic rows with exact GT: hints
# off by more than 10 % fell from 40 % to 36 % of the hinted pixels, coverage 66 -> 59 %.
SPECKLE_WINDOW = 100


def _num_disparities(width_px: int) -> int:
    return max(16, 16 * int(np.ceil(NUM_DISP_FRAC * width_px / 16)))


def sgbm_candidates(left_u8: np.ndarray, right_u8: np.ndarray) -> np.ndarray:
    """
    Left disparities of a rectified pair by SGBM with every setting of ``HINT_SETTINGS``.

    :param left_u8: uint8 (H, W, 3) left image.
    :param right_u8: uint8 (H, W, 3) right image.
    :returns: float32 (K, H, W) disparities in px, NaN where SGBM's checks failed.
    """
    out = []
    for block, mult in HINT_SETTINGS:
        matcher = cv2.StereoSGBM_create(
            minDisparity=0, numDisparities=_num_disparities(left_u8.shape[1]),
            blockSize=block, P1=8 * 3 * block ** 2 * mult, P2=32 * 3 * block ** 2 * mult,
            disp12MaxDiff=1, uniquenessRatio=10, speckleWindowSize=SPECKLE_WINDOW, speckleRange=2,
            mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)
        raw = matcher.compute(left_u8, right_u8)
        disp = raw.astype(np.float32) / 16.0
        disp[raw <= 0] = np.nan
        out.append(disp)
    return np.stack(out)


def fuse_candidates(target: torch.Tensor, source: torch.Tensor, candidates_px: np.ndarray,
                    right_view: bool) -> np.ndarray:
    """
    Per pixel, the candidate disparity that rebuilds ``target`` from ``source`` best.

    :param target: (1, 3, H, W) float image in [0, 1], the view the disparity belongs to.
    :param source: (1, 3, H, W) the other view.
    :param candidates_px: (K, H, W) disparities in px, NaN invalid.
    :param right_view: True when ``target`` is the right view (warp the other way).
    :returns: float32 (H, W) fused disparity in px, NaN where no candidate is valid.
    """
    width = target.shape[-1]
    cand = torch.from_numpy(np.nan_to_num(candidates_px, nan=0.0))[:, None] / width
    rebuild = reconstruct_right if right_view else reconstruct_left
    errors = appearance_map(rebuild(source.expand(len(cand), -1, -1, -1), cand),
                            target.expand(len(cand), -1, -1, -1))[:, 0]
    errors[torch.from_numpy(np.isnan(candidates_px))] = float('inf')
    best = errors.argmin(dim=0).numpy()
    fused = np.take_along_axis(candidates_px, best[None], axis=0)[0]
    return fused.astype(np.float32)


def pair_hints(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Fused left and right hints of one rectified pair.

    :param left: float32 (H, W, 3) RGB in [0, 1] (as ``StereoDataset.read_pair`` gives).
    :param right: the right image, same shape.
    :returns: (left_px, right_px), float32 (H, W), NaN where there is no hint. The right
        disparity comes from SGBM on the mirrored, swapped pair.
    """
    left_u8, right_u8 = ((np.clip(x, 0, 1) * 255).round().astype(np.uint8)
                         for x in (left, right))
    cand_left = sgbm_candidates(left_u8, right_u8)
    cand_right = sgbm_candidates(np.ascontiguousarray(right_u8[:, ::-1]),
                                 np.ascontiguousarray(left_u8[:, ::-1]))[:, :, ::-1]
    tl, tr = (torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]
              for x in (left, right))
    with torch.no_grad():
        return (fuse_candidates(tl, tr, cand_left, right_view=False),
                fuse_candidates(tr, tl, np.ascontiguousarray(cand_right), right_view=True))


def lr_consistent(left_px: np.ndarray, right_px: np.ndarray, max_diff_px: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """
    Keep the hints where the two views agree: a left-right check of the cached pair.

    A left pixel ``x`` with hint ``d`` matches the right pixel ``x - d``; it is kept when
    the right hint there (nearest pixel) is within ``max_diff_px`` of ``d``, and likewise
    a right pixel ``x`` with ``d`` against the left hint at ``x + d``. Occluded pixels and
    wrong matches of one direction fail it.

    :param left_px: float (H, W) left hint, px of the stored width, NaN = none.
    :param right_px: float (H, W) right hint, same units.
    :param max_diff_px: largest disagreement kept, px (> 0).
    :returns: (left_px, right_px) float32, NaN where the check fails.
    """
    return (_agreeing(left_px, right_px, -1, max_diff_px),
            _agreeing(right_px, left_px, 1, max_diff_px))


def _agreeing(own: np.ndarray, other: np.ndarray, sign: int, max_diff_px: float
              ) -> np.ndarray:
    """``own`` where the ``other`` view's hint at ``x + sign * own`` agrees, else NaN."""
    width = own.shape[1]
    target = np.rint(np.arange(width)[None, :] + sign * np.nan_to_num(own, nan=-width))
    inside = (target >= 0) & (target < width)
    seen = np.take_along_axis(other, np.clip(target, 0, width - 1).astype(np.int64), axis=1)
    with np.errstate(invalid='ignore'):
        agree = inside & (np.abs(own - seen) <= max_diff_px)
    return np.where(agree, own, np.nan).astype(np.float32)


def _signature(dataset: StereoDataset, name: str) -> list[int]:
    sig = []
    for side in ('left', 'right'):
        st = (dataset.root / side / f'{name}.png').stat()
        sig += [st.st_size, st.st_mtime_ns]
    return sig


def _complete(path: Path) -> bool:
    """Whether ``path`` is a whole ``.npz``: a zip that ends with its end-of-directory record."""
    try:
        with open(path, 'rb') as f:
            head = f.read(4)
            f.seek(max(f.seek(0, 2) - 22, 0))
            tail = f.read(4)
    except OSError:
        return False
    return head == b'PK\x03\x04' and tail == b'PK\x05\x06'


def _settings() -> dict:
    return {'format': FORMAT, 'sgbm': [list(s) for s in HINT_SETTINGS],
            'num_disp_frac': NUM_DISP_FRAC, 'speckle_window': SPECKLE_WINDOW}


class HintCache:
    """The hints of one dataset folder: check, fill and read ``<dataset>/hints/``."""

    def __init__(self, dataset: StereoDataset):
        """Attach to ``dataset`` (nothing is computed until ``ensure``)."""
        self.dataset = dataset
        self.folder = dataset.root / HINTS_DIR
        self.manifest_path = self.folder / 'manifest.json'

    def _manifest(self) -> dict:
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding='utf-8'))
        except (OSError, ValueError):
            return {'settings': _settings(), 'pairs': {}}
        if manifest.get('settings') != _settings():
            return {'settings': _settings(), 'pairs': {}}
        return manifest

    def stale(self) -> list[str]:
        """Names of the pairs whose hints are missing or older than their images."""
        known = self._manifest()['pairs']
        return [n for n in self.dataset.names() if known.get(n) != _signature(self.dataset, n)
                or not _complete(self.folder / f'{n}.npz')]

    def _write(self, name: str, left_px: np.ndarray, right_px: np.ndarray) -> None:
        tmp = self.folder / f'.{name}.tmp.npz'
        try:
            np.savez(tmp, left=left_px.astype(np.float16), right=right_px.astype(np.float16))
            os.replace(tmp, self.folder / f'{name}.npz')
        finally:
            tmp.unlink(missing_ok=True)

    def ensure(self, progress: bool = True) -> int:
        """
        Compute the hints of every stale pair (progress bar); return how many were computed.

        :raises DatasetError: the hints folder cannot be written (the message names it).
        """
        todo = self.stale()
        if not todo:
            return 0
        manifest = self._manifest()
        try:
            self.folder.mkdir(exist_ok=True)
            for name in tqdm(todo, desc=f'hints {self.dataset.root.name}', unit='pair',
                             disable=not progress, file=sys.stderr):
                self._write(name, *pair_hints(*self.dataset.read_pair(name)))
                manifest['pairs'][name] = _signature(self.dataset, name)
            tmp = self.folder / '.manifest.json.tmp'
            tmp.write_text(json.dumps(manifest), encoding='utf-8')
            os.replace(tmp, self.manifest_path)
        except OSError as err:
            raise DatasetError(f'{self.folder}: cannot write the hints cache ({err})') from err
        return len(todo)

    def read(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(left_px, right_px) float32 hints of pair ``name``, NaN where there is none."""
        path = self.folder / f'{name}.npz'
        try:
            with np.load(path) as data:
                return data['left'].astype(np.float32), data['right'].astype(np.float32)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise DatasetError(f'{path}: unreadable hints ({err}); run sorghum-depth-hints '
                               'on the dataset again') from err


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: fill the hints cache of each dataset folder."""
    p = argparse.ArgumentParser(prog='sorghum-depth-hints', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('datasets', nargs='+', type=Path, help='dataset folder(s)')
    args = p.parse_args(argv)
    try:
        for root in args.datasets:
            cache = HintCache(load_dataset(root))
            done = cache.ensure()
            print(f'{root}: {done} pairs computed, '
                  f'{len(cache.dataset.names()) - done} already up to date')
    except DatasetError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
