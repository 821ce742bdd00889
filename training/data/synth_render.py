# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Ray caster for the synthetic sorghum row: exact per-pixel depth, textures, z-buffer.

World frame: X right, Y up, Z forward along the crop rows, ground plane at Y = 0.
Camera frame: x right, y down, z forward. A pixel (column u, row v; pixel centres at
integer coordinates) casts the ray ``C + t * R @ ((u - cx) / fx, (v - cy) / fy, 1)``, so
the ray parameter ``t`` of the nearest hit IS the z-depth in metres and the left
disparity ``fx * B / t`` is exact at the pixel centre. Every surface colour is a
function of the surface point only (view-independent Lambertian shading), so the left
and right renders are consistent; occlusions come from the z-buffer of each view.
"""

from dataclasses import dataclass

import numpy as np

SKY, GROUND, STALK, LEAF, OBJECT = 0, 1, 2, 3, 4
FAR_M = 120.0
NEAR_M = 0.05


@dataclass
class Camera:
    """
    Pinhole camera of a rectified rig.

    :ivar fx, fy, cx, cy: intrinsics in px.
    :ivar width, height: image size in px.
    :ivar centre: (3,) optical centre in world metres.
    :ivar rot: (3, 3) camera-to-world rotation (columns: camera x, y, z axes in world).

    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    centre: np.ndarray
    rot: np.ndarray

    def shifted(self, baseline_m: float) -> 'Camera':
        """Return the right camera of the rig, moved by ``baseline_m`` along camera x."""
        return Camera(self.fx, self.fy, self.cx, self.cy, self.width, self.height,
                      self.centre + baseline_m * self.rot[:, 0], self.rot)

    def rays(self) -> np.ndarray:
        """World ray directions with unit camera-z component, float32 (H, W, 3)."""
        u = (np.arange(self.width, dtype=np.float32) - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float32) - self.cy) / self.fy
        d_cam = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.float32(1)), -1)
        return d_cam @ self.rot.T.astype(np.float32)

    def project_windows(self, points: np.ndarray) -> np.ndarray:
        """
        Pixel windows covering point sets (conservative bounding boxes).

        :param points: (N, K, 3) world points; object n lies in the hull of points[n].

        :return: (N, 4) int windows (u0, u1, v0, v1), half-open; empty when u0 >= u1.

        """
        p_cam = (points - self.centre) @ self.rot
        z = p_cam[..., 2]
        zs = np.maximum(z, NEAR_M)
        u = self.fx * p_cam[..., 0] / zs + self.cx
        v = self.fy * p_cam[..., 1] / zs + self.cy
        win = np.stack([np.floor(u.min(1)) - 1, np.ceil(u.max(1)) + 2,
                        np.floor(v.min(1)) - 1, np.ceil(v.max(1)) + 2], 1)
        straddle = (z.min(1) <= NEAR_M) & (z.max(1) > NEAR_M)
        win[straddle] = (0, self.width, 0, self.height)
        win[z.max(1) <= NEAR_M] = (0, 0, 0, 0)
        win[:, :2] = np.clip(win[:, :2], 0, self.width)
        win[:, 2:] = np.clip(win[:, 2:], 0, self.height)
        return win.astype(np.int64)


class GBuffer:
    """Per-pixel nearest hit: depth, material, object id, surface coords, shading."""

    def __init__(self, h: int, w: int):
        """Allocate an empty (all sky) buffer of ``h`` x ``w`` pixels."""
        self.depth = np.full((h, w), np.inf, np.float32)
        self.mat = np.zeros((h, w), np.int8)
        self.obj = np.zeros((h, w), np.int32)
        self.tu = np.zeros((h, w), np.float32)
        self.tv = np.zeros((h, w), np.float32)
        self.shade = np.ones((h, w), np.float32)

    def merge(self, win, t, hit, mat, obj, tu, tv, shade) -> None:
        """Keep the new hits of a window that are nearer than what is stored."""
        u0, u1, v0, v1 = win
        sl = (slice(v0, v1), slice(u0, u1))
        nearer = hit & (t < self.depth[sl])
        for buf, val in ((self.depth, t), (self.tu, tu), (self.tv, tv), (self.shade, shade)):
            buf[sl][nearer] = val[nearer] if np.ndim(val) else val
        self.mat[sl][nearer] = mat
        self.obj[sl][nearer] = obj


