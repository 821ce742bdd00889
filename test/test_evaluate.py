# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""SGBM on real Middlebury scenes, evaluate_pairs, and the sorghum-depth-evaluate CLI."""

import json
from pathlib import Path
import subprocess
import sys

from conftest import REPO_ROOT, shared_data
import cv2
import numpy as np
import pytest
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.evaluation.evaluate import (evaluate_pairs, ModelPredictor,
                                                        sgbm_predictor)
from sorghum_depth_training.evaluation.gt_io import find_pairs, GTError, StereoPair
from sorghum_depth_training.evaluation.report import markdown_table
from sorghum_depth_training.evaluation.sgbm import (num_disparities, num_disparities_for,
                                                    sgbm_disparity)
from tiny_model import make_tiny_model

# Measured with the fixed settings (opencv 5.0, nonocc mask, no alignment), the search
# range from the GT: tsukuba bad_3 1.32 %, density 98.1 % (16 px); venus bad_3 0.68 %,
# density 94.3 % (32 px). With 0.25 x width (96, 112 px): density 75.1 and 74.9 %.
SGBM_MAX_BAD3 = {'tsukuba': 2.0, 'venus': 1.0}
SGBM_RANGE_PX = {'tsukuba': 16, 'venus': 32}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'sorghum_depth_training.evaluation.evaluate',
                           *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize('scene', ['tsukuba', 'venus'])
def test_sgbm_on_real_middlebury(scene):
    pair = find_pairs(shared_data('middlebury2003', scene), 'nonocc')[0].load()
    disp = sgbm_disparity(pair.left_rgb, pair.right_rgb)
    assert disp.dtype == np.float32 and disp.shape == pair.disp_gt_px.shape
    # no match candidates in the leftmost numDisparities columns
    assert np.isnan(disp[:, :num_disparities(disp.shape[1]) - 1]).all()
    report = evaluate_pairs([pair], {'sgbm': sgbm_predictor}, ['metric'], progress=False)
    row = report['methods']['sgbm']['per_pair'][scene]
    assert row['metric']['bad_3'] < SGBM_MAX_BAD3[scene]
    # the search range covers the scene's disparities, not a quarter of the width: the
    # border without match candidates shrinks from 96-112 columns to 16-32
    assert row['sgbm_num_disparities'] == SGBM_RANGE_PX[scene]
    assert row['sgbm_range_from'] == 'gt' and row['scaling'] == 'measured'
    assert 90.0 < row['metric']['density'] <= 100.0


def test_sgbm_range_rule_known_values():
    assert [num_disparities_for(d) for d in (0.0, 14.0, 15.0, 15.25, 55.0, 63.0, 64.0)] == \
        [16, 16, 16, 32, 64, 64, 80]
    assert num_disparities(384) == 96      # the default, kept for training hints and others
    with pytest.raises(ValueError, match='multiple of 16'):
        sgbm_disparity(np.zeros((8, 40), np.uint8), np.zeros((8, 40), np.uint8), 20)


def _gt_plus(offset_px: float, scale: float = 1.0):
    """Tiny predictor: the GT itself, scaled and shifted, with a 10-pixel hole."""
    def predict(pair: StereoPair) -> np.ndarray:
        disp = pair.disp_gt_px * scale + offset_px
        disp.flat[np.flatnonzero(pair.disp_gt_px > 0)[:10]] = np.nan
        return disp
    return predict


def test_evaluate_pairs_known_predictors_on_synthetic(tmp_path):
    write_synthetic(tmp_path / 'synth', count=2, width=64, height=64)
    refs = find_pairs(tmp_path / 'synth')
    report = evaluate_pairs(refs, {'offset': _gt_plus(0.5), 'double': _gt_plus(0.0, 2.0)},
                            ['metric', 'median'], out_dir=tmp_path / 'out', progress=False)
    offset = report['methods']['offset']['per_pair']['synth/000001']
    assert offset['metric']['mae_px'] == pytest.approx(0.5, abs=1e-5)
    assert offset['metric']['bad_1'] == 0.0 and offset['mask'] is True
    assert offset['metric']['density'] < 100.0  # the hole
    assert 'abs_rel' in offset['metric']  # synthetic data has a calibration
    double = report['methods']['double']['mean']
    assert double['metric']['mae_pct'] == pytest.approx(100.0, abs=1e-4)
    assert double['median']['mae_px'] == pytest.approx(0.0, abs=1e-5)
    assert double['median']['scale'] == pytest.approx(0.5)
    assert double['median']['n_pairs'] == 2
    assert double['median']['abs_rel'] == pytest.approx(0.0, abs=1e-5)
    panel = cv2.imread(str(tmp_path / 'out/panels/synth__000000.png'))
    assert panel.shape[1] == 2 * 64 and panel.shape[0] == 3 * (64 + 18)


