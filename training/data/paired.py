# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The paired dataset folder (image translation): read and validate it.

Layout (``docs/data.md``, "Paired folders")::

    paired.yaml        {format: sorghum_depth_paired, version: 1, a_encoding: rgb8,
                        b_encoding: rgb8 | mono8, task: free text, count: N, ...}
    A/<name>.png       input images, rgb8 PNG
    B/<name>.png       targets with the SAME names: rgb8 PNG, or mono8 PNG (mask 0/255)
    splits/train.txt   one name per line
    splits/val.txt

``GreyToColour`` makes grey-to-colour pairs on the fly from the colour images of a
stereo dataset folder (its left images) or of a paired folder (its A images), with the
same reading API as ``PairedDataset``; ``open_paired`` picks one from a folder.

``python -m sorghum_depth_training.data.paired FOLDER [--task grey2colour]`` checks a
folder as training would open it and prints what it holds (exit 2 and ``error: ...``
when it is refused).
"""

from pathlib import Path
import sys

import cv2
import numpy as np
from sorghum_depth.errors import DatasetError
import yaml

from .dataset_check import png_size
from .dataset_dir import CALIBRATION_FILE, load_dataset, SPLIT_NAMES

MANIFEST_FILE = 'paired.yaml'
PAIRED_FORMAT = 'sorghum_depth_paired'
PAIRED_VERSION = 1
B_ENCODINGS = ('rgb8', 'mono8')
GREY2COLOUR = 'grey2colour'
LUMA_WEIGHTS = (0.299, 0.587, 0.114)     # ITU-R BT.601 luma of R, G, B
SHOWN = 3                                # names shown in an error before "and N more"
# PNG IHDR colour type -> what it holds (bytes 25 of the file)
_PNG_GREY, _PNG_COLOUR = (0, 4), (2, 3, 6)


def _few(names) -> str:
    """Name the first few of ``names`` (sorted) and count the rest."""
    names = sorted(names)
    text = ', '.join(names[:SHOWN])
    return text + (f' and {len(names) - SHOWN} more' if len(names) > SHOWN else '')


def png_header(path: Path) -> tuple[int, int, int, int]:
    """
    Return (width, height, bit depth, colour type) of the PNG at ``path``, from its header.

    :raises DatasetError: not a complete PNG (the message names the file and why).
    """
    try:
        width, height = png_size(path)
        with open(path, 'rb') as f:
            f.seek(24)
            depth, colour = f.read(2)
    except ValueError as err:
        raise DatasetError(f'{path}: {err}') from None
    return width, height, depth, colour


def to_grey_rgb(rgb: np.ndarray) -> np.ndarray:
    """
    Return the grey version of an RGB image: BT.601 luma replicated over three channels.

    :param rgb: uint8 (H, W, 3) RGB.
    :return: uint8 (H, W, 3) with R = G = B = round(0.299 R + 0.587 G + 0.114 B).
    """
    luma = np.asarray(rgb, np.float32) @ np.asarray(LUMA_WEIGHTS, np.float32)
    grey = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def read_rgb8(path: Path) -> np.ndarray:
    """
    Read any 8/16-bit image file as uint8 RGB (H, W, 3).

    Grey is repeated over three channels, alpha dropped, 16 bit scaled to 8 bit.

    :raises DatasetError: missing or undecodable file.
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(f'{path}: missing or unreadable image')
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DatasetError(f'{path}: {image.dtype} pixels; expected 8 or 16 bit')
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    return np.ascontiguousarray(cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB))


