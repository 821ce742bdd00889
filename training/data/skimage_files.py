# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Files of the scikit-image wheel, read in place: the package itself is never imported.

The wheel carries photographs that their docstrings release under CC0 or into the public
domain (textures for synthetic scenes: bricks, grass, gravel, a cat, coffee, ...) and a
quarter-size Middlebury 2014 stereo pair with exact disparity (Motorcycle: a real scene,
only ever measured, never trained on). Install it without its dependencies:
``pip install --no-deps scikit-image==0.26.0`` (``requirements-nodeps.txt``).
"""

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from .dataset_dir import DatasetError

SKIMAGE_PIN = 'scikit-image==0.26.0'
# CC0 (brick, grass, gravel from CC0Textures; camera, coffee, chelsea by their
# photographers) or public domain (astronaut, rocket, text), per skimage.data's docstrings
PHOTOS = ('astronaut.png', 'brick.png', 'camera.png', 'chelsea.png', 'coffee.png', 'grass.png',
          'gravel.png', 'rocket.jpg', 'text.png')


def skimage_data_dir() -> Path:
    """
    Return the ``skimage/data`` folder of the installed wheel.

    :raises DatasetError: scikit-image is not installed (names the pin to install).
    """
    spec = importlib.util.find_spec('skimage')      # finds the package, does not run it
    folder = Path(spec.submodule_search_locations[0]) / 'data' if spec else None
    if folder is None or not (folder / 'gravel.png').is_file():
        raise DatasetError(f'the photographs come from the scikit-image wheel, which is not '
                           f'installed here: pip install --no-deps {SKIMAGE_PIN}')
    return folder


def load_photos() -> list[np.ndarray]:
    """Return the photographs as grey float32 (H, W) images in [0, 255]."""
    folder = skimage_data_dir()
    photos = []
    for name in PHOTOS:
        image = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise DatasetError(f'{folder / name}: not a readable image (reinstall '
                               f'{SKIMAGE_PIN})')
        photos.append(image.astype(np.float32))
    return photos


def photo_texture(rng: np.random.Generator, photo: np.ndarray, tile_px: int = 128
                  ) -> np.ndarray:
    """
    Cut a random square of ``photo`` into a seamless texture for ``synth_scene.Texture``.

    A square of 96 px to the photo's shorter side is resized to ``tile_px`` and mirrored
    into a (2 tile_px, 2 tile_px) tile, which wraps without a seam, then normalised to
    mean 0 and standard deviation 1 (the procedural textures' convention).

    :param rng: random generator (3 draws).
    :param photo: grey float32 (H, W), both sides at least 96 px.
    :return: float32 (2 tile_px, 2 tile_px).
    """
    side = int(rng.integers(96, min(photo.shape) + 1))
    y = int(rng.integers(0, photo.shape[0] - side + 1))
    x = int(rng.integers(0, photo.shape[1] - side + 1))
    crop = cv2.resize(photo[y:y + side, x:x + side], (tile_px, tile_px),
                      interpolation=cv2.INTER_AREA)
    tile = np.concatenate([crop, crop[:, ::-1]], 1)
    tile = np.concatenate([tile, tile[::-1]], 0)
    return ((tile - tile.mean()) / (tile.std() + 1e-6)).astype(np.float32)
