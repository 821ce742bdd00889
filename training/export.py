# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Export a training checkpoint to ``model.ts``, the robot's only model input.

The TorchScript module takes float RGB in [0, 1], shape (B, 3, H, W) of ANY size, resizes
it to the training resolution, runs the generator and returns the left disparity in
pixels of the input width, shape (B, 1, H, W). ``metadata.json`` travels inside the file.

typical use:
  sorghum-depth-export runs/field/checkpoints/last.pt model.ts --post-process
"""

import argparse
import io
import json
import math
import os
from pathlib import Path
import sys
import tempfile

from sorghum_depth.inference import load_model, ModelLoadError, weights_sha256
import torch
from torch import nn
import torch.nn.functional as F

from .checkpoint import CheckpointError, load_checkpoint
from .generator import Generator, GeneratorConfig

METADATA_FILE = 'metadata.json'


class _FullResolution(nn.Module):
    """The generator's full-resolution output only: (B, 3, H, W) -> (B, 2, H, W)."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.generator(image)[0]


def trace_generator(generator: Generator, height: int, width: int) -> torch.jit.ScriptModule:
    """
    Trace the eval-mode generator at its training size into TorchScript.

    The export always resizes to the training size, so tracing is exact; the pretrained
    encoders' library code cannot be scripted. The batch size stays free (traced at 2,
    run at 1 and 2 by the export check).
    """
    example = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return torch.jit.trace(_FullResolution(generator.eval()), example, check_trace=False)


class ExportedDepth(nn.Module):
    """Resize, run the generator, optional monodepth flip post-processing, to pixels."""

    def __init__(self, core: nn.Module, height: int, width: int, post_process: bool):
        """
        Wrap ``core``, trained at ``height`` x ``width``.

        ``core`` is ``trace_generator``'s result (or an eager module like it): it maps
        (B, 3, ``height``, ``width``) to the full-resolution (B, 2, H, W) disparity.
        """
        super().__init__()
        self.generator = core
        self.height, self.width = height, width
        self.post_process = post_process

    def _left_disp(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x)[:, :1]

    def _post_processed(self, x: torch.Tensor) -> torch.Tensor:
        """Blend the disparity of the image and of its mirror (Godard et al. 2017, 4.3)."""
        both = self._left_disp(torch.cat((x, x.flip(-1)), dim=0))
        disp, disp_flip = both[:x.shape[0]], both[x.shape[0]:].flip(-1)
        ramp = torch.linspace(0.0, 1.0, x.shape[-1], device=x.device, dtype=disp.dtype)
        left_mask = 1.0 - torch.clamp(20.0 * (ramp - 0.05), 0.0, 1.0)
        right_mask = left_mask.flip(0)
        mean = 0.5 * (disp + disp_flip)
        return right_mask * disp + left_mask * disp_flip + (1.0 - left_mask - right_mask) * mean

    def forward(self, image: torch.Tensor, post_process: int = -1) -> torch.Tensor:
        """
        Left disparity in pixels of the input width.

        :param image: (B, 3, H, W) float RGB in [0, 1], any H and W.
        :param post_process: 1 on, 0 off, -1 (default) as exported.
        :returns: (B, 1, H, W) disparity in px.
        """
        h, w = image.shape[-2], image.shape[-1]
        x = F.interpolate(image, size=(self.height, self.width), mode='bilinear',
                          align_corners=False, antialias=True)
        use_pp = self.post_process if post_process < 0 else post_process > 0
        disp = self._post_processed(x) if use_pp else self._left_disp(x)
        disp = F.interpolate(disp, size=(h, w), mode='bilinear', align_corners=False)
        return disp * float(w)


def build_metadata(state: dict, post_process: bool) -> dict:
    """Build the metadata.json of DESIGN.md from a checkpoint."""
    cfg = state['train_config']
    return {
        'format': 'sorghum_depth.model/1',
        'input_height': cfg['data']['height'], 'input_width': cfg['data']['width'],
        'max_disp_frac': cfg['generator']['max_disp_frac'],
        'baseline_m': state['calibration']['baseline_m'],
        'fx_over_width': state['calibration']['fx_over_width'],
        'colour': 'rgb', 'input_range': [0.0, 1.0], 'output': 'left disparity, px',
        'post_process': post_process, 'config_hash': state['config_hash'],
        'git_revision': state['git_revision'], 'torch_version': str(torch.__version__),
        'train_step': state['step'], 'rigs': state['calibration'].get('rigs', []),
        'reference_rig': state['calibration'].get('reference', 0),
        'encoder': state['model']['generator'].get('encoder', 'unet'),
        'generator': state['model']['generator'],
    }


class ExportError(ValueError):
    """The checkpoint cannot be exported or the new file failed its check; names why."""


class ToleranceError(ExportError):
    """The new export loads but differs from the eager generator by more than allowed."""


def check_geometry(state: dict) -> None:
    """Refuse a checkpoint whose rig geometry cannot give depth (ExportError)."""
    calib = state.get('calibration') or {}
    for key in ('baseline_m', 'fx_over_width'):
        value = calib.get(key)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ExportError(f'calibration {key} is {value!r}; a model needs a finite '
                              'positive value (check calibration.yaml of the dataset)')


