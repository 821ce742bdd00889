# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Drive a depth_node process over DDS for ``bench_node.py``: publish, record, sample.

The driver publishes one pre-serialised rgb8 Image with its stamp patched per frame and
takes the node's outputs as raw bytes, to load the shared cores as little as it can.
It imports neither torch nor onnxruntime.
"""

from functools import partial
from pathlib import Path
import struct
import tempfile
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import psutil
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image
from sorghum_depth.node_process import private_domain_id, start_depth_node
from stereo_msgs.msg import DisparityImage

STAMP = struct.Struct('<iI')     # header.stamp, right after the 4-byte CDR encapsulation
OUTPUT_TYPES = {'disparity': DisparityImage, 'depth': Image}


class Driver:
    """Publishes frames at a fixed rate and records the node's output arrivals."""

    def __init__(self, domain: int, rgb: np.ndarray, topics: tuple[str, ...]):
        """Join ``domain``; prepare an rgb8 Image of ``rgb``; subscribe to ``topics``."""
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = Node('bench_driver', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.pub = self.node.create_publisher(Image, 'image', 10)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.topics = topics
        self.arrivals: dict[str, dict[int, float]] = {t: {} for t in topics}
        for topic in topics:
            self.node.create_subscription(OUTPUT_TYPES[topic], topic,
                                          partial(self._arrived, topic), reliable, raw=True)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._diagnostics, 10)
        msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding='rgb8',
                    is_bigendian=0, step=rgb.shape[1] * 3)
        msg.data = rgb.tobytes()
        self.cdr = bytearray(serialize_message(msg))     # stamp patched in place per frame
        self.diagnostics = {}
        self._spinner = None

    def _arrived(self, topic: str, cdr: bytes) -> None:
        now = time.time()
        sec, nanosec = STAMP.unpack_from(cdr, 4)
        self.arrivals[topic][sec * 10 ** 9 + nanosec] = now

    def _diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith(': depth'):
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def latency_s(self, stamps: list[int], topics=None) -> np.ndarray:
        """Per frame of ``stamps`` that arrived on all ``topics``: stamp to the last arrival."""
        topics = topics or self.topics
        got = [s for s in stamps if all(s in self.arrivals[t] for t in topics)]
        return np.array([max(self.arrivals[t][s] for t in topics) - s * 1e-9 for s in got])

    def wait_for_node(self, timeout_s: float = 120.0) -> bool:
        """Spin until the node subscribes to the image topic."""
        end = time.monotonic() + timeout_s
        while self.pub.get_subscription_count() == 0 and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.1)
        if self.pub.get_subscription_count() == 0:
            return False
        self._spinner = threading.Thread(target=self.executor.spin)     # ends at shutdown
        self._spinner.start()
        return True

    def publish(self, hz: float, seconds: float, sample) -> list[int]:
        """Publish at ``hz`` for ``seconds``; call ``sample()`` each second; return stamps."""
        start = next_sample = time.monotonic()
        stamps = []
        while time.monotonic() - start < seconds:
            now_ns = time.time_ns()
            STAMP.pack_into(self.cdr, 4, now_ns // 10 ** 9, now_ns % 10 ** 9)
            self.pub.publish(bytes(self.cdr))
            stamps.append(now_ns)
            if time.monotonic() >= next_sample:
                sample()
                next_sample += 1.0
            time.sleep(max(0.0, start + len(stamps) / hz - time.monotonic()))
        time.sleep(2.0)                      # the last frames and a diagnostics message
        return stamps

    def close(self) -> None:
        """Stop spinning and leave the domain."""
        self.executor.shutdown()
        if self._spinner is not None:
            self._spinner.join()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def _p50_ms(seconds: np.ndarray) -> float:
    return 1e3 * float(np.median(seconds)) if len(seconds) else float('nan')


def _rate_figures(driver: Driver, stamps: list[int], seconds: float, samples: list) -> dict:
    latency = driver.latency_s(stamps)
    received = len(latency)
    latency = latency[3:] if received > 10 else latency     # the first frames: warm-up
    return {'sent': len(stamps), 'received': received, 'dropped': len(stamps) - received,
            'output_hz': received / seconds,
            'latency_p50_ms': 1e3 * float(np.median(latency)) if received else float('nan'),
            'latency_p95_ms': 1e3 * float(np.percentile(latency, 95)) if received
            else float('nan'),
            'latency_p50_ms_per_topic': {t: _p50_ms(driver.latency_s(stamps, (t,)))
                                         for t in driver.topics},
            'node_diagnostics': dict(driver.diagnostics),
            'cpu_percent_mean': float(np.mean([s[0] for s in samples[1:]] or [np.nan])),
            'rss_mb_last': samples[-1][1] if samples else float('nan')}


def drive_node(params: dict, rgb: np.ndarray, rates: list[float], seconds: float, slot: int,
               topics: list[str]) -> dict[str, dict]:
    """Start the node with ``params``; drive it at each of ``rates``; figures per rate."""
    work = Path(tempfile.mkdtemp(prefix='sorghum_bench_node_'))
    domain = private_domain_id(slot)
    proc = start_depth_node(params, work, domain)
    driver, out = Driver(domain, rgb, tuple(topics)), {}
    try:
        if not driver.wait_for_node():
            raise RuntimeError(f'depth_node did not come up; log: {work / "node.log"}')
        ps = psutil.Process(proc.pid)
        for hz in rates:
            samples = []
            ps.cpu_percent(None)
            stamps = driver.publish(hz, seconds, lambda: samples.append(
                (ps.cpu_percent(None), ps.memory_info().rss / 2 ** 20)))
            out[f'{hz:g}'] = _rate_figures(driver, stamps, seconds, samples)
    finally:
        driver.close()
        proc.terminate()
        proc.wait(timeout=30)
    return out
