# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Output messages of a DepthResult, for any message implementation.

rclpy message classes (the node) and rosbags message classes (offline bag inference)
both take every field as a keyword, so one builder serves both; ``MsgTypes`` supplies
the classes and how a byte payload is stored (``array('B')`` for rclpy, a uint8 array
for rosbags). Nothing here imports ROS.
"""

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .image_codec import encode_depth, encode_float_image
from .pipeline import DepthResult


@dataclass
class MsgTypes:
    """The message classes to build with, and the converter for ``uint8[]`` fields."""

    Image: Any
    DisparityImage: Any
    CameraInfo: Any
    RegionOfInterest: Any
    bytes_field: Callable[[np.ndarray], Any]


def _image(types: MsgTypes, header, shape: tuple[int, int], encoding: str,
           payload: tuple[np.ndarray, int]):
    data, step = payload
    return types.Image(header=header, height=shape[0], width=shape[1], encoding=encoding,
                       is_bigendian=0, step=step, data=types.bytes_field(data))


def pinhole_info(types: MsgTypes, header, shape: tuple[int, int], fx_px: float):
    """Build the CameraInfo of an ideal pinhole (principal point at the centre, no distortion)."""
    h, w = shape
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    roi = types.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return types.CameraInfo(
        header=header, height=h, width=w, distortion_model='plumb_bob',
        d=np.zeros(5), k=np.array([fx_px, 0, cx, 0, fx_px, cy, 0, 0, 1], float),
        r=np.eye(3).ravel(), p=np.array([fx_px, 0, cx, 0, 0, fx_px, cy, 0, 0, 0, 1, 0], float),
        binning_x=0, binning_y=0, roi=roi)


def depth_info(types: MsgTypes, header, shape: tuple[int, int], fx_px: float,
               camera_info=None):
    """Build the depth CameraInfo: the input's (re-stamped), else an ideal pinhole's."""
    if camera_info is None or (camera_info.height, camera_info.width) != tuple(shape):
        return pinhole_info(types, header, shape, fx_px)
    fields = ('height', 'width', 'distortion_model', 'd', 'k', 'r', 'p', 'binning_x',
              'binning_y', 'roi')
    return types.CameraInfo(header=header, **{f: getattr(camera_info, f) for f in fields})


def build_outputs(types: MsgTypes, header, result: DepthResult, depth_encoding: str,
                  camera_info=None) -> tuple[Any, Any, Any]:
    """
    Messages for one frame: (DisparityImage, depth Image, depth CameraInfo).

    All carry ``header`` (the input image's). The disparity image is ``32FC1`` with
    invalid pixels below ``min_disparity``; ``f``, ``t``, the disparity range and
    ``delta_d`` come from the result; ``valid_window`` is the whole frame.
    """
    shape = result.disp_px.shape
    disp_image = _image(types, header, shape, '32FC1', encode_float_image(result.disp_px))
    window = types.RegionOfInterest(x_offset=0, y_offset=0, height=shape[0], width=shape[1],
                                    do_rectify=False)
    disparity = types.DisparityImage(
        header=header, image=disp_image, f=result.fx_px, t=result.baseline_m,
        valid_window=window, min_disparity=result.min_disp_px,
        max_disparity=result.max_disp_px, delta_d=result.delta_d_px)
    depth = _image(types, header, shape, depth_encoding,
                   encode_depth(result.depth_m, depth_encoding))
    return disparity, depth, depth_info(types, header, shape, result.fx_px, camera_info)