class _ConstantModel:
    """Stand-in for an exported model: 3 px everywhere, trained on a 0.5 m baseline."""

    metadata = {'baseline_m': 0.5, 'fx_over_width': 0.6}

    def predict_disparity(self, rgb: np.ndarray) -> np.ndarray:
        return np.full(rgb.shape[:2], 3.0, np.float32)


def test_model_disparity_rescaled_to_the_pairs_rig():
    image = np.zeros((4, 5, 3), np.uint8)
    gt = np.full((4, 5), 0.6, np.float32)
    predictor = ModelPredictor(_ConstantModel())
    same_lens = StereoPair('a', image, image, gt, None, 3.0, 0.1)  # fx / W = 0.6 as trained
    assert np.allclose(predictor(same_lens), 0.6)  # same depth on a 5x shorter baseline
    wider_fx = StereoPair('a', image, image, gt, None, 10.0, 0.1)  # fx / W = 2.0
    assert np.allclose(predictor(wider_fx), 3.0 * 0.1 / 0.5 * 2.0 / 0.6)
    assert np.allclose(predictor(StereoPair('b', image, image, gt)), 3.0)


def test_predictor_of_wrong_size_is_an_error():
    image = np.zeros((4, 5, 3), np.uint8)
    pair = StereoPair('p', image, image, np.ones((4, 5), np.float32))
    with pytest.raises(GTError, match='predicted'):
        evaluate_pairs([pair], {'bad': lambda p: np.ones((4, 4))}, progress=False)


