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


def check_pairs(root: Path, names: list[str], width: int, height: int
                ) -> tuple[list[str], list[tuple[Path, str]]]:
    """
    Check the left and right PNG of each pair name against the calibration size.

    :returns: (names of the good pairs, [(bad file, reason), ...] one per bad pair).
    """
    good, bad = [], []
    for name in names:
        for side in ('left', 'right'):
            path = Path(root) / side / f'{name}.png'
            try:
                w, h = png_size(path)
            except ValueError as err:
                bad.append((path, str(err)))
                break
            if (w, h) != (width, height):
                bad.append((path, f'{w}x{h}, calibration says {width}x{height}'))
                break
        else:
            good.append(name)
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
