# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Read bags for extraction and for offline inference.

Extraction: open any bag, choose topics, index header stamps, pair L/R. Inference: the
image topic, its camera_info track by bag time, decoded frames.

Everything here raises DatasetError with a message that names the bag or topic.
"""

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
import sys

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.image import compressed_image_to_cvimage

from .errors import DatasetError
from .image_codec import image_to_rgb8

IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
SIDE_WORDS = (('left', 'right'), ('cam0', 'cam1'), ('/l/', '/r/'))


@dataclass
class StereoTopics:
    """The chosen topics; an info topic is None when the bag has none for that side."""

    left: str
    right: str
    left_info: str | None = None
    right_info: str | None = None


@dataclass
class BagIndex:
    """
    Header stamps (ns) per image topic, first CameraInfo per side, first image layout.

    :ivar stamps: {'left': [...], 'right': [...]} header stamps in log order.
    :ivar infos: {'left': msg or None, 'right': msg or None}.
    :ivar layout: {'left': (encoding, width, height), 'right': ...} of the first image.
    :ivar unreadable: messages of the chosen topics that do not deserialize (skipped).
    """

    stamps: dict = field(default_factory=lambda: {'left': [], 'right': []})
    infos: dict = field(default_factory=lambda: {'left': None, 'right': None})
    layout: dict = field(default_factory=dict)
    unreadable: int = 0


def open_bag(path: Path) -> AnyReader:
    """
    Open a rosbag2 (sqlite3 or MCAP) folder/file or a ROS 1 ``.bag`` for reading.

    :param path: the bag.
    :return: an opened AnyReader (close it, or use it as a context manager).
    :raises DatasetError: missing, truncated or corrupt bag (the message names it).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f'{path}: bag not found')
    try:
        reader = AnyReader([path])
        reader.open()
    except Exception as e:  # rosbags raises several types for broken files
        hint = ''
        if 'malformed' in str(e):
            hint = ('; its sqlite3 database is damaged (a recording cut short?) and '
                    'sorghum-depth-extract cannot salvage sqlite3 bags: it salvages MCAP '
                    'ones, so record with `ros2 bag record -s mcap`')
        raise DatasetError(f'{path}: cannot read bag, not a bag, truncated or corrupt? '
                           f'({type(e).__name__}: {e}){hint}') from e
    return reader


def stamp_ns(msg) -> int:
    """Header stamp of ``msg`` in nanoseconds."""
    return int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec)


def _partner(topic: str, images: list[str]) -> str | None:
    for left_word, right_word in SIDE_WORDS:
        if left_word in topic:
            other = topic.replace(left_word, right_word)
            if other in images:
                return other
    return None


def info_sibling(image_topic: str, info_topics: list[str]) -> str | None:
    """Return the ``camera_info`` topic in the namespace of ``image_topic``, or None."""
    base = image_topic[:-len('/compressed')] if image_topic.endswith('/compressed') \
        else image_topic
    candidate = base.rsplit('/', 1)[0] + '/camera_info'
    return candidate if candidate in info_topics else None


def choose_topics(reader: AnyReader, bag: Path, left: str | None = None,
                  right: str | None = None, left_info: str | None = None,
                  right_info: str | None = None) -> StereoTopics:
    """
    Check the requested topics, or find a left/right image pair and their camera_info.

    Auto-detection pairs image topics that differ by left/right (or cam0/cam1); it
    prefers rectified topics (name contains ``rect``), then uncompressed ones.

    :param reader: opened bag.
    :param bag: its path (for messages).
    :param left: left image topic, or None to detect.
    :param right: right image topic, or None to detect.
    :param left_info: left camera_info topic, or None for the sibling of ``left``.
    :param right_info: right camera_info topic, or None for the sibling of ``right``.
    :return: the StereoTopics.
    :raises DatasetError: a requested topic is missing or no pair can be found.
    """
    types = {c.topic: c.msgtype for c in reader.connections}
    images = sorted(t for t, m in types.items() if m in IMAGE_TYPES)
    infos = sorted(t for t, m in types.items() if m == INFO_TYPE)
    for name, topic, allowed in (('left', left, images), ('right', right, images),
                                 ('left camera_info', left_info, infos),
                                 ('right camera_info', right_info, infos)):
        if topic is not None and topic not in allowed:
            raise DatasetError(f'{bag}: {name} topic {topic} not found (or wrong type); '
                               f'image topics: {images}, camera_info topics: {infos}')
    if left is None or right is None:
        pairs = [(t, _partner(t, images)) for t in images if left in (None, t)]
        pairs = [(a, b) for a, b in pairs if b is not None and right in (None, b)]
        if not pairs:
            raise DatasetError(f'{bag}: no left/right image topic pair found among {images}; '
                               'name them with --left-topic and --right-topic')
        pairs.sort(key=lambda p: ('rect' not in p[0], p[0].endswith('/compressed'), p[0]))
        left, right = pairs[0]
    return StereoTopics(left, right, left_info or info_sibling(left, infos),
                        right_info or info_sibling(right, infos))


