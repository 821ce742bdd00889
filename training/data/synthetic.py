# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Synthetic sorghum-row stereo pairs with exact ground-truth disparity.

``sorghum-depth-synth OUT`` renders scenes from a seed into a dataset folder (the
contract of ``DESIGN.md``) plus ``disp_gt/NNNNNN.npy`` (float32, left view, px, 0 on
sky), ``nonocc/NNNNNN.png`` (255 where the left pixel is visible in the right view),
``labels/NNNNNN.png`` (the class of each left pixel, mono8: 0 sky, 1 ground, 2 stalk,
3 leaf) and ``stalk_mask/NNNNNN.png`` (mono8, 255 on stalk pixels), both exact from the
renderer's z-buffer; ``--bag`` also writes a rosbag2 MCAP (Image + CameraInfo) of the
same pairs.

``sorghum-depth-synth OUT --paired-stalks`` writes a paired folder instead (left views
only): ``A/`` the left RGB images, ``B/`` their stalk masks (mono8 0/255), ``labels/``
the class ids, ``splits/`` and ``paired.yaml`` (task stalk_segmentation), for image
translation training (docs/data.md, "Paired folders").
"""

import argparse
from dataclasses import dataclass
from pathlib import Path
import shutil
import sys
from typing import Sequence

import numpy as np

from .bag_io import camera_info, StereoBagWriter
from .dataset_dir import Calibration, DatasetError, DatasetWriter
from .paired_write import PairedWriter
from .skimage_files import load_photos
from .synth_objects import ObjectScene, render_objects, sample_object_scene
from .synth_render import Camera, GROUND, LEAF, OBJECT, SKY, STALK
from .synth_scene import render_view_classes, sample_scene
from ..cli_types import positive, random_seed

DEFAULT_WIDTH, DEFAULT_HEIGHT = 640, 192
DEFAULT_BASELINE_M = 0.12
FX_PER_WIDTH = 0.6
BAG_START_NS = 1_700_000_000 * 10**9
BAG_PERIOD_NS = 100_000_000
CLASS_IDS = {'sky': SKY, 'ground': GROUND, 'stalk': STALK, 'leaf': LEAF, 'object': OBJECT}
SCENES = ('rows', 'objects', 'mixed')
CLASS_TABLE = 'mono8 class id: ' + ', '.join(f'{v} {k}' for k, v in CLASS_IDS.items())
README = """# Synthetic sorghum-row stereo dataset

Written by `sorghum-depth-synth` (seed and settings in calibration.yaml, `source`).
- `left/`, `right/`: rectified RGB pairs, rendered by ray casting.
- `disp_gt/NNNNNN.npy`: float32 (H, W) EXACT left disparity in px at pixel centres,
  `left(x) = right(x - d)`; depth_m = fx * baseline_m / d; 0 on sky (infinitely far).
- `nonocc/NNNNNN.png`: uint8, 255 where the left pixel is visible in the right view.
- `labels/NNNNNN.png`: uint8 class of each left pixel: 0 sky, 1 ground, 2 stalk, 3 leaf.
- `stalk_mask/NNNNNN.png`: uint8, 255 on the left pixels of class stalk, else 0.
"""
PAIRED_README = """# Synthetic sorghum-row stalk segmentation pairs

