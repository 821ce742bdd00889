# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Quickstart: train the generator for a few hundred steps on one real stereo pair.

The smallest real end-to-end run of the training core: load a rectified pair (KITTI from
``../shared/data`` by default, a generated textured pair when that is absent), run the
full adversarial step (discriminator, then generator), and write a PNG panel and a JSON
summary of what happened.
"""

import argparse
import json
import os
from pathlib import Path
import sys
import time

import cv2
import numpy as np
import torch
from tqdm import tqdm

from .step import StepModels, train_step
from ..cli_types import at_least_one, folder_problem, non_negative, positive
from ..nets.discriminator import PatchDiscriminator
from ..nets.generator import count_parameters, Generator
from ..objectives.depth import LossConfig, reconstruct_views
from ..objectives.warp import reconstruct_right

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / 'shared' / 'data'
KITTI_PAIR = ('kitti_odometry/seq1/image_l/000000.png', 'kitti_odometry/seq1/image_r/000000.png')


def _read_bgr(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f'cannot read image {path}')
    return bgr


def _load_rgb(path: Path, size_hw: tuple[int, int], bgr: np.ndarray | None = None
              ) -> torch.Tensor:
    bgr = _read_bgr(path) if bgr is None else bgr
    rgb = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size_hw[::-1],
                     interpolation=cv2.INTER_AREA)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0


def _generated_pair(size_hw: tuple[int, int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random texture and its right view for a ground-plane disparity ramp."""
    h, w = size_hw
    g = torch.Generator().manual_seed(seed)
    left = torch.nn.functional.interpolate(torch.rand(1, 3, h // 4, w // 4, generator=g),
                                           size_hw, mode='bicubic', align_corners=False)
    left = left.clamp(0, 1)
    disp_px = torch.linspace(2.0, 0.06 * w, h).view(1, 1, h, 1).expand(1, 1, h, w)
    return left, reconstruct_right(left, disp_px / w)


def load_pair(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Load the pair to train on; also say where it came from."""
    size = tuple(args.size)
    if args.left and args.right:
        left, right = _read_bgr(args.left), _read_bgr(args.right)
        if left.shape != right.shape:
            raise ValueError(f'--left {args.left} is {left.shape[1]}x{left.shape[0]} but '
                             f'--right {args.right} is {right.shape[1]}x{right.shape[0]}; '
                             'give the two views of one rectified pair')
        return (_load_rgb(args.left, size, left), _load_rgb(args.right, size, right),
                str(args.left))
    data = Path(os.environ.get('SORGHUM_DEPTH_DATA', DEFAULT_DATA))
    left_path, right_path = (data / p for p in KITTI_PAIR)
    if left_path.exists() and right_path.exists():
        return _load_rgb(left_path, size), _load_rgb(right_path, size), f'KITTI {left_path}'
    left, right = _generated_pair(size, args.seed)
    return left, right, f'generated texture pair (no real data at {data})'


def _colour(disp: np.ndarray) -> np.ndarray:
    scaled = (255 * (disp - disp.min()) / max(float(np.ptp(disp)), 1e-6)).astype(np.uint8)
    return cv2.applyColorMap(scaled, cv2.COLORMAP_MAGMA)


def write_panel(path: Path, left: torch.Tensor, right: torch.Tensor, gen: Generator) -> None:
    """PNG: left | right / predicted left disparity | left reconstructed from the right."""
    with torch.no_grad():
        disp = gen(left)[0]
        left_est, _ = reconstruct_views(left, right, disp)

    def bgr(t):
        return cv2.cvtColor((t[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8),
                            cv2.COLOR_RGB2BGR)
    disp_px = disp[0, 0].numpy() * left.shape[-1]
    rows = [np.hstack([bgr(left), bgr(right)]), np.hstack([_colour(disp_px), bgr(left_est)])]
    cv2.imwrite(str(path), np.vstack(rows))


def run(args: argparse.Namespace) -> dict:
    """Train for ``args.steps`` steps and return the summary."""
    torch.manual_seed(args.seed)
    left, right, source = load_pair(args)
    gen, disc = Generator(), PatchDiscriminator()
    models = StepModels(gen, disc, torch.optim.Adam(gen.parameters(), args.lr),
                        torch.optim.Adam(disc.parameters(), args.lr / 10))
    cfg = LossConfig(w_gan=args.w_gan)
    print(f'training on {source} at {args.size[0]}x{args.size[1]}, '
          f'generator {count_parameters(gen) / 1e6:.1f} M parameters, {args.steps} steps')
    history, start = [], time.perf_counter()
    for _ in (bar := tqdm(range(args.steps), unit='step')):
        history.append(train_step(models, left, right, cfg))
        bar.set_postfix(appearance=f"{history[-1]['appearance']:.3f}")
    seconds = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    write_panel(args.out / 'quickstart.png', left, right, gen)
    summary = {'source': source, 'steps': args.steps, 'seconds': round(seconds, 1),
               'appearance_first': history[0]['appearance'],
               'appearance_last': history[-1]['appearance'], 'last_losses': history[-1]}
    (args.out / 'quickstart.json').write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog='sorghum-depth-quickstart', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--steps', type=at_least_one, default=150,
                        help='training steps (default 150)')
    parser.add_argument('--size', type=int, nargs=2, default=(128, 384), metavar=('H', 'W'),
                        help='training resolution, multiples of 64 (default 128 384)')
    parser.add_argument('--left', type=Path, help='left image of a rectified pair')
    parser.add_argument('--right', type=Path, help='right image of the same pair')
    parser.add_argument('--w-gan', type=non_negative, default=0.01, help='GAN weight (0 = off)')
    parser.add_argument('--lr', type=positive, default=1e-4, help='generator learning rate')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', type=Path, default=Path('demo_output'),
                        help='folder for quickstart.png and quickstart.json')
    args = parser.parse_args(argv)
    if any(v < 64 or v % 64 for v in args.size):
        parser.error(f'--size: H and W must be positive multiples of 64, got {args.size}')
    if (args.left is None) != (args.right is None):
        parser.error('--left and --right go together (the two views of one pair)')
    if folder_problem(args.out):
        parser.error(f'--out: {folder_problem(args.out)}; give a folder')
    try:
        s = run(args)
    except (FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    except OSError as err:
        print(f'error: {args.out}: cannot write the results ({err})', file=sys.stderr)
        return 2
    ratio = s['appearance_last'] / s['appearance_first']
    print(f"appearance loss {s['appearance_first']:.3f} -> {s['appearance_last']:.3f} "
          f"({ratio:.2f}x) in {s['seconds']} s; panel: {args.out / 'quickstart.png'}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
