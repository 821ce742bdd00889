# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Write a paired folder (``paired.py`` reads it) atomically, with seeded splits.

As for stereo datasets, the folder is built in a hidden ``.OUT.tmp-*`` folder beside
``OUT`` (holding the writer's process id) and renamed into place only when complete.
"""

from pathlib import Path
import shutil

import cv2
import numpy as np
from sorghum_depth.errors import DatasetError
import yaml

from .dataset_check import move_into_place, open_staging, OWNER_FILE
from .dataset_dir import CALIBRATION_FILE
from .paired import B_ENCODINGS, MANIFEST_FILE, PAIRED_FORMAT, PAIRED_VERSION


def is_paired(path: Path) -> bool:
    """Whether ``path`` already holds (part of) a paired folder."""
    return any((Path(path) / p).exists() for p in (MANIFEST_FILE, 'A', 'B'))


def make_paired_splits(names: list[str], val_fraction: float = 0.1,
                       seed: int = 0) -> dict[str, list[str]]:
    """
    Deterministic seeded train/val split: a random sample of the names is validation.

    :param names: pair names (any order; the result depends only on the set and seed).
    :param val_fraction: share of pairs for validation, in [0, 1).
    :param seed: seed of the draw.
    :return: ``{'train': [...], 'val': [...]}``, each sorted; val has at least one pair
        when there are two or more and ``val_fraction > 0``.
    """
    names = sorted(names)
    n = len(names)
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    val = {names[i] for i in order[:n_val]}
    return {'train': [x for x in names if x not in val], 'val': [x for x in names if x in val]}


def _check_out(out_dir: Path, overwrite: bool) -> None:
    """Refuse an output that is a file, a stereo dataset, or a non-empty other folder."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DatasetError(f'{out_dir}: output exists and is not a folder')
    if not (out_dir.is_dir() and any(out_dir.iterdir())):
        return
    if (out_dir / CALIBRATION_FILE).exists():
        raise DatasetError(f'{out_dir}: output folder holds a stereo dataset; not replacing '
                           'it with a paired folder (choose another output)')
    if not is_paired(out_dir):
        raise DatasetError(f'{out_dir}: output folder is not empty and does not look like a '
                           'paired folder; not writing into it even with --overwrite')
    if not overwrite:
        raise DatasetError(f'{out_dir}: output folder already holds a paired folder; '
                           'refusing to write into it (pass --overwrite to replace it)')


class PairedWriter:
    """
    Build a paired folder in a temporary folder; ``finish`` renames it into place.

    Use as a context manager; leaving the block with an exception (or without calling
    ``finish``) deletes the temporary folder and leaves ``out_dir`` untouched.
    """

    def __init__(self, out_dir: Path, b_encoding: str, task: str, overwrite: bool = False):
        """
        Check the output and create the temporary folder beside it.

        :param out_dir: final paired folder.
        :param b_encoding: 'rgb8' or 'mono8' (a 0/255 mask).
        :param task: free text for the manifest, e.g. 'stalk_segmentation'.
        :param overwrite: replace an existing paired folder (never anything else).
        :raises DatasetError: see ``_check_out``; an output that cannot be created.
        """
        if b_encoding not in B_ENCODINGS:
            raise DatasetError(f'b_encoding {b_encoding!r}: expected rgb8 or mono8')
        self.out_dir = Path(out_dir).resolve()
        self.b_encoding, self.task = b_encoding, task
        _check_out(self.out_dir, overwrite)
        self.tmp_dir = open_staging(self.out_dir)
        self.names: list[str] = []
        self._done = False

    def __enter__(self) -> 'PairedWriter':
        """Return self."""
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Delete the temporary folder unless ``finish`` moved it into place."""
        if not self._done:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def write_png(self, rel_path: str, image: np.ndarray) -> None:
        """Write uint8 ``image`` (grey (H, W), or RGB (H, W, 3)) as PNG under the folder."""
        path = self.tmp_dir / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        try:
            ok = cv2.imwrite(str(path), image)
        except cv2.error as err:
            raise DatasetError(f'{path}: could not write image ({err})') from None
        if not ok:
            raise DatasetError(f'{path}: could not write image (disk full?)')

    def add(self, name: str, a_rgb: np.ndarray, b: np.ndarray) -> None:
        """
        Write pair ``name``: uint8 RGB input (H, W, 3), target RGB (H, W, 3) or mask (H, W).

        :raises DatasetError: a size or encoding that does not fit, or a repeated name.
        """
        want_b = (2,) if self.b_encoding == 'mono8' else (3,)
        if a_rgb.ndim != 3 or a_rgb.shape[2] != 3 or b.ndim not in want_b \
                or a_rgb.shape[:2] != b.shape[:2] or a_rgb.dtype != np.uint8 \
                or b.dtype != np.uint8:
            raise DatasetError(f'pair {name}: input {a_rgb.shape} {a_rgb.dtype} and target '
                               f'{b.shape} {b.dtype} do not fit b_encoding {self.b_encoding}')
        if name in self.names:
            raise DatasetError(f'pair {name}: name written twice')
        self.write_png(f'A/{name}.png', a_rgb)
        self.write_png(f'B/{name}.png', b)
        self.names.append(name)

    def finish(self, val_fraction: float = 0.1, seed: int = 0, extra: dict | None = None,
               readme: str | None = None) -> Path:
        """
        Write splits and the manifest (plus ``extra`` keys), then move the folder into place.

        :return: the final folder.
        """
        if not self.names:
            raise DatasetError(f'{self.out_dir}: no pairs to write')
        manifest = {'format': PAIRED_FORMAT, 'version': PAIRED_VERSION, 'a_encoding': 'rgb8',
                    'b_encoding': self.b_encoding, 'task': self.task,
                    'count': len(self.names), **(extra or {})}
        try:
            (self.tmp_dir / 'splits').mkdir(exist_ok=True)
            for split, names in make_paired_splits(self.names, val_fraction, seed).items():
                (self.tmp_dir / 'splits' / f'{split}.txt').write_text(
                    ''.join(n + '\n' for n in names), encoding='utf-8')
            (self.tmp_dir / MANIFEST_FILE).write_text(
                yaml.safe_dump(manifest, sort_keys=False), encoding='utf-8')
            if readme:
                (self.tmp_dir / 'README.md').write_text(readme, encoding='utf-8')
            (self.tmp_dir / OWNER_FILE).unlink()
        except OSError as err:        # a full disk
            raise DatasetError(f'{self.out_dir}: cannot write the paired folder ({err})') \
                from err
        move_into_place(self.tmp_dir, self.out_dir)
        self._done = True
        return self.out_dir
