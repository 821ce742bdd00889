#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Recipe benchmark: held-out depth error against CPU minutes, one training recipe each.

Every variant trains on the same data for the same CPU budget (one torch thread, no
loader workers, budget counted on the process's CPU clock, so other load on the machine
does not change it; ``--parallel`` variants at a time, one per core), keeps a snapshot
every ``--snapshot`` CPU minutes, and every snapshot is exported and scored on the
held-out sets of ``recipe_eval``:

  train: KITTI odometry seq1 + the first 35 frames of seq2 (KITTI rig, 0.54 m); the
         'mixed_rigs' variant adds the EuRoC bag, extracted and rectified (a 0.11 m
         indoor rig), and synthetic sorghum rows, seed 1000 (a 0.12 m rig).
  test:  KITTI seq2 tail vs SGBM (metric), Middlebury 2003 (median-aligned, beside the
         best constant); for the mixed variant also each other rig's metric accuracy:
         EuRoC's validation tail vs SGBM, fresh synthetic rows (seed 2000) vs exact GT.

Writes ``results/recipe.json`` and ``results/recipe.png`` (error against CPU minutes).
A variant whose run folder already holds a finished run is not trained again, so an
interrupted benchmark continues where it stopped. Takes about
``ceil(variants / parallel) * minutes`` plus evaluation; run it in the background:

  nohup python benchmarks/bench_recipe.py > recipe.log 2>&1 &
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
from matplotlib.ticker import ScalarFormatter
from recipe_eval import DATA, gan_check, HeldOut, HERE, score_model, score_sgbm
from sorghum_depth_training.data.dataset_dir import load_dataset
from sorghum_depth_training.data.hints import HintCache, pair_hints
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.loop.checkpoint import load_checkpoint

# Today's recipe as docs/training.md measured it (bench_train.py): from scratch, 128x448.
TODAY = ['generator.encoder=unet', 'data.height=128', 'data.width=448', 'optim.lr_g=2e-4',
         'optim.decay_at=0', 'loss.w_hint=0', 'loss.w_gan=0.01',
         'discriminator.base_channels=64', 'discriminator.downsample=1']
# What every new variant shares: a higher rate with monodepth2's step decay, and a
# discriminator sized for a CPU (32 channels, views at 1/2 size).
NEW = ['optim.lr_g=5e-4', 'optim.decay_at=0.75', 'discriminator.base_channels=32',
       'discriminator.downsample=2']
