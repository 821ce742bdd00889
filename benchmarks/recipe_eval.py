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
* EuRoC (indoor, 0.11 m): the extracted dataset's validation tail vs SGBM, ``metric``.
"""

from dataclasses import dataclass
import os
from pathlib import Path
import sys

import numpy as np
from sorghum_depth.inference import load_model
from sorghum_depth_training.data.dataset_dir import DatasetError, load_dataset
from sorghum_depth_training.data.folder_import import read_kitti_calib
from sorghum_depth_training.evaluation.evaluate import evaluate_pairs, ModelPredictor
from sorghum_depth_training.evaluation.gt_io import find_pairs, read_rgb, StereoPair
from sorghum_depth_training.evaluation.metrics import best_constant_disparity, evaluate_disparity
from sorghum_depth_training.evaluation.motorcycle import motorcycle_pair
from sorghum_depth_training.evaluation.sgbm import sgbm_disparity
from sorghum_depth_training.loop.checkpoint import load_checkpoint

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get('SORGHUM_DEPTH_DATA', HERE.parents[1] / 'shared' / 'data'))


def dataset_heldout(folder: Path, split: str = 'val') -> list[StereoPair]:
    """Load a dataset folder's ``split`` with SGBM disparity as pseudo-GT and calibration."""
    dataset = load_dataset(folder)
    pairs = []
    for name in dataset.names(split):
        left, right = ((np.clip(x, 0, 1) * 255).round().astype(np.uint8)
                       for x in dataset.read_pair(name))
        pseudo = np.nan_to_num(sgbm_disparity(left, right), nan=0.0)
        pairs.append(StereoPair(f'{folder.name}/{name}', left, right, pseudo, None,
                                dataset.calib.fx, dataset.calib.baseline_m))
    return pairs


def kitti_heldout(n: int = 16) -> list[StereoPair]:
    """Last ``n`` frames of seq2 with SGBM disparity of the true pair as pseudo-GT."""
    seq2 = DATA / 'kitti_odometry' / 'seq2'
    p0, p1 = read_kitti_calib(seq2 / 'calib.txt')
    fx_px, baseline_m = float(p0[0, 0]), float(-p1[0, 3] / p1[0, 0])
    pairs = []
    for left_path in sorted((seq2 / 'image_l').glob('*.png'))[-n:]:
        left, right = read_rgb(left_path), read_rgb(seq2 / 'image_r' / left_path.name)
        pseudo = np.nan_to_num(sgbm_disparity(left, right), nan=0.0)
        pairs.append(StereoPair(f'seq2/{left_path.stem}', left, right, pseudo, None, fx_px,
                                baseline_m))
    return pairs


def best_constant_mae_pct(pair: StereoPair) -> float:
    """Lowest mae_pct any single disparity reaches on ``pair`` (weighted median of GT)."""
    const = best_constant_disparity(pair.disp_gt_px, pair.mask)
    prediction = np.full(pair.disp_gt_px.shape, const, np.float32)
    return evaluate_disparity(prediction, pair.disp_gt_px, pair.mask, 'metric')['mae_pct']


@dataclass
class HeldOut:
    """The loaded held-out pairs and the constant floors of Middlebury."""

    kitti: list[StereoPair]
    middlebury: list[StereoPair]
    synthetic: list[StereoPair]
    euroc: list[StereoPair]
    middlebury_floor: dict[str, float]
    # Middlebury 2014 Motorcycle (the scikit-image wheel's; its floor in middlebury_floor)
    motorcycle: StereoPair | None = None

    @classmethod
    def load(cls, synthetic_dir: Path, euroc_dir: Path) -> 'HeldOut':
        """Read every set (synthetic: a dataset with disp_gt/; EuRoC: its val split)."""
        mb = [ref.load() for ref in find_pairs(DATA / 'middlebury2003')]
        moto = load_motorcycle()
        floors = {p.name: best_constant_mae_pct(p) for p in mb}
        if moto is not None:
            floors[moto.name] = best_constant_mae_pct(moto)
        return cls(kitti_heldout(), mb, [r.load() for r in find_pairs(synthetic_dir)],
                   dataset_heldout(euroc_dir), floors, moto)


def load_motorcycle() -> StereoPair | None:
    """Return Middlebury 2014 Motorcycle, or None with a warning when it cannot be read."""
    try:
        return motorcycle_pair()
    except DatasetError as err:
        print(f'warning: Middlebury 2014 Motorcycle left out: {err}', file=sys.stderr)
        return None


KEYS = ('mae_pct', 'mae_px', 'bad_3', 'd1', 'abs_rel', 'delta1', 'density')


def _pick(metrics: dict) -> dict:
    return {k: metrics[k] for k in KEYS if k in metrics}


