# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Ground-truth disparity files and the stereo pairs that carry them.

Every reader returns float32 (H, W) left disparity in pixels with 0 = unknown.

GT formats, chosen by file suffix (and PNG bit depth):

* ``.pfm``: Portable Float Map (Middlebury 2014, SceneFlow): rows stored bottom-up,
  the sign of the header scale gives the byte order (negative = little-endian),
  ``inf`` = unknown.
* ``.png`` 8-bit: Middlebury 2003, disparity = value / scale with the scale on line 1
  of ``info.txt`` beside the file (or given); 0 = unknown.
* ``.png`` 16-bit: KITTI 2015, disparity = value / 256; 0 = unknown.
* ``.npy``: float (H, W) disparity in px, the synthetic scenes' ``disp_gt/NNNNNN.npy``.
* ``.npz``: NumPy archive with key ``disparity`` (float (H, W), px) and optional key
  ``mask`` ((H, W), nonzero / True = evaluate), ANDed with any mask file of the pair.

PNG scale, per scene: an ``info.txt`` beside the GT (line 1, Middlebury) always gives its
scene's scale; a scale given by the caller (``--gt-scale``) is used only where there is no
``info.txt`` and is refused where it contradicts one; 16-bit PNG defaults to 256.

Pair sources (``find_pairs``): a Middlebury scene folder (``imL.png imR.png
groundtruth.png`` + masks ``nonocc.png all.png disc.png``, 255 = evaluate), a
dataset directory of this project with ``disp_gt/`` (masks from ``nonocc/``), a plain
folder with ``left/ right/ gt/`` files of matching stems (optional mask folder named
after the mask), or a folder holding several of these (e.g. ``middlebury2003``).
"""

from dataclasses import dataclass
import math
from pathlib import Path
import zipfile

import cv2
import numpy as np

from ..data.dataset_dir import DatasetError, load_dataset, read_calibration

GT_SUFFIXES = ('.pfm', '.png', '.npy', '.npz')
NPZ_DISPARITY_KEY = 'disparity'
NPZ_MASK_KEY = 'mask'
KITTI_SCALE = 256.0
MASK_NAMES = ('nonocc', 'all', 'disc')
MIDDLEBURY_FILES = ('imL.png', 'imR.png', 'groundtruth.png')
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.ppm', '.pgm', '.bmp', '.tif', '.tiff')


class GTError(Exception):
    """Bad evaluation input (missing dataset, unreadable file, size mismatch)."""


class GTFormatError(GTError):
    """A ground-truth file whose format is unknown or malformed; the message names it."""


def write_pfm(path: Path, array: np.ndarray, little_endian: bool = True) -> None:
    """
    Write a PFM file (rows bottom-up, as the format stores them).

    :param path: output file.
    :param array: float (H, W) or (H, W, 3) array, top row first.
    :param little_endian: byte order; written as the sign of the header scale (-1 / +1).
    """
    array = np.asarray(array)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f'PFM holds (H, W) or (H, W, 3) arrays, got {array.shape}')
    kind = 'PF' if array.ndim == 3 else 'Pf'
    h, w = array.shape[:2]
    dtype = '<f4' if little_endian else '>f4'
    header = f'{kind}\n{w} {h}\n{-1.0 if little_endian else 1.0}\n'.encode('ascii')
    Path(path).write_bytes(header + np.ascontiguousarray(np.flipud(array), dtype).tobytes())


def read_pfm(path: Path) -> np.ndarray:
    """
    Read a PFM file.

    :param path: the ``.pfm`` file.

    :returns: native float32 (H, W) or (H, W, 3) array, top row first.

    :raises GTFormatError: bad header or truncated data (the message names the file).
    """
    path = Path(path)
    with open(path, 'rb') as f:
        try:
            kind = f.readline().strip()
            w, h = (int(v) for v in f.readline().split())
            scale = float(f.readline().strip())
        except ValueError as e:
            raise GTFormatError(f'{path}: malformed PFM header ({e})') from e
        data = f.read()
    if kind not in (b'PF', b'Pf') or w <= 0 or h <= 0 or scale == 0:
        raise GTFormatError(f'{path}: not a PFM file (header {kind!r} {w}x{h} {scale})')
    channels = 3 if kind == b'PF' else 1
    count = w * h * channels
    if len(data) < 4 * count:
        raise GTFormatError(f'{path}: PFM data truncated ({len(data)} of {4 * count} bytes)')
    array = np.frombuffer(data[:4 * count], '<f4' if scale < 0 else '>f4')
    array = array.reshape((h, w, 3) if channels == 3 else (h, w))
    return np.flipud(array).astype(np.float32)


def read_middlebury_scale(folder: Path) -> float:
    """Middlebury 2003 disparity scale: the number on line 1 of ``folder/info.txt``."""
    path = Path(folder) / 'info.txt'
    try:
        scale = float(path.read_text(encoding='ascii').split()[0])
    except (OSError, IndexError, ValueError, UnicodeDecodeError) as e:
        raise GTError(f'{path}: cannot read the disparity scale ({e}); '
                      'pass --gt-scale') from e
    if not (math.isfinite(scale) and scale > 0):
        raise GTError(f'{path}: disparity scale on line 1 must be > 0, got {scale:g}')
    return scale


def png_gt_scale(folder: Path, given: float | None) -> tuple[float | None, str]:
    """
    Return the PNG GT scale of the scene in ``folder`` and where it came from.

    :param folder: the folder holding the GT PNG (and maybe ``info.txt``).
    :param given: the caller's scale (``--gt-scale``), or None.

    :returns: ``(scale, 'info.txt')``, ``(given, '--gt-scale')``, or ``(None, 'default')``
        (the format's default: 256 for 16-bit PNG).

    :raises GTError: ``info.txt`` unreadable, or its scale differs from ``given``.
    """
    if (Path(folder) / 'info.txt').is_file():
        scale = read_middlebury_scale(folder)
        if given is not None and given != scale:
            raise GTError(f'{folder}: info.txt gives this scene the scale {scale:g}, '
                          f'not --gt-scale {given:g}; the info.txt of each scene is used, '
                          'so drop --gt-scale (it is for GT without info.txt)')
        return scale, 'info.txt'
    return (given, '--gt-scale') if given is not None else (None, 'default')


def _read_png_disparity(path: Path, scale: float | None) -> np.ndarray:
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise GTFormatError(f'{path}: unreadable PNG')
    if raw.ndim == 3:
        if not all(np.array_equal(raw[..., 0], raw[..., c]) for c in range(1, raw.shape[2])):
            raise GTFormatError(f'{path}: colour PNG is not a disparity map')
        raw = raw[..., 0]
    if scale is None:
        if raw.dtype == np.uint16:
            scale = KITTI_SCALE
        elif raw.dtype == np.uint8:
            scale = read_middlebury_scale(path.parent)
        else:
            raise GTFormatError(f'{path}: unsupported PNG sample type {raw.dtype}')
    return raw.astype(np.float32) / np.float32(scale)


def read_gt_disparity(path: Path, scale: float | None = None) -> np.ndarray:
    """
    Read a ground-truth disparity file of any supported format (see the module docstring).

    :param path: the GT file.
    :param scale: PNG only: disparity = value / scale; None = 256 for 16-bit PNG (KITTI),
        ``info.txt`` beside the file for 8-bit PNG (Middlebury).

    :returns: float32 (H, W) disparity in px, 0 = unknown (inf, NaN, negatives too).

    :raises GTFormatError: unknown suffix or malformed file (the message names the file).
    :raises GTError: missing file or unknown PNG scale.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in GT_SUFFIXES:
        raise GTFormatError(f'{path}: unknown ground-truth format {path.suffix!r} '
                            f'(supported: {", ".join(GT_SUFFIXES)})')
    if not path.is_file():
        raise GTError(f'{path}: ground-truth file not found')
    if suffix == '.pfm':
        disp = read_pfm(path)
    elif suffix == '.png':
        disp = _read_png_disparity(path, scale)
    elif suffix == '.npz':
        disp = _read_npz(path)[0]
    else:
        disp = _read_npy(path)
    if disp.ndim != 2 or not (np.issubdtype(disp.dtype, np.integer)
                              or np.issubdtype(disp.dtype, np.floating)):
        raise GTFormatError(f'{path}: GT disparity must be one real numeric channel, '
                            f'got {disp.dtype} {disp.shape}')
    disp = disp.astype(np.float32)
    disp[~(np.isfinite(disp) & (disp > 0))] = 0.0
    return disp


def _read_npy(path: Path) -> np.ndarray:
    if path.stat().st_size == 0:
        raise GTFormatError(f'{path}: empty file (0 bytes), not a NumPy array')
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise GTFormatError(f'{path}: not a NumPy array file ({e})') from e


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the ``disparity`` and optional ``mask`` arrays of an ``.npz`` GT file."""
    if path.stat().st_size == 0:
        raise GTFormatError(f'{path}: empty file (0 bytes), not a NumPy .npz archive')
    try:
        with np.load(path, allow_pickle=False) as archive:
            if NPZ_DISPARITY_KEY not in archive.files:
                raise GTFormatError(f'{path}: .npz GT needs the key {NPZ_DISPARITY_KEY!r} '
                                    f'(px); it has {", ".join(archive.files) or "no arrays"}')
            mask = archive[NPZ_MASK_KEY] if NPZ_MASK_KEY in archive.files else None
            return archive[NPZ_DISPARITY_KEY], mask
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as e:
        raise GTFormatError(f'{path}: not a NumPy .npz archive ({e})') from e


def read_gt_mask(path: Path) -> np.ndarray | None:
    """
    Return the evaluation mask stored in a GT file (``.npz`` key ``mask``), or None.

    :raises GTFormatError: a mask that is not (H, W) like the disparity.
    """
    path = Path(path)
    if path.suffix.lower() != '.npz':
        return None
    disp, mask = _read_npz(path)
    if mask is None:
        return None
    if mask.shape != disp.shape or not (np.issubdtype(mask.dtype, np.number)
                                        or mask.dtype == bool):
        raise GTFormatError(f'{path}: {NPZ_MASK_KEY!r} must be a numeric or bool array of '
                            f'the shape of the disparity {disp.shape}, got {mask.dtype} '
                            f'{mask.shape}')
    return mask.astype(bool)


def read_rgb(path: Path) -> np.ndarray:
    """Read an image as uint8 RGB (H, W, 3); gray is repeated, 16-bit is scaled down."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise GTError(f'{path}: missing or unreadable image')
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB)