Written by `sorghum-depth-synth --paired-stalks` (seed and settings in paired.yaml).
- `A/`: left RGB views, rendered by ray casting.
- `B/`: uint8 stalk masks, 255 on pixels whose nearest surface is a stalk, else 0.
- `labels/`: uint8 class of each pixel: 0 sky, 1 ground, 2 stalk, 3 leaf.
"""


@dataclass
class StereoSample:
    """
    One rendered pair.

    :ivar left, right: uint8 RGB (H, W, 3).
    :ivar disp_gt_px: float32 (H, W) left disparity in px, 0 on sky.
    :ivar nonocc: bool (H, W), left pixel visible in the right view.
    :ivar classes: uint8 (H, W) class id of each left pixel (CLASS_IDS).

    """

    left: np.ndarray
    right: np.ndarray
    disp_gt_px: np.ndarray
    nonocc: np.ndarray
    classes: np.ndarray

    @property
    def stalk_mask(self) -> np.ndarray:
        """Return the uint8 (H, W) mask of the left view: 255 on stalk pixels, else 0."""
        return stalk_mask(self.classes)


def stalk_mask(classes: np.ndarray) -> np.ndarray:
    """Return uint8 (H, W): 255 where ``classes`` is STALK, else 0."""
    return (np.asarray(classes) == STALK).astype(np.uint8) * 255


def default_fx_px(width: int) -> float:
    """Return the default focal length in px for an image ``width`` px wide (KITTI-like)."""
    return FX_PER_WIDTH * width


def _nonocc(disp_left: np.ndarray, disp_right: np.ndarray) -> np.ndarray:
    """Left-right check of exact disparities: left pixel visible in the right view."""
    h, w = disp_left.shape
    x_r = np.arange(w)[None, :] - disp_left
    xi = np.clip(np.rint(x_r).astype(np.int64), 0, w - 1)
    back = disp_right[np.arange(h)[:, None], xi]
    return (x_r > -0.5) & (np.abs(back - disp_left) <= np.maximum(0.5, 0.02 * disp_left))


def render_pair(seed: int, index: int, width: int = DEFAULT_WIDTH,
                height: int = DEFAULT_HEIGHT, fx_px: float | None = None,
                baseline_m: float = DEFAULT_BASELINE_M, scenes: str = 'rows',
                photos: Sequence[np.ndarray] = ()) -> StereoSample:
    """
    Render scene ``index`` of ``seed`` as a rectified stereo pair.

    :param seed: base seed; scene ``index`` uses the seed sequence (seed, index).
    :param index: scene number.
    :param width, height: image size in px (the generator wants multiples of 64).
    :param fx_px: focal length in px (fx = fy; principal point at the image centre);
        default ``0.6 * width``.
    :param baseline_m: stereo baseline in metres.
    :param scenes: ``rows`` (sorghum rows), ``objects`` (random object scenes,
        ``synth_objects``) or ``mixed`` (rows at every third index from 0, objects at
        the others).
    :param photos: grey photographs to cut some of the object scenes' textures from
        (``skimage_files.load_photos``); none: procedural textures only.

    :return: The StereoSample.

    """
    scene, cam = _scene_camera(seed, index, width, height, fx_px, scenes, photos)
    left, depth_l, classes = _render(scene, cam)
    right, depth_r, _ = _render(scene, cam.shifted(baseline_m))
    disp_l, disp_r = ((np.where(np.isfinite(z), cam.fx * baseline_m / z, 0)).astype(np.float32)
                      for z in (depth_l, depth_r))
    return StereoSample(_to_u8(left), _to_u8(right), disp_l, _nonocc(disp_l, disp_r), classes)


def render_left(seed: int, index: int, width: int = DEFAULT_WIDTH,
                height: int = DEFAULT_HEIGHT, fx_px: float | None = None, scenes: str = 'rows',
                photos: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, np.ndarray]:
    """
    Render only the left view of scene ``index`` of ``seed`` (as render_pair's left).

    :return: (uint8 RGB (H, W, 3), uint8 (H, W) class ids).
    """
    scene, cam = _scene_camera(seed, index, width, height, fx_px, scenes, photos)
    left, _, classes = _render(scene, cam)
    return _to_u8(left), classes


def _to_u8(image: np.ndarray) -> np.ndarray:
    return np.rint(image * 255).astype(np.uint8)


def _scene_camera(seed: int, index: int, width: int, height: int, fx_px: float | None,
                  scenes: str = 'rows', photos: Sequence[np.ndarray] = ()):
    """Scene ``index`` of ``seed`` and its left camera (principal point at the centre)."""
    if scenes not in SCENES:
        raise DatasetError(f'unknown scenes {scenes!r}: one of {", ".join(SCENES)}')
    fx_px = default_fx_px(width) if fx_px is None else float(fx_px)
    rng = np.random.default_rng([seed, index])
    if scenes == 'objects' or (scenes == 'mixed' and index % 3):
        scene = sample_object_scene(rng, photos)
        fy_px = fx_px * scene.fy_over_fx
    else:
        scene, fy_px = sample_scene(rng), fx_px
    return scene, Camera(fx_px, fy_px, (width - 1) / 2, (height - 1) / 2, width, height,
                         scene.cam_centre, scene.cam_rot)


def _render(scene, cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render ``scene`` (rows or objects) from ``cam``: rgb, depth_m, class ids."""
    if isinstance(scene, ObjectScene):
        return render_objects(scene, cam)
    return render_view_classes(scene, cam)


def synthetic_calibration(width: int, height: int, fx_px: float, baseline_m: float,
                          source: dict) -> Calibration:
    """Calibration of render_pair's rig (principal point at the image centre)."""
    return Calibration(width, height, fx_px, fx_px, (width - 1) / 2, (height - 1) / 2,
                       baseline_m, source)


def write_synthetic(out_dir: Path, count: int, seed: int = 0, width: int = DEFAULT_WIDTH,
                    height: int = DEFAULT_HEIGHT, fx_px: float | None = None,
                    baseline_m: float = DEFAULT_BASELINE_M, bag_path: Path | None = None,
                    overwrite: bool = False, scenes: str = 'rows',
                    photo_textures: bool = False) -> Calibration:
    """
    Render ``count`` scenes into a dataset folder (and optionally an MCAP bag).

    :param out_dir: dataset folder to create.
    :param count: number of pairs.
    :param seed, width, height, fx_px, baseline_m: see render_pair.
    :param bag_path: also write a rosbag2 MCAP here (topics /stereo/{left,right}/image_rect,
        rgb8, with camera_info), or None.
    :param overwrite: replace an existing dataset in ``out_dir``.
    :param scenes: ``rows``, ``objects`` or ``mixed`` (see render_pair).
    :param photo_textures: cut half of the object scenes' textures from CC0 photographs
        (the scikit-image wheel's; ``skimage_files``); a DatasetError names the package
        when it is missing.

    :return: The calibration written.

    """
    fx_px = default_fx_px(width) if fx_px is None else float(fx_px)
    photos = load_photos() if photo_textures else ()
    calib = synthetic_calibration(width, height, fx_px, baseline_m, {
        'generator': 'sorghum-depth-synth', 'seed': int(seed), 'count': int(count),
        'scenes': scenes, **({'photo_textures': True} if photo_textures else {}),
        'disp_gt': 'disp_gt/NNNNNN.npy float32 px, left view, 0 = sky',
        'nonocc': 'nonocc/NNNNNN.png 255 = visible in right view',
        'labels': f'labels/NNNNNN.png {CLASS_TABLE}',
        'stalk_mask': 'stalk_mask/NNNNNN.png mono8 255 = stalk'})
    bag = _open_bag(bag_path)
    infos = (camera_info(width, height, fx_px, fx_px, calib.cx, calib.cy),
             camera_info(width, height, fx_px, fx_px, calib.cx, calib.cy, baseline_m))
    try:
        with DatasetWriter(out_dir, overwrite) as writer:
            for i in range(count):
                s = render_pair(seed, i, width, height, fx_px, baseline_m, scenes, photos)
                name = writer.add_pair(s.left[..., ::-1], s.right[..., ::-1], s.disp_gt_px)
                writer.write_file(f'nonocc/{name}.png', s.nonocc.astype(np.uint8) * 255)
                writer.write_file(f'labels/{name}.png', s.classes)
                writer.write_file(f'stalk_mask/{name}.png', s.stalk_mask)
                if bag is not None:
                    bag.write_pair(s.left, s.right, BAG_START_NS + i * BAG_PERIOD_NS, infos)
            writer.finish(calib, readme=README)
    except BaseException:
        if bag is not None:             # no half-written bag is left behind
            try:
                bag.__exit__(None, None, None)
            except OSError:             # closing writes too, and the disk is full
                pass
            bag = None
            shutil.rmtree(bag_path, ignore_errors=True)
        raise
    finally:
        if bag is not None:
            bag.__exit__(None, None, None)
    return calib


def write_synthetic_paired(out_dir: Path, count: int, seed: int = 0,
                           width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
                           fx_px: float | None = None, overwrite: bool = False) -> Path:
    """
    Render ``count`` left views into a paired folder for stalk segmentation.

    A/NNNNNN.png is the left RGB image of scene i (as in a stereo dataset of the same
    seed), B/NNNNNN.png its stalk mask (mono8 0/255), labels/NNNNNN.png its class ids;
    splits are drawn with ``seed``.

    :return: the paired folder written.
    """
    fx_px = default_fx_px(width) if fx_px is None else float(fx_px)
    with PairedWriter(out_dir, 'mono8', 'stalk_segmentation', overwrite) as writer:
        for i in range(count):
            rgb, classes = render_left(seed, i, width, height, fx_px)
            name = f'{i:06d}'
            writer.add(name, rgb, stalk_mask(classes))
            writer.write_png(f'labels/{name}.png', classes)
        return writer.finish(seed=seed, extra={
            'source': {'generator': 'sorghum-depth-synth --paired-stalks', 'seed': int(seed),
                       'width': int(width), 'height': int(height), 'fx': fx_px},
            'labels': f'labels/NNNNNN.png {CLASS_TABLE}'}, readme=PAIRED_README)


def _open_bag(bag_path: Path | None) -> StereoBagWriter | None:
    """Open the optional MCAP bag of the pairs; DatasetError if it cannot be created."""
    if bag_path is None:
        return None
    if Path(bag_path).exists():
        raise DatasetError(f'{bag_path}: bag already exists')
    bag = StereoBagWriter(bag_path, 'mcap', 'rgb8', topics={
        'left': '/stereo/left/image_rect', 'right': '/stereo/right/image_rect'})
    try:
        bag.__enter__()
    except OSError as err:
        shutil.rmtree(bag_path, ignore_errors=True)
        raise DatasetError(f'{bag_path}: cannot write the bag ({err})') from err
    return bag


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface of sorghum-depth-synth."""
    p = argparse.ArgumentParser(
        prog='sorghum-depth-synth', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('out', type=Path, help='dataset folder to create')
    p.add_argument('--count', type=int, default=8, help='number of pairs (default 8)')
    p.add_argument('--seed', type=random_seed, default=0, help='random seed (default 0)')
    p.add_argument('--width', type=int, default=DEFAULT_WIDTH, help='px, multiple of 64')
    p.add_argument('--height', type=int, default=DEFAULT_HEIGHT, help='px, multiple of 64')
    p.add_argument('--fx', type=positive, default=None, help='focal length px (0.6 * width)')
    p.add_argument('--baseline', type=positive, default=DEFAULT_BASELINE_M,
                   help=f'baseline in metres (default {DEFAULT_BASELINE_M})')
    p.add_argument('--scenes', choices=SCENES, default='rows',
                   help='rows: sorghum rows (default); objects: random boxes, spheres, '
                   'cylinders and panels on a ground, walls or sky (depth cues that are not '
                   'rows); mixed: one third rows (indices 0, 3, 6, ...), two thirds objects')
    p.add_argument('--photo-textures', action='store_true',
                   help='cut half of the textures of object scenes from CC0 photographs (bricks, '
                   'grass, gravel, ...; needs the scikit-image wheel: pip install --no-deps '
                   'scikit-image==0.26.0); --scenes objects or mixed')
    p.add_argument('--bag', type=Path, default=None,
                   help='also write a rosbag2 MCAP of the pairs to this new folder')
    p.add_argument('--paired-stalks', action='store_true',
                   help='write OUT as a paired folder for stalk segmentation instead: A/ left '
                   'RGB, B/ stalk mask mono8 0/255, labels/, splits/, paired.yaml (no right '
                   'views, no --bag)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing dataset')
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 on bad input, message on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        if args.count < 1 or args.width < 8 or args.height < 8 or args.baseline <= 0:
            raise DatasetError('--count must be >= 1, sizes >= 8 px, --baseline > 0')
        if args.width % 64 or args.height % 64:
            print(f'warning: {args.width}x{args.height} is not a multiple of 64; the '
                  'generator needs that (resize before training)', file=sys.stderr)
        if args.paired_stalks:
            if args.bag is not None:
                raise DatasetError('--bag writes stereo pairs; it does not go with '
                                   '--paired-stalks')
            write_synthetic_paired(args.out, args.count, args.seed, args.width, args.height,
                                   args.fx, args.overwrite)
        else:
            write_synthetic(args.out, args.count, args.seed, args.width, args.height, args.fx,
                            args.baseline, args.bag, args.overwrite, args.scenes,
                            args.photo_textures)
    except DatasetError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    except OSError as e:           # a full disk while writing the bag
        print(f'error: cannot write {args.out} or its bag ({e})', file=sys.stderr)
        return 2
    print(f'wrote {args.count} synthetic {"stalk segmentation " * args.paired_stalks}pairs '
          f'to {args.out}'
          + (f' and bag {args.bag}' if args.bag else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
