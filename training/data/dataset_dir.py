# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The dataset directory contract: write it atomically, read it back.

Layout (see ``DESIGN.md``, "Dataset directory")::

    calibration.yaml      width, height, fx, fy, cx, cy, baseline_m, source
    left/NNNNNN.png       rectified left images
    right/NNNNNN.png      rectified right images, same size
    splits/train.txt      one pair name (NNNNNN) per line, deterministic
    splits/val.txt        the contiguous tail of the sequence
    disp_gt/NNNNNN.npy    optional: float32 (H, W) left disparity in px, 0 = no GT

A dataset is built in a hidden temporary folder next to the output and renamed into
place only when complete, so an interrupted or failed run never leaves anything that
looks like a finished dataset.
"""

from dataclasses import asdict, dataclass, field
import math
from pathlib import Path
import shutil
import sys

import cv2
import numpy as np
from sorghum_depth.errors import DatasetError
import yaml

from .dataset_check import check_pairs, move_into_place, open_staging, OWNER_FILE

CALIBRATION_FILE = 'calibration.yaml'
SPLIT_NAMES = ('train', 'val')


@dataclass
class Calibration:
    """
    Pinhole intrinsics of a rectified stereo pair and where it came from.

    :ivar width: image width in px.
    :ivar height: image height in px.
    :ivar fx: focal length along x in px.
    :ivar fy: focal length along y in px.
    :ivar cx: principal point x in px (pixel-centre convention: column i is at x = i).
    :ivar cy: principal point y in px.
    :ivar baseline_m: distance between the two optical centres in metres.
    :ivar source: free-form provenance (bag paths, topics, generator settings).

    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    baseline_m: float
    source: dict = field(default_factory=dict)

    def resized(self, width: int, height: int) -> 'Calibration':
        """
        Return the calibration of the same pair resized to ``width`` x ``height`` px.

        :param width: new width in px.
        :param height: new height in px.

        :return: Calibration with fx, cx scaled by width ratio and fy, cy by height ratio
            (pixel centres preserved); the baseline is unchanged.

        """
        sx, sy = width / self.width, height / self.height
        return Calibration(int(width), int(height), self.fx * sx, self.fy * sy,
                           (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                           self.baseline_m, dict(self.source))

    def check(self, where: Path) -> 'Calibration':
        """
        Refuse a calibration that cannot turn disparity into depth; return it.

        :raises DatasetError: a size below 1 px, a non-finite or non-positive focal
            length or baseline, a non-finite principal point (named, with ``where``).

        """
        positive = ('width', 'height', 'fx', 'fy', 'baseline_m')
        for key in positive + ('cx', 'cy'):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value)
                    and (key not in positive or value > 0)):
                raise DatasetError(f'{where}: calibration {key} is {value!r}; expected a '
                                   'finite value' + (' > 0' if key in positive else ''))
        return self

    def to_dict(self) -> dict:
        """Plain-type dict for YAML (floats and ints, no numpy scalars)."""
        d = asdict(self)
        for key in ('fx', 'fy', 'cx', 'cy', 'baseline_m'):
            d[key] = float(d[key])
        d['width'], d['height'] = int(self.width), int(self.height)
        return d


def write_calibration(path: Path, calib: Calibration) -> None:
    """Write ``calib`` as YAML to ``path``."""
    with open(path, 'w', encoding='utf-8') as f:
        yaml.safe_dump(calib.to_dict(), f, sort_keys=False)


def read_calibration(path: Path) -> Calibration:
    """
    Read a ``calibration.yaml``.

    :param path: the YAML file, or the dataset folder that holds it.

    :return: The Calibration.

    :raises DatasetError: missing file or missing/invalid keys (the message names the file).

    """
    path = Path(path)
    if path.is_dir():
        path = path / CALIBRATION_FILE
    if not path.is_file():
        raise DatasetError(f'{path}: calibration file not found')
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8')) or {}
        calib = Calibration(int(data['width']), int(data['height']), float(data['fx']),
                            float(data['fy']), float(data['cx']), float(data['cy']),
                            float(data['baseline_m']), dict(data.get('source') or {}))
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as e:
        raise DatasetError(f'{path}: invalid calibration ({type(e).__name__}: {e})') from e
    return calib.check(path)


def make_splits(names: list[str], val_fraction: float = 0.1) -> dict[str, list[str]]:
    """
    Deterministic train/val split: the contiguous tail of the sequence is validation.

    A tail (not a random sample) keeps near-duplicate neighbouring frames out of both
    splits at once.

    :param names: pair names in sequence order.
    :param val_fraction: share of pairs for validation, in [0, 1).

    :return: ``{'train': [...], 'val': [...]}``; val has at least one pair when there are two
        or more pairs and ``val_fraction > 0``.

    """
    n = len(names)
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    return {'train': list(names[:n - n_val]), 'val': list(names[n - n_val:])}