def read_mask(path: Path) -> np.ndarray:
    """Read an evaluation mask PNG: True where the value is 255 (Middlebury convention)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise GTError(f'{path}: missing or unreadable mask')
    return (image if image.ndim == 2 else image[..., 0]) == 255


@dataclass
class StereoPair:
    """
    One loaded evaluation pair.

    :ivar name: label, e.g. ``tsukuba`` or ``synth/000003``.
    :ivar left_rgb: uint8 RGB (H, W, 3) rectified left image.
    :ivar right_rgb: uint8 RGB (H, W, 3) rectified right image.
    :ivar disp_gt_px: float32 (H, W) left GT disparity in px, 0 = unknown.
    :ivar mask: bool (H, W) evaluation mask (True = evaluate), or None for all pixels.
    :ivar fx_px: focal length in px, or None (no depth metrics).
    :ivar baseline_m: baseline in metres, or None.
    :ivar gt_scale: PNG GT scale used (value / scale = px), or None (not a PNG / default).
    :ivar gt_scale_from: where that scale came from (``info.txt``, ``--gt-scale``,
        ``default``), or None.
    """

    name: str
    left_rgb: np.ndarray
    right_rgb: np.ndarray
    disp_gt_px: np.ndarray
    mask: np.ndarray | None = None
    fx_px: float | None = None
    baseline_m: float | None = None
    gt_scale: float | None = None
    gt_scale_from: str | None = None


@dataclass
class PairRef:
    """
    Where one evaluation pair lies on disk (loaded on demand with ``load``).

    :ivar gt_scale: PNG GT scale (value / scale = px), or None for the format default.
    :ivar gt_scale_from: ``info.txt``, ``--gt-scale`` or ``default`` (see the module doc).
    """

    name: str
    left: Path
    right: Path
    gt: Path
    mask: Path | None = None
    gt_scale: float | None = None
    fx_px: float | None = None
    baseline_m: float | None = None
    gt_scale_from: str | None = None

    def load(self) -> StereoPair:
        """Read the images, GT and mask; check that all sizes agree."""
        left, right = read_rgb(self.left), read_rgb(self.right)
        if left.shape != right.shape:
            raise GTError(f'{self.right}: size {right.shape[1]}x{right.shape[0]} differs '
                          f'from the left image {self.left} ({left.shape[1]}x{left.shape[0]})')
        gt = read_gt_disparity(self.gt, self.gt_scale)
        mask = read_mask(self.mask) if self.mask is not None else None
        checks = [(self.gt, gt.shape)] + ([] if mask is None else [(self.mask, mask.shape)])
        for path, shape in checks:
            if shape != left.shape[:2]:
                raise GTError(f'{path}: size {shape[1]}x{shape[0]} differs from the image '
                              f'{self.left} ({left.shape[1]}x{left.shape[0]})')
        gt_mask = read_gt_mask(self.gt)
        if gt_mask is not None:
            mask = gt_mask if mask is None else mask & gt_mask
        return StereoPair(self.name, left, right, gt, mask, self.fx_px, self.baseline_m,
                          self.gt_scale, self.gt_scale_from)


def _middlebury_scene(folder: Path, mask_name: str, gt_scale: float | None) -> PairRef:
    mask = folder / f'{mask_name}.png'
    scale, source = png_gt_scale(folder, gt_scale)
    if scale is None:
        scale = read_middlebury_scale(folder)  # raises: no info.txt and no --gt-scale
    return PairRef(folder.name, folder / 'imL.png', folder / 'imR.png',
                   folder / 'groundtruth.png', mask if mask.is_file() else None, scale,
                   gt_scale_from=source)


def _project_dataset(folder: Path, mask_name: str) -> list[PairRef]:
    try:
        names = load_dataset(folder).names()
        calib = read_calibration(folder)
    except DatasetError as e:
        raise GTError(str(e)) from e
    if not (folder / 'disp_gt').is_dir():
        raise GTError(f'{folder}: dataset has no ground truth (no disp_gt/ folder)')
    refs = []
    for name in names:
        mask = folder / mask_name / f'{name}.png'
        refs.append(PairRef(f'{folder.name}/{name}', folder / 'left' / f'{name}.png',
                            folder / 'right' / f'{name}.png', folder / 'disp_gt' / f'{name}.npy',
                            mask if mask.is_file() else None, None, calib.fx, calib.baseline_m))
    return refs


def _plain_folder(folder: Path, mask_name: str, gt_scale: float | None) -> list[PairRef]:
    gt_dir = folder / 'gt' if (folder / 'gt').is_dir() else folder / 'disp_gt'
    refs = []
    for left in sorted(p for p in (folder / 'left').iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES):
        gts = sorted(gt_dir.glob(left.stem + '.*'))
        if not gts:
            raise GTError(f'{gt_dir}: no ground truth for {left.name}')
        masks = sorted((folder / mask_name).glob(left.stem + '.png'))
        scale, source = (png_gt_scale(gt_dir, gt_scale) if gts[0].suffix.lower() == '.png'
                         else (None, None))
        refs.append(PairRef(f'{folder.name}/{left.stem}', left, folder / 'right' / left.name,
                            gts[0], masks[0] if masks else None, scale,
                            gt_scale_from=source))
    return refs


def find_pairs(path: Path, mask_name: str = 'nonocc',
               gt_scale: float | None = None) -> list[PairRef]:
    """
    Every stereo pair with GT under ``path`` (layouts in the module docstring).

    :param path: a Middlebury scene, a dataset directory, a ``left/ right/ gt/`` folder,
        or a folder whose direct subfolders are any of these.
    :param mask_name: evaluation mask to use where the source has it (``nonocc``, ``all``,
        ``disc``); pairs without that mask are evaluated on all GT-valid pixels.
    :param gt_scale: PNG GT scale (value / scale = px) for scenes WITHOUT ``info.txt``;
        a scene's ``info.txt`` always wins, and a different ``gt_scale`` is refused.

    :returns: PairRefs in a deterministic order.

    :raises GTError: missing path, no pairs found, or a source without GT.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GTError(f'{path}: not a folder (give a dataset folder or a Middlebury scene)')
    if not path.is_dir():
        raise GTError(f'{path}: dataset folder not found')
    if all((path / f).is_file() for f in MIDDLEBURY_FILES):
        return [_middlebury_scene(path, mask_name, gt_scale)]
    if (path / 'calibration.yaml').is_file():
        return _project_dataset(path, mask_name)
    if (path / 'left').is_dir() and (path / 'right').is_dir():
        if not ((path / 'gt').is_dir() or (path / 'disp_gt').is_dir()):
            raise GTError(f'{path}: has left/ and right/ but no gt/ folder of ground truth')
        return _plain_folder(path, mask_name, gt_scale)
    refs = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith('.')):
        if (all((sub / f).is_file() for f in MIDDLEBURY_FILES)
                or (sub / 'calibration.yaml').is_file() or (sub / 'left').is_dir()):
            refs.extend(find_pairs(sub, mask_name, gt_scale))
    if not refs:
        raise GTError(f'{path}: no stereo pairs with ground truth found (expected a Middlebury '
                      'scene, a dataset with disp_gt/, or left/ right/ gt/ folders)')
    return refs
