#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Rebuild the shipped default model ``models/sorghum_synth_small.ts`` and ``.onnx``.

Run by ``make default-model`` (the recorded command).

Renders 600 synthetic scenes (seed 1000; one third sorghum rows, two thirds object scenes),
trains the generator of ``config/train_small.yaml`` on them (the CPU recipe of
``docs/training.md``: pretrained MobileNetV2, stereo hints, the light PatchGAN; 1861 steps,
25 CPU minutes on the machine that trained the shipped weights), exports it with flip
post-processing on by default (docs/training.md says why), and scores it on fresh scenes
of another seed beside OpenCV SGBM and the best constant disparity; the figures go to
``models/sorghum_synth_small.json``.
"""

import argparse
import json
from pathlib import Path
import sys
import tempfile
import time

import numpy as np
from sorghum_depth.inference import load_model
from sorghum_depth_training.cli_types import at_least_one, positive
from sorghum_depth_training.data.synthetic import SCENES, write_synthetic
from sorghum_depth_training.evaluation.evaluate import (evaluate_pairs, ModelPredictor,
                                                        sgbm_predictor)
from sorghum_depth_training.evaluation.gt_io import find_pairs, PairRef, StereoPair
from sorghum_depth_training.evaluation.metrics import best_constant_disparity
from sorghum_depth_training.export import main as export
from sorghum_depth_training.loop import train
from sorghum_depth_training.loop.checkpoint import load_checkpoint
from sorghum_depth_training.loop.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / 'models' / 'sorghum_synth_small.ts'
CONFIG = REPO / 'config' / 'train_small.yaml'
STEPS = 1861    # the shipped weights' steps: 25 CPU minutes on the machine that trained them


def constant_predictor(pair: StereoPair) -> np.ndarray:
    """Oracle floor: the one disparity with the lowest mae_pct on this pair's GT."""
    const = best_constant_disparity(pair.disp_gt_px, pair.mask)
    return np.full(pair.disp_gt_px.shape, const, np.float32)


def real_scenes(predictors: dict) -> dict:
    """
    Median-aligned mae_pct on real scenes the model never saw, beside the best constant.

    The constant is each scene's best single disparity (the floor of ``recipe_eval``),
    scored as it is: aligning it by the median would make it worse.

    Middlebury 2003 (4 scenes, exact GT) and the last 16 frames of KITTI odometry seq2
    (SGBM of the true pair as GT) from ``../shared/data``, and Middlebury 2014 Motorcycle
    (exact GT) from the scikit-image wheel: measured, never trained on (their terms allow
    testing, not shipping). A set whose files are absent is left out.
    """
    out = {}
    for name, pairs in _real_sets().items():
        rows = {}
        for method, alignment in (('model', 'median'), ('best_constant', 'metric')):
            report = evaluate_pairs(pairs, {method: predictors[method]},
                                    alignments=(alignment,), progress=False)
            result = report['methods'][method]
            rows[method] = {pair: round(row[alignment]['mae_pct'], 1)
                            for pair, row in result['per_pair'].items()}
            rows[method]['mean'] = round(result['mean'][alignment]['mae_pct'], 1)
        out[name] = rows
    return out


def _real_sets() -> dict[str, list[StereoPair]]:
    """Return the loaded real scenes of real_scenes, by set; the absent sets left out."""
    sys.path.insert(0, str(REPO / 'benchmarks'))       # benchmarks/ is not a package
    from recipe_eval import DATA, kitti_heldout, load_motorcycle
    sets = {}
    if (DATA / 'middlebury2003').is_dir():
        sets['middlebury2003'] = [p.load() if isinstance(p, PairRef) else p
                                  for p in find_pairs(DATA / 'middlebury2003')]
        sets['kitti_seq2_tail'] = kitti_heldout()
    moto = load_motorcycle()
    if moto is not None:
        sets['middlebury2014'] = [moto]
    return sets