PRETRAINED = ['generator.encoder=efficientnet_lite0', 'data.height=128', 'data.width=416']
UNET = ['generator.encoder=unet', 'data.height=128', 'data.width=448']   # multiples of 64
BOTH = NEW + PRETRAINED + ['loss.w_hint=1']
HIRES = ['data.height=192', 'data.width=640']
# The shipped model's generator (config/train_small.yaml): MobileNetV2, a narrow decoder
SMALL = ['generator.encoder=mobilenet_v2', 'generator.dec_channels=[16,24,48,64,64]']
SHIPPED = HERE.parent / 'models' / 'sorghum_synth_small.ts'
# name -> (config overrides, training data: 'kitti'; 'mixed' = KITTI + EuRoC + synthetic
# rows; 'objects' = KITTI + synthetic object scenes)
VARIANTS = {
    'today': (TODAY, 'kitti'),
    'pretrained': (NEW + PRETRAINED + ['loss.w_hint=0', 'loss.w_gan=0.01'], 'kitti'),
    'hints': (NEW + UNET + ['loss.w_hint=1', 'loss.w_gan=0.01'], 'kitti'),
    'both_gan0': (BOTH + ['loss.w_gan=0'], 'kitti'),
    'both_gan': (BOTH + ['loss.w_gan=0.01'], 'kitti'),
    'both_gan_fullres': (BOTH + ['loss.w_gan=0.01', 'loss.full_res=true'], 'kitti'),
    'both_gan_mixed_rigs': (BOTH + ['loss.w_gan=0.01'], 'mixed'),
    'both_gan_hires': (BOTH + ['loss.w_gan=0.01'] + HIRES, 'kitti'),
    'both_gan_objects': (BOTH + ['loss.w_gan=0.01'], 'objects'),
    'both_gan_ema': (BOTH + ['loss.w_gan=0.01', 'optim.ema=0.995'], 'kitti'),
    'both_gan_ema_hint2': (BOTH + ['loss.w_gan=0.01', 'optim.ema=0.995', 'loss.w_hint=2'],
                           'kitti'),
    # round 4 (docs/training.md): one change each to the defaults
    'smooth003': (BOTH + ['loss.w_gan=0.01', 'loss.w_smooth=0.03'], 'kitti'),
    'adapt3': (BOTH + ['loss.w_gan=0.01', 'bn_adapt_epochs=3'], 'kitti'),
    'elr01': (BOTH + ['loss.w_gan=0.01', 'optim.encoder_lr_mult=0.1'], 'kitti'),
    'elr03': (BOTH + ['loss.w_gan=0.01', 'optim.encoder_lr_mult=0.3'], 'kitti'),
    'hint_area': (BOTH + ['loss.w_gan=0.01', 'data.hint_resize=area'], 'kitti'),
    'decay05': (BOTH + ['loss.w_gan=0.01', 'optim.decay_at=0.5'], 'kitti'),
    'batch8': (BOTH + ['loss.w_gan=0.01', 'batch_size=8'], 'kitti'),
    # round 5: the model fits its own frames to 12 % of SGBM where the hints are at 6 %
    'hint_always': (BOTH + ['loss.w_gan=0.01', 'loss.hint_gate=always'], 'kitti'),
    'hint3': (BOTH + ['loss.w_gan=0.01', 'loss.w_hint=3'], 'kitti'),
    'dec_wide': (BOTH + ['loss.w_gan=0.01', 'generator.dec_channels=[32,64,96,192,256]'],
                 'kitti'),
    # round 6: a lower rate; geometric variety from few frames (a zoom is a longer focal
    # length)
    'lr25': (BOTH + ['loss.w_gan=0.01', 'optim.lr_g=2.5e-4'], 'kitti'),
    'zoom': (BOTH + ['loss.w_gan=0.01', 'augment.zoom_prob=0.5', 'augment.zoom=[1.0,1.3]'],
             'kitti'),
    # round 7: camera corruptions (grey, blur, noise) as a regulariser on few frames
    'sensor': (BOTH + ['loss.w_gan=0.01', 'augment.grey_prob=0.3', 'augment.blur_prob=0.3',
                       'augment.noise_std=0.03'], 'kitti'),
    # round 8: fine-tuning the shipped model (synthetic scenes) on the street, against the
    # same generator from ImageNet
    'small': (BOTH + ['loss.w_gan=0.01'] + SMALL, 'kitti'),
    'small_init': (BOTH + ['loss.w_gan=0.01', f'init_from={SHIPPED}'] + SMALL, 'kitti'),
    # round 10: the rates lowered along a cosine instead of one drop at 3/4
    'cosine': (BOTH + ['loss.w_gan=0.01', 'optim.schedule=cosine'], 'kitti'),
    # round 11: channel dropout on the encoder's features, against the 3.6-point gap
    # between the model's fit of its own frames and of the held-out tail
    'dropout02': (BOTH + ['loss.w_gan=0.01', 'generator.dropout=0.2'], 'kitti'),
    # round 12: only the hints whose two views agree (36 % of the KITTI hints do not; the
    # agreeing ones are 2.7 % off SGBM, all of them 6.5 %: docs/training.md)
    'hint_lr1': (BOTH + ['loss.w_gan=0.01', 'data.hint_lr_check_px=1'], 'kitti'),
    # ... and, with the checked hints cleaner, followed everywhere (round 5's ungated pull
    # followed the unchecked ones, errors included)
    'hint_lr1_always': (BOTH + ['loss.w_gan=0.01', 'data.hint_lr_check_px=1',
                                'loss.hint_gate=always'], 'kitti'),
    # round 13: half the batch, about twice the steps in the same CPU time (batch 8, half
    # the steps, lost in round 4; the error falls most in the steps after the rate's drop)
    'batch2': (BOTH + ['loss.w_gan=0.01', 'batch_size=2'], 'kitti'),
    # ... and the other way to more steps: a smaller image, 96x320 (0.58x the pixels)
    'lowres': (BOTH + ['loss.w_gan=0.01', 'data.height=96', 'data.width=320'], 'kitti'),
    # ... or a later drop of the rates (round 4's earlier one, at 0.5, ended level)
    'decay085': (BOTH + ['loss.w_gan=0.01', 'optim.decay_at=0.85'], 'kitti'),
}


