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
import json
import os
from pathlib import Path
import sys

from sorghum_depth.inference import weights_sha256
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


def export(checkpoint: Path, out: Path, post_process: bool = False) -> tuple[dict, float]:
    """
    Write ``out`` (TorchScript + metadata) from ``checkpoint``; check it against eager.

    :returns: (metadata, largest absolute difference in px between exported and eager
        generator on a random image at the training size and at another size).
    """
    state = load_checkpoint(checkpoint)
    # the checkpoint holds every weight: no need for the ImageNet weights package here
    gen = Generator(GeneratorConfig(**{**state['model']['generator'], 'pretrained': False}))
    gen.load_state_dict(state['generator'])
    meta = build_metadata(state, post_process)
    h, w = meta['input_height'], meta['input_width']
    eager = ExportedDepth(_FullResolution(gen.eval()), h, w, post_process)
    scripted = torch.jit.script(ExportedDepth(trace_generator(gen, h, w), h, w, post_process))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f'.{out.name}.tmp')
    meta['weights_sha256'] = weights_sha256(scripted)
    scripted.save(str(tmp), _extra_files={METADATA_FILE: json.dumps(meta, indent=2)})
    os.replace(tmp, out)
    loaded = torch.jit.load(str(out), map_location='cpu')
    max_diff = 0.0
    gen_rng = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for size in ((meta['input_height'], meta['input_width']), (97, 211)):
            image = torch.rand(1, 3, *size, generator=gen_rng)
            for pp in (0, 1):
                diff = (loaded(image, pp) - eager(image, pp)).abs().max()
                max_diff = max(max_diff, float(diff))
    return meta, max_diff


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit 2 on bad input, 1 if the export does not match."""
    p = argparse.ArgumentParser(prog='sorghum-depth-export', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint', type=Path, help='training checkpoint (.pt)')
    p.add_argument('out', type=Path, help='TorchScript file to write (model.ts)')
    p.add_argument('--post-process', action='store_true',
                   help='flip post-processing on by default (2x compute, fewer edge artefacts)')
    p.add_argument('--tolerance', type=float, default=1e-3,
                   help='largest allowed |exported - eager| in px (default 1e-3)')
    args = p.parse_args(argv)
    try:
        meta, diff = export(args.checkpoint, args.out, args.post_process)
    except (CheckpointError, KeyError) as err:
        print(f'error: {args.checkpoint}: cannot export: {err}', file=sys.stderr)
        return 2
    print(f"exported {args.out} ({meta['input_width']}x{meta['input_height']}, baseline "
          f"{meta['baseline_m']:.3f} m); max |exported - eager| = {diff:.2e} px")
    if diff > args.tolerance:
        print(f'error: exported model differs from eager by {diff:.2e} px', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
