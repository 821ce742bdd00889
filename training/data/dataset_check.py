# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Check a dataset's image files from their headers, without decoding them.

A PNG starts with an 8-byte signature and the IHDR chunk (width and height, big-endian,
at bytes 16-23) and ends with the 12-byte IEND chunk: reading those 36 bytes finds a
missing, empty, foreign, cut-short or wrongly sized file in microseconds, so every pair
of a dataset is checked when it is opened rather than when training reaches it.

Writers build a dataset in a hidden ``.NAME.tmp-*`` folder beside it, marked with the
writer's process id; what a killed run left is found and removed by the next one.
"""

import os
from pathlib import Path
import shutil
import struct
import sys
import tempfile

import numpy as np
from sorghum_depth.errors import DatasetError

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
PNG_END = b'\x00\x00\x00\x00IEND\xaeB`\x82'
OWNER_FILE = '.writer_pid'


def png_size(path: Path) -> tuple[int, int]:
    """
    Return (width, height) in px of the PNG at ``path`` from its header.

    :raises ValueError: the reason the file is not a complete PNG (missing, empty, another
        format, cut short).
    """
    try:
        with open(path, 'rb') as f:
            head = f.read(24)
            size = f.seek(0, 2)
            f.seek(max(size - len(PNG_END), 0))
            tail = f.read()
    except FileNotFoundError:
        raise ValueError('missing') from None
    except OSError as err:
        raise ValueError(f'unreadable ({err.strerror})') from None
    if not head:
        raise ValueError('empty file (0 bytes)')
    if head[:8] != PNG_SIGNATURE or head[12:16] != b'IHDR':
        raise ValueError('not a PNG image')
    if tail != PNG_END:
        raise ValueError('cut short (no PNG end chunk)')
    return struct.unpack('>II', head[16:24])


def npy_shape(path: Path) -> tuple[int, ...]:
    """
    Return the array shape of the ``.npy`` file at ``path`` from its header.

    :raises ValueError: the reason it is not a whole ``.npy`` (missing, empty, cut short).
    """
    readers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with open(path, 'rb') as f:
            version = np.lib.format.read_magic(f)
            shape, _, dtype = readers[version](f)
            expected = f.tell() + int(np.prod(shape)) * dtype.itemsize
            size = f.seek(0, 2)
    except FileNotFoundError:
        raise ValueError('missing') from None
    except (OSError, ValueError, EOFError, KeyError) as err:
        raise ValueError(f'not a whole .npy file ({err or type(err).__name__})') from None
    if size < expected:
        raise ValueError(f'cut short ({size} of {expected} bytes)')
    return shape


def _problem(root: Path, name: str, width: int, height: int, gt: bool) -> tuple | None:
    """Return (file, reason) of the first bad file of pair ``name``, or None."""
    for side in ('left', 'right'):
        path = Path(root) / side / f'{name}.png'
        try:
            w, h = png_size(path)
        except ValueError as err:
            return path, str(err)
        if (w, h) != (width, height):
            return path, f'{w}x{h}, calibration says {width}x{height}'
    if gt:
        path = Path(root) / 'disp_gt' / f'{name}.npy'
        try:
            shape = npy_shape(path)
        except ValueError as err:
            return path, str(err)
        if tuple(shape) != (height, width):
            return path, f'shape {shape}, calibration says ({height}, {width})'
    return None


def check_pairs(root: Path, names: list[str], width: int, height: int, gt: bool = False
                ) -> tuple[list[str], list[tuple[Path, str]]]:
    """
    Check the left and right PNG (and with ``gt`` the disp_gt ``.npy``) of each pair.

    :returns: (names of the good pairs, [(bad file, reason), ...] one per bad pair).
    """
    good, bad = [], []
    for name in names:
        problem = _problem(root, name, width, height, gt)
        if problem is None:
            good.append(name)
        else:
            bad.append(problem)
    return good, bad


def _alive(pid_file: Path) -> bool:
    """Whether the process named in ``pid_file`` still runs (False if none is named)."""
    try:
        os.kill(int(pid_file.read_text(encoding='utf-8')), 0)
    except (OSError, ValueError):
        return False
    return True


def remove_stale_temporaries(out_dir: Path) -> list[Path]:
    """
    Remove what killed runs left beside ``out_dir``: hidden ``.NAME.tmp-*`` folders.

    A folder whose writer (its ``.writer_pid``) still runs is another live run's, and
    stays. Each removal is reported on stderr; returns the removed paths.
    """
    removed = []
    for path in sorted(Path(out_dir).parent.glob(f'.{Path(out_dir).name}.tmp-*')):
        if path.is_dir() and not _alive(path / OWNER_FILE):
            shutil.rmtree(path, ignore_errors=True)
            print(f'note: removed {path}, the partial output of an interrupted run',
                  file=sys.stderr)
            removed.append(path)
    return removed


def open_staging(out_dir: Path) -> Path:
    """
    Create the hidden ``.NAME.tmp-*`` folder a writer builds ``out_dir`` in.

    What killed runs left is removed first; the folder is marked with this process id and
    gets the permissions a plain mkdir would (not mkdtemp's 0700).

    :raises DatasetError: the folder cannot be created (the message names ``out_dir``).
    """
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out_dir)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.tmp-', dir=out_dir.parent))
        (tmp_dir / OWNER_FILE).write_text(str(os.getpid()), encoding='utf-8')
    except OSError as err:
        raise DatasetError(f'{out_dir}: cannot create the output folder ({err})') from err
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_dir, 0o777 & ~umask)
    return tmp_dir


def move_into_place(tmp_dir: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` (if any) with the finished ``tmp_dir``, the old one last removed."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(tmp_dir.name + '-old')
        out_dir.rename(old)
    tmp_dir.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
