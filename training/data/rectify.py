# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Decode image messages and rectify raw stereo images from their CameraInfo.

Raw images are remapped with ``cv2.initUndistortRectifyMap(K, D, R, P)``; topics that
are already rectified (name contains ``rect``, or D all zero and R identity) are left
alone. The rectified intrinsics come from the left P, the baseline from the right P:
``baseline_m = (P_left[3] - P_right[3]) / P_right[0]`` (``-P_right[3] / P_right[0]``).
"""

import cv2
import numpy as np
from rosbags.image import compressed_image_to_cvimage, message_to_cvimage

from .dataset_dir import Calibration, DatasetError

SUPPORTED_ENCODINGS = ('mono8', 'mono16', 'rgb8', 'bgr8', 'bgra8', 'rgba8') + tuple(
    f'bayer_{p}{b}' for p in ('rggb', 'bggr', 'gbrg', 'grbg') for b in (8, 16))


def check_encoding(encoding: str, topic: str) -> None:
    """Raise DatasetError naming ``topic`` when ``encoding`` is not supported."""
    if encoding != 'compressed' and encoding not in SUPPORTED_ENCODINGS:
        raise DatasetError(f'{topic}: unsupported image encoding {encoding!r} '
                           f'(supported: {", ".join(SUPPORTED_ENCODINGS)}, CompressedImage)')


def decode_image(msg, topic: str) -> np.ndarray:
    """
    Decode an Image or CompressedImage message to an 8-bit OpenCV array.

    :param msg: deserialized sensor_msgs/Image or sensor_msgs/CompressedImage.
    :param topic: its topic (for messages).
    :return: uint8 (H, W) for mono encodings, uint8 BGR (H, W, 3) otherwise (bayer is
        demosaiced; 16-bit scaled to 8 bits).
    :raises DatasetError: unsupported encoding or undecodable data.
    """
    try:
        if hasattr(msg, 'format'):
            image = compressed_image_to_cvimage(msg)
            if image is not None and image.ndim == 3 and image.shape[2] == 4:
                image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
            if image is not None and image.dtype != np.uint8:
                image = (image / 257.0).round().astype(np.uint8)
        else:
            check_encoding(msg.encoding, topic)
            mono = msg.encoding in ('mono8', 'mono16')
            image = message_to_cvimage(msg, 'mono8' if mono else 'bgr8')
    except DatasetError:
        raise
    except Exception as e:
        raise DatasetError(f'{topic}: cannot decode image ({type(e).__name__}: {e})') from e
    if image is None:
        raise DatasetError(f'{topic}: cannot decode compressed image')
    return np.ascontiguousarray(image)


def _field(msg, name: str) -> np.ndarray:
    """Return the CameraInfo matrix ``name`` (ROS 2 lower, ROS 1 upper case), float64."""
    value = getattr(msg, name) if hasattr(msg, name) else getattr(msg, name.upper())
    return np.asarray(value, np.float64)


def is_rectified(info, topic: str) -> bool:
    """Whether ``topic`` carries rectified images: ``rect`` in its name, or D = 0, R = I."""
    if 'rect' in topic:
        return True
    d, r = _field(info, 'd'), _field(info, 'r')
    return not np.any(d) and np.allclose(r, np.eye(3).ravel())


class Rectifier:
    """Per-side rectification maps and the rectified calibration of a stereo pair."""

    def __init__(self, infos: dict, topics: dict):
        """
        Build the maps from the two CameraInfo messages.

        :param infos: {'left': CameraInfo, 'right': CameraInfo}.
        :param topics: {'left': image topic, 'right': image topic} (for detection and
            messages).
        :raises DatasetError: P not set, non-positive baseline, unknown distortion model.
        """
        self.topics = topics
        self.maps = {}
        self.size = {}
        p = {}
        for side in ('left', 'right'):
            info = infos[side]
            p[side] = _field(info, 'p').reshape(3, 4)
            self.size[side] = (int(info.width), int(info.height))
            if p[side][0, 0] <= 0:
                raise DatasetError(f'{topics[side]}: camera_info P is not set (uncalibrated)')
            if not is_rectified(info, topics[side]):
                self.maps[side] = self._maps(info, p[side], topics[side])
        self.baseline_m = float((p['left'][0, 3] - p['right'][0, 3]) / p['right'][0, 0])
        if not self.baseline_m > 0:
            raise DatasetError(f'{topics["right"]}: camera_info P gives baseline '
                               f'{self.baseline_m:.4f} m; expected > 0 (left/right swapped?)')
        pl = p['left']
        w, h = self.size['left']
        self.calib = Calibration(w, h, pl[0, 0], pl[1, 1], pl[0, 2], pl[1, 2], self.baseline_m)

    @staticmethod
    def _maps(info, p: np.ndarray, topic: str):
        k, d = _field(info, 'k').reshape(3, 3), _field(info, 'd')
        r, size = _field(info, 'r').reshape(3, 3), (int(info.width), int(info.height))
        model = info.distortion_model
        if model in ('plumb_bob', 'rational_polynomial', ''):
            return cv2.initUndistortRectifyMap(k, d, r, p[:, :3], size, cv2.CV_16SC2)
        if model == 'equidistant':
            return cv2.fisheye.initUndistortRectifyMap(k, d[:4], r, p[:, :3], size,
                                                       cv2.CV_16SC2)
        raise DatasetError(f'{topic}: unsupported distortion model {model!r}')

    @property
    def rectifies(self) -> bool:
        """Whether any side is remapped (raw input)."""
        return bool(self.maps)

    def apply(self, side: str, image: np.ndarray) -> np.ndarray:
        """
        Rectify one decoded image of ``side`` ('left' or 'right').

        :param side: 'left' or 'right'.
        :param image: decoded image, the size given in its CameraInfo.
        :return: the rectified image (the input itself for rectified topics).
        :raises DatasetError: image size differs from the CameraInfo size.
        """
        w, h = self.size[side]
        if image.shape[:2] != (h, w):
            raise DatasetError(f'{self.topics[side]}: image is {image.shape[1]}x'
                               f'{image.shape[0]} but its camera_info says {w}x{h}')
        if side not in self.maps:
            return image
        m1, m2 = self.maps[side]
        return cv2.remap(image, m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
