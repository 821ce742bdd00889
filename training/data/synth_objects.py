# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Random object scenes for the synthetic stereo generator: depth cues that are not rows.

A model trained on sorghum rows alone learns the rows' layout (vertical stalks, gaps of
sky) and paints it onto every other scene. These scenes teach what holds everywhere: a
ground plane receding to a horizon or a wall, objects standing on it or hanging in front
of what they hide, sizes shrinking with distance, slanted planes. One scene is a ground
plane, sometimes a back wall and side walls, and 6 to 28 boxes, spheres, capped
cylinders and flat panels with their own textures and colours, seen by a camera of
random height, pitch and roll. The scale of the whole scene is drawn too (a table top
to a street), and so is the pixel aspect (``fy_over_fx``): a camera image of another
aspect is squashed to the model's input size, so the training views are squashed alike.

World frame and ray casting as in ``synth_render``; every hit keeps the z-buffer rule,
so the left and right views and the exact disparity stay consistent.
"""

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .skimage_files import photo_texture
from .synth_objects_hit import BOX, CYLINDER, HITS, PANEL, SPHERE
from .synth_render import Camera, GBuffer, GROUND, hit_ground, SKY
from .synth_scene import camera_rotation, fractal_noise, shade_sky, Texture


@dataclass
class ObjectScene:
    """
    One random object scene (world metres).

    :ivar kinds: (N,) primitive of each object (BOX, SPHERE, CYLINDER, PANEL).
    :ivar params: (N, 9) per kind: BOX centre (3), half sizes (3), yaw, -, -;
        SPHERE centre (3), radius, -...; CYLINDER x, z, radius, y0, y1, -...;
        PANEL origin (3), yaw, tilt, length, width, -, -.
    :ivar tex_index: (N + 1,) texture of each object and, last, of the ground.
    :ivar tint: (N + 1, 3) RGB colour of each object and the ground.
    :ivar contrast: (N + 1,) texture amplitude of each.
    :ivar texel_m: (N + 1,) texel size in metres of each.
    :ivar textures: the texture bank; cloud: the sky's texture.
    :ivar sun: (3,) unit sun direction.
    :ivar cam_centre, cam_rot: left camera pose; fy_over_fx: pixel aspect of the camera.

    """

    kinds: np.ndarray
    params: np.ndarray
    tex_index: np.ndarray
    tint: np.ndarray
    contrast: np.ndarray
    texel_m: np.ndarray
    textures: list
    cloud: Texture
    sun: np.ndarray
    cam_centre: np.ndarray
    cam_rot: np.ndarray
    fy_over_fx: float = 1.0


def _texture_bank(rng: np.random.Generator, photos: Sequence[np.ndarray] = ()) -> list:
    """Six gray textures (noise, blotches, stripes), and six cut from ``photos`` if any."""
    bank = [fractal_noise(rng, beta=b) for b in (1.0, 1.6, 2.2, 3.0)]
    blot = fractal_noise(rng, beta=2.4)
    bank.append(np.where(blot > 0.3, 1.5, -0.5).astype(np.float32))
    u = np.arange(256, dtype=np.float32)
    stripes = np.sign(np.sin(2 * np.pi * u / 32))[None, :] + 0.3 * fractal_noise(rng, beta=1.4)
    bank.append(stripes.astype(np.float32))
    if len(photos):
        bank += [photo_texture(rng, photos[i]) for i in rng.integers(0, len(photos), 6)]
    return [Texture(im, (1.0, 1.0)) for im in bank]


def _walls(rng: np.random.Generator, scale: float) -> tuple[list, float]:
    """Back and side walls as big panels (maybe none); the free depth in front of them."""
    walls, depth_m = [], 30.0 * scale
    if rng.random() < 0.6:
        depth_m = rng.uniform(2.5, 12.0) * scale
        yaw = rng.uniform(-0.4, 0.4)
        walls.append((PANEL, [-60 * np.cos(yaw), 0, depth_m - 60 * np.sin(yaw), yaw,
                              np.pi / 2, 120, 40 * scale, 0, 0]))
    for side in (-1, 1):
        if rng.random() < 0.3:
            x = side * rng.uniform(1.0, 4.0) * scale
            walls.append((PANEL, [x, 0, -5.0, np.pi / 2, np.pi / 2, 65, 40 * scale, 0, 0]))
    return walls, depth_m


def _object(rng: np.random.Generator, scale: float, depth_m: float) -> tuple[int, list]:
    """One primitive standing on the ground or floating, in front of ``depth_m``."""
    z = np.exp(rng.uniform(np.log(max(1.0, 0.8 * scale)), np.log(max(depth_m, 1.5))))
    x = rng.uniform(-1, 1) * (0.7 * z + 0.5 * scale)
    size = rng.uniform(0.08, 0.45) * scale * (1 + z / (8 * scale))
    lift = 0.0 if rng.random() < 0.7 else rng.uniform(0.2, 2.0) * scale
    kind = int(rng.choice([BOX, SPHERE, CYLINDER, PANEL], p=[0.35, 0.2, 0.25, 0.2]))
    if kind == BOX:
        half = size * rng.uniform(0.3, 1.5, 3)
        return kind, [x, lift + half[1], z, *half, rng.uniform(0, np.pi), 0, 0]
    if kind == SPHERE:
        return kind, [x, lift + size, z, size, 0, 0, 0, 0, 0]
    if kind == CYLINDER:
        radius, height = size * rng.uniform(0.2, 0.8), size * rng.uniform(1, 5)
        return kind, [x, z, radius, lift, lift + height, 0, 0, 0, 0]
    tilt = rng.uniform(0.3, np.pi / 2)
    return kind, [x, lift, z, rng.uniform(0, np.pi), tilt, size * rng.uniform(1, 4),
                  size * rng.uniform(1, 3), 0, 0]


def sample_object_scene(rng: np.random.Generator, photos: Sequence[np.ndarray] = ()
                        ) -> ObjectScene:
    """
    Draw an object scene: layout, objects, textures, colours, sun and camera pose.

    :param rng: random generator (the only source of randomness).
    :param photos: grey photographs (``skimage_files.load_photos``) to cut textures from;
        none: procedural textures only, and the scene of ``rng`` is as it always was.

    :return: The ObjectScene.

    """
    scale = float(np.exp(rng.uniform(np.log(0.4), np.log(2.5))))
    walls, depth_m = _walls(rng, scale)
    objects = walls + [_object(rng, scale, depth_m) for _ in range(rng.integers(6, 29))]
    n = len(objects)
    textures = _texture_bank(rng, photos)
    tint = rng.uniform(0.1, 0.95, (n + 1, 3)) * rng.uniform(0.6, 1.0, (n + 1, 1))
    sun = np.array([rng.uniform(-0.7, 0.7), rng.uniform(0.4, 1.0), rng.uniform(-0.8, 0.3)])
    pitch, roll = rng.uniform(-0.05, 0.4), rng.uniform(-0.06, 0.06)
    return ObjectScene(
        np.array([k for k, _ in objects]), np.array([p for _, p in objects], np.float64),
        rng.integers(0, len(textures), n + 1), tint.astype(np.float32),
        rng.uniform(0.1, 0.5, n + 1).astype(np.float32),
        np.exp(rng.uniform(np.log(0.002), np.log(0.03), n + 1)) * scale, textures,
        Texture(fractal_noise(rng, beta=2.8), (0.004, 0.004)), sun / np.linalg.norm(sun),
        np.array([0.0, rng.uniform(0.3, 1.6) * scale, 0.0]),
        camera_rotation(pitch, rng.uniform(-0.1, 0.1), roll),
        float(1 / rng.uniform(1.0, 2.5)))


def render_objects(scene: ObjectScene, cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Ray-cast one view of an object scene.

    :param scene: the scene.
    :param cam: the camera (left, or the left one shifted by the baseline).

    :return: (rgb, depth_m, classes): float32 (H, W, 3) in [0, 1], float32 (H, W) z-depth
        in metres (``inf`` on sky) and uint8 (H, W) class ids (SKY, GROUND, OBJECT).

    """
    rays = cam.rays()
    buf = GBuffer(cam.height, cam.width)
    hit_ground(cam, rays, buf, scene.sun)
    for kind, hit in HITS.items():
        index = np.flatnonzero(scene.kinds == kind)
        if len(index):
            hit(cam, rays, buf, scene.params[index], index, scene.sun)
    return _shade(scene, cam, rays, buf), buf.depth, buf.mat.astype(np.uint8)


def _shade(scene: ObjectScene, cam: Camera, rays: np.ndarray, buf: GBuffer) -> np.ndarray:
    """RGB float32 (H, W, 3) in [0, 1]: textured, tinted, Lambertian-shaded surfaces."""
    rgb = np.empty(buf.mat.shape + (3,), np.float32)
    sky = buf.mat == SKY
    rgb[sky] = shade_sky(scene.cloud, rays[sky], cam.fx)
    owner = np.where(buf.mat == GROUND, len(scene.kinds), buf.obj)
    owner[sky] = -1
    foot = np.where(np.isfinite(buf.depth), buf.depth, 0) / cam.fx
    for k in np.unique(owner[~sky]):
        sel = owner == k
        tex = scene.textures[scene.tex_index[k]]
        texel = scene.texel_m[k]
        grain = tex.sample(buf.tu[sel] / texel, buf.tv[sel] / texel, foot[sel] / texel)
        color = scene.tint[k] * (1 + scene.contrast[k] * grain)[:, None]
        rgb[sel] = color * buf.shade[sel][:, None]
    return np.clip(rgb, 0, 1)