def score_model(model_path: Path, held: HeldOut, other_rigs: bool = True) -> dict:
    """All held-out figures of one exported model (EuRoC's and synthetic's if asked)."""
    predictor = {'model': ModelPredictor(load_model(model_path, device='cpu'))}
    kitti = evaluate_pairs(held.kitti, predictor, alignments=('metric',), progress=False)
    mb = evaluate_pairs(held.middlebury, predictor, alignments=('median',), progress=False)
    per_scene = {name: row['median']['mae_pct'] for name, row in
                 mb['methods']['model']['per_pair'].items()}
    ratios = {name: per_scene[name] / held.middlebury_floor[name] for name in per_scene}
    out = {'kitti_metric': _pick(kitti['methods']['model']['mean']['metric']),
           'middlebury_median': _pick(mb['methods']['model']['mean']['median']),
           'middlebury_mae_pct_per_scene': per_scene,
           'middlebury_ratio_to_constant': ratios,
           'middlebury_worst_ratio': max(ratios.values())}
    if held.motorcycle is not None:
        row = evaluate_pairs([held.motorcycle], predictor, alignments=('median',),
                             progress=False)
        mae = row['methods']['model']['mean']['median']['mae_pct']
        out['motorcycle_median'] = {
            'mae_pct': mae, 'ratio_to_constant': mae / held.middlebury_floor['motorcycle']}
    if other_rigs:
        for key, pairs in (('synthetic_metric', held.synthetic), ('euroc_metric', held.euroc)):
            res = evaluate_pairs(pairs, predictor, alignments=('metric',), progress=False)
            out[key] = _pick(res['methods']['model']['mean']['metric'])
    return out


def score_sgbm(held: HeldOut) -> dict:
    """Score OpenCV SGBM on the sets with real GT (its valid pixels, with density)."""
    from sorghum_depth_training.evaluation.evaluate import sgbm_predictor
    predictor = {'sgbm': sgbm_predictor}
    mb = evaluate_pairs(held.middlebury, predictor, alignments=('metric',), progress=False)
    syn = evaluate_pairs(held.synthetic, predictor, alignments=('metric',), progress=False)
    return {'middlebury_metric': _pick(mb['methods']['sgbm']['mean']['metric']),
            'synthetic_metric': _pick(syn['methods']['sgbm']['mean']['metric'])}


def gan_check(checkpoint: Path, data_dirs: list[Path], batches: int = 4) -> dict:
    """
    Measure what the adversarial term does in a trained run, on training batches.

    * the discriminator's patch accuracy: real views scored above 0.5 and rebuilt views
      below (LSGAN targets 1 and 0); 50 % is chance;
    * the share of the generator's gradient that comes from ``w_gan * gan_g``: the norm
      of that gradient over the norm of the rest of the generator loss's gradient.
    """
    import torch
    from sorghum_depth_training.data.loader import open_datasets, PairDataset
    from sorghum_depth_training.nets.discriminator import DiscriminatorConfig, PatchDiscriminator
    from sorghum_depth_training.nets.generator import Generator, GeneratorConfig
    from sorghum_depth_training.objectives.depth import generator_losses, LossConfig
    from sorghum_depth_training.objectives.depth import reconstruct_views
    from sorghum_depth_training.loop.step import rig_disparities
    state = load_checkpoint(checkpoint)
    cfg = state['train_config']
    gen = Generator(GeneratorConfig(**state['model']['generator']))
    gen.load_state_dict(state['generator'])
    disc = PatchDiscriminator(DiscriminatorConfig(**state['model']['discriminator']))
    disc.load_state_dict(state['discriminator'])
    loss_cfg = LossConfig(**cfg['loss'])
    if loss_cfg.w_gan <= 0:
        return {'skipped': 'the run has w_gan = 0'}
    data = PairDataset(open_datasets([str(d) for d in data_dirs]), 'train',
                       (cfg['data']['height'], cfg['data']['width']), hints=True)
    loader = torch.utils.data.DataLoader(data, batch_size=cfg['batch_size'], shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    accuracy, ratios = [], []
    for _, batch in zip(range(batches), loader):
        left, right = batch['left'], batch['right']
        disps = rig_disparities(gen(left), batch['rig_scale'])
        with torch.no_grad():
            fakes = reconstruct_views(left, right, disps[0])
            real_score = disc(torch.cat((left, right)))
            fake_score = disc(torch.cat(fakes))
        accuracy.append(0.5 * float((real_score > 0.5).float().mean()
                                    + (fake_score < 0.5).float().mean()))
        losses = generator_losses(left, right, disps, disc, loss_cfg, hints=batch['hints'])
        params = [p for p in gen.parameters() if p.requires_grad]
        adv = torch.autograd.grad(loss_cfg.w_gan * losses['gan_g'], params, retain_graph=True)
        rest = torch.autograd.grad(losses['generator'] - loss_cfg.w_gan * losses['gan_g'],
                                   params)
        norm = [torch.sqrt(sum((g ** 2).sum() for g in grads)) for grads in (adv, rest)]
        ratios.append(float(norm[0] / norm[1]))
    return {'disc_patch_accuracy_pct': 100 * float(np.mean(accuracy)),
            'gan_grad_over_rest_grad': float(np.mean(ratios)), 'batches': batches}
