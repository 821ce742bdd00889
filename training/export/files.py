# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Model files written safely: in-memory TorchScript archives, temporary names beside OUT."""

import io
import json
import os
from pathlib import Path
import tempfile

from sorghum_depth.inference import METADATA_FILE
import torch


def write_torchscript(path: Path, scripted: torch.jit.ScriptModule, meta: dict) -> None:
    """
    Write the TorchScript file through Python file I/O, ``meta`` as its metadata.json.

    ``torch.jit.save`` to a path aborts the whole process when a write fails (the error
    is thrown in its writer's destructor), so the archive is built in memory.
    """
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer, _extra_files={METADATA_FILE: json.dumps(meta, indent=2)})
    with open(path, 'wb') as f:
        f.write(buffer.getbuffer())
        f.flush()
        os.fsync(f.fileno())


def temp_beside(out: Path) -> Path:
    """
    Create an empty hidden temporary file ``.NAME.PID.*.tmp`` beside ``out``.

    Such files of exports that were killed (their process is gone) are removed first.
    """
    for stale in out.parent.glob(f'.{out.name}.*.tmp'):
        pid = stale.name[len(out.name) + 2:].split('.', 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    fd, name = tempfile.mkstemp(prefix=f'.{out.name}.{os.getpid()}.', suffix='.tmp',
                                dir=out.parent)
    os.close(fd)
    umask = os.umask(0)     # read it back: mkstemp's 0600 would hide the model from the
    os.umask(umask)         # robot's user, so the file gets what open() would give it
    os.chmod(name, 0o666 & ~umask)
    return Path(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:          # another user's process
        return True
    except (OSError, OverflowError):
        return False
    return True
