# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Ray-primitive intersections of the object scenes: boxes, spheres, capped cylinders, panels.

Each ``hit_*`` function takes the camera, its rays (H, W, 3; unit camera-z component, so
the ray parameter is the z-depth in metres), the G-buffer, the primitives' parameters
(N, 9) (layout in ``synth_objects.ObjectScene``), their object ids (N,) and the unit sun
direction, and merges the nearer hits of each primitive's pixel window into the buffer
(material OBJECT, surface coordinates in metres, Lambertian shade).
"""

import numpy as np

from .synth_render import Camera, cylinder_side, GBuffer, NEAR_M, OBJECT

BOX, SPHERE, CYLINDER, PANEL = 0, 1, 2, 3
AMBIENT = 0.35


def _shade(normal: np.ndarray, sun: np.ndarray, two_sided: bool = False) -> np.ndarray:
    """Lambertian shade in [AMBIENT, 1] of unit normals (..., 3)."""
    cos = normal @ sun
    cos = np.abs(cos) if two_sided else np.maximum(cos, 0)
    return (AMBIENT + (1 - AMBIENT) * cos).astype(np.float32)


def _yaw_matrix(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _signs() -> np.ndarray:
    return np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)


def hit_boxes(cam: Camera, rays, buf: GBuffer, params, ids, sun) -> None:
    """Boxes: centre (3), half sizes (3), yaw about the vertical (slab method)."""
    rots = [_yaw_matrix(p[6]) for p in params]
    corners = np.stack([p[:3] + (_signs() * p[3:6]) @ r.T for p, r in zip(params, rots)])
    for k, win in enumerate(cam.project_windows(corners)):
        if win[0] >= win[1] or win[2] >= win[3]:
            continue
        d = rays[win[2]:win[3], win[0]:win[1]] @ rots[k]
        o, half = rots[k].T @ (cam.centre - params[k, :3]), params[k, 3:6]
        with np.errstate(divide='ignore', invalid='ignore'):
            t1, t2 = (-half - o) / d, (half - o) / d
        near, far = np.minimum(t1, t2), np.maximum(t1, t2)
        t, axis = near.max(-1), near.argmax(-1)
        hit = (t <= far.min(-1)) & (t > NEAR_M)
        p = o + t[..., None] * d
        normal = np.zeros(p.shape)
        np.put_along_axis(normal, axis[..., None],
                          np.sign(np.take_along_axis(p, axis[..., None], -1)), -1)
        uv = np.where(axis[..., None] == 0, p[..., [2, 1]],
                      np.where(axis[..., None] == 1, p[..., [0, 2]], p[..., [0, 1]]))
        buf.merge(win, t.astype(np.float32), hit, OBJECT, ids[k], uv[..., 0], uv[..., 1],
                  _shade(normal @ rots[k].T, sun))


def hit_spheres(cam: Camera, rays, buf: GBuffer, params, ids, sun) -> None:
    """Spheres: centre (3), radius."""
    corners = params[:, None, :3] + _signs()[None] * params[:, None, 3:4]
    for k, win in enumerate(cam.project_windows(corners)):
        if win[0] >= win[1] or win[2] >= win[3]:
            continue
        d = rays[win[2]:win[3], win[0]:win[1]]
        oc, r = cam.centre - params[k, :3], params[k, 3]
        a, b = (d * d).sum(-1), 2 * (d @ oc)
        disc = b * b - 4 * a * (oc @ oc - r * r)
        t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        normal = (oc + t[..., None] * d) / r
        tu = np.arctan2(normal[..., 2], normal[..., 0]) * r
        tv = np.arcsin(np.clip(normal[..., 1], -1, 1)) * r
        buf.merge(win, t.astype(np.float32), (disc > 0) & (t > NEAR_M), OBJECT, ids[k],
                  tu, tv, _shade(normal, sun))


def hit_cylinders(cam: Camera, rays, buf: GBuffer, params, ids, sun) -> None:
    """Vertical cylinders with caps: x, z, radius, bottom y0, top y1."""
    x, z, r, y0, y1 = (params[:, i] for i in range(5))
    box = np.stack([x, (y0 + y1) / 2, z, r, (y1 - y0) / 2, r], 1)
    corners = box[:, None, :3] + _signs()[None] * box[:, None, 3:6]
    c = cam.centre
    for k, win in enumerate(cam.project_windows(corners)):
        if win[0] >= win[1] or win[2] >= win[3]:
            continue
        d = rays[win[2]:win[3], win[0]:win[1]]
        t, hit, nx, nz, tv = cylinder_side(c, d, x[k], z[k], r[k], y0[k], y1[k])
        normal = np.stack([nx, np.zeros_like(nx), nz], -1)
        tu, t = np.arctan2(nz, nx) * r[k], np.where(hit, t, np.inf)
        for y_cap, up in ((y1[k], 1.0), (y0[k], -1.0)):
            with np.errstate(divide='ignore', invalid='ignore'):
                tc = (y_cap - c[1]) / d[..., 1]
            px, pz = c[0] + tc * d[..., 0] - x[k], c[2] + tc * d[..., 2] - z[k]
            cap = (px * px + pz * pz <= r[k] ** 2) & (tc > NEAR_M) & (tc < t)
            t = np.where(cap, tc, t)
            normal[cap] = (0.0, up, 0.0)
            tu, tv = np.where(cap, px, tu), np.where(cap, pz, tv)
        buf.merge(win, t.astype(np.float32), np.isfinite(t) & (t > NEAR_M), OBJECT, ids[k],
                  tu, tv, _shade(normal, sun))


def panel_axes(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length and width axes (N, 3) of panels: yaw about the vertical, tilt from the ground."""
    yaw, tilt = params[:, 3], params[:, 4]
    axis_u = np.stack([np.cos(yaw), np.zeros_like(yaw), np.sin(yaw)], 1)
    across = np.stack([-np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], 1)
    axis_w = np.cos(tilt)[:, None] * across + np.sin(tilt)[:, None] * np.array([0, 1.0, 0])
    return axis_u, axis_w


def hit_panels(cam: Camera, rays, buf: GBuffer, params, ids, sun) -> None:
    """Flat rectangles: origin (3), yaw, tilt, length, width (walls are big panels)."""
    axis_u, axis_w = panel_axes(params)
    o, length, width = params[:, :3], params[:, 5:6], params[:, 6:7]
    corners = np.stack([o, o + length * axis_u, o + width * axis_w,
                        o + length * axis_u + width * axis_w], 1)
    normal = np.cross(axis_u, axis_w)
    for k, win in enumerate(cam.project_windows(corners)):
        if win[0] >= win[1] or win[2] >= win[3]:
            continue
        d = rays[win[2]:win[3], win[0]:win[1]]
        with np.errstate(divide='ignore', invalid='ignore'):
            t = ((o[k] - cam.centre) @ normal[k]) / (d @ normal[k])
        p = cam.centre - o[k] + t[..., None] * d
        a, b = p @ axis_u[k], p @ axis_w[k]
        hit = (t > NEAR_M) & (a >= 0) & (a <= length[k]) & (b >= 0) & (b <= width[k])
        buf.merge(win, t.astype(np.float32), hit, OBJECT, ids[k], a, b,
                  _shade(normal[k], sun, two_sided=True))


HITS = {BOX: hit_boxes, SPHERE: hit_spheres, CYLINDER: hit_cylinders, PANEL: hit_panels}