def index_bag(reader: AnyReader, bag: Path, topics: StereoTopics) -> BagIndex:
    """
    Read every message of the chosen topics once: stamps, first camera_info, layout.

    :param reader: opened bag.
    :param bag: its path (for messages).
    :param topics: the chosen topics.
    :return: the BagIndex.
    :raises DatasetError: a message cannot be read (truncated or corrupt bag).
    """
    index = BagIndex()
    side_of = {topics.left: 'left', topics.right: 'right'}
    info_side = {topics.left_info: 'left', topics.right_info: 'right'}
    conns = [c for c in reader.connections if c.topic in side_of or c.topic in info_side]

    def bad(topic: str, err: Exception) -> None:
        index.unreadable += 1
        print(f'warning: {bag}: a message of {topic} does not deserialize '
              f'({type(err).__name__}); skipped', file=sys.stderr)

    for conn, msg in iterate(reader, bag, conns, bad):
        if conn.topic in side_of:
            side = side_of[conn.topic]
            index.stamps[side].append(stamp_ns(msg))
            if side not in index.layout:
                index.layout[side] = (getattr(msg, 'encoding', 'compressed'),
                                      getattr(msg, 'width', None), getattr(msg, 'height', None))
        elif index.infos[info_side[conn.topic]] is None:
            index.infos[info_side[conn.topic]] = msg
    for side, topic in (('left', topics.left), ('right', topics.right)):
        if not index.stamps[side]:
            raise DatasetError(f'{bag}: topic {topic} has no messages')
    return index


def iterate(reader: AnyReader, bag: Path, conns: list, on_bad=None):
    """
    Yield (connection, deserialized message) in log order; errors name the bag/topic.

    A message that does not deserialize is passed to ``on_bad(topic, error)`` and
    skipped; without ``on_bad`` it is an error like a bag that cannot be read.
    """
    topic = None
    try:
        for conn, _, raw in reader.messages(connections=conns):
            topic = conn.topic
            try:
                msg = reader.deserialize(raw, conn.msgtype)
            except Exception as e:  # rosbags raises several types for broken messages
                if on_bad is None:
                    raise
                on_bad(topic, e)
                continue
            yield conn, msg
    except DatasetError:
        raise
    except Exception as e:
        where = f' (topic {topic})' if topic else ''
        raise DatasetError(f'{bag}: cannot read messages{where}, truncated or corrupt? '
                           f'({type(e).__name__}: {e})') from e


def pair_stamps(left_ns: list[int], right_ns: list[int], tol_ns: int):
    """
    Pair left and right stamps: mutual nearest neighbours within ``tol_ns``.

    :param left_ns: left header stamps (ns), any order, duplicates allowed.
    :param right_ns: right header stamps (ns).
    :param tol_ns: largest accepted |left - right| in ns.
    :return: (pairs, unmatched_left, unmatched_right): pairs is a list of (left stamp,
        right stamp) sorted by left stamp; the counts include duplicates.
    """
    lu, ru = np.unique(np.asarray(left_ns, np.int64)), np.unique(np.asarray(right_ns, np.int64))
    if not len(lu) or not len(ru):
        return [], len(left_ns), len(right_ns)

    def nearest(src, dst):
        j = np.clip(np.searchsorted(dst, src), 1, len(dst) - 1) if len(dst) > 1 \
            else np.zeros(len(src), np.int64)
        if len(dst) > 1:
            j = np.where(np.abs(dst[j - 1] - src) <= np.abs(dst[j] - src), j - 1, j)
        return j

    jl, jr = nearest(lu, ru), nearest(ru, lu)
    ok = (jr[jl] == np.arange(len(lu))) & (np.abs(ru[jl] - lu) <= tol_ns)
    pairs = [(int(a), int(b)) for a, b in zip(lu[ok], ru[jl[ok]])]
    return pairs, len(left_ns) - len(pairs), len(right_ns) - len(pairs)


