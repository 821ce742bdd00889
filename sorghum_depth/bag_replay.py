# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Replay a recorded bag over DDS with rclpy, where ``ros2 bag play`` is not installed.

Reads rosbag2 (sqlite3, MCAP) and ROS 1 bags with rosbags and publishes each message's
serialized bytes unchanged, keeping the recorded timing (scaled by ``--rate``). On a
full ROS 2 install ``ros2 bag play`` does the same job; the launch file uses that.

  sorghum-depth-replay recording/ --rate 2 --remap /stereo/left/image_rect:=/image
"""

import argparse
import importlib
import math
from pathlib import Path
import sys
import time
from typing import Callable

import rclpy
from rclpy.exceptions import InvalidTopicNameException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.typesys import get_typestore, Stores

from .interrupt import first_ctrl_c_only

PublishHook = Callable[[str, int, float], None]


def message_class(msgtype: str):
    """Return the rclpy class of a type name such as ``sensor_msgs/msg/Image``."""
    package, _, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


class BagPlayer:
    """Publishes the messages of a bag on ``node``, in recorded order and timing."""

    def __init__(self, node: Node, bag: Path, topics: list[str] | None = None,
                 remap: dict[str, str] | None = None, reliable: bool = True):
        """Open ``bag``; replay ``topics`` (default all) under ``remap``-ped names."""
        self.node, self.bag = node, Path(bag)
        self.remap = remap or {}
        if not self.bag.exists():
            raise ValueError('bag not found')
        self.reader = AnyReader([self.bag])
        self.reader.open()
        self.connections = [c for c in self.reader.connections
                            if topics is None or c.topic in topics]
        if not self.connections:
            raise ValueError(f'none of the topics {topics} is in the bag')
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        self.publishers = {c.topic: node.create_publisher(
            message_class(c.msgtype), self.remap.get(c.topic, c.topic), qos)
            for c in self.connections}
        self._ros1 = get_typestore(Stores.ROS1_NOETIC) if self.reader.is2 is False else None

    def play(self, rate: float = 1.0, on_publish: PublishHook | None = None) -> int:
        """Publish every message once; return the count. ``on_publish(topic, t_ns, wall)``."""
        count, start_wall, start_bag = 0, time.monotonic(), None
        for conn, t_ns, raw in self._messages():
            start_bag = t_ns if start_bag is None else start_bag
            delay = (t_ns - start_bag) * 1e-9 / rate - (time.monotonic() - start_wall)
            if delay > 0:
                time.sleep(delay)
            if self._ros1 is not None:
                raw = self._ros1.ros1_to_cdr(raw, conn.msgtype)
            self.publishers[conn.topic].publish(bytes(raw))
            if on_publish is not None:
                on_publish(conn.topic, t_ns, time.monotonic())
            count += 1
        return count

    def _messages(self):
        """Yield the bag's (connection, time ns, raw); a broken bag raises ValueError."""
        try:
            yield from self.reader.messages(connections=self.connections)
        except Exception as err:    # rosbags raises several types for broken data
            raise ValueError(f'cannot read messages, truncated or corrupt? '
                             f'({type(err).__name__}: {err})') from err

    def close(self) -> None:
        """Close the bag."""
        self.reader.close()


def _remaps(items: list[str]) -> dict[str, str]:
    pairs = [item.split(':=', 1) for item in items]
    if any(len(p) != 2 for p in pairs):
        raise ValueError('remaps must look like /from:=/to')
    return dict(pairs)


def _parse(argv: list[str] | None):
    p = argparse.ArgumentParser(prog='sorghum-depth-replay', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('bag', type=Path, help='bag folder (rosbag2) or .bag file (ROS 1)')
    p.add_argument('--topics', nargs='+', help='topics to replay (default: all)')
    p.add_argument('--rate', type=float, default=1.0, help='speed factor (default 1)')
    p.add_argument('--remap', nargs='*', default=[], metavar='FROM:=TO')
    p.add_argument('--loop', action='store_true', help='replay until interrupted')
    p.add_argument('--best-effort', action='store_true', help='best-effort publishers')
    args = p.parse_args(argv)
    if not (math.isfinite(args.rate) and args.rate > 0):
        p.error(f'--rate must be a finite number > 0, got {args.rate}')
    try:
        args.remap = _remaps(args.remap)
    except ValueError as err:
        p.error(str(err))
    return args


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit 2 on a bad bag or arguments."""
    args = _parse(argv)
    with first_ctrl_c_only():
        rclpy.init()
        node = Node('sorghum_depth_replay')
        try:
            _replay(node, args)
        except (AnyReaderError, ValueError, OSError, InvalidTopicNameException) as err:
            print(f'error: {args.bag}: {err}', file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            pass
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
    return 0


def _replay(node: Node, args) -> None:
    """Play the bag once, or until interrupted with ``--loop``."""
    player = BagPlayer(node, args.bag, args.topics, args.remap, not args.best_effort)
    while True:
        count = player.play(args.rate)
        node.get_logger().info(f'replayed {count} messages from {args.bag}')
        if not args.loop:
            break


if __name__ == '__main__':
    sys.exit(main())
