# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Held-out sets and scoring of the recipe benchmark (``bench_recipe.py``).

Three held-out sets, never trained on:
* KITTI: the last 16 frames of odometry ``seq2``, OpenCV SGBM disparity of the true pair
  as pseudo ground truth (SGBM-valid pixels), ``metric`` alignment: the KITTI rig.
* Middlebury 2003 (4 scenes, ``nonocc``): another rig with no metric calibration, so
  ``median`` alignment, each scene beside the best constant disparity's error (the
  constant with the lowest mae_pct: the median of the GT weighted by 1 / d).
* Synthetic sorghum rows of a fresh seed with exact GT, ``metric``: the synthetic rig.
"""

from dataclasses import dataclass
import os
from pathlib import Path

import numpy as np
from sorghum_depth.inference import load_model
from sorghum_depth_training.evaluate import evaluate_pairs, ModelPredictor
from sorghum_depth_training.gt_io import find_pairs, read_rgb, StereoPair
from sorghum_depth_training.metrics import valid_gt_mask
from sorghum_depth_training.sgbm import sgbm_disparity

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get('SORGHUM_DEPTH_DATA', HERE.parents[1] / 'shared' / 'data'))


def kitti_heldout(n: int = 16) -> list[StereoPair]:
    """Last ``n`` frames of seq2 with SGBM disparity of the true pair as pseudo-GT."""
    seq2 = DATA / 'kitti_odometry' / 'seq2'
    pairs = []
    for left_path in sorted((seq2 / 'image_l').glob('*.png'))[-n:]:
        left, right = read_rgb(left_path), read_rgb(seq2 / 'image_r' / left_path.name)
        pseudo = np.nan_to_num(sgbm_disparity(left, right), nan=0.0)
        pairs.append(StereoPair(f'seq2/{left_path.stem}', left, right, pseudo))
    return pairs


def best_constant_mae_pct(pair: StereoPair) -> float:
    """Lowest mae_pct any single disparity reaches on ``pair`` (weighted median of GT)."""
    gt = pair.disp_gt_px[valid_gt_mask(pair.disp_gt_px, pair.mask)].astype(np.float64)
    order = np.argsort(gt)
    weights = np.cumsum(1.0 / gt[order])
    const = gt[order][np.searchsorted(weights, weights[-1] / 2)]
    return float(100 * np.mean(np.abs(const - gt) / gt))


@dataclass
class HeldOut:
    """The loaded held-out pairs and the constant floors of Middlebury."""

    kitti: list[StereoPair]
    middlebury: list[StereoPair]
    synthetic: list[StereoPair]
    middlebury_floor: dict[str, float]

    @classmethod
    def load(cls, synthetic_dir: Path) -> 'HeldOut':
        """Read every set (the synthetic one from a dataset folder with disp_gt/)."""
        mb = [ref.load() for ref in find_pairs(DATA / 'middlebury2003')]
        return cls(kitti_heldout(), mb, [r.load() for r in find_pairs(synthetic_dir)],
                   {p.name: best_constant_mae_pct(p) for p in mb})


KEYS = ('mae_pct', 'mae_px', 'bad_3', 'd1', 'abs_rel', 'delta1', 'density')


def _pick(metrics: dict) -> dict:
    return {k: metrics[k] for k in KEYS if k in metrics}


def score_model(model_path: Path, held: HeldOut) -> dict:
    """All held-out figures of one exported model."""
    predictor = {'model': ModelPredictor(load_model(model_path, device='cpu'))}
    kitti = evaluate_pairs(held.kitti, predictor, alignments=('metric',), progress=False)
    mb = evaluate_pairs(held.middlebury, predictor, alignments=('median',), progress=False)
    syn = evaluate_pairs(held.synthetic, predictor, alignments=('metric',), progress=False)
    per_scene = {name: row['median']['mae_pct'] for name, row in
                 mb['methods']['model']['per_pair'].items()}
    ratios = {name: per_scene[name] / held.middlebury_floor[name] for name in per_scene}
    return {
        'kitti_metric': _pick(kitti['methods']['model']['mean']['metric']),
        'middlebury_median': _pick(mb['methods']['model']['mean']['median']),
        'middlebury_mae_pct_per_scene': per_scene,
        'middlebury_ratio_to_constant': ratios,
        'middlebury_worst_ratio': max(ratios.values()),
        'synthetic_metric': _pick(syn['methods']['model']['mean']['metric']),
    }


def score_sgbm(held: HeldOut) -> dict:
    """Score OpenCV SGBM on the sets with real GT (its valid pixels, with density)."""
    from sorghum_depth_training.evaluate import sgbm_predictor
    predictor = {'sgbm': sgbm_predictor}
    mb = evaluate_pairs(held.middlebury, predictor, alignments=('metric',), progress=False)
    syn = evaluate_pairs(held.synthetic, predictor, alignments=('metric',), progress=False)
    return {'middlebury_metric': _pick(mb['methods']['sgbm']['mean']['metric']),
            'synthetic_metric': _pick(syn['methods']['sgbm']['mean']['metric'])}
