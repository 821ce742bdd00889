#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Translation benchmark: the discriminator against a plain FCN on the same pairs.

Two tasks on synthetic sorghum rows, trained on the rows of one seed and scored on the
rows of another seed (never seen in training):

  stalks:      colour image -> stalk mask (exact from the renderer); IoU and boundary
               F-score of (a) pix2pix (PatchGAN + 100 L1), (b) the same U-Net with L1
               only, (c) the same U-Net with per-pixel cross-entropy (the plain FCN).
  grey2colour: grey image -> colour image; PSNR and SSIM of (a) and (b), beside the
               grey input itself as the prediction.

Every run trains on one torch thread with no loader workers, one run after another,
and its budget is counted on its own CPU clock (``clock=cpu``), so other load on the
machine does not change it. (a) runs first for ``--minutes`` CPU minutes; (b) and (c)
then train to (a)'s step count (checkpoint kept: "same steps") and go on to the same
CPU minutes ("same CPU"), so both comparisons come from one run each.

Writes ``results/translate.json`` and ``results/translate.png`` (input, target, (a),
(b), (c) for examples of the test rows). A finished run is not trained again, so an
interrupted benchmark continues where it stopped. Run it in the background:

  nohup python benchmarks/bench_translate.py > translate.log 2>&1 &
  python benchmarks/bench_translate.py --quick      # smoke run, a few minutes
"""

import argparse
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time

from sorghum_depth_training.loop.checkpoint import load_checkpoint
from translate_eval import (evaluate_checkpoint, GREY, grey_baseline, make_data, plot_panel,
                            STALKS, TEST_SEED, TRAIN_SEED)

HERE = Path(__file__).resolve().parent
# What each task sets on top of the built-in translate defaults (pix2pix's: Adam 2e-4,
# beta1 0.5, lambda 100, vanilla GAN, dropout 0.5, jitter and flip), so the benchmark
# does not change when a config file in config/ does.
TASK_SETS = {STALKS: ['task=translate', 'translate.source=paired',
                      'translate.generator.out_channels=1'],
             GREY: ['task=translate', 'translate.source=grey2colour',
                    'translate.generator.out_channels=3']}
# name -> (task, label, config overrides). The first variant of each task is pix2pix;
# it sets the step count the others are compared at.
VARIANTS = {
    'stalks_pix2pix': (STALKS, '(a) pix2pix: GAN + 100 L1', []),
    'stalks_l1': (STALKS, '(b) U-Net, L1 only', ['translate.loss.gan_weight=0']),
    'stalks_ce': (STALKS, '(c) U-Net, cross-entropy (FCN)',
                  ['translate.loss.gan_weight=0', 'translate.loss.kind=ce']),
    'grey2colour_pix2pix': (GREY, '(a) pix2pix: GAN + 100 L1', []),
    'grey2colour_l1': (GREY, '(b) U-Net, L1 only', ['translate.loss.gan_weight=0']),
}
MATCHED = 'at_pix2pix_steps.pt'


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def _state(run: Path) -> dict | None:
    last = run / 'checkpoints' / 'last.pt'
    return load_checkpoint(last) if last.is_file() else None


def _command(name: str, data: Path, run: Path, args, max_steps: int) -> list[str]:
    task, _, overrides = VARIANTS[name]
    sets = TASK_SETS[task] + overrides + [
        f'max_minutes={args.minutes}', f'max_steps={max_steps}', 'epochs=100000',
        'threads=1', 'data.num_workers=0', f'batch_size={args.batch}', f'seed={args.seed}',
        f'translate.height={args.height}', f'translate.width={args.width}',
        f'translate.generator.base_channels={args.channels}',
        f'translate.discriminator.base_channels={args.channels}',
        'image_every=0', 'checkpoint_minutes=5', 'clock=cpu', 'optim.decay_at=0']
    cmd = [sys.executable, '-m', 'sorghum_depth_training.loop.train', '--out', str(run),
           '--data', str(data)] + [x for s in sets for x in ('--set', s)]
    if (run / 'checkpoints' / 'last.pt').is_file():
        cmd += ['--resume']
    return cmd


def _train(name: str, data: Path, run: Path, args, max_steps: int = 0) -> dict:
    """Train (or resume) one run to ``max_steps`` (0: the CPU budget); its last state."""
    run.mkdir(parents=True, exist_ok=True)
    print(f'train {name}' + (f' to step {max_steps}' if max_steps else ''), flush=True)
    with open(run / 'train.log', 'a') as log:
        code = subprocess.run(_command(name, data, run, args, max_steps), env=_env(),
                              stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f'{name} failed (exit {code}); see {run / "train.log"}')
    return _state(run)


def _done(state: dict | None, minutes: float, max_steps: int = 0) -> bool:
    if state is None:
        return False
    if max_steps:
        return state['step'] >= max_steps
    return state['train_seconds'] >= 60 * minutes


def train_task(task: str, data: Path, work: Path, args) -> dict[str, dict]:
    """Train the task's variants one after another; checkpoints to score per variant."""
    names = [n for n in VARIANTS if VARIANTS[n][0] == task and n in args.variants]
    first = f'{task}_pix2pix'
    runs = {n: work / 'runs' / n for n in names}
    out: dict[str, dict] = {}
    steps = 0
    if first in runs:
        state = _state(runs[first])
        if not _done(state, args.minutes):
            state = _train(first, data, runs[first], args)
        steps = state['step']
        out[first] = {'same_cpu': runs[first] / 'checkpoints' / 'last.pt'}
    for name in names:
        if name == first:
            continue
        ckpts = runs[name] / 'checkpoints'
        if steps and not (ckpts / MATCHED).is_file():
            state = _train(name, data, runs[name], args, max_steps=steps)
            shutil.copyfile(ckpts / 'last.pt', ckpts / MATCHED)
        if not _done(_state(runs[name]), args.minutes):
            _train(name, data, runs[name], args, max_steps=0)
        out[name] = {'same_cpu': ckpts / 'last.pt'}
        if steps:
            out[name]['same_steps'] = ckpts / MATCHED
    return out


