#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training benchmark on real KITTI frames: with the GAN and without, same seed and steps.

Trains on kitti_odometry seq1 (51 pairs) plus the first 35 frames of seq2, then scores
each exported model on the held-out last 16 frames of seq2 against (a) OpenCV SGBM
disparity of the true stereo pair as pseudo ground truth (on SGBM-valid pixels) and
(b) the photometric error of the left view rebuilt from the right one; and on
Middlebury 2003 with median alignment. Writes ``results/train.json`` and
``results/train_losses.png``.
"""

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time

import matplotlib.pyplot as plt  # Agg is chosen automatically without a display
import numpy as np
from sorghum_depth.inference import load_model
from sorghum_depth_training.evaluation.evaluate import evaluate_pairs, ModelPredictor
from sorghum_depth_training.evaluation.gt_io import find_pairs, read_rgb, StereoPair
from sorghum_depth_training.evaluation.sgbm import sgbm_disparity
from sorghum_depth_training.objectives.losses import appearance_loss
from sorghum_depth_training.objectives.warp import reconstruct_left
import torch

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get('SORGHUM_DEPTH_DATA', HERE.parents[1] / 'shared' / 'data'))
RUNS = {'gan': 0.01, 'no_gan': 0.0}


def _run(cmd: list[str]) -> None:
    print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def make_datasets(work: Path) -> list[Path]:
    """Import seq1 (all) and the first 35 pairs of seq2 as dataset folders."""
    kitti = DATA / 'kitti_odometry'
    out = [work / 'seq1', work / 'seq2_head']
    _run([sys.executable, '-m', 'sorghum_depth_training.data.folder_import', str(kitti / 'seq1'),
          '-o', str(out[0]), '--overwrite'])
    _run([sys.executable, '-m', 'sorghum_depth_training.data.folder_import', str(kitti / 'seq2'),
          '-o', str(out[1]), '--max-pairs', '35', '--overwrite'])
    return out


def kitti_heldout(n: int = 16) -> list[StereoPair]:
    """Last ``n`` frames of seq2 with SGBM disparity of the true pair as pseudo-GT."""
    seq2 = DATA / 'kitti_odometry' / 'seq2'
    pairs = []
    for left_path in sorted((seq2 / 'image_l').glob('*.png'))[-n:]:
        left, right = read_rgb(left_path), read_rgb(seq2 / 'image_r' / left_path.name)
        pseudo = np.nan_to_num(sgbm_disparity(left, right), nan=0.0)
        pairs.append(StereoPair(f'seq2/{left_path.stem}', left, right, pseudo))
    return pairs


def photometric(model, pairs: list[StereoPair]) -> float:
    """Mean appearance error of the left view rebuilt from the right with the prediction."""
    errors = []
    for pair in pairs:
        left = torch.from_numpy(pair.left_rgb).permute(2, 0, 1)[None].float() / 255
        right = torch.from_numpy(pair.right_rgb).permute(2, 0, 1)[None].float() / 255
        disp = torch.from_numpy(model.predict_disparity(pair.left_rgb))[None, None]
        errors.append(float(appearance_loss(reconstruct_left(right, disp / left.shape[-1]),
                                            left)))
    return float(np.mean(errors))


def train_and_export(name: str, w_gan: float, data: list[Path], work: Path,
                     args: argparse.Namespace) -> dict:
    """Train one model, export it, return timing figures."""
    run = work / name
    sets = [f'loss.w_gan={w_gan}', f'max_steps={args.steps}', 'epochs=1000',
            f'batch_size={args.batch}', f'data.height={args.height}',
            f'data.width={args.width}', 'data.num_workers=1', f'seed={args.seed}',
            f'optim.lr_g={args.lr}', 'image_every=100']
    cmd = [sys.executable, '-m', 'sorghum_depth_training.loop.train', '--out', str(run),
           '--data', *map(str, data)] + [x for s in sets for x in ('--set', s)]
    start = time.perf_counter()
    _run(cmd)
    seconds = time.perf_counter() - start
    _run([sys.executable, '-m', 'sorghum_depth_training.export.main',
          str(run / 'checkpoints' / 'last.pt'), str(run / 'model.ts')])
    return {'w_gan': w_gan, 'train_seconds': seconds,
            'pairs_per_s': args.steps * args.batch / seconds, 'run': str(run)}


def evaluate_run(result: dict, heldout: list[StereoPair], work: Path) -> None:
    """Add KITTI pseudo-GT, photometric and Middlebury metrics to ``result``."""
    model = load_model(Path(result['run']) / 'model.ts', device='cpu')
    kitti = evaluate_pairs(heldout, {'model': ModelPredictor(model)}, progress=False)
    result['kitti_heldout_vs_sgbm'] = kitti['methods']['model']['mean']
    result['kitti_heldout_photometric'] = photometric(model, heldout)
    mb = find_pairs(DATA / 'middlebury2003')
    report = evaluate_pairs(mb, {'model': ModelPredictor(model)}, alignments=('median',),
                            out_dir=work / f"mb_{Path(result['run']).name}", progress=False)
    result['middlebury_median'] = report['methods']['model']['mean']['median']
    result['middlebury_per_scene'] = {k: v['median'] for k, v in
                                      report['methods']['model']['per_pair'].items()}


def plot_losses(results: dict, path: Path) -> None:
    """Plot generator, discriminator and total loss against step for both runs."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for name, res in results.items():
        rows = [json.loads(x) for x in (Path(res['run']) / 'losses.jsonl').read_text()
                .splitlines() if '"train"' in x]
        steps = [r['step'] for r in rows]
        for ax, key in zip(axes, ('generator', 'discriminator', 'total')):
            ax.plot(steps, [r[key] for r in rows], label=f"{name} (w_gan={res['w_gan']})")
            ax.set_title(key)
            ax.set_xlabel('step')
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    """Run both trainings and evaluations; write JSON and the loss plot."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--steps', type=int, default=400)
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--height', type=int, default=128)
    p.add_argument('--width', type=int, default=448)
    p.add_argument('--lr', type=float, default=2e-4)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--work', type=Path, default=None, help='scratch folder (default: temp)')
    p.add_argument('--out', type=Path, default=HERE / 'results')
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix='sorghum_bench_train_'))
    data = make_datasets(work)
    heldout = kitti_heldout()
    results = {}
    for name, w_gan in RUNS.items():
        results[name] = train_and_export(name, w_gan, data, work, args)
        evaluate_run(results[name], heldout, work)
    args.out.mkdir(parents=True, exist_ok=True)
    plot_losses(results, args.out / 'train_losses.png')
    summary = {'settings': vars(args) | {'work': str(work), 'out': str(args.out),
                                         'device': 'cpu', 'cpu_count': os.cpu_count()},
               'runs': results}
    (args.out / 'train.json').write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, indent=2, default=str))


if __name__ == '__main__':
    main()