def hit_ground(cam: Camera, rays: np.ndarray, buf: GBuffer, sun: np.ndarray) -> None:
    """Intersect every ray with the ground plane Y = 0 (up to FAR_M)."""
    dy = rays[..., 1]
    with np.errstate(divide='ignore', invalid='ignore'):
        t = np.where(dy < 0, -cam.centre[1] / dy, np.inf).astype(np.float32)
    hit = t < FAR_M
    px = cam.centre[0] + t * rays[..., 0]
    pz = cam.centre[2] + t * rays[..., 2]
    shade = np.float32(0.45 + 0.55 * max(sun[1], 0.0))
    buf.merge((0, cam.width, 0, cam.height), t, hit, GROUND, 0, px, pz, shade)


def cylinder_side(c: np.ndarray, d: np.ndarray, x: float, z: float, r: float, y0: float,
                  y1: float) -> tuple[np.ndarray, ...]:
    """
    Nearest hit of rays ``c + t d`` (d: (..., 3)) with a vertical cylinder's side.

    :param x, z, r: axis position and radius in metres; y0, y1: bottom and top heights.

    :return: (t, hit, nx, nz, y): ray parameter, mask of hits within [y0, y1] (``t`` not
        yet checked against the near plane), the unit normal's x and z, the hit's height.
    """
    ox, oz = c[0] - x, c[2] - z
    a = d[..., 0] ** 2 + d[..., 2] ** 2
    b = 2 * (ox * d[..., 0] + oz * d[..., 2])
    disc = b * b - 4 * a * (ox * ox + oz * oz - r * r)
    with np.errstate(divide='ignore', invalid='ignore'):
        t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    y = c[1] + t * d[..., 1]
    nx, nz = (ox + t * d[..., 0]) / r, (oz + t * d[..., 2]) / r
    return t, (disc > 0) & (y >= y0) & (y <= y1), nx, nz, y


def hit_stalks(cam, rays, buf, stalks, sun) -> None:
    """Intersect rays with vertical cylinders ``stalks`` (N, 4): x, z, radius, height."""
    corners = np.stack([stalks[:, 0] - stalks[:, 2], stalks[:, 0] + stalks[:, 2],
                        stalks[:, 1] - stalks[:, 2], stalks[:, 1] + stalks[:, 2]], 1)
    pts = np.array([[corners[:, i], np.zeros(len(stalks)) + y * stalks[:, 3], corners[:, j]]
                    for i in (0, 1) for j in (2, 3) for y in (0, 1)]).transpose(2, 0, 1)
    c = cam.centre
    for k, win in enumerate(cam.project_windows(pts)):
        if win[0] >= win[1] or win[2] >= win[3]:
            continue
        x, z, r, h = stalks[k]
        t, side, nx, nz, y = cylinder_side(c, rays[win[2]:win[3], win[0]:win[1]], x, z, r, 0, h)
        hit = side & (t > NEAR_M)
        shade = 0.45 + 0.55 * np.maximum(nx * sun[0] + nz * sun[2], 0)
        buf.merge(win, t, hit, STALK, k, np.arctan2(nz, nx) * r, y, shade)


def hit_leaves(cam, rays, buf, leaves, sun) -> None:
    """
    Intersect rays with planar leaves.

    :param cam, rays, buf, sun: camera, its rays (H, W, 3), G-buffer, unit sun direction.
    :param leaves: (N, 11): origin (3), unit length axis (3), unit width axis (3),
        length_m, width_m; the outline is ``|b| <= width / 2 * sin(pi a / length)``.

    """
    o, ax_u, ax_w, length, width = (leaves[:, 0:3], leaves[:, 3:6], leaves[:, 6:9],
                                    leaves[:, 9], leaves[:, 10])
    half = 0.5 * width[:, None]
    pts = np.stack([o - half * ax_w, o + half * ax_w, o + length[:, None] * ax_u - half * ax_w,
                    o + length[:, None] * ax_u + half * ax_w], 1)
    normal = np.cross(ax_u, ax_w)
    for k, win in enumerate(cam.project_windows(pts)):
        if win[0] >= win[1] or win[2] >= win[3]:
            continue
        d = rays[win[2]:win[3], win[0]:win[1]]
        rel = o[k] - cam.centre
        with np.errstate(divide='ignore', invalid='ignore'):
            t = (rel @ normal[k]) / (d @ normal[k].astype(np.float32))
        p = cam.centre - o[k] + t[..., None] * d
        a, b = p @ ax_u[k], p @ ax_w[k]
        outline = 0.5 * width[k] * np.sin(np.pi * np.clip(a / length[k], 0, 1)) ** 0.6
        hit = (t > NEAR_M) & (a >= 0) & (a <= length[k]) & (np.abs(b) <= outline)
        shade = np.float32(0.4 + 0.6 * abs(normal[k] @ sun))
        buf.merge(win, t, hit, LEAF, k, a, b, shade)
