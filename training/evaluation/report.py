# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Evaluation outputs: ``metrics.json``, a Markdown table, and one PNG panel per pair.

Panel layout (BGR PNG): first row the left input and the GT disparity; then one row per
method with its prediction (after the panel's alignment) and the absolute error on the
evaluated pixels. GT and every prediction share one colour scale (0 to the GT's largest
valid disparity, ``COLORMAP_TURBO``); the error map runs from 0 to ``ERROR_MAX_PX``
(saturated above). Black = no GT / no prediction; dark grey = outside the mask.
"""

from collections.abc import Iterator
from contextlib import contextmanager
import json
import math
import os
from pathlib import Path
import shutil
import tempfile

import cv2
import numpy as np

from .gt_io import GTError, StereoPair
from .metrics import DEPTH_KEYS, DISPARITY_KEYS, valid_gt_mask, valid_pred_mask

ERROR_MAX_PX = 5.0
LABEL_H_PX = 18
TABLE_KEYS = DISPARITY_KEYS + ('density',)
# What a method's disparity is before alignment: the ``scaling`` of every per-pair row
# and of every method in metrics.json and in the tables. A method whose pairs differ is
# ``mixed`` (its mean mixes them).
SCALINGS = {
    'rig-rescaled': 'metric (rig-rescaled: the model disparity times pair baseline_m x fx/W '
                    'over that of the training rig, so that equal depths compare)',
    'rig-rescaled-baseline': 'metric (rig-rescaled by pair baseline_m over the training '
                             'baseline only: the pair has no fx)',
    'model-pixels': 'metric (no calibration: the pixels of the model as they are, as if the '
                    'training rig had taken the pair)',
    'measured': 'metric (measured on the pair itself by stereo matching)',
    'unspecified': 'as the predictor returned it (it gives no scaling information)',
}


def scaling_of(kinds: set) -> str:
    """Return the one scaling of a set of per-pair scalings, or ``mixed``."""
    return next(iter(kinds)) if len(kinds) == 1 else 'mixed'


class OutputError(GTError):
    """The output folder cannot be used (a file, not writable); the message names it."""


def _missing_parents(path: Path) -> list[Path]:
    """Return the folders above ``path`` that do not exist yet, outermost first."""
    missing = [p for p in Path(path).absolute().parents if not p.exists()]
    return missing[::-1]


@contextmanager
def staged_output(out: Path) -> Iterator[Path]:
    """
    Yield a fresh staging folder beside ``out``; its files go into ``out`` only on success.

    A run that fails (bad input half-way, full disk) leaves ``out`` as it was and removes
    the staging folder and every folder it created, so no partial output remains. The
    staging folder's name holds the process id, so that the staging of a killed run is
    removed by the next run into the same ``out``.

    :raises OutputError: ``out`` is a file, or its folder cannot be written.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f'{out}: --out is a file, not a folder')
    created = _missing_parents(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_stages(out)
        stage = Path(tempfile.mkdtemp(prefix=f'.{out.name}.partial-{os.getpid()}-',
                                      dir=out.parent))
    except OSError as e:
        _remove_empty(created)
        raise OutputError(f'{out}: cannot write the output folder ({e.strerror or e})') from e
    try:
        yield stage
        out.mkdir(exist_ok=True)
        for src in sorted(p for p in stage.rglob('*') if p.is_file()):
            dst = out / src.relative_to(stage)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        _remove_empty(created)
        raise
    shutil.rmtree(stage, ignore_errors=True)


def _remove_stale_stages(out: Path) -> None:
    """Remove staging folders of ``out`` whose run (the process id in the name) is gone."""
    for stage in out.parent.glob(f'.{out.name}.partial-*-*'):
        pid = stage.name[len(f'.{out.name}.partial-'):].split('-')[0]
        if stage.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stage, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Return whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True             # it exists, owned by someone else
    return True


def _remove_empty(folders: list[Path]) -> None:
    """Remove the given folders, innermost first, where they are empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            pass


def _json_safe(value):
    """Replace NaN/inf by None (strict JSON), recursively."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, report: dict) -> None:
    """Write ``report`` as strict, indented JSON (NaN becomes null)."""
    Path(path).write_text(json.dumps(_json_safe(report), indent=2) + '\n', encoding='utf-8')


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return 'n/a'
    return f'{value:.3f}' if abs(value) < 10 else f'{value:.2f}'


def markdown_table(report: dict) -> str:
    """
    Markdown tables of a report (one per alignment): method, pair, metrics, mean rows.

    :param report: the dict ``evaluate_pairs`` returns (``methods`` and ``alignments``).

    :returns: Markdown text; mae_px in px, the others in %, depth metrics where present.
    """
    lines = []
    for align in report['alignments']:
        keys = list(TABLE_KEYS)
        if any(k in row.get(align, {}) for m in report['methods'].values()
               for row in m['per_pair'].values() for k in DEPTH_KEYS):
            keys += list(DEPTH_KEYS)
        lines += [f'### Alignment: {align}', '',
                  '| method | pair | scaling | ' + ' | '.join(keys) + ' |',
                  '|---|---|---|' + '---:|' * len(keys)]
        for method, res in report['methods'].items():
            for pair, row in res['per_pair'].items():
                lines.append(f'| {method} | {pair} | {row.get("scaling", "unspecified")} | '
                             + ' | '.join(_fmt(row[align].get(k)) for k in keys) + ' |')
            mean = res['mean'][align]
            lines.append(f'| **{method}** | **mean of {mean["n_pairs"]}** | '
                         f'**{res.get("scaling", "unspecified")}** | '
                         + ' | '.join(_fmt(mean.get(k)) for k in keys) + ' |')
        lines.append('')
    return '\n'.join(lines + _scaling_legend(report))


def _scaling_legend(report: dict) -> list[str]:
    """Lines that say what each scaling in the tables means, and warn of mixed means."""
    used = sorted({row.get('scaling', 'unspecified') for res in report['methods'].values()
                   for row in res['per_pair'].values()})
    lines = ['Scaling (what `metric` means for each row):', '']
    lines += [f'- `{kind}`: {SCALINGS.get(kind, kind)}' for kind in used]
    for method, res in report['methods'].items():
        if res.get('scaling') == 'mixed':
            lines.append(f'- **warning**: `{method}` mixes scalings over its pairs, so its '
                         'mean mixes them too: compare per pair')
    return lines + ['']


def _colour(values: np.ndarray, valid: np.ndarray, vmax: float,
            background=(0, 0, 0)) -> np.ndarray:
    """Colour-map ``values`` in [0, vmax] with TURBO; invalid pixels get ``background``."""
    scaled = np.clip(np.nan_to_num(values / max(vmax, 1e-6), nan=0.0), 0.0, 1.0)
    image = cv2.applyColorMap(np.rint(scaled * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    image[~valid] = background
    return image


def _labelled(tile: np.ndarray, text: str) -> np.ndarray:
    """Put a black label bar with ``text`` above a BGR tile."""
    bar = np.zeros((LABEL_H_PX, tile.shape[1], 3), np.uint8)
    cv2.putText(bar, text, (3, LABEL_H_PX - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([bar, tile])


def panel_image(pair: StereoPair, predictions: dict[str, tuple[np.ndarray, str]]) -> np.ndarray:
    """
    Build the panel of one pair (layout in the module docstring).

    :param pair: the loaded pair.
    :param predictions: method -> (aligned disparity in px, label such as ``median x1.02``).

    :returns: uint8 BGR image.
    """
    gt_valid = valid_gt_mask(pair.disp_gt_px)
    in_mask = np.ones_like(gt_valid) if pair.mask is None else pair.mask
    vmax = float(pair.disp_gt_px[gt_valid].max()) if gt_valid.any() else 1.0
    rows = [[_labelled(cv2.cvtColor(pair.left_rgb, cv2.COLOR_RGB2BGR), f'{pair.name} left'),
             _labelled(_colour(pair.disp_gt_px, gt_valid, vmax), f'GT 0-{vmax:.1f} px')]]
    for method, (disp, label) in predictions.items():
        pred_valid = valid_pred_mask(disp)
        both = gt_valid & pred_valid & in_mask
        err = np.abs(np.nan_to_num(disp) - pair.disp_gt_px)
        err_tile = _colour(err, both, ERROR_MAX_PX)
        err_tile[gt_valid & pred_valid & ~in_mask] = (64, 64, 64)
        rows.append([_labelled(_colour(disp, pred_valid, vmax), f'{method} {label}'),
                     _labelled(err_tile, f'|err| 0-{ERROR_MAX_PX:g} px')])
    return np.vstack([np.hstack(row) for row in rows])


def write_panel(path: Path, pair: StereoPair,
                predictions: dict[str, tuple[np.ndarray, str]]) -> Path:
    """Write ``panel_image`` as PNG to ``path`` (folders created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), panel_image(pair, predictions)):
        raise OSError(f'{path}: could not write the panel image')
    return path