def _run(cmd: list[str]) -> None:
    print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def make_data(work: Path, synth_pairs: int) -> tuple[list[Path], Path]:
    """
    Import KITTI, extract EuRoC, render synthetic rows, fill the hints caches, once.

    :returns: (training dirs: the two KITTI ones first, then EuRoC, synthetic rows and
        synthetic object scenes; the synthetic test folder).
    """
    kitti = DATA / 'kitti_odometry'
    dirs = [work / 'data' / 'kitti_seq1', work / 'data' / 'kitti_seq2_head',
            work / 'data' / 'euroc', work / 'data' / 'synth_train',
            work / 'data' / 'synth_objects']
    if not (dirs[0] / 'calibration.yaml').is_file():
        _run([sys.executable, '-m', 'sorghum_depth_training.data.folder_import',
              str(kitti / 'seq1'), '-o', str(dirs[0]), '--overwrite'])
    if not (dirs[1] / 'calibration.yaml').is_file():
        _run([sys.executable, '-m', 'sorghum_depth_training.data.folder_import',
              str(kitti / 'seq2'), '-o', str(dirs[1]), '--max-pairs', '35', '--overwrite'])
    if not (dirs[2] / 'calibration.yaml').is_file():
        _run([sys.executable, '-m', 'sorghum_depth_training.data.extract',
              str(DATA / 'euroc_v101_stereo_bag'), '-o', str(dirs[2]), '--overwrite'])
    if not (dirs[3] / 'calibration.yaml').is_file():
        write_synthetic(dirs[3], count=synth_pairs, seed=1000, width=640, height=192)
    if not (dirs[4] / 'calibration.yaml').is_file():
        write_synthetic(dirs[4], count=synth_pairs, seed=1000, width=640, height=192,
                        scenes='objects')
    test = work / 'data' / 'synth_test'
    if not (test / 'calibration.yaml').is_file():
        write_synthetic(test, count=8, seed=2000, width=640, height=192)
    for folder in dirs:          # once, before variants train side by side
        HintCache(load_dataset(folder)).ensure()
    return dirs, test


def hint_cost(dirs: list[Path], pairs: int = 3) -> dict[str, float]:
    """Seconds to compute one pair's hints (both views), per dataset (its image size)."""
    out = {}
    for folder in dirs[1:]:
        dataset = load_dataset(folder)
        start = time.perf_counter()
        for name in dataset.names()[:pairs]:
            pair_hints(*dataset.read_pair(name))
        size = f'{dataset.calib.width}x{dataset.calib.height}'
        out[f'{folder.name} ({size})'] = (time.perf_counter() - start) / pairs
    return out


def _finished(run: Path, minutes: float) -> bool:
    last = run / 'checkpoints' / 'last.pt'
    return last.is_file() and load_checkpoint(last).get('train_seconds', 0) >= 60 * minutes