def _describe(path: Path) -> dict:
    state = load_checkpoint(path)
    return {'checkpoint': str(path), 'step': state['step'],
            'cpu_minutes': state['train_seconds'] / 60,
            'wall_minutes': state.get('wall_seconds', 0.0) / 60}


def score_all(ckpts: dict[str, dict], tests: dict[str, Path], args) -> dict:
    """Scores of every kept checkpoint on its task's test rows."""
    results = {}
    for name, kept in ckpts.items():
        task, label, overrides = VARIANTS[name]
        res = {'task': task, 'label': label, 'overrides': overrides}
        for which, path in kept.items():
            row = _describe(path)
            row.update(evaluate_checkpoint(path, tests[task], task))
            res[which] = row
            print(name, which, json.dumps({k: v for k, v in row.items()
                                           if k != 'checkpoint'}), flush=True)
        results[name] = res
    return results


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument('--minutes', type=float, default=3.0,
                   help='CPU minutes per variant (default %(default)s: 5 runs, about 30 '
                   'minutes of wall time on 2 cores shared with one other busy job)')
    p.add_argument('--quick', action='store_true',
                   help='smoke run: 0.3 CPU minutes per variant, 16 training rows, 4 test')
    p.add_argument('--train-rows', type=int, default=96)
    p.add_argument('--test-rows', type=int, default=16)
    p.add_argument('--height', type=int, default=128)
    p.add_argument('--width', type=int, default=448)
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--channels', type=int, default=32,
                   help='base channels of the U-Net and the PatchGAN (pix2pix: 64)')
    p.add_argument('--seed', type=int, default=0, help='training seed of every run')
    p.add_argument('--work', type=Path, default=Path(tempfile.gettempdir()) / 'sorghum_translate',
                   help='scratch folder, reused by a later run (default: %(default)s)')
    p.add_argument('--out', type=Path, default=HERE / 'results')
    p.add_argument('--name', default='translate',
                   help='file names of the JSON and panel (default %(default)s)')
    return p


def main() -> None:
    """Make the rows, train every variant, score, write JSON and the panel."""
    args = _parser().parse_args()
    if args.quick:
        args.minutes, args.train_rows, args.test_rows = 0.3, 16, 4
        args.work = args.work.with_name(args.work.name + '_quick')
        args.out = args.work / 'results'
    start, load_start = time.time(), os.getloadavg()
    data = make_data(args.work, args.train_rows, args.test_rows, args.height, args.width)
    ckpts = {}
    for task in (STALKS, GREY):
        ckpts.update(train_task(task, data[task]['train'], args.work, args))
    tests = {task: data[task]['test'] for task in data}
    results = score_all(ckpts, tests, args)
    args.out.mkdir(parents=True, exist_ok=True)
    labels = {n: v[1] for n, v in VARIANTS.items()}
    plot_panel(ckpts, tests, args.out / f'{args.name}.png', labels)
    summary = {
        'settings': {k: str(v) for k, v in vars(args).items()} | {
            'train_seed': TRAIN_SEED, 'test_seed': TEST_SEED, 'cpu_count': os.cpu_count(),
            'wall_minutes': (time.time() - start) / 60,
            'train_wall_minutes': sum(r['same_cpu']['wall_minutes'] for r in results.values()),
            'loadavg_start': load_start, 'loadavg_end': os.getloadavg(),
            'torch_threads_per_run': 1, 'runs': 'one after another'},
        'grey_input_baseline': grey_baseline(tests[GREY]) if GREY in tests else None,
        'variants': results}
    (args.out / f'{args.name}.json').write_text(json.dumps(summary, indent=2))
    print(json.dumps({n: {w: {k: v for k, v in r[w].items() if k != 'checkpoint'}
                          for w in ('same_steps', 'same_cpu') if w in r}
                      for n, r in results.items()}, indent=1))


if __name__ == '__main__':
    main()