def main() -> None:
    """Render, train, export and score the default model."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--pairs', type=at_least_one, default=600,
                   help='training scenes (default 600)')
    budget = p.add_mutually_exclusive_group()
    budget.add_argument('--steps', type=at_least_one, default=STEPS,
                        help=f"training steps (default {STEPS}, the shipped weights' count: the "
                        'same model on any machine, 25 CPU minutes on a fast one, about 50 on '
                        'one half as fast)')
    budget.add_argument('--minutes', type=positive, default=None,
                        help='train for this many CPU minutes instead of --steps (a faster '
                        'machine gets more steps, a slower one fewer and a worse model)')
    p.add_argument('--scenes', choices=SCENES, default='mixed',
                   help='synthetic scenes to train on (default mixed: one third rows, two '
                   'thirds object scenes; docs/training.md says why)')
    p.add_argument('--model', type=Path, default=MODEL,
                   help=f'model to write, .ts and .onnx (default {MODEL.relative_to(REPO)})')
    p.add_argument('--work', type=Path, default=None, help='scratch folder (default: temp)')
    p.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                   help='extra training config override (repeatable), as sorghum-depth-train')
    p.add_argument('--score-only', action='store_true',
                   help='score the existing --model again (no training); update its .json')
    args = p.parse_args()
    if args.score_only and not args.model.is_file():
        p.error(f'--score-only: {args.model} does not exist (train it first, or give --model)')
    args.overrides = training_overrides(args, p)
    summary = _facts(args.model) if args.score_only else None
    work = args.work or Path(tempfile.mkdtemp(prefix='sorghum_default_model_'))
    write_synthetic(work / 'test', count=8, seed=2000, width=640, height=192,
                    overwrite=True)
    if summary is None:
        summary = train_and_export(args, work)
    summary.update(score(args.model, work / 'test'))
    args.model.with_suffix('.json').write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


def training_overrides(args: argparse.Namespace, p: argparse.ArgumentParser) -> list[str]:
    """Return the budget and ``--set`` overrides of the training config, checked now."""
    budget = ([f'max_minutes={args.minutes}', 'max_steps=0'] if args.minutes
              else ['max_minutes=0', f'max_steps={args.steps}'])
    try:
        load_config(CONFIG, budget + args.set)
    except ConfigError as err:
        p.error(f'--set: {err}')
    return budget + args.set


def _facts(model: Path) -> dict:
    """Return the model's recorded facts (its .json beside it); none if it has none."""
    path = model.with_suffix('.json')
    if not path.is_file():
        return {}
    try:
        facts = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        facts = err
    if not isinstance(facts, dict):
        print(f'error: {path} is not a JSON object of facts ({facts}); move it away to score '
              'the model again', file=sys.stderr)
        raise SystemExit(2)
    return facts


def train_and_export(args: argparse.Namespace, work: Path) -> dict:
    """Render the training scenes, train, export both formats (post-processing on); facts."""
    start = time.perf_counter()
    write_synthetic(work / 'train', count=args.pairs, seed=1000, width=640, height=192,
                    scenes=args.scenes)
    code = train.main(['--config', str(CONFIG), '--data', str(work / 'train'), '--out',
                       str(work / 'run')] + [x for kv in args.overrides for x in ('--set', kv)])
    if code != 0:
        raise SystemExit(f'training failed with exit code {code}')
    if export.main([str(work / 'run' / 'checkpoints' / 'last.pt'), str(args.model),
                    '--format', 'both', '--post-process']) != 0:
        raise SystemExit('export failed')
    state = load_checkpoint(work / 'run' / 'checkpoints' / 'last.pt')
    return {'command': 'make default-model', 'pairs': args.pairs, 'scenes': args.scenes,
            'overrides': args.set, 'post_process': True,
            'steps': state['step'], 'train_cpu_minutes': round(state['train_seconds'] / 60, 1),
            'seconds': round(time.perf_counter() - start, 1),
            'size_mb': round(args.model.stat().st_size / 2 ** 20, 2)}


def score(model: Path, test_dir: Path) -> dict:
    """Fresh synthetic rows (metric, beside SGBM and the constant) and the real scenes."""
    predictors = {'model': ModelPredictor(load_model(model, device='cpu')),
                  'sgbm': sgbm_predictor, 'best_constant': constant_predictor}
    report = evaluate_pairs(find_pairs(test_dir), predictors, progress=False)
    return {'test_scenes': 'synthetic rows, seed 2000',
            'metrics': {m: r['mean'] for m, r in report['methods'].items()},
            'real_scenes_median_mae_pct': real_scenes({
                'model': predictors['model'], 'best_constant': constant_predictor})}


if __name__ == '__main__':
    main()