def test_cli_sgbm_on_middlebury_writes_json_md_png(tmp_path):
    data = shared_data('middlebury2003')
    out = tmp_path / 'eval'
    r = _cli(str(data / 'tsukuba'), str(data / 'venus'), '--sgbm', '--out', str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads((out / 'metrics.json').read_text())
    assert report['settings']['mask'] == 'nonocc'
    assert report['settings']['methods']['sgbm']['blockSize'] == 5
    assert 'largest GT disparity' in report['settings']['methods']['sgbm']['numDisparities']
    assert report['pairs']['tsukuba']['gt_scale'] == 16.0
    assert report['pairs']['venus']['gt_scale'] == 8.0
    assert report['pairs']['venus']['gt_scale_from'] == 'info.txt'
    assert report['methods']['sgbm']['scaling'] == 'measured'
    sgbm = report['methods']['sgbm']
    assert list(sgbm['per_pair']) == ['tsukuba', 'venus']
    for scene, row in sgbm['per_pair'].items():
        assert row['metric']['alignment'] == 'metric' and row['median']['alignment'] == 'median'
        assert row['metric']['bad_3'] < SGBM_MAX_BAD3[scene]
    assert sgbm['mean']['metric']['bad_3'] == pytest.approx(
        (sgbm['per_pair']['tsukuba']['metric']['bad_3']
         + sgbm['per_pair']['venus']['metric']['bad_3']) / 2)
    md = (out / 'metrics.md').read_text()
    assert '### Alignment: median' in md and '| sgbm | tsukuba |' in md
    for scene in ('tsukuba', 'venus'):
        assert cv2.imread(str(out / 'panels' / f'{scene}.png')) is not None


def test_cli_bad_inputs_exit_2_and_name_the_file(tmp_path):
    r = _cli(str(tmp_path / 'missing'), '--sgbm', '--out', str(tmp_path / 'o'))
    assert r.returncode == 2 and 'missing: dataset folder not found' in r.stderr
    for sub in ('left', 'right', 'gt'):
        (tmp_path / 'd' / sub).mkdir(parents=True)
    image = np.full((6, 8, 3), 100, np.uint8)
    cv2.imwrite(str(tmp_path / 'd/left/a.png'), image)
    cv2.imwrite(str(tmp_path / 'd/right/a.png'), image)
    (tmp_path / 'd/gt/a.exr').write_bytes(b'\x00' * 32)
    r = _cli(str(tmp_path / 'd'), '--sgbm', '--out', str(tmp_path / 'o'))
    assert r.returncode == 2 and 'a.exr: unknown ground-truth format' in r.stderr
    (tmp_path / 'd/gt/a.exr').unlink()
    np.save(tmp_path / 'd/gt/a.npy', np.ones((6, 9), np.float32))
    r = _cli(str(tmp_path / 'd'), '--sgbm', '--out', str(tmp_path / 'o'))
    assert r.returncode == 2 and 'a.npy: size 9x6 differs' in r.stderr
    (tmp_path / 'model.ts').write_bytes(b'not a model')
    r = _cli(str(tmp_path / 'd'), '--model', str(tmp_path / 'model.ts'),
             '--out', str(tmp_path / 'o'))
    assert r.returncode == 2 and 'model.ts: cannot load model' in r.stderr
    assert not (tmp_path / 'o' / 'metrics.json').exists()


def _uncalibrated_copy(synth, dst, name='000000'):
    """Copy the synthetic pair into a left/ right/ gt/ folder: no calibration."""
    for sub, src in (('left', f'left/{name}.png'), ('right', f'right/{name}.png'),
                     ('gt', f'disp_gt/{name}.npy')):
        (dst / sub).mkdir(parents=True, exist_ok=True)
        (dst / sub / Path(src).name).write_bytes((synth / src).read_bytes())
    return dst


def test_every_row_says_what_metric_means(tmp_path):
    # One model, one frame, twice: with the rig (rescaled) and without (its own pixels).
    synth = tmp_path / 'synth'
    write_synthetic(synth, count=1, width=64, height=64)
    refs = find_pairs(synth) + find_pairs(_uncalibrated_copy(synth, tmp_path / 'plain'))
    predictors = {'model': ModelPredictor(_ConstantModel()), 'sgbm': sgbm_predictor,
                  'raw': lambda pair: pair.disp_gt_px}
    report = evaluate_pairs(refs, predictors, ['metric'], progress=False)
    model = report['methods']['model']
    calibrated, plain = model['per_pair']['synth/000000'], model['per_pair']['plain/000000']
    assert calibrated['scaling'] == 'rig-rescaled' and calibrated['rig_scale'] != 1.0
    assert plain['scaling'] == 'model-pixels' and plain['rig_scale'] == 1.0
    assert calibrated['metric']['mae_pct'] != pytest.approx(plain['metric']['mae_pct'])
    assert model['scaling'] == 'mixed' and 'model-pixels' in model['scaling_note']
    assert report['methods']['sgbm']['scaling'] == 'measured'
    assert report['methods']['raw']['scaling'] == 'unspecified'
    assert set(report['scalings']) == {'rig-rescaled', 'model-pixels', 'measured',
                                       'unspecified'}
    assert report['pairs']['synth/000000']['fx_px'] is not None
    assert report['pairs']['plain/000000']['fx_px'] is None
    md = markdown_table(report)
    assert '| model | synth/000000 | rig-rescaled |' in md
    assert '| model | plain/000000 | model-pixels |' in md
    assert '| **model** | **mean of 2** | **mixed** |' in md
    assert '**warning**: `model` mixes scalings' in md
    assert '- `model-pixels`: metric (no calibration' in md


def test_cli_model_without_calibration_is_labelled_and_warned(tmp_path):
    synth = tmp_path / 'synth'
    write_synthetic(synth, count=1, width=64, height=64)
    plain = _uncalibrated_copy(synth, tmp_path / 'plain')
    model = make_tiny_model(tmp_path / 'model.ts', height=64, width=64)
    r = _cli(str(synth), str(plain), '--model', str(model), '--no-sgbm', '--no-panels',
             '--out', str(tmp_path / 'o'))
    assert r.returncode == 0, r.stderr
    assert 'warning: model: 1 of 2 pairs have no calibration' in r.stderr
    report = json.loads((tmp_path / 'o/metrics.json').read_text())
    rows = report['methods']['model']['per_pair']
    assert rows['synth/000000']['scaling'] == 'rig-rescaled'
    assert rows['plain/000000']['scaling'] == 'model-pixels'
    assert report['methods']['model']['scaling'] == 'mixed'
    assert '| model | plain/000000 | model-pixels |' in (tmp_path / 'o/metrics.md').read_text()


def test_sgbm_on_an_image_narrower_than_its_range_has_no_answer_not_a_crash():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    assert np.isnan(sgbm_disparity(image, image, 16)).all()   # OpenCV raised here
    pair = StereoPair('narrow', image, image, np.full((12, 16), 3.0, np.float32))
    report = evaluate_pairs([pair], {'sgbm': sgbm_predictor}, ['metric'], progress=False)
    assert report['methods']['sgbm']['per_pair']['narrow']['metric']['density'] == 0.0
    assert report['warnings'] == ['narrow: image 16 px wide: SGBM needs more than 16 px, so '
                                  'it gives no answer (density 0)']


def test_gt_beyond_the_image_width_is_warned_and_does_not_crash_sgbm(tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (24, 64, 3), dtype=np.uint8)
    gt = np.full((24, 64), 1e30, np.float32)    # a wrong scale, say
    report = evaluate_pairs([StereoPair('huge', image, image, gt)], {'sgbm': sgbm_predictor},
                            ['metric'], progress=False)
    assert report['methods']['sgbm']['per_pair']['huge']['sgbm_num_disparities'] == 48
    assert any('huge' in w and 'wider than the image' in w for w in report['warnings'])
    report = evaluate_pairs([StereoPair('half', image, image, np.zeros_like(gt)),
                             StereoPair('ok', image, image, np.full_like(gt, 2.0))],
                            {'sgbm': sgbm_predictor}, ['metric'], progress=False)
    assert report['warnings'] == ['half: no valid ground-truth pixel (inside the mask): '
                                  'its metrics are n/a']
