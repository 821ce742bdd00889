# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Data, scoring and the example panel of the translation benchmark (``bench_translate.py``).

Rows of seed ``TRAIN_SEED`` train, rows of seed ``TEST_SEED`` are scored; both rendered
by ``sorghum-depth-synth`` at the training size, so no resize is involved. Stalk pairs:
the left image and its exact stalk mask; grey-to-colour pairs: the left image's BT.601
luma and the image (``GreyToColour``).

Beside the task metrics (IoU, boundary F-score; PSNR, SSIM) two proxies for the
"sharper, more realistic" of the claim, each as the prediction's value over the
target's (1 = like the target): the mean gradient magnitude (Sobel, of the luma or the
mask) and, for colour, the colourfulness of Hasler and Suesstrunk (2003).
"""

from pathlib import Path

import cv2
import numpy as np
from sorghum_depth_training.data.paired import open_paired
from sorghum_depth_training.data.synthetic import write_synthetic, write_synthetic_paired
from sorghum_depth_training.evaluation import translate_metrics as tm
from sorghum_depth_training.loop.checkpoint import load_checkpoint
from sorghum_depth_training.nets.translator import Translator, TranslatorConfig
import torch

TRAIN_SEED, TEST_SEED = 1000, 2000
STALKS, GREY = 'stalks', 'grey2colour'
PANEL_ROWS = {STALKS: 3, GREY: 2}
TOLERANCE_PX = 2.0          # boundary match tolerance of the F-score (also given at 1 px)


def make_data(work: Path, train_rows: int, test_rows: int, height: int,
              width: int) -> dict[str, dict[str, Path]]:
    """
    Render the training and test rows once (reused by a later run).

    :returns: ``{task: {'train': folder, 'test': folder}}``: paired folders of stalk
        masks, and the stereo dataset folders themselves for grey-to-colour.
    """
    out: dict[str, dict[str, Path]] = {STALKS: {}, GREY: {}}
    for split, seed, count in (('train', TRAIN_SEED, train_rows),
                               ('test', TEST_SEED, test_rows)):
        tag = f'{split}_{seed}_{count}_{width}x{height}'
        stereo, paired = work / 'data' / f'synth_{tag}', work / 'data' / f'stalks_{tag}'
        if not (stereo / 'calibration.yaml').is_file():
            write_synthetic(stereo, count, seed, width, height, overwrite=True)
        if not (paired / 'paired.yaml').is_file():
            write_synthetic_paired(paired, count, seed, width, height, overwrite=True)
        out[GREY][split], out[STALKS][split] = stereo, paired
    return out


def load_translator(path: Path) -> Translator:
    """Rebuild a checkpoint's translator in eval mode (dropout off, as exported)."""
    state = load_checkpoint(path)
    saved = dict(state['model']['generator'])
    saved['pretrained'] = False          # the weights come from the checkpoint
    net = Translator(TranslatorConfig(**saved))
    net.load_state_dict(state['generator'])
    return net.eval()


