# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The scikit-image wheel's files: photo textures for synthetic scenes, and Motorcycle.

Real files from the installed wheel (``requirements-nodeps.txt``); a fake, data-less
``skimage`` package on ``sys.path`` stands for a machine without it.
"""

from dataclasses import replace
import importlib

import numpy as np
import pytest
from sorghum_depth_training.data import synthetic
from sorghum_depth_training.data.dataset_dir import DatasetError
from sorghum_depth_training.data.skimage_files import load_photos, photo_texture, PHOTOS
from sorghum_depth_training.evaluation.evaluate import evaluate_pairs, sgbm_predictor
from sorghum_depth_training.evaluation.motorcycle import motorcycle_pair


@pytest.fixture(scope='module')
def photos():
    try:
        return load_photos()
    except DatasetError as err:
        pytest.skip(str(err))


@pytest.fixture
def no_skimage(tmp_path, monkeypatch):
    """Put a ``skimage`` package without its data folder first on ``sys.path``."""
    (tmp_path / 'skimage').mkdir()
    (tmp_path / 'skimage' / '__init__.py').write_text('')
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()


def test_photos_are_the_grey_images_named(photos):
    assert len(photos) == len(PHOTOS) == 9
    for photo in photos:
        assert photo.dtype == np.float32 and photo.ndim == 2 and min(photo.shape) >= 96
        assert 20 < photo.std() and 0 <= photo.min() < photo.max() <= 255


def test_photo_texture_is_seamless_and_normalised(photos):
    rng = np.random.default_rng(0)
    for photo in photos:
        tex = photo_texture(rng, photo)
        assert tex.shape == (256, 256) and tex.dtype == np.float32
        assert abs(tex.mean()) < 1e-4 and tex.std() == pytest.approx(1.0, abs=1e-4)
        # the tile wraps onto itself: its last row and column repeat its first ones
        np.testing.assert_array_equal(tex[:, -1], tex[:, 0])
        np.testing.assert_array_equal(tex[-1], tex[0])


def test_photo_texture_keeps_the_photo_content():
    ramp = np.tile(np.arange(300, dtype=np.float32), (200, 1))   # brighter to the right
    tex = photo_texture(np.random.default_rng(1), ramp)
    assert np.all(np.diff(tex[0, :128]) > 0) and np.all(np.diff(tex[0, 128:]) < 0)
    assert np.ptp(tex[:, 5]) < 1e-4                                # no vertical change


def test_photo_textures_change_object_scenes_only(photos):
    rows = [synthetic.render_pair(3, 0, 128, 64, scenes='mixed', photos=p).left
            for p in ((), photos)]
    objects = [synthetic.render_pair(3, 1, 128, 64, scenes='mixed', photos=p).left
               for p in ((), photos)]
    np.testing.assert_array_equal(rows[0], rows[1])
    assert np.abs(objects[0].astype(int) - objects[1]).mean() > 5


def test_write_synthetic_records_photo_textures(photos, tmp_path):
    synthetic.write_synthetic(tmp_path / 'p', 2, seed=3, width=128, height=64,
                              scenes='objects', photo_textures=True)
    synthetic.write_synthetic(tmp_path / 'n', 2, seed=3, width=128, height=64,
                              scenes='objects')
    text = (tmp_path / 'p' / 'calibration.yaml').read_text()
    assert 'photo_textures: true' in text
    assert 'photo_textures' not in (tmp_path / 'n' / 'calibration.yaml').read_text()
    for name in ('000000.png', '000001.png'):
        assert (tmp_path / 'p' / 'left' / name).read_bytes() != \
            (tmp_path / 'n' / 'left' / name).read_bytes()


def test_missing_wheel_is_an_error_naming_it(no_skimage, tmp_path, capsys):
    with pytest.raises(DatasetError, match='pip install --no-deps scikit-image==0.26.0'):
        load_photos()
    code = synthetic.main([str(tmp_path / 'out'), '--count', '1', '--width', '128',
                           '--height', '64', '--scenes', 'objects', '--photo-textures'])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith('error: ') and 'scikit-image' in err, err
    assert not (tmp_path / 'out').exists()


def test_motorcycle_is_a_real_pair_that_sgbm_matches():
    try:
        pair = motorcycle_pair()
    except DatasetError as err:
        pytest.skip(str(err))
    assert pair.left_rgb.shape == (500, 741, 3)
    assert pair.mask.mean() == pytest.approx(0.93, abs=0.01)
    known = pair.disp_gt_px[pair.mask]
    assert 7 < known.min() and known.max() < 60
    # views and GT agree: stereo matching finds the GT (5 % here), not so with the wrong view
    mae = [evaluate_pairs([p], {'sgbm': sgbm_predictor}, alignments=('metric',),
                          progress=False)['methods']['sgbm']['mean']['metric']['mae_pct']
           for p in (pair, replace(pair, right_rgb=pair.left_rgb))]
    assert mae[0] < 10 and mae[1] > 50, mae
