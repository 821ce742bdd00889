#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The node's output rate on an accelerator at 30 and 60 Hz input, with and without DDS.

``--mode loop`` (no ROS needed): the node's own frame path in one process, without DDS:
a thread offers an rgb8 Image as CDR bytes at the input rate to the node's newest-frame
mailbox (``runtime.LatestFrame``); the consumer decodes it, runs ``DepthPipeline`` and
builds and serialises the three outputs (``messages``), as ``ros_node`` does.

``--mode node`` (rclpy needed): ``depth_node`` as its own process (``python -m
sorghum_depth.depth_node``, device and fp16 as given) on a private DDS domain; a driver
publishes pre-serialised frames at each rate and records the disparity and depth
arrivals, like ``bench_node.py``.

Per size and rate: frames sent and output, dropped, output rate, its ratio to
min(input rate, 1 / forward p50) (target at least 0.9), latency p50/p95 (stamp or
offer to the last output), the forward and the node's own work. JSON to ``--out``.
"""

import argparse
from functools import partial
import json
import os
from pathlib import Path
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SIZES = ((640, 480), (1241, 376))
STAMP = struct.Struct('<iI')     # header.stamp, right after the 4-byte CDR encapsulation
SHM_PROFILE = REPO / 'config' / 'fastdds_large_images.xml'


def rgb_frame(width: int, height: int, image: Path | None) -> np.ndarray:
    """Return the real frame (or a random texture) at (width, height), RGB uint8."""
    sys.path.insert(0, str(HERE))
    from bench_gpu import frame
    return frame(width, height, image)


def image_cdr(rgb: np.ndarray) -> bytearray:
    """Serialise ``rgb`` as an rgb8 sensor_msgs/Image in CDR (stamp patched per frame)."""
    from sorghum_depth.messages import encode, Image, TYPESTORE
    header = TYPESTORE.types['std_msgs/msg/Header'](
        stamp=TYPESTORE.types['builtin_interfaces/msg/Time'](sec=0, nanosec=0), frame_id='cam')
    msg = Image(header=header, height=rgb.shape[0], width=rgb.shape[1], encoding='rgb8',
                is_bigendian=0, step=rgb.shape[1] * 3, data=rgb.reshape(-1))
    return bytearray(encode(msg))


def rate_summary(sent: int, out_times: list[float], latency_s: list[float], hz: float,
                 forward_p50_ms: float, seconds: float) -> dict:
    """Return the output rate, its ratio to min(hz, 1 / forward) and latency percentiles."""
    lat = np.asarray(latency_s) * 1e3
    expected = min(hz, 1e3 / forward_p50_ms) if forward_p50_ms > 0 else hz
    output_hz = len(out_times) / seconds
    return {'input_hz': hz, 'sent': sent, 'output': len(out_times),
            'dropped': sent - len(out_times), 'output_hz': output_hz,
            'expected_hz': expected, 'rate_vs_expected': output_hz / expected,
            'latency_p50_ms': float(np.median(lat)) if lat.size else None,
            'latency_p95_ms': float(np.percentile(lat, 95)) if lat.size else None}


def loop_once(pipeline, cdr: bytearray, hz: float, seconds: float) -> dict:
    """Offer frames at ``hz`` for ``seconds`` to the mailbox; process on this thread."""
    from sorghum_depth.image_codec import image_to_rgb8
    from sorghum_depth.messages import build_outputs, decode, encode, IMAGE
    from sorghum_depth.runtime import LatestFrame
    mailbox, sent, done = LatestFrame(), [0], threading.Event()

    def offer():
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            now_ns = time.time_ns()
            STAMP.pack_into(cdr, 4, now_ns // 10 ** 9, now_ns % 10 ** 9)
            mailbox.put((time.perf_counter(), bytes(cdr)))
            sent[0] += 1
            time.sleep(max(0.0, start + sent[0] / hz - time.perf_counter()))
        done.set()
        mailbox.close()
    out_times, latency, forward, own = [], [], [], []
    thread = threading.Thread(target=offer)
    thread.start()
    while True:
        item = mailbox.take(timeout_s=0.5)
        if item is None:
            if done.is_set():
                break
            continue
        arrived_s, raw = item
        msg = decode(raw, IMAGE)
        result = pipeline.run(image_to_rgb8(msg), 0.0, 0.0, 0.05, 1000.0)
        [encode(m) for m in build_outputs(msg.header, result, '32FC1')]
        now = time.perf_counter()
        out_times.append(now)
        latency.append(now - arrived_s)
        forward.append(result.forward_s)
        own.append(now - arrived_s - result.forward_s)
    thread.join()
    fwd_ms = 1e3 * float(np.median(forward))
    out = rate_summary(sent[0], out_times, latency, hz, fwd_ms, seconds)
    out.update({'forward_p50_ms': fwd_ms, 'own_work_p50_ms': 1e3 * float(np.median(own)),
                'mailbox_dropped': mailbox.dropped})
    return out


def run_loop(args: argparse.Namespace) -> list[dict]:
    """Run the pipeline loop without DDS at each size and rate."""
    from sorghum_depth.inference import load_model
    from sorghum_depth.pipeline import DepthPipeline
    model = load_model(args.model, args.device, args.fp16)
    pipeline, results = DepthPipeline(model), []
    for width, height in SIZES:
        rgb = rgb_frame(width, height, args.image)
        cdr = image_cdr(rgb)
        model.warm_up()
        for _ in range(5):          # TorchScript specialises to a new size in its first runs
            pipeline.run(rgb)
        for hz in args.hz:
            entry = loop_once(pipeline, cdr, hz, args.seconds)
            entry.update(size=f'{width}x{height}', device=str(model.device), fp16=model.fp16)
            print('loop', json.dumps(entry), flush=True)
            results.append(entry)
    return results


class Driver:
    """Publishes pre-serialised frames and records the node's output arrivals (rclpy)."""

    def __init__(self, domain: int):
        """Join ``domain``; subscribe to disparity, depth and /diagnostics."""
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image
        from stereo_msgs.msg import DisparityImage
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = Node('bench_gpu_driver', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.pub = self.node.create_publisher(Image, 'image', 10)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.arrivals = {'disparity': {}, 'depth': {}}
        for topic, kind in (('disparity', DisparityImage), ('depth', Image)):
            self.node.create_subscription(kind, topic, partial(self._arrived, topic),
                                          reliable, raw=True)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._diag, 10)
        self.diagnostics = {}
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)

    def _arrived(self, topic: str, cdr: bytes) -> None:
        sec, nanosec = STAMP.unpack_from(cdr, 4)
        self.arrivals[topic][sec * 10 ** 9 + nanosec] = time.time()

    def _diag(self, msg) -> None:
        for status in msg.status:
            if status.name.endswith(': depth'):
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def wait_for_node(self, timeout_s: float) -> bool:
        """Spin until the node subscribes to ``image``; then spin on a thread."""
        end = time.monotonic() + timeout_s
        while self.pub.get_subscription_count() == 0 and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.1)
        self.spinner.start()
        return self.pub.get_subscription_count() > 0

    def phase(self, cdr: bytearray, hz: float, seconds: float) -> dict:
        """Publish at ``hz`` for ``seconds``; rate and latency of this phase's frames."""
        stamps, start = [], time.monotonic()
        while time.monotonic() - start < seconds:
            now_ns = time.time_ns()
            STAMP.pack_into(cdr, 4, now_ns // 10 ** 9, now_ns % 10 ** 9)
            self.pub.publish(bytes(cdr))
            stamps.append(now_ns)
            time.sleep(max(0.0, start + len(stamps) / hz - time.monotonic()))
        time.sleep(1.5)                  # the last frames arrive
        both = [s for s in stamps if s in self.arrivals['disparity'] and
                s in self.arrivals['depth']]
        done = [max(self.arrivals[t][s] for t in self.arrivals) for s in both]
        forward = float(self.diagnostics.get('forward_p50_ms', 'nan'))
        out = rate_summary(len(stamps), done, [d - s * 1e-9 for d, s in zip(done, both)],
                           hz, forward, seconds)
        out['node_diagnostics'] = dict(self.diagnostics)
        return out

    def close(self) -> None:
        """Leave the domain."""
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def run_node(args: argparse.Namespace) -> list[dict]:
    """Drive ``depth_node`` (own process) at each rate, one node per size."""
    from sorghum_depth.node_process import private_domain_id, private_ros_env
    import yaml
    os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = str(SHM_PROFILE)
    results = []
    for index, (width, height) in enumerate(SIZES):
        work, domain = Path(tempfile.mkdtemp(prefix='bench_gpu_node_')), private_domain_id(index)
        params = {'model_path': str(args.model), 'device': args.device, 'fp16': args.fp16,
                  'max_depth_m': 1000.0, 'min_depth_m': 0.05}
        (work / 'params.yaml').write_text(yaml.safe_dump({'/**': {'ros__parameters': params}}))
        with open(work / 'node.log', 'w') as log:
            cmd = [sys.executable, '-m', 'sorghum_depth.depth_node', '--ros-args',
                   '--params-file', str(work / 'params.yaml')]
            proc = subprocess.Popen(cmd, cwd=REPO, env=private_ros_env(domain), stdout=log,
                                    stderr=subprocess.STDOUT)
        driver = Driver(domain)
        try:
            if not driver.wait_for_node(args.start_timeout):
                raise RuntimeError('depth_node did not come up: '
                                   + (work / 'node.log').read_text()[-2000:])
            cdr = image_cdr(rgb_frame(width, height, args.image))
            driver.phase(cdr, args.hz[0], 3.0)          # the first frames: not counted
            for hz in args.hz:
                entry = driver.phase(cdr, hz, args.seconds)
                entry.update(size=f'{width}x{height}', device=args.device, fp16=args.fp16)
                print('node', json.dumps(entry), flush=True)
                results.append(entry)
        finally:
            driver.close()
            proc.terminate()
            proc.wait(timeout=30)
    return results


def main() -> int:
    """Run the chosen mode; write the JSON."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--mode', choices=('loop', 'node'), default='loop')
    p.add_argument('--model', type=Path, default=REPO / 'models' / 'sorghum_synth_small.ts')
    p.add_argument('--device', default='cuda')
    p.add_argument('--fp16', action='store_true', help='half precision on CUDA')
    p.add_argument('--hz', type=float, nargs='+', default=[30.0, 60.0])
    p.add_argument('--seconds', type=float, default=15.0, help='per rate and size (15)')
    p.add_argument('--start-timeout', type=float, default=90.0,
                   help='seconds allowed to the node to come up (90)')
    p.add_argument('--image', type=Path, default=REPO / '.gpu_data' / 'kitti_seq2_000000_l.png')
    p.add_argument('--out', type=Path, default=HERE / 'results' / 'gpu_node.json')
    args = p.parse_args()
    results = run_loop(args) if args.mode == 'loop' else run_node(args)
    report = {'mode': args.mode, 'python': sys.version.split()[0],
              'settings': {k: str(v) for k, v in vars(args).items()}, 'results': results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + '\n')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
