#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Rebuild the shipped default model ``models/sorghum_synth_small.ts`` (``make default-model``).

Renders synthetic sorghum rows (seed 1000), trains the small generator of
``config/train_small.yaml`` on them, exports it, and scores it on fresh scenes of
another seed; the figures go to ``models/sorghum_synth_small.json``.
"""

import argparse
import json
from pathlib import Path
import tempfile
import time

from sorghum_depth.inference import load_model
from sorghum_depth_training import export, train
from sorghum_depth_training.evaluate import evaluate_pairs, ModelPredictor, sgbm_predictor
from sorghum_depth_training.gt_io import find_pairs
from sorghum_depth_training.synthetic import write_synthetic

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / 'models' / 'sorghum_synth_small.ts'


def main() -> None:
    """Render, train, export and score the default model."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--pairs', type=int, default=200, help='training scenes (default 200)')
    p.add_argument('--steps', type=int, default=1500, help='training steps (default 1500)')
    p.add_argument('--work', type=Path, default=None, help='scratch folder (default: temp)')
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix='sorghum_default_model_'))
    start = time.perf_counter()
    write_synthetic(work / 'train', count=args.pairs, seed=1000, width=640, height=192)
    write_synthetic(work / 'test', count=8, seed=2000, width=640, height=192)
    code = train.main(['--config', str(REPO / 'config' / 'train_small.yaml'), '--data',
                       str(work / 'train'), '--out', str(work / 'run'),
                       '--set', f'max_steps={args.steps}'])
    if code != 0:
        raise SystemExit(f'training failed with exit code {code}')
    if export.main([str(work / 'run' / 'checkpoints' / 'last.pt'), str(MODEL)]) != 0:
        raise SystemExit('export failed')
    predictors = {'model': ModelPredictor(load_model(MODEL, device='cpu')),
                  'sgbm': sgbm_predictor}
    report = evaluate_pairs(find_pairs(work / 'test'), predictors, progress=False)
    summary = {'command': 'make default-model', 'pairs': args.pairs, 'steps': args.steps,
               'seconds': round(time.perf_counter() - start, 1), 'size_mb':
               round(MODEL.stat().st_size / 2 ** 20, 2), 'test_scenes': 'synthetic seed 2000',
               'metrics': {m: r['mean'] for m, r in report['methods'].items()}}
    MODEL.with_suffix('.json').write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()
