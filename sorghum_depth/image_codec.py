# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Image message payloads <-> numpy arrays, without ROS.

Works on any object with the fields of sensor_msgs/Image (``height, width, encoding,
is_bigendian, step, data``): rclpy messages in the node, rosbags messages offline. The
payload is checked (size, step, length, encoding) before it is read, so a bad message
raises ``ImageDecodeError`` instead of crashing or reading garbage. Colour conversion,
Bayer demosaicing included, is rosbags-image's.
"""

import sys

import numpy as np
from rosbags.image.image import convert_color, ENCODINGMAP, ImageConversionError

DEPTH_ENCODINGS = ('32FC1', '16UC1')


class ImageDecodeError(ValueError):
    """A message that cannot be turned into an image; the message says why."""


def _layout(encoding: str) -> tuple[np.dtype, int]:
    if encoding not in ENCODINGMAP or ENCODINGMAP[encoding][1].name.startswith('YUV'):
        raise ImageDecodeError(f'unsupported image encoding {encoding!r}')
    _, _, typestr, channels = ENCODINGMAP[encoding]
    return np.dtype(typestr), channels


def decode_image(msg) -> np.ndarray:
    """
    Decode an Image message to an (H, W, C) or (H, W) array in its own encoding.

    Rows may be padded (``step`` larger than ``width * pixel size``).

    :param msg: object with sensor_msgs/Image fields.
    :returns: array view of the payload with native byte order.
    :raises ImageDecodeError: zero size, bad step, short data or unknown encoding.
    """
    dtype, channels = _layout(msg.encoding)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = w * channels * dtype.itemsize
    if h <= 0 or w <= 0:
        raise ImageDecodeError(f'image has zero size ({w}x{h})')
    if step < row_bytes:
        raise ImageDecodeError(f'step {step} is smaller than width x pixel size ({row_bytes})')
    data = np.frombuffer(msg.data, np.uint8)    # no copy: bytes, array('B') or ndarray
    if data.size < step * h:
        raise ImageDecodeError(f'data has {data.size} bytes, step x height needs {step * h}')
    rows = data[:step * h].reshape(h, step)
    if step != row_bytes:
        rows = np.ascontiguousarray(rows[:, :row_bytes])    # drop the row padding
    image = rows.view(dtype).reshape((h, w, channels))
    if bool(msg.is_bigendian) != (sys.byteorder == 'big') and dtype.itemsize > 1:
        image = image.byteswap()
    return image[:, :, 0] if channels == 1 else image


def image_to_rgb8(msg) -> np.ndarray:
    """Decode any supported Image message to (H, W, 3) uint8 RGB (Bayer demosaiced)."""
    image = decode_image(msg)
    try:
        rgb = convert_color(image, msg.encoding, 'rgb8')
    except ImageConversionError as err:
        raise ImageDecodeError(f'cannot convert {msg.encoding!r} to RGB: {err}') from err
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _payload(packed: np.ndarray) -> tuple[np.ndarray, int]:
    """Return a contiguous (H, W) array as (its bytes as a flat uint8 view, row step)."""
    return packed.reshape(-1).view(np.uint8), packed.shape[1] * packed.itemsize


def encode_depth(depth_m: np.ndarray, encoding: str = '32FC1') -> tuple[np.ndarray, int]:
    """
    Depth payload per REP 118.

    :param depth_m: (H, W) float depth in metres, NaN where invalid.
    :param encoding: ``32FC1`` (metres, NaN invalid) or ``16UC1`` (millimetres, 0 invalid).
    :returns: (payload as a flat uint8 array, step in bytes), little endian.
    """
    if encoding == '32FC1':
        out = np.ascontiguousarray(depth_m, dtype='<f4')
    elif encoding == '16UC1':
        mm = np.nan_to_num(np.asarray(depth_m, np.float64) * 1000.0, nan=0.0)
        out = np.where((mm > 0) & (mm <= 65535), np.rint(mm), 0).astype('<u2')
    else:
        raise ValueError(f'depth encoding must be one of {DEPTH_ENCODINGS}, got {encoding!r}')
    return _payload(out)


def encode_float_image(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Return the ``32FC1`` payload of an (H, W) float image: (flat uint8 array, step)."""
    return _payload(np.ascontiguousarray(values, dtype='<f4'))
