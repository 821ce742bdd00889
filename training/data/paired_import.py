# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Import two folders of matching images into a paired folder (image translation).

sorghum-depth-import --paired A_DIR B_DIR OUT: A_DIR holds the inputs, B_DIR the
targets, matched by file name without the extension (a.jpg pairs with a.png); a name in
one folder and not the other is refused, naming the first few on each side. Inputs are
written as rgb8 PNG (grey repeated, alpha dropped, 16 bit scaled to 8); targets as rgb8
PNG, or as mono8 masks of 0/255 (a 0/1 mask is scaled, anything else thresholded at
128). The split is a seeded random draw. The folder is built beside OUT and renamed
only when complete; an existing OUT is replaced only with --overwrite and only if it is
a paired folder. Layout: docs/data.md, "Paired folders".
"""

import argparse
from pathlib import Path
import sys

import cv2
import numpy as np
from sorghum_depth.errors import DatasetError
from tqdm import tqdm

from .folder_import import IMAGE_SUFFIXES
from .paired import B_ENCODINGS, check_names, read_mono8, read_rgb8
from .paired_write import PairedWriter
from ..cli_types import random_seed, size_wxh


def _images(folder: Path) -> dict[str, Path]:
    """Return {stem: path} of the images in ``folder``; refuse two files of one stem."""
    if not folder.is_dir():
        raise DatasetError(f'{folder}: folder not found')
    found = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES or p.name.startswith('.'):
            continue
        if p.stem in found:
            raise DatasetError(f'{folder}: two images named {p.stem!r} ({found[p.stem].name}, '
                               f'{p.name}); names must be unique without the extension')
        if p.stem != p.stem.strip() or '\n' in p.stem or '\r' in p.stem:
            raise DatasetError(f'{p}: a name with leading or trailing blanks or a line break '
                               'cannot go in a split file; rename it')
        found[p.stem] = p
    if not found:
        raise DatasetError(f'{folder}: no images ({", ".join(IMAGE_SUFFIXES)})')
    return found


def guess_b_encoding(path: Path) -> str:
    """Return 'mono8' if the image at ``path`` is grey (one channel or R = G = B)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(f'{path}: unreadable image (the first target decides --b-encoding '
                           'auto; give --b-encoding)')
    if image.ndim == 2:
        return 'mono8'
    bgr = image[:, :, :3]
    return 'mono8' if (bgr == bgr[:, :, :1]).all() else 'rgb8'


def to_mask(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """
    Return (uint8 mask 0/255, whether values had to be thresholded).

    A 0/1 image is scaled to 0/255; 0/255 is kept; anything else is 255 where >= 128.
    """
    if grey.max(initial=0) <= 1:
        return grey * np.uint8(255), False
    mask = np.where(grey >= 128, 255, 0).astype(np.uint8)
    return mask, bool((mask != grey).any())


def _read_pair(a_path: Path, b_path: Path, b_encoding: str, size) -> tuple:
    """Read one pair: (a rgb8, b, thresholded?); refuse a size mismatch."""
    a = read_rgb8(a_path)
    b = read_mono8(b_path) if b_encoding == 'mono8' else read_rgb8(b_path)
    if a.shape[:2] != b.shape[:2]:
        raise DatasetError(f'size mismatch: {a_path} is {a.shape[1]}x{a.shape[0]}, {b_path} '
                           f'is {b.shape[1]}x{b.shape[0]}')
    if size is not None:
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, size, interpolation=cv2.INTER_NEAREST if b_encoding == 'mono8'
                       else cv2.INTER_AREA)
    thresholded = False
    if b_encoding == 'mono8':
        b, thresholded = to_mask(b)
    return a, b, thresholded


def import_paired(args: argparse.Namespace, log=print) -> int:
    """
    Import ``args.a_dir`` and ``args.b_dir`` into ``args.out`` (see build_parser).

    :return: number of pairs written.
    :raises DatasetError: bad input; nothing is left in ``args.out``.
    """
    a_files, b_files = _images(args.a_dir), _images(args.b_dir)
    names = check_names(a_files, b_files, str(args.a_dir), str(args.b_dir))
    b_encoding = args.b_encoding
    if b_encoding == 'auto':
        b_encoding = guess_b_encoding(b_files[names[0]])
    task = args.task or ('segmentation' if b_encoding == 'mono8' else 'translation')
    unreadable, thresholded = 0, 0
    with PairedWriter(args.out, b_encoding, task, args.overwrite) as writer:
        for name in tqdm(names, desc=args.a_dir.name, unit='pair', file=sys.stderr):
            try:
                a, b, cut = _read_pair(a_files[name], b_files[name], b_encoding, args.size)
            except DatasetError as err:
                if str(err).startswith('size mismatch'):
                    raise
                unreadable += 1
                print(f'warning: {err}; pair {name} skipped', file=sys.stderr)
                continue
            thresholded += cut
            writer.add(name, a, b)
        if not writer.names:
            raise DatasetError(f'{args.a_dir}, {args.b_dir}: no readable pair among '
                               f'{len(names)}')
        writer.finish(args.val_fraction, args.seed, extra={'source': {
            'tool': 'sorghum-depth-import --paired', 'a_dir': str(args.a_dir.resolve()),
            'b_dir': str(args.b_dir.resolve()), 'seed': int(args.seed)}})
    log(f'pairs written: {len(writer.names)} (b_encoding {b_encoding}, task {task}); '
        f'{unreadable} unreadable skipped'
        + (f'; {thresholded} masks thresholded at 128' if thresholded else ''))
    return len(writer.names)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f'expected a number in [0, 1), got {text!r}')
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line interface of sorghum-depth-import --paired."""
    p = argparse.ArgumentParser(prog='sorghum-depth-import --paired', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('a_dir', type=Path, help='folder of input images')
    p.add_argument('b_dir', type=Path, help='folder of targets with the same names')
    p.add_argument('out', type=Path, help='paired folder to create')
    p.add_argument('--b-encoding', choices=('auto',) + B_ENCODINGS, default='auto',
                   help='targets as rgb8 or mono8 0/255 masks (auto: mono8 if the first '
                   'target is grey)')
    p.add_argument('--task', default=None,
                   help='free text for paired.yaml (default segmentation or translation)')
    p.add_argument('--val-fraction', type=_fraction, default=0.1,
                   help='share of pairs drawn for splits/val.txt (default 0.1)')
    p.add_argument('--seed', type=random_seed, default=0, help='seed of the split draw')
    p.add_argument('--size', type=size_wxh, default=None,
                   help='resize both to WIDTHxHEIGHT (masks: nearest neighbour)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing paired folder')
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return 0, or 2 with ``error: ...`` on stderr."""
    args = build_parser().parse_args(argv)
    try:
        import_paired(args)
    except DatasetError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'paired folder written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
