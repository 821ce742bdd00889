# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Write stereo bags (Image or CompressedImage + CameraInfo) with rosbags.

Used by the synthetic generator (``--bag``) and by the tests, which build bags in every
format the extractor reads: rosbag2 with sqlite3 or MCAP storage, and ROS 1 ``.bag``.
"""

from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.rosbag2 import StoragePlugin, Writer as Ros2Writer
from rosbags.typesys import get_typestore, Stores

STORAGES = ('mcap', 'sqlite3', 'rosbag1')
DEFAULT_TOPICS = {'left': '/stereo/left/image_raw', 'right': '/stereo/right/image_raw',
                  'left_info': '/stereo/left/camera_info',
                  'right_info': '/stereo/right/camera_info'}
# First pixel of the 2x2 pattern, row-major: which RGB channel index sits where.
_BAYER = {'rggb': (0, 1, 1, 2), 'bggr': (2, 1, 1, 0), 'gbrg': (1, 2, 0, 1), 'grbg': (1, 0, 2, 1)}


def camera_info(width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                tx_m: float = 0.0, d=(0.0,) * 5, r=None, k=None) -> dict:
    """
    Build the CameraInfo fields (lower-case ROS 2 names) of one camera of a stereo rig.

    :param width, height: image size in px.
    :param fx, fy, cx, cy: rectified (P) intrinsics in px.
    :param tx_m: baseline term: the right camera has ``P[3] = -fx * tx_m``, the left 0.
    :param d: distortion coefficients (plumb_bob).
    :param r: (9,) rectification rotation, identity by default.
    :param k: (9,) raw intrinsics, P's 3x3 part by default.

    :return: dict with width, height, distortion_model, d, k, r, p.

    """
    k_rect = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    k = k_rect if k is None else k
    return {'width': int(width), 'height': int(height), 'distortion_model': 'plumb_bob',
            'd': np.asarray(d, np.float64), 'k': np.asarray(k, np.float64),
            'r': np.asarray(r if r is not None else np.eye(3).ravel(), np.float64),
            'p': np.array([fx, 0, cx, -fx * tx_m, 0, fy, cy, 0, 0, 0, 1, 0], np.float64)}


def encode_image(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """
    Convert an RGB (H, W, 3) or gray (H, W) uint8 array to the layout of ``encoding``.

    :param rgb: image; gray input is used as is for mono encodings.
    :param encoding: mono8, mono16, rgb8, bgr8, bgra8, rgba8 or bayer_{rggb,bggr,gbrg,grbg}8;
        any other encoding returns ``rgb`` unchanged (caller supplies the layout).

    :return: The array to put in the message data.

    """
    if encoding in ('mono8', 'mono16'):
        gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return gray if encoding == 'mono8' else gray.astype(np.uint16) * 257
    if encoding == 'rgb8':
        return rgb
    if encoding in ('bgr8', 'bgra8', 'rgba8'):
        code = {'bgr8': cv2.COLOR_RGB2BGR, 'bgra8': cv2.COLOR_RGB2BGRA,
                'rgba8': cv2.COLOR_RGB2RGBA}[encoding]
        return cv2.cvtColor(rgb, code)
    if encoding.startswith('bayer_') and encoding[6:10] in _BAYER:
        chans = _BAYER[encoding[6:10]]
        mosaic = np.empty(rgb.shape[:2], np.uint8)
        for k, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, chans[k]]
        return mosaic
    return rgb


class StereoBagWriter:
    """
    Context manager writing a stereo bag in one of STORAGES.

    ``compress`` ('png' or 'jpeg') writes ``sensor_msgs/CompressedImage`` on the image
    topic + ``/compressed``; otherwise ``sensor_msgs/Image`` with ``encoding``.
    """

    def __init__(self, path: Path, storage: str = 'mcap', encoding: str = 'rgb8',
                 compress: str | None = None, topics: dict | None = None,
                 with_info: bool = True):
        """
        Prepare the writer (nothing is written before ``__enter__``).

        :param path: bag path (a folder for rosbag2, a ``.bag`` file for ROS 1).
        :param storage: one of STORAGES.
        :param encoding: Image encoding (see encode_image); ignored when compressed.
        :param compress: None, 'png' or 'jpeg'.
        :param topics: overrides of DEFAULT_TOPICS (left, right, left_info, right_info).
        :param with_info: write the camera_info topics at all.

        """
        if storage not in STORAGES:
            raise ValueError(f'storage must be one of {STORAGES}, got {storage!r}')
        self.path, self.storage, self.encoding, self.compress = Path(path), storage, \
            encoding, compress
        self.topics = dict(DEFAULT_TOPICS, **(topics or {}))
        if not with_info:
            del self.topics['left_info'], self.topics['right_info']
        if compress:
            for side in ('left', 'right'):
                self.topics[side] += '/compressed'
        self.ros1 = storage == 'rosbag1'
        self.ts = get_typestore(Stores.ROS1_NOETIC if self.ros1 else Stores.ROS2_HUMBLE)
        self.conns = {}
        self.seq = 0

    def __enter__(self) -> 'StereoBagWriter':
        """Open the bag and add the four connections."""
        if self.ros1:
            self.writer = Ros1Writer(self.path)
        else:
            plugin = StoragePlugin.MCAP if self.storage == 'mcap' else StoragePlugin.SQLITE3
            self.writer = Ros2Writer(self.path, version=9, storage_plugin=plugin)
        self.writer.open()
        img_type = 'sensor_msgs/msg/' + ('CompressedImage' if self.compress else 'Image')
        for key, topic in self.topics.items():
            msgtype = img_type if key in ('left', 'right') else 'sensor_msgs/msg/CameraInfo'
            self.conns[key] = self.writer.add_connection(topic, msgtype, typestore=self.ts)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Close the bag."""
        self.writer.close()

    def _header(self, stamp_ns: int, frame_id: str):
        time_type = self.ts.types['builtin_interfaces/msg/Time']
        t = time_type(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
        extra = {'seq': self.seq} if self.ros1 else {}
        return self.ts.types['std_msgs/msg/Header'](stamp=t, frame_id=frame_id, **extra)

    def _put(self, key: str, msg, log_ns: int) -> None:
        conn = self.conns[key]
        ser = self.ts.serialize_ros1 if self.ros1 else self.ts.serialize_cdr
        self.writer.write(conn, log_ns, ser(msg, conn.msgtype))

    def _image_msg(self, image: np.ndarray, header):
        types = self.ts.types
        if self.compress:
            bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            ok, buf = cv2.imencode('.png' if self.compress == 'png' else '.jpg', bgr)
            return types['sensor_msgs/msg/CompressedImage'](
                header=header, format=self.compress, data=buf.ravel())
        data = encode_image(image, self.encoding)
        row = data.shape[1] * data.itemsize * (data.shape[2] if data.ndim == 3 else 1)
        return types['sensor_msgs/msg/Image'](
            header=header, height=data.shape[0], width=data.shape[1], encoding=self.encoding,
            is_bigendian=0, step=row,
            data=np.ascontiguousarray(data).view(np.uint8).ravel())

    def _info_msg(self, info: dict, header):
        types = self.ts.types
        names = ('D', 'K', 'R', 'P') if self.ros1 else ('d', 'k', 'r', 'p')
        roi = types['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0,
                                                        width=0, do_rectify=False)
        fields = {n: info[n.lower()] for n in names}
        return types['sensor_msgs/msg/CameraInfo'](
            header=header, height=info['height'], width=info['width'],
            distortion_model=info['distortion_model'], binning_x=0, binning_y=0, roi=roi,
            **fields)

    def write_pair(self, left: np.ndarray, right: np.ndarray, stamp_ns: int,
                   infos: tuple[dict, dict] | None = None, right_stamp_ns: int | None = None):
        """
        Write one stereo pair (and its camera infos) stamped ``stamp_ns``.

        :param left, right: RGB (H, W, 3) or gray (H, W) images (see encode_image).
        :param stamp_ns: header stamp and log time of the left image, ns.
        :param infos: (left, right) camera_info dicts, or None to write none.
        :param right_stamp_ns: the right image's stamp when it differs from the left's.

        """
        r_ns = stamp_ns if right_stamp_ns is None else right_stamp_ns
        for key, image, ns in (('left', left, stamp_ns), ('right', right, r_ns)):
            frame = f'stereo_{key}_optical_frame'
            self._put(key, self._image_msg(image, self._header(ns, frame)), ns)
            if infos is not None and key + '_info' in self.conns:
                info = infos[0] if key == 'left' else infos[1]
                self._put(key + '_info', self._info_msg(info, self._header(ns, frame)), ns)
        self.seq += 1