def check_selection(stride: int, max_pairs: int | None) -> None:
    """Refuse a ``--stride`` or ``--max-pairs`` below 1 (DatasetError)."""
    if stride < 1 or (max_pairs is not None and max_pairs < 1):
        raise DatasetError('--stride and --max-pairs must be >= 1')


def is_dataset(path: Path) -> bool:
    """Whether ``path`` already holds (part of) a dataset directory."""
    path = Path(path)
    return any((path / p).exists() for p in (CALIBRATION_FILE, 'left', 'right', 'splits'))


def pair_name(index: int) -> str:
    """File stem of pair ``index``: six digits, zero padded."""
    return f'{index:06d}'


class DatasetWriter:
    """
    Builds a dataset in a temporary folder and renames it into place on ``finish``.

    Use as a context manager; leaving the block with an exception (or without calling
    ``finish``) deletes the temporary folder and leaves ``out_dir`` untouched.
    """

    def __init__(self, out_dir: Path, overwrite: bool = False):
        """
        Check the output folder and create the temporary one beside it.

        :param out_dir: final dataset folder.
        :param overwrite: replace an existing dataset (otherwise refuse).

        :raises DatasetError: ``out_dir`` holds a dataset (and not ``overwrite``), or is a
            non-empty folder that is not a dataset, or is a file.

        """
        self.out_dir = Path(out_dir).resolve()
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise DatasetError(f'{self.out_dir}: output exists and is not a folder')
        if self.out_dir.is_dir() and any(self.out_dir.iterdir()):
            what = 'already holds a dataset' if is_dataset(self.out_dir) else 'is not empty'
            if not overwrite:
                raise DatasetError(f'{self.out_dir}: output folder {what}; refusing to '
                                   'write into it (pass --overwrite to replace it)')
            if not is_dataset(self.out_dir):
                raise DatasetError(f'{self.out_dir}: output folder {what} and does not look '
                                   'like a dataset; not replacing it even with --overwrite')
        self.tmp_dir = open_staging(self.out_dir)
        self.names: list[str] = []
        self._done = False

    def __enter__(self) -> 'DatasetWriter':
        """Return self."""
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Delete the temporary folder unless ``finish`` moved it into place."""
        if not self._done:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def write_file(self, rel_path: str, array: np.ndarray) -> Path:
        """
        Write an image (``.png``) or array (``.npy``) under the temporary folder.

        :param rel_path: path relative to the dataset root, e.g. ``left/000000.png``.
        :param array: image in OpenCV channel order (gray, BGR) or any numpy array.

        :return: The written path (inside the temporary folder).

        """
        path = self.tmp_dir / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == '.npy':
            np.save(path, array)
        elif not cv2.imwrite(str(path), array):
            raise DatasetError(f'{path}: could not write image')
        return path

    def add_pair(self, left: np.ndarray, right: np.ndarray,
                 disp_gt_px: np.ndarray | None = None) -> str:
        """
        Append one rectified pair (and optional GT disparity); return its name.

        :param left: (H, W) or (H, W, 3) uint8/uint16 image, OpenCV channel order.
        :param right: same shape as ``left``.
        :param disp_gt_px: optional (H, W) float32 left disparity in px, 0 = no GT.

        :return: The pair name (six digits).

        """
        if left.shape != right.shape:
            raise DatasetError(f'left/right size mismatch: {left.shape} vs {right.shape}')
        name = pair_name(len(self.names))
        self.write_file(f'left/{name}.png', left)
        self.write_file(f'right/{name}.png', right)
        if disp_gt_px is not None:
            self.write_file(f'disp_gt/{name}.npy', np.asarray(disp_gt_px, np.float32))
        self.names.append(name)
        return name

    def finish(self, calib: Calibration, val_fraction: float = 0.1,
               readme: str | None = None) -> Path:
        """
        Write calibration and splits, then move the dataset into ``out_dir``.

        :param calib: calibration of the written pairs.
        :param val_fraction: share of pairs (the tail) in ``splits/val.txt``.
        :param readme: optional text for a README.md in the dataset folder.

        :return: The final dataset folder.

        """
        if not self.names:
            raise DatasetError(f'{self.out_dir}: no pairs to write')
        calib.check(self.out_dir)
        try:
            self._write_index(calib, val_fraction, readme)
        except OSError as err:        # a full disk
            raise DatasetError(f'{self.out_dir}: cannot write the dataset ({err})') from err
        move_into_place(self.tmp_dir, self.out_dir)
        self._done = True
        return self.out_dir

    def _write_index(self, calib: Calibration, val_fraction: float, readme: str | None):
        write_calibration(self.tmp_dir / CALIBRATION_FILE, calib)
        (self.tmp_dir / 'splits').mkdir(exist_ok=True)
        for split, names in make_splits(self.names, val_fraction).items():
            (self.tmp_dir / 'splits' / f'{split}.txt').write_text(
                ''.join(n + '\n' for n in names), encoding='utf-8')
        (self.tmp_dir / OWNER_FILE).unlink()
        if readme:
            (self.tmp_dir / 'README.md').write_text(readme, encoding='utf-8')


class StereoDataset:
    """
    Read access to one dataset directory (what training uses).

    :ivar root: the dataset folder.
    :ivar calib: its Calibration.
    :ivar splits: ``{'train': [...], 'val': [...]}`` pair names.

    """

    def __init__(self, root: Path):
        """
        Open and validate ``root`` (calibration, splits, first pair's size).

        :param root: dataset folder.

        :raises DatasetError: anything missing or inconsistent (the message names the file).

        """
        self.root = Path(root)
        self.calib = read_calibration(self.root)
        self.splits = {}
        for split in SPLIT_NAMES:
            path = self.root / 'splits' / f'{split}.txt'
            if not path.is_file():
                raise DatasetError(f'{path}: split file not found')
            self.splits[split] = path.read_text(encoding='utf-8').split()
        self.skipped = self._check_pairs()

    def _check_pairs(self) -> list[tuple[Path, str]]:
        """Drop the pairs whose PNG headers are bad (warned, counted); refuse if none is left."""
        names = self.names()
        if not names:
            raise DatasetError(f'{self.root}: dataset has no pairs')
        good, bad = check_pairs(self.root, names, self.calib.width, self.calib.height,
                                gt=self.has_disp_gt)
        if not good:
            raise DatasetError(f'{self.root}: no readable pair of the calibration size; '
                               f'first problem: {bad[0][0]}: {bad[0][1]}')
        if bad:
            keep = set(good)
            self.splits = {s: [n for n in v if n in keep] for s, v in self.splits.items()}
            shown = '; '.join(f'{path}: {why}' for path, why in bad[:3])
            print(f'warning: {self.root}: {len(bad)} of {len(names)} pairs skipped ({shown}'
                  + (f'; and {len(bad) - 3} more' if len(bad) > 3 else '') + ')',
                  file=sys.stderr)
        return bad

    def names(self, split: str | None = None) -> list[str]:
        """Pair names of ``split`` ('train', 'val'), or of all splits when None."""
        if split is None:
            return sorted(set(self.splits['train'] + self.splits['val']))
        return list(self.splits[split])

    @property
    def has_disp_gt(self) -> bool:
        """Whether the dataset carries ground-truth disparity (``disp_gt/``)."""
        return (self.root / 'disp_gt').is_dir()

    def _read_image(self, path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DatasetError(f'{path}: missing or unreadable image')
        scale = 65535.0 if image.dtype == np.uint16 else 255.0
        image = image.astype(np.float32) / scale
        if image.ndim == 2:
            return np.repeat(image[:, :, None], 3, axis=2)
        return cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB)

    def read_pair(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """
        Left and right image of pair ``name``.

        :param name: pair name (six digits).

        :return: (left, right), each float32 RGB in [0, 1], shape (H, W, 3); gray images are
            repeated over the three channels.

        """
        return (self._read_image(self.root / 'left' / f'{name}.png'),
                self._read_image(self.root / 'right' / f'{name}.png'))

    def read_disp_gt(self, name: str) -> np.ndarray:
        """Ground-truth left disparity of pair ``name``: float32 (H, W) px, 0 = no GT."""
        path = self.root / 'disp_gt' / f'{name}.npy'
        try:
            disp = np.load(path)
        except (OSError, ValueError, EOFError) as err:
            raise DatasetError(f'{path}: missing or unreadable ground truth ({err})') from err
        if disp.shape != (self.calib.height, self.calib.width):
            raise DatasetError(f'{path}: ground truth of shape {disp.shape}, calibration '
                               f'says ({self.calib.height}, {self.calib.width})')
        return disp


def load_dataset(path: Path) -> StereoDataset:
    """Open the dataset directory at ``path`` (see StereoDataset)."""
    return StereoDataset(path)