def train_dirs(which: str, data: list[Path]) -> list[Path]:
    """Return the training folders of a variant's data kind (make_data's order)."""
    return {'kitti': data[:2], 'mixed': data[:4], 'objects': data[:2] + data[4:5]}[which]


def _command(name: str, data: list[Path], run: Path, args: argparse.Namespace) -> list[str]:
    overrides, which = VARIANTS[name]
    data = train_dirs(which, data)
    # the benchmark's batch size first, so that a variant may set its own
    sets = ['batch_size=4'] + overrides + [
        f'max_minutes={args.minutes}', f'snapshot_minutes={args.snapshot}', 'epochs=100000',
        'threads=1', 'data.num_workers=0', f'seed={args.seed}',
        'image_every=0', 'checkpoint_minutes=5', 'clock=cpu']
    cmd = [sys.executable, '-m', 'sorghum_depth_training.loop.train', '--out', str(run),
           '--data', *map(str, data)] + [x for s in sets for x in ('--set', s)]
    if (run / 'checkpoints' / 'last.pt').is_file():
        cmd += ['--resume']
    return cmd


def train_all(names: list[str], data: list[Path], work: Path, args) -> None:
    """Train the variants, ``args.parallel`` at a time, each on one thread."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    todo = [n for n in names if not _finished(work / 'runs' / n, args.minutes)]
    running: dict[str, subprocess.Popen] = {}
    while todo or running:
        while todo and len(running) < args.parallel:
            name = todo.pop(0)
            run = work / 'runs' / name
            run.mkdir(parents=True, exist_ok=True)
            log = open(run / 'train.log', 'a')
            print(f'train {name}', flush=True)
            running[name] = subprocess.Popen(_command(name, data, run, args), env=env,
                                             stdout=log, stderr=subprocess.STDOUT)
        time.sleep(10)
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                print(f'{name}: exit {proc.returncode}', flush=True)
                if proc.returncode != 0:
                    raise SystemExit(f'{name} failed; see {work / "runs" / name / "train.log"}')
                del running[name]


def _export(checkpoint: Path) -> Path:
    model = checkpoint.with_suffix('.ts')
    if not model.is_file():
        _run([sys.executable, '-m', 'sorghum_depth_training.export.main', str(checkpoint),
              str(model)])
    return model


def _scores(checkpoint: Path, held: HeldOut, other_rigs: bool) -> dict:
    """Held-out scores of one checkpoint, cached beside it (the sets never change)."""
    cache = checkpoint.with_suffix('.scores.json')
    if cache.is_file() and cache.stat().st_mtime > checkpoint.stat().st_mtime:
        return json.loads(cache.read_text())
    scores = score_model(_export(checkpoint), held, other_rigs)
    cache.write_text(json.dumps(scores))
    return scores


def evaluate_run(name: str, work: Path, held: HeldOut, batch: int) -> dict:
    """Scores of every snapshot and of the final checkpoint of one variant."""
    ckpts = work / 'runs' / name / 'checkpoints'
    last = load_checkpoint(ckpts / 'last.pt')
    curve = []
    for snap in sorted(ckpts.glob('snap_*.pt')) + [ckpts / 'last.pt']:
        state = load_checkpoint(snap)
        row = {'checkpoint': snap.name, 'minutes': state['train_seconds'] / 60,
               'step': state['step']}
        row.update(_scores(snap, held, VARIANTS[name][1] == 'mixed'))
        curve.append(row)
        print(name, snap.name, json.dumps({k: row[k] for k in ('minutes', 'step')}),
              'kitti mae_pct %.1f, mb worst ratio %.2f, synth abs_rel %.3f' % (
                  row['kitti_metric']['mae_pct'], row['middlebury_worst_ratio'],
                  row.get('synthetic_metric', {}).get('abs_rel', float('nan'))), flush=True)
    return {'overrides': VARIANTS[name][0], 'data': VARIANTS[name][1], 'steps': last['step'],
            'train_minutes': last['train_seconds'] / 60,
            'pairs_per_s': last['step'] * batch / last['train_seconds'],
            'final': curve[-1], 'curve': curve}


def plot(results: dict, path: Path) -> None:
    """Held-out error against CPU minutes, one line per variant, one panel per set."""
    figure(results).savefig(path, dpi=100)


def figure(results: dict) -> plt.Figure:
    """Build plot's figure; a panel no variant was scored on says so, not left blank."""
    panels = (('KITTI seq2 tail, metric: mae_pct %', lambda r: r['kitti_metric']['mae_pct'], 15),
              ('Middlebury, median-aligned: worst mae_pct / best constant',
               lambda r: r['middlebury_worst_ratio'], 0.5),
              ('Synthetic rows, metric: abs_rel', lambda r: r['synthetic_metric']['abs_rel'],
               0.15))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, (title, get, target) in zip(axes, panels):
        for i, (name, res) in enumerate(results.items()):
            rows = [r for r in res['curve'] if 'Synthetic' not in title or
                    'synthetic_metric' in r]
            if rows:
                ax.plot([r['minutes'] for r in rows], [get(r) for r in rows], marker='o',
                        label=name, color=f'C{i}')
        if not ax.lines:
            ax.text(0.5, 0.5, 'not measured: only variants trained on\nsynthetic scenes are '
                    'scored on them', ha='center', va='center', transform=ax.transAxes)
        ax.axhline(target, color='grey', ls=':', lw=1, label='target')
        ax.set_title(title, fontsize=10)
        ax.set_xlabel('CPU minutes of training (1 thread)')
    axes[0].set_yscale('log')
    axes[0].yaxis.set_major_formatter(ScalarFormatter())   # 16, 20, 24, not 1.6 x 10^1
    axes[0].yaxis.set_minor_formatter(ScalarFormatter())
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def main() -> None:
    """Train every variant, score every snapshot, write JSON and the plot."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument('--minutes', type=float, default=30.0, help='CPU minutes per variant')
    p.add_argument('--snapshot', type=float, default=5.0, help='minutes between snapshots')
    p.add_argument('--parallel', type=int, default=2, help='variants trained at once')
    p.add_argument('--synth-pairs', type=int, default=100, help='synthetic training rows')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--work', type=Path, default=Path(tempfile.gettempdir()) / 'sorghum_recipe',
                   help='scratch folder, reused by a later run (default: %(default)s)')
    p.add_argument('--out', type=Path, default=HERE / 'results')
    p.add_argument('--name', default='recipe',
                   help='stem of the JSON and plot in --out (default recipe); give another '
                   'one when running a few variants, so the full table is kept')
    args = p.parse_args()
    data, synth_test = make_data(args.work, args.synth_pairs)
    start = time.time()
    train_all(args.variants, data, args.work, args)
    held = HeldOut.load(synth_test, data[2])
    results = {n: evaluate_run(n, args.work, held, 4) for n in args.variants}
    for name, res in results.items():
        if 'loss.w_gan=0' not in res['overrides']:
            dirs = train_dirs(res['data'], data)
            res['gan_check'] = gan_check(args.work / 'runs' / name / 'checkpoints' / 'last.pt',
                                         dirs)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.out / f'{args.name}.png')
    summary = {'settings': {k: str(v) for k, v in vars(args).items()} | {
        'cpu_count': os.cpu_count(), 'wall_minutes': (time.time() - start) / 60},
        'middlebury_best_constant_mae_pct': held.middlebury_floor,
        'hints_seconds_per_pair': hint_cost(data),
        'sgbm': score_sgbm(held), 'variants': results}
    (args.out / f'{args.name}.json').write_text(json.dumps(summary, indent=2))
    print(json.dumps({n: r['final'] for n, r in results.items()}, indent=1))


if __name__ == '__main__':
    main()
