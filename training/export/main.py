# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Export a training checkpoint to ``model.ts`` and/or ``model.onnx``, the robot's model input.

The model takes float RGB in [0, 1], shape (B, 3, H, W) of ANY size, resizes it to the
training resolution, runs the generator and returns the left disparity in pixels of the
input width, shape (B, 1, H, W). ``metadata.json`` travels inside the file (ONNX: in its
metadata_props). --format onnx needs onnx and onnxscript (dynamo exporter). A model.ts
given as CHECKPOINT is converted (its weights and metadata rebuild the generator).

typical use:
  sorghum-depth-export runs/field/checkpoints/last.pt model.ts --post-process
  sorghum-depth-export runs/field/checkpoints/last.pt model.ts --format both
  sorghum-depth-export models/sorghum_synth_small.ts small.onnx --format onnx
"""

import argparse
import json
import math
import os
from pathlib import Path
import sys
from types import SimpleNamespace

import numpy as np
from sorghum_depth.inference import load_model, ModelLoadError, weights_sha256
import torch
from torch import nn

from .files import METADATA_FILE, temp_beside, write_torchscript  # noqa: F401 (tests)
from .resize import resize_aa, resize_bilinear
from ..loop.checkpoint import CheckpointError, exported_weights, load_checkpoint
from ..nets.generator import Generator, GeneratorConfig


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
        x = resize_aa(image, self.height, self.width)
        use_pp = self.post_process if post_process < 0 else post_process > 0
        disp = self._post_processed(x) if use_pp else self._left_disp(x)
        return resize_bilinear(disp * float(w), h, w)


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


def _build(checkpoint: Path, post_process: bool) -> SimpleNamespace:
    """
    Return what ``write_checked`` needs to export ``checkpoint`` (or a model.ts).

    A namespace of metadata, eager and scripted modules and the kind's ``compare``,
    ``to_onnx`` and ``describe``: depth here, translation in ``translate_export``.
    """
    if checkpoint.suffix == '.ts':
        from .onnx_export import ConvertError, generator_from_torchscript
        try:
            gen, meta = generator_from_torchscript(checkpoint, post_process)
        except ConvertError as err:
            raise ExportError(str(err)) from err
    else:
        state = load_checkpoint(checkpoint)
        if state.get('train_config', {}).get('task', 'depth') != 'depth':
            from .translate_export import build_from_state, is_translate
            if not is_translate(state):
                raise ExportError(f"unknown task {state['train_config']['task']!r} "
                                  "(expected 'depth' or 'translate')")
            return build_from_state(state)
        gen, meta = _from_checkpoint(state, post_process)
    meta.pop('weights_sha256', None)
    h, w = meta['input_height'], meta['input_width']
    eager = ExportedDepth(_FullResolution(gen.eval()), h, w, post_process)
    scripted = torch.jit.script(ExportedDepth(trace_generator(gen, h, w), h, w, post_process))
    meta['weights_sha256'] = weights_sha256(scripted)
    return SimpleNamespace(meta=meta, eager=eager, scripted=scripted, compare=compare,
                           to_onnx=_depth_onnx, describe=_describe, unit=' px')


def _depth_onnx(eager: nn.Module, meta: dict):
    from .onnx_export import to_onnx
    return to_onnx(eager, meta)


def _describe(path: Path, meta: dict, diff: float) -> str:
    return (f"exported {path} ({meta['input_width']}x{meta['input_height']}, baseline "
            f"{meta['baseline_m']:.3f} m); max |exported - eager| = {diff:.2e} px")


def _from_checkpoint(state: dict, post_process: bool) -> tuple[Generator, dict]:
    """Return (eval generator, metadata) of a depth checkpoint; ExportError if unusable."""
    check_geometry(state)
    # the checkpoint holds every weight: no need for the ImageNet weights package here
    try:
        gen = Generator(GeneratorConfig(**{**state['model']['generator'],
                                           'pretrained': False}))
        gen.load_state_dict(exported_weights(state))
        meta = build_metadata(state, post_process)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ExportError(f'checkpoint does not describe a generator ({err})') from err
    return gen.eval(), meta


def load_written(loader, path: Path, meta: dict, onnx: bool):
    """
    Load the written file with ``loader`` on the CPU, as the robot does; check its metadata.

    ``loader`` is ``load_model`` (depth) or ``load_translation_model`` (translation).

    :raises ExportError: the file does not load, or its metadata is not ``meta``.
    """
    try:
        loaded = loader(path, device='cpu', onnx=onnx)
    except ModelLoadError as err:
        raise ExportError(f'the new export does not load ({err})') from err
    if loaded.metadata != json.loads(json.dumps(meta)):
        raise ExportError('the new export does not carry the metadata written into it')
    return loaded


def compare(path: Path, eager: nn.Module, meta: dict, onnx: bool = False) -> float:
    """
    Load the written file as the robot does and compare it against ``eager``.

    :returns: largest |exported - eager| in px, at the training size and another size,
        with and without post-processing.
    :raises ExportError: the file does not load, or its metadata is not ``meta``.
    """
    loaded = load_written(load_model, path, meta, onnx)
    max_diff = 0.0
    gen_rng = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for size in ((meta['input_height'], meta['input_width']), (97, 211)):
            image = torch.rand(1, 3, *size, generator=gen_rng)
            rgb = image[0].permute(1, 2, 0).numpy()     # float (H, W, 3) in [0, 1]
            for pp in (0, 1):
                diff = np.abs(loaded.predict_disparity(rgb, bool(pp)) -
                              eager(image, pp)[0, 0].numpy()).max()
                max_diff = max(max_diff, float(diff))
    return max_diff


FORMATS = ('ts', 'onnx', 'both')


def output_paths(out: Path, fmt: str) -> dict[str, Path]:
    """
    Return {format: path} to write: ts -> OUT, onnx -> OUT, both -> OUT and OUT.onnx.

    :raises ExportError: OUT is a folder, or its name does not fit the format (a model
        is loaded by its suffix: ``.onnx`` is ONNX, anything else TorchScript).
    """
    if fmt not in FORMATS:
        raise ExportError(f'format {fmt!r}: expected one of {", ".join(FORMATS)}')
    if out.is_dir():
        raise ExportError(f'{out}: output is a folder; give a file name such as model.ts')
    is_onnx = out.suffix.lower() == '.onnx'
    if fmt == 'onnx' and not is_onnx:
        raise ExportError(f'{out}: an ONNX model must be named *.onnx (the loader goes by '
                          'the suffix)')
    if fmt != 'onnx' and is_onnx:
        raise ExportError(f'{out}: a TorchScript model must not be named *.onnx; use '
                          '--format onnx, or name it model.ts')
    paths = {'ts': out} if fmt != 'onnx' else {}
    if fmt != 'ts':
        paths['onnx'] = out if fmt == 'onnx' else out.with_suffix('.onnx')
    return paths


def export(checkpoint: Path, out: Path, post_process: bool = False,
           tolerance_px: float = math.inf, fmt: str = 'ts',
           diffs: dict | None = None, lines: list | None = None) -> tuple[dict, float]:
    """
    Write ``out`` (TorchScript and/or ONNX, with metadata) from ``checkpoint``, checked.

    A depth checkpoint gives a depth model, a ``task: translate`` one a translation
    model (``translate_export``); files are written by ``write_checked``.

    :param fmt: 'ts', 'onnx' or 'both' (see ``output_paths``).
    :param diffs: if given, filled with {path: largest |exported - eager|}.
    :param lines: if given, gets one printable line per file written.
    :returns: (TorchScript metadata, largest absolute difference over the files).
    :raises CheckpointError: unreadable checkpoint.
    :raises ExportError: unusable checkpoint, bad output name, an output that cannot be
        written, or a difference above ``tolerance_px`` (the message gives it).
    """
    paths = output_paths(Path(out), fmt)
    built = _build(Path(checkpoint), post_process)
    found = write_checked(paths, built, tolerance_px)
    if diffs is not None:
        diffs.update(found)
    if lines is not None:
        lines += [built.describe(path, built.meta, diff) for path, diff in found.items()]
    return built.meta, max(found.values())


def write_checked(paths: dict[str, Path], built: SimpleNamespace,
                  tolerance: float = math.inf) -> dict[Path, float]:
    """
    Write the files of ``paths`` ({format: path}) from ``built`` (``_build``), checked.

    Each file is written beside its final name under a temporary name, loaded back as the
    robot loads it, its metadata and its output compared against the eager module (at
    the training size and at another size; depth: post-processing on and off); only when
    every file passes do they replace their final names. On any failure (a full disk
    included) no output is touched and no temporary file stays.

    :returns: {path: largest |exported - eager|} (px for depth, [0, 1] for translation).
    :raises ExportError: an output that cannot be written, does not load, or differs by
        more than ``tolerance`` (ToleranceError).
    """
    meta, files = built.meta, {}
    if 'ts' in paths:
        files[paths['ts']] = (lambda p: write_torchscript(p, built.scripted, meta), meta)
    if 'onnx' in paths:
        from .onnx_export import write_onnx
        onnx_meta = dict(meta)
        proto = built.to_onnx(built.eager, onnx_meta)
        files[paths['onnx']] = (lambda p: write_onnx(p, proto), onnx_meta)
    temps, found = {}, {}
    try:
        for path, (writer, file_meta) in files.items():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                temps[path] = temp_beside(path)
                writer(temps[path])
            except OSError as err:
                raise ExportError(f'{path}: cannot write the model ({err})') from err
            diff = found[path] = built.compare(temps[path], built.eager, file_meta,
                                               onnx=path.suffix.lower() == '.onnx')
            if not diff <= tolerance:
                raise ToleranceError(f'exported model {path.name} differs from eager by '
                                     f'{diff:.2e}{built.unit} (tolerance {tolerance:.2e}'
                                     f'{built.unit}); '
                                     f'{" and ".join(map(str, files))} left as it was')
        while temps:
            path, tmp = temps.popitem()
            try:
                os.replace(tmp, path)
            except OSError as err:
                raise ExportError(f'{path}: cannot replace it with the new model '
                                  f'({err})') from err
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    return found


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
    p.add_argument('checkpoint', type=Path,
                   help='training checkpoint (.pt), or a model.ts to convert')
    p.add_argument('out', type=Path, help='file to write: model.ts (--format ts or both; '
                   'both also writes model.onnx beside it) or model.onnx (--format onnx)')
    p.add_argument('--format', choices=FORMATS, default='ts', dest='fmt',
                   help='ts (TorchScript, default), onnx (ONNX Runtime) or both')
    p.add_argument('--post-process', action='store_true',
                   help='flip post-processing on by default (2x compute, fewer edge artefacts)')
    p.add_argument('--tolerance', type=_tolerance, default=1e-3,
                   help='largest allowed |exported - eager| (default 1e-3): px for depth, '
                   'output units in [0, 1] for translation; a larger difference leaves OUT '
                   'as it was')
    args = p.parse_args(argv)
    lines = []
    try:
        export(args.checkpoint, args.out, args.post_process, args.tolerance, args.fmt,
               lines=lines)
    except (CheckpointError, ExportError) as err:
        print(f'error: {args.checkpoint}: cannot export: {err}', file=sys.stderr)
        return 1 if isinstance(err, ToleranceError) else 2
    except ImportError as err:
        print(f'error: --format {args.fmt} needs onnx and onnxscript ({err})', file=sys.stderr)
        return 2
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
