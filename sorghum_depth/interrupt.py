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

A signal handler runs wherever the main thread is, and that can be a weakref callback
(importlib's module-lock clean-up, run by the garbage collector): an exception raised
there is printed as 'Exception ignored in ...' with a traceback and dropped. A node did
that under load: its Ctrl-C printed a traceback. So a ``KeyboardInterrupt`` of ours that
Python drops is raised again, once the callback has returned.
"""

import _thread
import contextlib
import signal
import sys
import time
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


def _interrupt_main_soon() -> None:
    """Send the main thread a SIGINT 50 ms from now (run in a thread of its own)."""
    time.sleep(0.05)
    _thread.interrupt_main(signal.SIGINT)


def _unraisable(previous):
    """Return a ``sys.unraisablehook`` that re-raises our dropped Ctrl-C, else ``previous``."""
    def hook(unraisable) -> None:
        ours = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        if ours and issubclass(unraisable.exc_type, KeyboardInterrupt):
            signal.signal(signal.SIGINT, _first_ctrl_c)     # armed again, for this one
            # from another thread, a moment later: the main thread runs the handler at
            # its next check, once this hook and the callback have returned (here, it
            # would be dropped again); _thread's start does not wait for the thread
            try:
                _thread.start_new_thread(_interrupt_main_soon, ())
                return
            except RuntimeError:             # the interpreter is shutting down
                pass
        previous(unraisable)
    return hook


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
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable(previous_hook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        if signal.getsignal(signal.SIGINT) is _first_ctrl_c:
            signal.signal(signal.SIGINT, previous)
