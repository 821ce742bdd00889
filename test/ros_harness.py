# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Test helpers: start depth_node as a real process and talk to it over DDS with rclpy."""

import os
from pathlib import Path
import subprocess
import time

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from sorghum_depth.node_process import private_domain_id, start_depth_node
from stereo_msgs.msg import DisparityImage


def private_domain(slot: int) -> int:
    """
    Return this test process's DDS domain id for ``slot`` (0-9), within 1-100.

    Under pytest-xdist (``make test`` runs two workers) the tens digit is the worker's
    number, so two workers never share a domain; their process ids could end alike.
    """
    worker = os.environ.get('PYTEST_XDIST_WORKER', '')       # 'gw0', 'gw1', ...
    return private_domain_id(slot, int(worker[2:]) if worker.startswith('gw') else None)


def start_node(params: dict, workdir: Path, domain_id: int) -> subprocess.Popen:
    """Start ``depth_node`` with ``params`` on ``domain_id`` (log in ``workdir/node.log``)."""
    return start_depth_node(params, workdir, domain_id)


def image_msg(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str = 'cam') -> Image:
    """Pack an (H, W[, C]) array as an Image message (rows unpadded)."""
    msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding,
                is_bigendian=0, step=array.shape[1] * array[0, 0].nbytes)
    msg.data = array.tobytes()
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10 ** 9)
    return msg


class Probe:
    """A test-side rclpy node: publishes images and camera_info, records every output."""

    def __init__(self, domain_id: int, topics: dict[str, str] | None = None):
        """Join ``domain_id`` in a private context; ``topics`` renames the node's topics."""
        name = {t: t for t in ('image', 'camera_info', 'disparity', 'depth',
                               'depth/camera_info')} | (topics or {})
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node('probe', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.pub_image = self.node.create_publisher(Image, name['image'], 10)
        self.pub_info = self.node.create_publisher(CameraInfo, name['camera_info'], 10)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.info: CameraInfo | None = None     # sent with every image, like a camera
        self.disparity, self.depth, self.depth_info = {}, {}, {}
        self.node.create_subscription(DisparityImage, name['disparity'],
                                      self._keep(self.disparity), reliable)
        self.node.create_subscription(Image, name['depth'], self._keep(self.depth), best_effort)
        self.node.create_subscription(CameraInfo, name['depth/camera_info'],
                                      self._keep(self.depth_info), reliable)

    @staticmethod
    def _keep(store: dict):
        def callback(msg):
            store[msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec] = msg
        return callback

    def spin_until(self, condition, timeout_s: float = 30.0) -> bool:
        """Spin until ``condition()`` holds or the timeout passes."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)
            if condition():
                return True
        return False

    def send_until_answered(self, msg: Image, timeout_s: float = 30.0) -> bool:
        """Publish ``msg`` every 0.5 s until all three outputs for its stamp arrived."""
        stamp = msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.info is not None:
                self.info.header = msg.header
                self.pub_info.publish(self.info)
            self.pub_image.publish(msg)
            if self.spin_until(lambda: all(stamp in s for s in (
                    self.disparity, self.depth, self.depth_info)), 0.5):
                return True
        return False

    def close(self) -> None:
        """Destroy the node and shut the context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
