# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
One Ctrl-C stops a process cleanly; the ones after it wait for that shutdown.

A held-down or repeated Ctrl-C raised a second ``KeyboardInterrupt`` inside the first
one's shutdown: the node was left half torn down and the process ended in tracebacks,
killed by SIGINT, or in a C++ abort ('terminate called ...') while its worker thread
was still in a forward pass.

Inside ``ctrl_c_held()`` a first Ctrl-C is held until the block ends. Importing torch or
ONNX Runtime runs Python code from C++ (pybind11); a ``KeyboardInterrupt`` raised there
cannot unwind through the C++ frames and the process aborts ('terminate called after
throwing an instance of pybind11::error_already_set'), as one node did when Ctrl-C came
about 1 s after its start, with torch initialising ``torch.distributed``.
"""

import contextlib
import signal
from typing import Iterator


_held = {'depth': 0, 'pending': False}


def _first_ctrl_c(signum, frame) -> None:
    """Ignore every later SIGINT, then stop the main thread with ``KeyboardInterrupt``."""
    # the first statement: Python skips a pending SIGINT whose handler is now SIG_IGN
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _held['depth']:
        _held['pending'] = True      # raised by ctrl_c_held() when its block ends
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c_held() -> Iterator[None]:
    """
    Hold a first Ctrl-C that comes inside the block; raise ``KeyboardInterrupt`` at its end.

    For imports of libraries that call Python from C++ (torch, ONNX Runtime, rclpy). Only
    where ``first_ctrl_c_only`` set the handler; elsewhere Ctrl-C acts as usual.
    """
    _held['depth'] += 1
    try:
        yield
    finally:
        _held['depth'] -= 1
        if not _held['depth'] and _held['pending']:
            _held['pending'] = False
            raise KeyboardInterrupt      # also over an error of the block: the user said stop


@contextlib.contextmanager
def first_ctrl_c_only() -> Iterator[None]:
    """
    Turn the first SIGINT into ``KeyboardInterrupt`` and ignore the rest, inside the block.

    Enter it before ``rclpy.init``: rclpy's own handler calls the one it found. After a
    Ctrl-C, SIGINT stays ignored (the process is ending); without one, the previous
    handler comes back, so in-process callers (tests) keep theirs.
    """
    previous = signal.signal(signal.SIGINT, _first_ctrl_c)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is _first_ctrl_c:
            signal.signal(signal.SIGINT, previous)
