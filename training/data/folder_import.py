# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Import a folder of rectified stereo pairs into a dataset folder.

sorghum-depth-import SRC -o OUT understands two layouts:
  KITTI style: SRC/image_l/, SRC/image_r/ and SRC/calib.txt with the left and right
    3x4 projection matrices P0 and P1 (one per line, optional "P0:" label):
    fx = P0[0], fy = P0[5], cx = P0[2], cy = P0[6], baseline_m = -P1[3] / P1[0].
  plain: SRC/left/ and SRC/right/; give --fx and --baseline (cx, cy default to the
    image centre).
Pairs are matched by file name; unmatched names are reported. The images must already
be rectified. Output as for sorghum-depth-extract (left/, right/, calibration.yaml,
splits/), written to a temporary folder and renamed at the end.

sorghum-depth-import --paired A_DIR B_DIR OUT imports two folders of matching images
into a paired folder for image translation instead (sorghum-depth-import --paired --help).
"""

import argparse
from pathlib import Path
import sys

import cv2
import numpy as np
from tqdm import tqdm

from .dataset_dir import Calibration, check_selection, DatasetError, DatasetWriter
from ..cli_types import finite, positive, size_wxh

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.pgm', '.tif', '.tiff')


def read_kitti_calib(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """
    Read P0 and P1 from a KITTI ``calib.txt``.

    :param path: the file; lines ``[P0:] 12 numbers`` and ``[P1:] 12 numbers``.
    :return: (P0, P1), each (3, 4) float64.
    :raises DatasetError: missing file or malformed lines (the message names the file).
    """
    if not path.is_file():
        raise DatasetError(f'{path}: calib.txt not found')
    rows = {}
    try:
        lines = [ln.split() for ln in path.read_text(encoding='utf-8').splitlines()
                 if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f'{path}: cannot read calib.txt, not a text file? ({e})') from e
    for k, parts in enumerate(lines):
        label = parts[0].rstrip(':') if parts[0].endswith(':') else f'P{k}'
        rows[label] = parts[1:] if parts[0].endswith(':') else parts
    try:
        p0, p1 = (np.array(rows[k], float).reshape(3, 4) for k in ('P0', 'P1'))
    except (KeyError, ValueError) as e:
        raise DatasetError(f'{path}: expected P0 and P1 lines of 12 numbers ({e})') from e
    return p0, p1


def _images(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DatasetError(f'{folder}: folder not found')
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def find_layout(src: Path, fx: float | None, baseline_m: float | None):
    """
    Recognise the folder layout and its calibration source.

    :param src: the source folder.
    :param fx: --fx (plain layout), or None.
    :param baseline_m: --baseline (plain layout), or None.
    :return: (left folder, right folder, P0 or None, P1 or None).
    :raises DatasetError: unknown layout or missing calibration.
    """
    if (src / 'image_l').is_dir() and (src / 'image_r').is_dir():
        p0, p1 = read_kitti_calib(src / 'calib.txt')
        return src / 'image_l', src / 'image_r', p0, p1
    if (src / 'left').is_dir() and (src / 'right').is_dir():
        if fx is None or baseline_m is None:
            raise DatasetError(f'{src}: plain left/ + right/ folders need --fx and --baseline')
        return src / 'left', src / 'right', None, None
    raise DatasetError(f'{src}: expected image_l/ + image_r/ + calib.txt (KITTI) or '
                       'left/ + right/ folders')


def _calibration(p0, p1, args, width: int, height: int, src: Path) -> Calibration:
    if p0 is not None:
        if not p1[0, 0] > 0 or not -p1[0, 3] / p1[0, 0] > 0:
            raise DatasetError(f'{src / "calib.txt"}: P1 gives no positive baseline')
        return Calibration(width, height, p0[0, 0], p0[1, 1], p0[0, 2], p0[1, 2],
                           -p1[0, 3] / p1[0, 0] + p0[0, 3] / p0[0, 0])
    if not args.fx > 0 or not args.baseline > 0:
        raise DatasetError('--fx and --baseline must be positive')
    cx = (width - 1) / 2 if args.cx is None else args.cx
    cy = (height - 1) / 2 if args.cy is None else args.cy
    return Calibration(width, height, args.fx, args.fy or args.fx, cx, cy, args.baseline)


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(f'{path}: unreadable image')
    return image


def import_folder(args: argparse.Namespace, log=print) -> int:
    """
    Import ``args.src`` into ``args.out`` (see build_parser for the arguments).

    :param args: parsed command line.
    :param log: where to print the summary.
    :return: number of pairs written.
    :raises DatasetError: bad input; nothing is left in ``args.out``.
    """
    left_dir, right_dir, p0, p1 = find_layout(args.src, args.fx, args.baseline)
    lefts, rights = _images(left_dir), _images(right_dir)
    names = sorted(set(lefts) & set(rights))
    un_l, un_r = len(set(lefts) - set(rights)), len(set(rights) - set(lefts))
    chosen = names[::args.stride][:args.max_pairs]
    if not chosen:
        raise DatasetError(f'{args.src}: no pairs with matching names in {left_dir.name}/ '
                           f'and {right_dir.name}/')
    with DatasetWriter(args.out, args.overwrite) as writer:
        calib, unreadable = _write_pairs(writer, chosen, lefts, rights, p0, p1, args)
        if calib is None:
            raise DatasetError(f'{args.src}: no readable pair among {len(chosen)} chosen')
        if args.size is not None:
            calib = calib.resized(*args.size)
        calib.source = {'tool': 'sorghum-depth-import', 'folder': str(args.src.resolve()),
                        'layout': 'kitti' if p0 is not None else 'plain',
                        'names': [chosen[0], chosen[-1]]}
        writer.finish(calib)
    written = len(chosen) - unreadable
    log(f'pairs written: {written}; dropped: {un_l} left without right, {un_r} right '
        f'without left, {len(names) - len(chosen)} by --stride/--max-pairs, {unreadable} '
        'unreadable')
    return written


def _write_pairs(writer: DatasetWriter, chosen: list[str], lefts: dict, rights: dict,
                 p0, p1, args) -> tuple[Calibration | None, int]:
    """Write the readable chosen pairs; return (calibration or None, unreadable count)."""
    calib, unreadable = None, 0
    for name in tqdm(chosen, desc=args.src.name, unit='pair', file=sys.stderr):
        try:
            left, right = _read(lefts[name]), _read(rights[name])
        except DatasetError as err:
            unreadable += 1
            print(f'warning: {err}; pair {name} skipped', file=sys.stderr)
            continue
        if left.shape != right.shape:
            raise DatasetError(f'left/right size mismatch: {lefts[name]} {left.shape}, '
                               f'{rights[name]} {right.shape}')
        if calib is None:
            calib = _calibration(p0, p1, args, left.shape[1], left.shape[0], args.src)
        elif left.shape[:2] != (calib.height, calib.width):
            raise DatasetError(f'{lefts[name]}: size {left.shape[1]}x{left.shape[0]} '
                               f'differs from the first pair ({calib.width}x{calib.height})')
        if args.size is not None:
            left, right = (cv2.resize(im, args.size, interpolation=cv2.INTER_AREA)
                           for im in (left, right))
        writer.add_pair(left, right)
    return calib, unreadable


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line interface of sorghum-depth-import."""
    p = argparse.ArgumentParser(prog='sorghum-depth-import', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('src', type=Path, help='source folder (KITTI style or left/ + right/)')
    p.add_argument('-o', '--out', type=Path, required=True, help='dataset folder to create')
    p.add_argument('--fx', type=positive, help='plain layout: focal length px')
    p.add_argument('--fy', type=positive, help='plain layout: fy px (default fx)')
    p.add_argument('--cx', type=finite, help='plain layout: cx px (default centre)')
    p.add_argument('--cy', type=finite, help='plain layout: cy px (default centre)')
    p.add_argument('--baseline', type=positive, help='plain layout: baseline in metres')
    p.add_argument('--stride', type=int, default=1, help='keep every N-th pair')
    p.add_argument('--max-pairs', type=int, default=None, help='stop after N pairs')
    p.add_argument('--size', type=size_wxh, default=None,
                   help='output WIDTHxHEIGHT (calibration is scaled)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing dataset')
    p.add_argument('--paired', nargs=3, metavar=('A_DIR', 'B_DIR', 'OUT'),
                   help='import input and target folders with matching names into a paired '
                   'folder instead (its options: sorghum-depth-import --paired --help)')
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return 0, or 2 with ``error: ...`` on stderr."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if '--paired' in argv:
        from .paired_import import main as paired_main
        return paired_main([a for a in argv if a != '--paired'])
    args = build_parser().parse_args(argv)
    try:
        check_selection(args.stride, args.max_pairs)
        import_folder(args)
    except DatasetError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'dataset written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
