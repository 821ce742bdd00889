# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Measure disparity predictions against ground truth (``sorghum-depth-evaluate``).

Methods: an exported ``model.ts`` (``--model``; OpenCV SGBM runs on the same pairs too,
unless ``--no-sgbm``) or the SGBM baseline alone (``--sgbm``). Inputs: Middlebury scene
folders or a folder of them, dataset directories with ``disp_gt/``, or ``left/ right/
gt/`` folders (see ``gt_io``). Metrics and alignments: ``metrics``. Outputs in ``--out``:
``metrics.json`` (settings, per pair and mean, per method and alignment), ``metrics.md``
and ``panels/<pair>.png``. Every row says what ``metric`` means for it (``scaling``: the
model's disparity rescaled to the pair's rig, the model's own pixels where the pair has no
calibration, or measured by SGBM; see ``evaluate_report.SCALINGS``). SGBM searches the
disparities the pair's GT holds (``SGBMPredictor``).

Exit code 2 with an ``error:`` line naming the file on bad input (missing dataset, GT of
unknown format, size mismatch, unloadable model).
"""

import argparse
from collections.abc import Callable, Sequence
from dataclasses import replace
import math
from pathlib import Path
import sys
import time

import cv2
import numpy as np
from tqdm import tqdm

from .gt_io import find_pairs, GTError, MASK_NAMES, PairRef, StereoPair
from .metrics import ALIGNMENTS, evaluate_disparity, mean_metrics, valid_gt_mask
from .report import markdown_table, scaling_of, SCALINGS, staged_output, write_json, write_panel
from .sgbm import (NUM_DISP_FRAC, num_disparities, num_disparities_for, sgbm_disparity,
                   sgbm_settings)
from ..data.dataset_dir import DatasetError

Predictor = Callable[[StereoPair], np.ndarray]
SGBM_RANGE_RULE = ('per pair: the smallest multiple of 16 covering the largest GT disparity '
                   f'(16 x ceil((ceil(max) + 1) / 16)); {NUM_DISP_FRAC} x width rounded up '
                   'to 16 where the pair has no valid GT. Per pair in sgbm_num_disparities')


class SGBMPredictor:
    """OpenCV SGBM (settings in ``sgbm``) with a search range that covers the pair's GT."""

    def num_disparities(self, pair: StereoPair) -> tuple[int, str]:
        """
        Return the search range in px for ``pair`` and its rule (``gt`` or ``width``).

        The GT rule is capped below the image width (SGBM needs width > range), so a GT
        with absurd values (a wrong scale) cannot ask for an absurd range.
        """
        width = pair.left_rgb.shape[1]
        valid = valid_gt_mask(pair.disp_gt_px)
        if not valid.any():
            return num_disparities(width), 'width'
        widest = max(16, 16 * ((width - 1) // 16))
        return min(num_disparities_for(min(float(pair.disp_gt_px[valid].max()), width)),
                   widest), 'gt'

    def describe(self, pair: StereoPair) -> dict:
        """Return the per-pair facts of this method for the report."""
        num, rule = self.num_disparities(pair)
        return {'scaling': 'measured', 'sgbm_num_disparities': num, 'sgbm_range_from': rule}

    def __call__(self, pair: StereoPair) -> np.ndarray:
        """Return the SGBM disparity (px, NaN invalid) of ``pair``."""
        return sgbm_disparity(pair.left_rgb, pair.right_rgb, self.num_disparities(pair)[0])


sgbm_predictor = SGBMPredictor()


class ModelPredictor:
    """
    Disparity of an exported model from the left image alone.

    A model predicts the disparity of its reference rig (metadata ``baseline_m`` and
    ``fx_over_width``): that is, a depth. On a pair with a known rig the disparity is
    rescaled to that rig, by ``baseline_m * fx / W`` over the reference's (the baseline
    ratio alone when the pair has no fx), so ``metric`` alignment compares like with like.
    """

    def __init__(self, model):
        """
        Wrap a loaded model (``sorghum_depth.inference.load_model``).

        :param model: object with ``predict_disparity(rgb_uint8) -> (H, W) px`` and a
            ``metadata`` dict.
        """
        self.model = model
        meta = getattr(model, 'metadata', None) or {}
        self.train_baseline_m = meta.get('baseline_m')
        self.train_fx_over_width = meta.get('fx_over_width')

    def rig_scale(self, pair: StereoPair) -> float:
        """Factor from the model's reference-rig disparity to ``pair``'s rig (1 if unknown)."""
        if not (pair.baseline_m and self.train_baseline_m):
            return 1.0
        scale = pair.baseline_m / float(self.train_baseline_m)
        if pair.fx_px and self.train_fx_over_width:
            scale *= pair.fx_px / pair.left_rgb.shape[1] / float(self.train_fx_over_width)
        return scale

    def scaling(self, pair: StereoPair) -> str:
        """Return how ``rig_scale`` treats ``pair`` (a key of ``SCALINGS``)."""
        if not (pair.baseline_m and self.train_baseline_m):
            return 'model-pixels'
        return ('rig-rescaled' if pair.fx_px and self.train_fx_over_width
                else 'rig-rescaled-baseline')

    def describe(self, pair: StereoPair) -> dict:
        """Return the per-pair facts of this method for the report: scaling and factor."""
        return {'scaling': self.scaling(pair), 'rig_scale': self.rig_scale(pair)}

    def __call__(self, pair: StereoPair) -> np.ndarray:
        """Predicted left disparity of ``pair`` in px of its width."""
        disp = np.asarray(self.model.predict_disparity(pair.left_rgb), np.float32)
        return disp * np.float32(self.rig_scale(pair))


def _unique_name(name: str, used: set) -> str:
    out, k = name, 2
    while out in used:
        out, k = f'{name}_{k}', k + 1
    used.add(out)
    return out


def _panel_alignment(alignments: Sequence[str]) -> str:
    return 'median' if 'median' in alignments else alignments[0]


def _evaluate_one(pair: StereoPair, predictors: dict[str, Predictor],
                  alignments: Sequence[str]) -> tuple[dict, dict]:
    """Metrics of every method on one pair, and the panel's (disparity, label) per method."""
    rows, panel = {}, {}
    for method, predictor in predictors.items():
        start = time.perf_counter()
        disp = np.asarray(predictor(pair), np.float32)
        seconds = time.perf_counter() - start
        if disp.shape != pair.disp_gt_px.shape:
            raise GTError(f'{pair.name}: {method} predicted {disp.shape}, '
                          f'GT is {pair.disp_gt_px.shape}')
        row = {a: evaluate_disparity(disp, pair.disp_gt_px, pair.mask, a, pair.fx_px,
                                     pair.baseline_m) for a in alignments}
        row['predict_s'] = seconds
        describe = getattr(predictor, 'describe', None)
        row.update(describe(pair) if describe is not None else {'scaling': 'unspecified'})
        rows[method] = row
        align = _panel_alignment(alignments)
        scale = row[align]['scale']
        panel[method] = (disp * scale, f'({align} x{scale:.3f})')
    return rows, panel


def evaluate_pairs(pairs: Sequence[StereoPair | PairRef], predictors: dict[str, Predictor],
                   alignments: Sequence[str] = ALIGNMENTS, out_dir: Path | None = None,
                   progress: bool = True) -> dict:
    """
    Run every predictor on every pair and score it against the GT.

    :param pairs: loaded StereoPairs or PairRefs (loaded one at a time).
    :param predictors: method name -> function of a StereoPair returning (H, W) px.
    :param alignments: subset of ``metrics.ALIGNMENTS``.
    :param out_dir: where to write ``panels/<pair>.png``; None = no panels.
    :param progress: show a tqdm progress bar.

    :returns: ``{'alignments': [...], 'methods': {method: {'per_pair': {pair: {alignment:
        metrics, 'predict_s': s, 'mask': bool, 'scaling': kind, ...}}, 'mean': {alignment:
        metrics}, 'scaling': kind or 'mixed', 'scaling_note': text}}, 'pairs': {pair:
        {'fx_px', 'baseline_m', 'gt_scale', 'gt_scale_from', 'n_gt_valid'}}, 'scalings':
        {kind: text}, 'warnings': [text]}``. ``scaling`` says what ``metric`` means for
        that row (``SCALINGS``).
    """
    methods = {m: {'per_pair': {}, 'mean': {}} for m in predictors}
    used: set = set()
    pair_facts = {}
    warnings: list[str] = []
    for item in tqdm(pairs, desc='evaluate', unit='pair', disable=not progress):
        pair = item.load() if isinstance(item, PairRef) else item
        pair = replace(pair, name=_unique_name(pair.name, used))
        pair_facts[pair.name] = _pair_facts(pair)
        warnings += _pair_warnings(pair, 'sgbm' in predictors)
        rows, panel = _evaluate_one(pair, predictors, alignments)
        for method, row in rows.items():
            row['mask'] = pair.mask is not None
            methods[method]['per_pair'][pair.name] = row
        if out_dir is not None:
            write_panel(Path(out_dir) / 'panels' / (pair.name.replace('/', '__') + '.png'),
                        pair, panel)
    for res in methods.values():
        _summarise(res, alignments)
    kinds_used = {r['scaling'] for res in methods.values() for r in res['per_pair'].values()}
    return {'alignments': list(alignments), 'methods': methods, 'pairs': pair_facts,
            'scalings': {k: SCALINGS.get(k, k) for k in sorted(kinds_used)},
            'warnings': warnings}


def _pair_facts(pair: StereoPair) -> dict:
    """Return what the report records of a pair: calibration, GT scale, GT pixel count."""
    return {'fx_px': pair.fx_px, 'baseline_m': pair.baseline_m, 'gt_scale': pair.gt_scale,
            'gt_scale_from': pair.gt_scale_from,
            'n_gt_valid': int(valid_gt_mask(pair.disp_gt_px, pair.mask).sum())}


def _summarise(res: dict, alignments: Sequence[str]) -> None:
    """Add a method's mean over pairs and its scaling (one kind, or ``mixed``)."""
    res['mean'] = {a: mean_metrics([r[a] for r in res['per_pair'].values()])
                   for a in alignments}
    kinds = {r['scaling'] for r in res['per_pair'].values()}
    res['scaling'] = scaling_of(kinds) if kinds else 'unspecified'
    res['scaling_note'] = (SCALINGS.get(res['scaling'], res['scaling'])
                           if res['scaling'] != 'mixed' else
                           'mixed: ' + ', '.join(sorted(kinds)) + ' (the mean mixes them)')


def _pair_warnings(pair: StereoPair, sgbm: bool) -> list[str]:
    """Return what is suspect about a pair: no GT to score, GT beyond the image, no SGBM."""
    width = pair.left_rgb.shape[1]
    if sgbm and width <= 16:
        return [f'{pair.name}: image {width} px wide: SGBM needs more than 16 px, so it '
                'gives no answer (density 0)']
    valid = valid_gt_mask(pair.disp_gt_px, pair.mask)
    if not valid.any():
        return [f'{pair.name}: no valid ground-truth pixel (inside the mask): '
                'its metrics are n/a']
    largest = float(pair.disp_gt_px[valid].max())
    if largest >= width:
        return [f'{pair.name}: GT disparity up to {largest:g} px, wider than the image '
                f'({width} px): wrong GT scale?']
    return []


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface of sorghum-depth-evaluate."""
    p = argparse.ArgumentParser(prog='sorghum-depth-evaluate', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data', nargs='+', type=Path,
                   help='GT datasets: Middlebury scene(s), dataset dirs with disp_gt/, '
                   'left/ right/ gt/ folders')
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument('--model', type=Path, help='exported model.ts to evaluate')
    what.add_argument('--sgbm', action='store_true', help='evaluate the OpenCV SGBM baseline')
    p.add_argument('--no-sgbm', action='store_true',
                   help='with --model: skip the SGBM baseline on the same pairs')
    p.add_argument('--align', choices=('metric', 'median', 'both'), default='both',
                   help='prediction scale alignment (default both)')
    p.add_argument('--mask', choices=MASK_NAMES, default='nonocc',
                   help='evaluation mask where the data has one (default nonocc)')
    p.add_argument('--gt-scale', type=float, default=None,
                   help='PNG GT without info.txt: disparity = value / scale (default 256 '
                   "for 16-bit PNG); a scene's info.txt always wins, a contradicting value "
                   'is refused')
    p.add_argument('--device', default='cpu', help='device for --model (default cpu)')
    p.add_argument('--out', type=Path, default=Path('evaluation'),
                   help='output folder (default ./evaluation)')
    p.add_argument('--no-panels', action='store_true', help='do not write PNG panels')
    return p


def _predictors(args: argparse.Namespace) -> tuple[dict[str, Predictor], dict]:
    """Predictors chosen on the command line and their settings for the report."""
    predictors: dict[str, Predictor] = {}
    settings: dict = {}
    if args.model is not None:
        if not args.model.is_file():
            raise GTError(f'{args.model}: model file not found')
        try:
            from sorghum_depth.inference import load_model
            model = load_model(args.model, device=args.device)
        except Exception as e:  # any load failure is bad input: report it, exit 2
            raise GTError(f'{args.model}: cannot load model ({type(e).__name__}: {e})') from e
        predictors['model'] = ModelPredictor(model)
        settings['model'] = {'path': str(args.model), 'device': args.device,
                             'metadata': dict(getattr(model, 'metadata', None) or {}),
                             'disparity_rescaled_by': 'pair baseline_m x fx/W over the '
                             'training rig where the pair has a calibration: see scaling'}
    if args.sgbm or not args.no_sgbm:
        predictors['sgbm'] = sgbm_predictor
        settings['sgbm'] = dict(sgbm_settings(0), numDisparities=SGBM_RANGE_RULE,
                                opencv=cv2.__version__)
    return predictors, settings


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    """Evaluate as ``args`` say, write the outputs, and return the report."""
    if args.gt_scale is not None and not (math.isfinite(args.gt_scale) and args.gt_scale > 0):
        raise GTError(f'--gt-scale must be a finite number > 0, got {args.gt_scale}')
    if args.sgbm and args.no_sgbm:
        raise GTError('--no-sgbm contradicts --sgbm (use --no-sgbm with --model only)')
    if args.out.exists() and not args.out.is_dir():
        raise GTError(f'{args.out}: --out is a file, not a folder')
    refs = [ref for path in args.data for ref in find_pairs(path, args.mask, args.gt_scale)]
    predictors, method_settings = _predictors(args)
    alignments = list(ALIGNMENTS) if args.align == 'both' else [args.align]
    with staged_output(args.out) as stage:
        report = evaluate_pairs(refs, predictors, alignments, None if args.no_panels else stage)
        if not any(facts['n_gt_valid'] for facts in report['pairs'].values()):
            raise GTError('no pair has a valid ground-truth pixel (GT all 0, NaN or outside '
                          f'the {args.mask} mask): nothing to score')
        report['settings'] = _settings(args, argv, alignments, method_settings)
        write_json(stage / 'metrics.json', report)
        (stage / 'metrics.md').write_text(markdown_table(report), encoding='utf-8')
    return report


def _settings(args: argparse.Namespace, argv: list[str], alignments: list[str],
              method_settings: dict) -> dict:
    """Return the settings block of the report."""
    return {
        'command': 'sorghum-depth-evaluate ' + ' '.join(argv),
        'data': [str(p) for p in args.data], 'mask': args.mask,
        'gt_scale': 'per pair, see pairs (--gt-scale '
                    f'{"not given" if args.gt_scale is None else args.gt_scale})',
        'alignments': alignments, 'methods': method_settings,
        'units': 'mae_px px; mae_pct, bad_k, d1, density, delta1 %; rmse, sq_rel m'}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 on bad input, message on stderr)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        report = run(args, argv)
    except (GTError, DatasetError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except OSError as e:  # unreadable input or a full disk: no partial output is left
        print(f'error: {e.filename or ""}: {e.strerror or e}', file=sys.stderr)
        return 2
    print(markdown_table(report))
    print(f'wrote {args.out / "metrics.json"}, {args.out / "metrics.md"}'
          + ('' if args.no_panels else f' and {args.out / "panels"}/'))
    for warning in report['warnings']:
        print(f'warning: {warning}', file=sys.stderr)
    _warn_uncalibrated(report)
    return 0


def _warn_uncalibrated(report: dict) -> None:
    """Say on stderr when a model was scored in its own pixels on some pairs."""
    for method, res in report['methods'].items():
        rows = res['per_pair'].values()
        own = sum(r.get('scaling') == 'model-pixels' for r in rows)
        if own:
            print(f'warning: {method}: {own} of {len(rows)} pairs have no calibration, so '
                  "its disparity is scored in the model's own pixels, not rescaled to the "
                  "pair's rig (scaling model-pixels in metrics.json)", file=sys.stderr)


if __name__ == '__main__':
    sys.exit(main())
