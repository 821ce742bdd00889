#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The floor under the node's publish stage: rclpy publishing camera-sized images, no node.

One process publishes pre-serialised 32FC1 images (CDR bytes, as the node does) on one
or two topics back to back at 15 Hz, with the node's output QoS (reliable, keep-last 1);
another process subscribes to them (raw). The time of the publish calls per frame,
p50/p95, for each size and topic count, with ``config/fastdds_large_images.xml`` (the
shared-memory profile the benchmarks use). Writes ``results/publish.json``.
"""

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import time

import numpy as np

HERE = Path(__file__).resolve().parent
SHM_PROFILE = HERE.parent / 'config' / 'fastdds_large_images.xml'
TOPICS = ('disparity_like', 'depth_like')


def _node(name: str):
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    rclpy.init()
    qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                     reliability=ReliabilityPolicy.RELIABLE)
    return rclpy, Node(name), qos


def subscriber(seconds: float) -> None:
    """Take every image on both topics for ``seconds``."""
    from sensor_msgs.msg import Image
    rclpy, node, qos = _node('publish_floor_sub')
    for topic in TOPICS:
        node.create_subscription(Image, topic, lambda raw: None, qos, raw=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)


def publisher(width: int, height: int, topics: int, frames: int) -> dict:
    """Publish ``frames`` images on ``topics`` topics at 15 Hz; publish-call times, ms."""
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image
    rclpy, node, qos = _node('publish_floor_pub')
    pubs = [node.create_publisher(Image, t, qos) for t in TOPICS[:topics]]
    msg = Image(height=height, width=width, encoding='32FC1', step=width * 4)
    msg.data = np.random.default_rng(0).random(height * width).astype('<f4').tobytes()
    cdr = bytes(serialize_message(msg))
    end = time.monotonic() + 60.0
    while any(p.get_subscription_count() == 0 for p in pubs) and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    time.sleep(1.0)
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        for p in pubs:
            p.publish(cdr)
        times.append(time.perf_counter() - start)
        time.sleep(1 / 15)
    return {'p50_ms': 1e3 * float(np.median(times)),
            'p95_ms': 1e3 * float(np.percentile(times, 95)), 'frames': frames,
            'mb_per_message': len(cdr) / 1e6}


def main() -> None:
    """Run each size and topic count in fresh processes; write the JSON."""
    if sys.argv[1:2] == ['--sub']:
        subscriber(float(sys.argv[2]))
        return
    if sys.argv[1:2] == ['--pub']:
        print(json.dumps(publisher(*(int(v) for v in sys.argv[2:6]))))
        return
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sizes', nargs='+', default=['640x480', '1241x376'])
    p.add_argument('--frames', type=int, default=150)
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--out', type=Path, default=HERE / 'results' / 'publish.json')
    args = p.parse_args()
    env = {**os.environ, 'FASTDDS_DEFAULT_PROFILES_FILE': str(SHM_PROFILE),
           'ROS_DOMAIN_ID': str(90 + os.getpid() % 10),
           'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}
    rows = []
    for rnd in range(args.rounds):
        for size in args.sizes:
            for topics in (1, 2):
                sub = subprocess.Popen([sys.executable, __file__, '--sub',
                                        str(args.frames / 15 + 40)], env=env)
                try:
                    out = subprocess.run([sys.executable, __file__, '--pub',
                                          *size.split('x'), str(topics), str(args.frames)],
                                         env=env, check=True, capture_output=True, text=True,
                                         timeout=300)
                finally:
                    sub.kill()
                    sub.wait()
                rows.append({'round': rnd, 'size': size, 'topics': topics,
                             **json.loads(out.stdout.strip().splitlines()[-1])})
                print(rows[-1], flush=True)
    report = {'cpu_count': os.cpu_count(), 'loadavg_end': os.getloadavg(),
              'settings': {k: str(v) for k, v in vars(args).items()}, 'rows': rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