def translate(net: Translator, rgb: np.ndarray) -> np.ndarray:
    """Run ``net`` on uint8 RGB (H, W, 3); float32 (H, W, C) in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        y = net(x / 127.5 - 1.0)
    return ((y[0] + 1.0) * 0.5).clamp(0, 1).permute(1, 2, 0).numpy()


def gradient_energy(image: np.ndarray) -> float:
    """Mean Sobel gradient magnitude of a float image in [0, 1] (luma when colour)."""
    image = np.asarray(image, np.float32)
    if image.ndim == 3:
        image = image @ np.asarray((0.299, 0.587, 0.114), np.float32)
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(np.hypot(gx, gy)))


def colourfulness(rgb: np.ndarray) -> float:
    """Colourfulness of Hasler and Suesstrunk (2003) of float RGB in [0, 1] (0 = grey)."""
    r, g, b = (np.asarray(rgb, np.float64)[..., i] * 255 for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _ratio(pred: float, target: float) -> float:
    return pred / target if target > 0 else float('nan')


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def score_stalks(preds: list[np.ndarray], targets: list[np.ndarray]) -> dict:
    """Mean IoU and boundary F-score of the masks (output > 0.5), and the sharpness ratio."""
    masks = [p[..., 0] > 0.5 for p in preds]
    truth = [t > 127 for t in targets]
    rows = [tm.mask_metrics(m, t, TOLERANCE_PX) for m, t in zip(masks, truth)]
    tight = [tm.boundary_fscore(m, t, 1.0) for m, t in zip(masks, truth)]
    return {'iou': _mean(rows, 'iou'), 'boundary_f': _mean(rows, 'boundary_f'),
            'boundary_f_1px': float(np.mean(tight)),
            'gradient_ratio': _ratio(sum(gradient_energy(p[..., 0]) for p in preds),
                                     sum(gradient_energy(t.astype(np.float32)) for t in truth)),
            'stalk_fraction_true': float(np.mean([t.mean() for t in truth])),
            'stalk_fraction_pred': float(np.mean([m.mean() for m in masks]))}


def score_colour(preds: list[np.ndarray], targets: list[np.ndarray]) -> dict:
    """Mean PSNR and SSIM of the 8-bit outputs, and the sharpness and colour ratios."""
    preds = [np.rint(p * 255) / 255 for p in preds]        # what an rgb8 output holds
    truth = [t.astype(np.float64) / 255 for t in targets]
    rows = [tm.colour_metrics(p, t) for p, t in zip(preds, truth)]
    return {'psnr_db': _mean(rows, 'psnr'), 'ssim': _mean(rows, 'ssim'),
            'gradient_ratio': _ratio(sum(map(gradient_energy, preds)),
                                     sum(map(gradient_energy, truth))),
            'colourfulness_ratio': _ratio(sum(map(colourfulness, preds)),
                                          sum(map(colourfulness, truth)))}


def _pairs(folder: Path, task: str):
    data = open_paired(folder, GREY if task == GREY else None)
    return [(name, data.read_a(name), data.read_b(name)) for name in data.names()]


def evaluate_checkpoint(path: Path, test: Path, task: str) -> dict:
    """Score one checkpoint on every pair of the test folder."""
    net = load_translator(path)
    pairs = _pairs(test, task)
    preds = [translate(net, a) for _, a, _ in pairs]
    targets = [b for _, _, b in pairs]
    scores = score_stalks(preds, targets) if task == STALKS else score_colour(preds, targets)
    return scores | {'test_pairs': len(pairs)}


def grey_baseline(test: Path) -> dict:
    """Scores of the grey input itself as the colour prediction (the floor to beat)."""
    pairs = _pairs(test, GREY)
    return score_colour([a.astype(np.float32) / 255 for _, a, _ in pairs],
                        [b for _, _, b in pairs])


def plot_panel(ckpts: dict[str, dict], tests: dict[str, Path], path: Path,
               labels: dict[str, str]) -> None:
    """Input, target and each variant's output (same CPU) on a few test pairs per task."""
    import matplotlib.pyplot as plt  # Agg is chosen automatically without a display
    rows = []
    for task, count in PANEL_ROWS.items():
        if task not in tests:
            continue
        nets = {n: load_translator(k['same_cpu']) for n, k in ckpts.items()
                if n.startswith(task + '_')}
        for name, a, b in _pairs(tests[task], task)[:count]:
            rows.append((task, name, a, b, {n: translate(net, a) for n, net in nets.items()}))
    cols = ['input', 'target', 'pix2pix', 'l1', 'ce']
    h, w = rows[0][2].shape[:2]
    fig, axes = plt.subplots(len(rows), len(cols), squeeze=False,
                             figsize=(3.2 * len(cols), (3.2 * h / w + 0.5) * len(rows)))
    for r, (task, name, a, b, outs) in enumerate(rows):
        images = [a, b] + [outs.get(f'{task}_{c}') for c in cols[2:]]
        for c, (ax, image) in enumerate(zip(axes[r], images)):
            ax.axis('off')
            if image is None:
                continue
            image = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
            ax.imshow(image, cmap='gray' if image.ndim == 2 else None, vmin=0,
                      vmax=255 if image.dtype == np.uint8 else 1, interpolation='nearest')
            title = ['input', 'target'][c] if c < 2 else labels.get(f'{task}_{cols[c]}', '')
            ax.set_title(f'{title}\n{task} {name}' if c == 0 else title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
