# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Argument types shared by the console scripts: a bad value is an argparse error (exit 2).

``type=positive`` refuses 0, negative numbers, NaN and infinity with a message naming the
option, before anything is read or written.
"""

import argparse
import math
from pathlib import Path


def _number(text: str, test, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not test(value):
        raise argparse.ArgumentTypeError(f'expected a finite number{what}, got {text!r}')
    return value


def positive(text: str) -> float:
    """Return ``text`` as a finite float > 0."""
    return _number(text, lambda v: v > 0, ' > 0')


def non_negative(text: str) -> float:
    """Return ``text`` as a finite float >= 0."""
    return _number(text, lambda v: v >= 0, ' >= 0')


def seconds(text: str) -> float:
    """Return ``text`` as a time in s, finite, >= 0 and at most 1e9 (about 31 years)."""
    return _number(text, lambda v: 0 <= v <= 1e9, ' in [0, 1e9] s')


def random_seed(text: str) -> int:
    """Return ``text`` as a random seed: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected a whole number >= 0, got {text!r}')
    return value


def finite(text: str) -> float:
    """Return ``text`` as a finite float."""
    return _number(text, lambda v: True, '')


def at_least_one(text: str) -> int:
    """Return ``text`` as an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected a whole number >= 1, got {text!r}')
    return value


def size_wxh(text: str) -> tuple[int, int]:
    """Return ``WIDTHxHEIGHT`` as (width, height) px, each at least 8."""
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT, got {text!r}') from None
    if w < 8 or h < 8:
        raise argparse.ArgumentTypeError(f'size must be at least 8x8, got {text!r}')
    return w, h


def folder_problem(path: Path) -> str | None:
    """Say why ``path`` cannot be (or become) a folder: a file there or above; else None."""
    if path.exists() and not path.is_dir():
        return f'{path} is a file'
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return None if parent.is_dir() else f'{path} cannot be created: {parent} is a file'