def _build(checkpoint: Path, post_process: bool):
    """Return (metadata, eager module, scripted module) of ``checkpoint``."""
    state = load_checkpoint(checkpoint)
    check_geometry(state)
    # the checkpoint holds every weight: no need for the ImageNet weights package here
    try:
        gen = Generator(GeneratorConfig(**{**state['model']['generator'],
                                           'pretrained': False}))
        gen.load_state_dict(state['generator'])
        meta = build_metadata(state, post_process)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ExportError(f'checkpoint does not describe a generator ({err})') from err
    h, w = meta['input_height'], meta['input_width']
    eager = ExportedDepth(_FullResolution(gen.eval()), h, w, post_process)
    scripted = torch.jit.script(ExportedDepth(trace_generator(gen, h, w), h, w, post_process))
    meta['weights_sha256'] = weights_sha256(scripted)
    return meta, eager, scripted


def compare(path: Path, eager: nn.Module, meta: dict) -> float:
    """
    Load the written file as the robot does and compare it against ``eager``.

    :returns: largest |exported - eager| in px, at the training size and another size,
        with and without post-processing.
    :raises ExportError: the file does not load, or its metadata is not ``meta``.
    """
    try:
        loaded = load_model(path, device='cpu')
    except ModelLoadError as err:
        raise ExportError(f'the new export does not load ({err})') from err
    if loaded.metadata != json.loads(json.dumps(meta)):
        raise ExportError('the new export does not carry the metadata written into it')
    max_diff = 0.0
    gen_rng = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for size in ((meta['input_height'], meta['input_width']), (97, 211)):
            image = torch.rand(1, 3, *size, generator=gen_rng)
            for pp in (0, 1):
                diff = (loaded.module(image, pp) - eager(image, pp)).abs().max()
                max_diff = max(max_diff, float(diff))
    return max_diff


def _write(path: Path, scripted: torch.jit.ScriptModule, meta: dict) -> None:
    """
    Write the TorchScript file through Python file I/O.

    ``torch.jit.save`` to a path aborts the whole process when a write fails (the error
    is thrown in its writer's destructor), so the archive is built in memory.
    """
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer, _extra_files={METADATA_FILE: json.dumps(meta, indent=2)})
    with open(path, 'wb') as f:
        f.write(buffer.getbuffer())
        f.flush()
        os.fsync(f.fileno())


def _temp_beside(out: Path) -> Path:
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
    return Path(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:          # another user's process
        return True
    except (OSError, OverflowError):
        return False
    return True


def export(checkpoint: Path, out: Path, post_process: bool = False,
           tolerance_px: float = math.inf) -> tuple[dict, float]:
    """
    Write ``out`` (TorchScript + metadata) from ``checkpoint``, checked before it lands.

    The file is written beside ``out`` under a temporary name, loaded back as the robot
    loads it, its metadata and its output compared against the eager generator (at the
    training size and at another size); only a file that passes replaces ``out``. On
    any failure (a full disk included) ``out`` is untouched and no temporary file stays.

    :returns: (metadata, largest absolute difference in px between exported and eager).
    :raises CheckpointError: unreadable checkpoint.
    :raises ExportError: unusable checkpoint, an output that cannot be written, or a
        difference above ``tolerance_px`` (the message gives it).
    """
    out = Path(out)
    if out.is_dir():
        raise ExportError(f'{out}: output is a folder; give a file name such as model.ts')
    meta, eager, scripted = _build(checkpoint, post_process)
    tmp = None
    try:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = _temp_beside(out)
            _write(tmp, scripted, meta)
        except OSError as err:
            raise ExportError(f'{out}: cannot write the model ({err})') from err
        max_diff = compare(tmp, eager, meta)
        if not max_diff <= tolerance_px:
            raise ToleranceError(f'exported model differs from eager by {max_diff:.2e} px '
                                 f'(tolerance {tolerance_px:.2e} px); {out} left as it was')
        _replace(tmp, out)
        tmp = None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return meta, max_diff


def _replace(tmp: Path, out: Path) -> None:
    try:
        os.replace(tmp, out)
    except OSError as err:
        raise ExportError(f'{out}: cannot replace it with the new model ({err})') from err


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f'expected a finite number >= 0 (px), got {text!r}')
    return value


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit 2 on bad input, 1 if the export does not match."""
    p = argparse.ArgumentParser(prog='sorghum-depth-export', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint', type=Path, help='training checkpoint (.pt)')
    p.add_argument('out', type=Path, help='TorchScript file to write (model.ts)')
    p.add_argument('--post-process', action='store_true',
                   help='flip post-processing on by default (2x compute, fewer edge artefacts)')
    p.add_argument('--tolerance', type=_tolerance, default=1e-3,
                   help='largest allowed |exported - eager| in px (default 1e-3); a larger '
                   'difference leaves OUT as it was')
    args = p.parse_args(argv)
    try:
        meta, diff = export(args.checkpoint, args.out, args.post_process, args.tolerance)
    except (CheckpointError, ExportError) as err:
        print(f'error: {args.checkpoint}: cannot export: {err}', file=sys.stderr)
        return 1 if isinstance(err, ToleranceError) else 2
    print(f"exported {args.out} ({meta['input_width']}x{meta['input_height']}, baseline "
          f"{meta['baseline_m']:.3f} m); max |exported - eager| = {diff:.2e} px")
    return 0


if __name__ == '__main__':
    sys.exit(main())