def read_mono8(path: Path) -> np.ndarray:
    """Read an image file as uint8 (H, W) (colour converted with BT.601 luma)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is not None and image.ndim == 2 and image.dtype == np.uint8:
        return image
    return to_grey_rgb(read_rgb8(path))[:, :, 0]


def read_manifest(root: Path) -> dict:
    """
    Read and check ``root/paired.yaml``.

    :return: the manifest as a dict (extra keys kept).
    :raises DatasetError: missing file, not YAML, or a key missing or of a wrong value.
    """
    path = Path(root) / MANIFEST_FILE
    if not path.is_file():
        raise DatasetError(f'{path}: manifest not found; a paired folder holds paired.yaml, '
                           'A/, B/ and splits/ (docs/data.md)')
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise DatasetError(f'{path}: unreadable manifest ({type(err).__name__}: {err})') \
            from None
    wanted = {'format': lambda v: v == PAIRED_FORMAT, 'version': lambda v: v == PAIRED_VERSION,
              'a_encoding': lambda v: v == 'rgb8', 'b_encoding': lambda v: v in B_ENCODINGS,
              'task': lambda v: isinstance(v, str),
              'count': lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1}
    if not isinstance(data, dict):
        raise DatasetError(f'{path}: bad manifest: expected a mapping, got {data!r:.60}')
    for key, test in wanted.items():
        if key not in data:
            raise DatasetError(f'{path}: bad manifest: key {key!r} missing')
        if not test(data[key]):
            raise DatasetError(f'{path}: bad manifest: {key} is {data[key]!r}; expected '
                               + {'format': repr(PAIRED_FORMAT), 'version': str(PAIRED_VERSION),
                                  'a_encoding': "'rgb8'", 'b_encoding': "'rgb8' or 'mono8'",
                                  'task': 'text', 'count': 'a whole number >= 1'}[key])
    return data


def _png_names(folder: Path) -> dict[str, Path]:
    """Return {stem: path} of the PNG files in ``folder``; refuse other image files."""
    if not folder.is_dir():
        raise DatasetError(f'{folder}: folder not found; a paired folder holds paired.yaml, '
                           'A/, B/ and splits/ (docs/data.md)')
    found, others = {}, []
    for p in sorted(folder.iterdir()):
        if p.suffix == '.png':
            found[p.stem] = p
        elif p.suffix.lower() in ('.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.ppm', '.pgm'):
            others.append(p.name)
    if others:
        raise DatasetError(f'{folder}: {len(others)} image(s) not in PNG ({_few(others)}); '
                           'a paired folder holds .png only (sorghum-depth-import --paired '
                           'converts)')
    return found


def check_names(a_names, b_names, a_where: str, b_where: str) -> list[str]:
    """
    Refuse names that are in one folder and not the other; return the common names sorted.

    :raises DatasetError: naming the first few names missing on each side.
    """
    a_only, b_only = set(a_names) - set(b_names), set(b_names) - set(a_names)
    if a_only or b_only:
        parts = [f'{len(a_only)} in {a_where} without a match in {b_where} ({_few(a_only)})'
                 if a_only else '',
                 f'{len(b_only)} in {b_where} without a match in {a_where} ({_few(b_only)})'
                 if b_only else '']
        raise DatasetError('unpaired names: ' + '; '.join(p for p in parts if p)
                           + '; every input needs a target of the same file name')
    return sorted(a_names)


def read_splits(root: Path, names: list[str]) -> dict[str, list[str]]:
    """Read ``splits/{train,val}.txt``; refuse a missing file or a name with no pair."""
    splits, known = {}, set(names)
    for split in SPLIT_NAMES:
        path = Path(root) / 'splits' / f'{split}.txt'
        try:
            lines = path.read_text(encoding='utf-8').splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise DatasetError(f'{path}: split file missing or unreadable ({err})') from None
        splits[split] = [ln.strip() for ln in lines if ln.strip()]
        unknown = set(splits[split]) - known
        if unknown:
            raise DatasetError(f'{path}: {len(unknown)} name(s) with no pair in A/ and B/ '
                               f'({_few(unknown)})')
    return splits


class PairedDataset:
    """
    Read access to one paired folder (what translation training uses).

    :ivar root: the folder.
    :ivar manifest: the paired.yaml contents.
    :ivar a_encoding: 'rgb8'.
    :ivar b_encoding: 'rgb8' or 'mono8'.
    :ivar task: the manifest's free-text task.
    :ivar splits: ``{'train': [...], 'val': [...]}``.

    """

    def __init__(self, root: Path):
        """
        Open and validate ``root``: manifest, names, splits, and every PNG header.

        :raises DatasetError: a bad manifest, a missing folder, unpaired names, a size
            mismatch between A and B of one name, or a B image of the wrong encoding.

        """
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f'{self.root}: paired folder not found')
        self.manifest = read_manifest(self.root)
        self.a_encoding = self.manifest['a_encoding']
        self.b_encoding = self.manifest['b_encoding']
        self.task = self.manifest['task']
        a_files, b_files = _png_names(self.root / 'A'), _png_names(self.root / 'B')
        names = check_names(a_files, b_files, f'{self.root / "A"}', f'{self.root / "B"}')
        if len(names) != self.manifest['count']:
            raise DatasetError(f'{self.root / MANIFEST_FILE}: bad manifest: count is '
                               f'{self.manifest["count"]}, A/ and B/ hold {len(names)} pairs')
        for name in names:
            self._check_pair(a_files[name], b_files[name])
        self.splits = read_splits(self.root, names)

    def _check_pair(self, a_path: Path, b_path: Path) -> None:
        a_w, a_h, _, _ = png_header(a_path)
        b_w, b_h, b_depth, b_colour = png_header(b_path)
        if (a_w, a_h) != (b_w, b_h):
            raise DatasetError(f'size mismatch: {a_path} is {a_w}x{a_h}, {b_path} is '
                               f'{b_w}x{b_h}')
        grey = b_colour in _PNG_GREY
        if b_depth != 8 or grey != (self.b_encoding == 'mono8'):
            what = 'grey' if grey else 'colour'
            raise DatasetError(f'{b_path}: {b_depth}-bit {what} PNG; the manifest says '
                               f'b_encoding {self.b_encoding}')

    def names(self, split: str | None = None) -> list[str]:
        """Pair names of ``split`` ('train', 'val'), or all pairs sorted when None."""
        if split is None:
            return sorted(set(self.splits['train'] + self.splits['val']))
        if split not in self.splits:
            raise DatasetError(f'{self.root}: no split {split!r} (train, val)')
        return list(self.splits[split])

    def read_a(self, name: str) -> np.ndarray:
        """Input image of pair ``name``: uint8 RGB (H, W, 3)."""
        return read_rgb8(self.root / 'A' / f'{name}.png')

    def read_b(self, name: str) -> np.ndarray:
        """Target of pair ``name``: uint8 RGB (H, W, 3) (rgb8) or uint8 (H, W) (mono8)."""
        path = self.root / 'B' / f'{name}.png'
        return read_mono8(path) if self.b_encoding == 'mono8' else read_rgb8(path)


def load_paired(root: Path) -> PairedDataset:
    """Open the paired folder at ``root`` (see PairedDataset)."""
    return PairedDataset(root)


class GreyToColour:
    """
    Grey-to-colour pairs made on the fly from colour images, with PairedDataset's API.

    The source is a stereo dataset folder (its left images) or a paired folder (its A
    images). ``read_a`` is the grey image (BT.601 luma replicated over three channels,
    ``to_grey_rgb``), ``read_b`` the colour image; names and splits are the source's.

    :ivar root: the source folder.
    :ivar b_encoding: 'rgb8'.
    :ivar task: 'grey2colour'.

    """

    a_encoding = 'rgb8'
    b_encoding = 'rgb8'
    task = GREY2COLOUR

    def __init__(self, colour_root: Path):
        """
        Open the source folder; refuse one whose images are grey.

        :raises DatasetError: not a dataset or paired folder, or grey images.

        """
        self.root = Path(colour_root)
        if (self.root / MANIFEST_FILE).is_file():
            self.source = load_paired(self.root)
            self._folder = self.root / 'A'
        else:
            self.source = load_dataset(self.root)
            self._folder = self.root / 'left'
        first = self._folder / f'{self.source.names()[0]}.png'
        if png_header(first)[3] in _PNG_GREY:
            raise DatasetError(f'{first}: grey image; grey-to-colour pairs need a folder of '
                               'colour images')
        self.splits = {s: self.source.names(s) for s in SPLIT_NAMES}

    def names(self, split: str | None = None) -> list[str]:
        """Pair names of ``split`` ('train', 'val'), or all sorted when None."""
        return self.source.names(split)

    def read_a(self, name: str) -> np.ndarray:
        """Grey input of ``name``: uint8 (H, W, 3) with R = G = B (BT.601 luma)."""
        return to_grey_rgb(self.read_b(name))

    def read_b(self, name: str) -> np.ndarray:
        """Colour target of ``name``: uint8 RGB (H, W, 3)."""
        return read_rgb8(self._folder / f'{name}.png')


def open_paired(spec: Path | str, task: str | None = None) -> 'PairedDataset | GreyToColour':
    """
    Open pairs for translation from a folder.

    :param spec: a paired folder (paired.yaml) or a stereo dataset folder
        (calibration.yaml).
    :param task: 'grey2colour' gives GreyToColour over the folder's colour images; any
        other value (or None) gives the paired folder itself. A stereo dataset folder
        gives GreyToColour with None or 'grey2colour'.
    :raises DatasetError: neither kind of folder, or a stereo folder with another task.
    """
    root = Path(spec)
    if not root.is_dir():
        raise DatasetError(f'{root}: folder not found')
    if (root / MANIFEST_FILE).is_file():
        return GreyToColour(root) if task == GREY2COLOUR else load_paired(root)
    if (root / CALIBRATION_FILE).is_file():
        if task not in (None, GREY2COLOUR):
            raise DatasetError(f'{root}: a stereo dataset folder gives only {GREY2COLOUR} '
                               f'pairs, not task {task!r}; a paired folder has {MANIFEST_FILE}')
        return GreyToColour(root)
    raise DatasetError(f'{root}: neither a paired folder ({MANIFEST_FILE}, A/, B/) nor a '
                       f'stereo dataset folder ({CALIBRATION_FILE}, left/, right/)')


def main(argv: list[str] | None = None) -> int:
    """Check a folder as translation training opens it; 0, or 2 with ``error: ...``."""
    import argparse
    p = argparse.ArgumentParser(prog='python -m sorghum_depth_training.data.paired',
                                description='Check a paired folder (or the grey-to-colour '
                                'pairs of a colour dataset) and print what it holds.')
    p.add_argument('folder', type=Path, help='paired folder or stereo dataset folder')
    p.add_argument('--task', default=None, help=f'{GREY2COLOUR}: grey-to-colour pairs')
    args = p.parse_args(argv)
    try:
        pairs = open_paired(args.folder, args.task)
    except DatasetError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'{args.folder}: {type(pairs).__name__}, task {pairs.task}, b_encoding '
          f'{pairs.b_encoding}, {len(pairs.names("train"))} train + '
          f'{len(pairs.names("val"))} val pairs')
    return 0


if __name__ == '__main__':
    sys.exit(main())
