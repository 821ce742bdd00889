# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Random sorghum-row scenes, textures and shading for the synthetic stereo generator.

A scene is rows of vertical stalks along Z on a soil plane, each stalk with a few
planar leaves, under a sky. Everything is drawn from one ``numpy.random.Generator``
so a seed reproduces the scene exactly.
"""

from dataclasses import dataclass

import numpy as np

from .synth_render import Camera, GBuffer, GROUND, hit_ground, hit_leaves, hit_stalks
from .synth_render import LEAF, SKY, STALK

TEX_SIZE = 256


def fractal_noise(rng: np.random.Generator, size: int = TEX_SIZE, beta: float = 2.0):
    """Periodic 1/f^beta noise, float32 (size, size), zero mean, unit std."""
    f = np.fft.fftfreq(size)
    k = np.hypot(f[:, None], f[None, :])
    k[0, 0] = 1.0
    amp = k ** (-beta / 2)
    amp[0, 0] = 0.0
    spec = amp * np.exp(2j * np.pi * rng.random((size, size)))
    noise = np.fft.ifft2(spec).real
    return ((noise - noise.mean()) / noise.std()).astype(np.float32)


class Texture:
    """A periodic gray texture with a mip pyramid, sampled bilinearly in metres."""

    def __init__(self, image: np.ndarray, texel_m: tuple[float, float]):
        """Build the pyramid of ``image`` (power-of-two square) at ``texel_m`` (u, v)."""
        self.levels = [image]
        while self.levels[-1].shape[0] > 8:
            im = self.levels[-1]
            n = im.shape[0] // 2
            self.levels.append(im.reshape(n, 2, n, 2).mean((1, 3)))
        self.texel_m = texel_m

    def sample(self, u_m: np.ndarray, v_m: np.ndarray, footprint_m: np.ndarray):
        """Bilinear sample at surface coords (m), mip level chosen from the pixel footprint."""
        level = np.log2(np.maximum(footprint_m / min(self.texel_m), 1e-9))
        level = np.clip(np.floor(level + 0.5), 0, len(self.levels) - 1).astype(np.int8)
        out = np.empty(u_m.shape, np.float32)
        for lv in np.unique(level):
            sel = level == lv
            out[sel] = self._bilinear(self.levels[lv], u_m[sel] / (self.texel_m[0] * 2 ** lv),
                                      v_m[sel] / (self.texel_m[1] * 2 ** lv))
        return out

    @staticmethod
    def _bilinear(im, x, y):
        n = im.shape[0]
        x0, y0 = np.floor(x), np.floor(y)
        fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
        x0, y0 = x0.astype(np.int64) % n, y0.astype(np.int64) % n
        x1, y1 = (x0 + 1) % n, (y0 + 1) % n
        top = im[y0, x0] * (1 - fx) + im[y0, x1] * fx
        bottom = im[y1, x0] * (1 - fx) + im[y1, x1] * fx
        return top * (1 - fy) + bottom * fy


@dataclass
class Scene:
    """
    One random sorghum-row scene (world metres, see data_synth_render).

    :ivar stalks: (N, 4) x, z, radius, height.
    :ivar leaves: (M, 11) origin, length axis, width axis, length, width.
    :ivar stalk_tint: (N, 3) RGB colour per stalk; leaf_tint: (M, 3) per leaf.
    :ivar sun: (3,) unit sun direction; textures: name -> Texture.
    :ivar cam_centre: (3,) left camera centre; cam_rot: (3, 3) camera-to-world rotation.

    """

    stalks: np.ndarray
    leaves: np.ndarray
    stalk_tint: np.ndarray
    leaf_tint: np.ndarray
    sun: np.ndarray
    textures: dict
    cam_centre: np.ndarray
    cam_rot: np.ndarray


def camera_rotation(pitch: float, yaw: float, roll: float = 0.0) -> np.ndarray:
    """Camera-to-world rotation: looking along +Z, pitched down, yawed, rolled (radians)."""
    ex = np.array([1.0, 0, 0])
    ey = np.array([0, -np.cos(pitch), -np.sin(pitch)])
    ez = np.array([0, -np.sin(pitch), np.cos(pitch)])
    c, s = np.cos(yaw), np.sin(yaw)
    yaw_m = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    c, s = np.cos(roll), np.sin(roll)
    roll_m = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return yaw_m @ np.stack([ex, ey, ez], 1) @ roll_m


def _sample_stalks(rng: np.random.Generator) -> np.ndarray:
    rows = []
    for row_x, z_max in ((-0.38, 18.0), (0.38, 18.0), (-1.14, 9.0), (1.14, 9.0)):
        z = 0.5 + np.cumsum(rng.uniform(0.12, 0.35, 200))
        z = z[z < z_max]
        x = row_x + rng.normal(0, 0.04, len(z))
        rows.append(np.stack([x, z, rng.uniform(0.010, 0.022, len(z)),
                              rng.uniform(1.1, 2.6, len(z))], 1))
    return np.concatenate(rows)


def _sample_leaves(rng: np.random.Generator, stalks: np.ndarray) -> np.ndarray:
    idx = np.repeat(np.arange(len(stalks)), rng.integers(1, 4, len(stalks)))
    n = len(idx)
    az = rng.uniform(0, 2 * np.pi, n)
    rise = rng.uniform(-0.3, 0.7, n)
    ax_u = np.stack([np.cos(az) * np.cos(rise), np.sin(rise), np.sin(az) * np.cos(rise)], 1)
    horiz = np.cross(ax_u, [0.0, 1.0, 0.0])
    horiz /= np.linalg.norm(horiz, axis=1, keepdims=True)
    twist = rng.uniform(-0.6, 0.6, n)[:, None]
    ax_w = np.cos(twist) * horiz + np.sin(twist) * np.cross(ax_u, horiz)
    y0 = rng.uniform(0.25, 0.85, n) * stalks[idx, 3]
    origin = np.stack([stalks[idx, 0], y0, stalks[idx, 1]], 1)
    origin += ax_u * stalks[idx, 2:3]
    return np.concatenate([origin, ax_u, ax_w, rng.uniform(0.35, 0.8, (n, 1)),
                           rng.uniform(0.04, 0.09, (n, 1))], 1)


def sample_scene(rng: np.random.Generator) -> Scene:
    """
    Draw a scene: rows, stalks, leaves, colours, sun, textures, camera pose.

    :param rng: random generator (the only source of randomness).

    :return: The Scene.

    """
    stalks = _sample_stalks(rng)
    leaves = _sample_leaves(rng, stalks)
    textures = {'soil': Texture(fractal_noise(rng, beta=1.6), (0.01, 0.01)),
                'clod': Texture(fractal_noise(rng, beta=2.6), (0.03, 0.03)),
                'stalk': Texture(fractal_noise(rng, beta=1.4), (0.001, 0.02)),
                'leaf': Texture(fractal_noise(rng, beta=1.6), (0.01, 0.001)),
                'cloud': Texture(fractal_noise(rng, beta=2.8), (0.004, 0.004))}
    stalk_tint = np.array([0.45, 0.55, 0.25]) * rng.uniform(0.7, 1.2, (len(stalks), 1))
    stalk_tint[:, 0] += rng.uniform(0, 0.25, len(stalks))
    leaf_tint = np.array([0.25, 0.55, 0.18]) * rng.uniform(0.6, 1.3, (len(leaves), 1))
    leaf_tint[:, 0] += rng.uniform(0, 0.2, len(leaves))
    sun = np.array([rng.uniform(-0.6, 0.6), rng.uniform(0.5, 1.0), rng.uniform(-0.6, 0.6)])
    centre = np.array([rng.uniform(-0.15, 0.15), rng.uniform(0.9, 1.5), 0.0])
    rot = camera_rotation(rng.uniform(0.08, 0.25), rng.uniform(-0.08, 0.08))
    return Scene(stalks, leaves, stalk_tint.astype(np.float32), leaf_tint.astype(np.float32),
                 sun / np.linalg.norm(sun), textures, centre, rot)


def shade_sky(cloud: Texture, rays: np.ndarray, fx_px: float) -> np.ndarray:
    """Sky colour (N, 3) of world rays (N, 3): blue fading to the horizon, with clouds."""
    elev = -rays[:, 1] / np.linalg.norm(rays, axis=1)
    clouds = cloud.sample(rays[:, 0] / rays[:, 2], elev, 1 / fx_px + 0 * elev)
    base = np.array([0.55, 0.7, 0.95]) - elev[:, None] * np.array([0.3, 0.25, 0.05])
    return base + 0.12 * np.clip(clouds, -1, 3)[:, None]


def _shade(scene: Scene, cam: Camera, rays: np.ndarray, buf: GBuffer) -> np.ndarray:
    """RGB float32 (H, W, 3) in [0, 1] from a filled G-buffer."""
    rgb = np.empty(buf.mat.shape + (3,), np.float32)
    tex = scene.textures
    for mat in (SKY, GROUND, STALK, LEAF):
        sel = buf.mat == mat
        if not sel.any():
            continue
        foot = np.where(np.isfinite(buf.depth[sel]), buf.depth[sel], 0) / cam.fx
        tu, tv = buf.tu[sel], buf.tv[sel]
        if mat == SKY:
            color = shade_sky(tex['cloud'], rays[sel], cam.fx)
        elif mat == GROUND:
            grain = tex['soil'].sample(tu, tv, foot * 3) * 0.18 + \
                tex['clod'].sample(tu, tv, foot * 3) * 0.12
            color = np.array([0.48, 0.36, 0.25]) * (1 + grain[:, None])
        elif mat == STALK:
            streak = tex['stalk'].sample(tu, tv, foot)
            node = 1 - 0.35 * np.exp(-((tv % 0.18) - 0.09) ** 2 / 2e-4)
            color = scene.stalk_tint[buf.obj[sel]] * ((1 + 0.2 * streak) * node)[:, None]
        else:
            vein = tex['leaf'].sample(tu, tv, foot)
            rib = 0.3 * np.exp(-tv ** 2 / 5e-5)
            color = scene.leaf_tint[buf.obj[sel]] * (1 + 0.15 * vein + rib)[:, None]
        rgb[sel] = color * buf.shade[sel][:, None] if mat != SKY else color
    return np.clip(rgb, 0, 1)


def render_view(scene: Scene, cam: Camera) -> tuple[np.ndarray, np.ndarray]:
    """
    Ray-cast one view of ``scene``.

    :param scene: the scene.
    :param cam: the camera (left, or the left one shifted by the baseline).

    :return: (rgb, depth_m): float32 (H, W, 3) in [0, 1] and float32 (H, W) z-depth in
        metres, ``inf`` on sky.

    """
    rgb, depth_m, _ = render_view_classes(scene, cam)
    return rgb, depth_m


def render_view_classes(scene: Scene, cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Ray-cast one view of ``scene`` with the class of each pixel's nearest surface.

    :param scene: the scene.
    :param cam: the camera.

    :return: (rgb, depth_m, classes): as render_view, plus uint8 (H, W) class ids of the
        surface hit at each pixel centre (SKY 0, GROUND 1, STALK 2, LEAF 3; the same
        z-buffer as the colours, so exact).

    """
    rays = cam.rays()
    buf = GBuffer(cam.height, cam.width)
    hit_ground(cam, rays, buf, scene.sun)
    hit_stalks(cam, rays, buf, scene.stalks, scene.sun)
    hit_leaves(cam, rays, buf, scene.leaves, scene.sun)
    return _shade(scene, cam, rays, buf), buf.depth, buf.mat.astype(np.uint8)