def choose_image_topic(reader, bag: Path, topic: str | None) -> str:
    """
    Return ``topic`` after checking it, or the automatic choice (see module doc).

    :raises DatasetError: no such image topic, or no image topic at all.
    """
    images = sorted({c.topic for c in reader.connections if c.msgtype in IMAGE_TYPES})
    if topic is not None:
        if topic not in images:
            raise DatasetError(f'{bag}: image topic {topic} not found (or not an Image / '
                               f'CompressedImage); image topics: {images}')
        return topic
    plain = [t for t in images if 'depth' not in t and 'disparity' not in t] or images
    if not plain:
        raise DatasetError(f'{bag}: no sensor_msgs/Image or CompressedImage topic in the bag')
    return sorted(plain, key=lambda t: ('left' not in t, t))[0]


class CameraInfoTrack:
    """The CameraInfo messages that give an image topic its focal length, by bag time."""

    def __init__(self, reader, bag: Path, image_topic: str):
        """Read the sibling camera_info topic (else all CameraInfo topics) of the bag."""
        infos = sorted({c.topic for c in reader.connections if c.msgtype == INFO_TYPE})
        self.sibling = info_sibling(image_topic, infos)
        wanted = [self.sibling] if self.sibling else infos
        conns = [c for c in reader.connections if c.topic in wanted]
        self.by_frame = defaultdict(list)   # frame_id (None for the sibling) -> [(t, msg)]
        topic = None
        try:   # connections=[] would mean every connection: read none then
            for conn, t_ns, raw in reader.messages(connections=conns) if conns else ():
                topic = conn.topic
                msg = reader.deserialize(raw, conn.msgtype)
                key = None if self.sibling else msg.header.frame_id
                self.by_frame[key].append((t_ns, msg, conn.topic))
        except Exception as e:  # rosbags raises several types for broken data
            raise DatasetError(f'{bag}: cannot read camera_info topic {topic}, truncated or '
                               f'corrupt? ({type(e).__name__}: {e})') from e

    def at(self, frame_id: str, t_ns: int):
        """Return (CameraInfo logged last at or before ``t_ns``, else the first; topic)."""
        track = self.by_frame.get(None if self.sibling else frame_id, [])
        if not track:
            return None, None
        i = max(bisect_right([t for t, _, _ in track], t_ns) - 1, 0)
        return track[i][1], track[i][2]


def ros2_camera_info(ts, info):
    """Return ``info`` with ROS 2 field names (ROS 1 bags spell D, K, R, P)."""
    if info is None or hasattr(info, 'k'):
        return info
    return ts.types[INFO_TYPE](
        header=info.header, height=info.height, width=info.width,
        distortion_model=info.distortion_model, d=np.asarray(info.D, float),
        k=np.asarray(info.K, float), r=np.asarray(info.R, float),
        p=np.asarray(info.P, float), binning_x=info.binning_x, binning_y=info.binning_y,
        roi=info.roi)


def raw_messages(reader, bag: Path):
    """Yield (connection, bag time ns, raw bytes) of every message; errors name bag/topic."""
    topic = None
    try:
        for conn, t_ns, raw in reader.messages():
            topic = conn.topic
            yield conn, t_ns, raw
    except Exception as e:  # rosbags raises several types for broken data
        where = f' (after a message of topic {topic})' if topic else ''
        raise DatasetError(f'{bag}: cannot read messages{where}, truncated or corrupt? '
                           f'({type(e).__name__}: {e})') from e


def decode_rgb(msg) -> np.ndarray:
    """Decode an Image or CompressedImage message to (H, W, 3) uint8 RGB."""
    if hasattr(msg, 'format'):
        rgb = compressed_image_to_cvimage(msg, 'rgb8')
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    return image_to_rgb8(msg)
