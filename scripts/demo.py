#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The README's main command (``make demo``): the robot pipeline end to end on this machine.

1. Render a synthetic sorghum row as a rosbag2 MCAP bag (left/right images and
   camera_info, exact ground-truth disparity kept aside).
2. Start the real ``depth_node`` with the shipped default model.
3. Replay the bag to it over DDS and record what it publishes.
4. Score the recorded disparity against the ground truth, measure the node's rate and
   latency, and write ``demo_output/demo_panel.png`` and ``demo_output/demo.json``.
"""

import argparse
import json
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable

import cv2
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sorghum_depth.bag_replay import BagPlayer
from sorghum_depth.node_process import private_domain_id, start_depth_node
from sorghum_depth_training.data.dataset_dir import load_dataset
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.evaluation.metrics import (best_constant_disparity, evaluate_disparity,
                                                       mean_metrics)
from sorghum_depth_training.evaluation.sgbm import sgbm_disparity
from stereo_msgs.msg import DisparityImage

REPO = Path(__file__).resolve().parents[1]
# The launch file's default: the ONNX copy of the shipped model (ONNX Runtime ran it 1.3-2x
# faster than TorchScript here, runtime.json); the .ts is the same weights.
MODEL = REPO / 'models' / 'sorghum_synth_small.onnx'
LEFT, INFO = '/stereo/left/image_rect', '/stereo/left/camera_info'


def start_node(model: Path, work: Path, domain: int) -> subprocess.Popen:
    """Start depth_node on a private DDS domain, fed by the bag's topics."""
    return start_depth_node({'model_path': str(model), 'device': 'auto', 'min_depth_m': 0.2,
                             'max_depth_m': 60.0}, work, domain,
                            {'image': LEFT, 'camera_info': INFO})


class Recorder:
    """Subscribes to the node's disparity and remembers arrival time per input stamp."""

    def __init__(self, node: Node):
        """Subscribe reliably, as depth_image_proc would."""
        self.received: dict[int, tuple[DisparityImage, float]] = {}
        node.create_subscription(DisparityImage, 'disparity', self._keep,
                                 QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))

    def _keep(self, msg: DisparityImage) -> None:
        stamp = msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec
        self.received[stamp] = (msg, time.monotonic())


def _play_and_wait(executor, player: BagPlayer, recorder: Recorder, rate: float,
                   timeout_s: float) -> dict:
    """Play the bag while the executor spins on its own thread; return {stamp: wall time}."""
    sent = {}

    def on_publish(topic, t_ns, wall):
        if topic == LEFT:
            sent[t_ns] = wall
    # outputs are timed on arrival: the executor spins on its own thread during playback
    spinner = threading.Thread(target=executor.spin)     # ends at executor.shutdown()
    spinner.start()
    start = time.monotonic()
    player.play(rate, on_publish)
    # The node keeps only the newest frame, so under load some frames never come: stop
    # when the last one has arrived, or after 5 s without any output.
    last, quiet_since = max(sent), time.monotonic()
    while last not in recorder.received and time.monotonic() < start + timeout_s:
        count = len(recorder.received)
        time.sleep(0.05)
        quiet_since = time.monotonic() if len(recorder.received) > count else quiet_since
        if time.monotonic() - quiet_since > 5.0:
            break
    executor.shutdown()
    spinner.join()
    return sent


def replay_and_record(bag: Path, domain: int, rate: float, node_alive: Callable[[], bool],
                      timeout_s: float = 120.0):
    """
    Replay ``bag`` to the node; return (recorder, publish wall time per stamp).

    Nothing is played (both come back empty) when the node exits or does not subscribe
    within ``timeout_s``.
    """
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = Node('demo_recorder', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    recorder, sent = Recorder(node), {}
    player = BagPlayer(node, bag, topics=[LEFT, INFO])
    end = time.monotonic() + timeout_s
    while node.count_subscribers(LEFT) == 0 and node_alive() and time.monotonic() < end:
        executor.spin_once(timeout_sec=0.1)          # wait for the node to come up
    if node.count_subscribers(LEFT) > 0:
        sent = _play_and_wait(executor, player, recorder, rate, timeout_s)
    player.close()
    node.destroy_node()
    rclpy.shutdown(context=context)
    return recorder, sent


def _disparity_array(msg: DisparityImage) -> np.ndarray:
    image = msg.image
    return np.frombuffer(bytes(image.data), '<f4').reshape(image.height, image.width)


def score(recorder: Recorder, sent: dict, scene: Path) -> tuple[dict, list]:
    """GT metrics of every recorded frame (frames in stamp order = scene pairs in order)."""
    dataset = load_dataset(scene)
    names, results, frames = dataset.names(), [], []
    for name, stamp in zip(names, sorted(sent)):
        if stamp not in recorder.received:
            continue
        msg, _ = recorder.received[stamp]
        disp = _disparity_array(msg)
        pred = np.where(disp >= msg.min_disparity, disp, np.nan)
        gt = dataset.read_disp_gt(name)
        results.append(evaluate_disparity(pred, gt, fx_px=msg.f, baseline_m=msg.t))
        frames.append((name, pred, gt, msg.f * msg.t))
    return mean_metrics(results), frames


def baselines(scene: Path, names: list[str]) -> dict[str, dict]:
    """
    Compute what the model's error should be read beside, on the same frames.

    ``sgbm``: OpenCV SGBM on the true stereo pair (its valid pixels only, with its
    density); ``best_constant``: the one disparity per frame with the lowest error given
    the GT (an oracle: a model worse than it has learnt no depth).
    """
    dataset = load_dataset(scene)
    calib, rows = dataset.calib, {'sgbm': [], 'best_constant': []}
    for name in names:
        left, right = ((x * 255).round().astype(np.uint8) for x in dataset.read_pair(name))
        gt = dataset.read_disp_gt(name)
        const = np.full(gt.shape, best_constant_disparity(gt), np.float32)
        for key, pred in (('sgbm', sgbm_disparity(left, right)), ('best_constant', const)):
            rows[key].append(evaluate_disparity(pred, gt, fx_px=calib.fx,
                                                baseline_m=calib.baseline_m))
    return {key: mean_metrics(r) for key, r in rows.items()}


def _colour(values: np.ndarray, vmax: float) -> np.ndarray:
    scaled = np.clip(np.nan_to_num(values / vmax, nan=0.0), 0, 1)
    return cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_MAGMA)


def write_panel(path: Path, scene: Path, frame: tuple) -> None:
    """Input | GT disparity over predicted disparity | predicted depth (colour-mapped)."""
    name, pred, gt, ft = frame
    left, _ = load_dataset(scene).read_pair(name)
    vmax = float(np.nanpercentile(gt[gt > 0], 99))
    depth_m = ft / pred
    tiles = [(cv2.cvtColor((left * 255).astype(np.uint8), cv2.COLOR_RGB2BGR), 'input (left)'),
             (_colour(gt, vmax), 'ground-truth disparity'),
             (_colour(pred, vmax), 'predicted disparity'),
             (_colour(1.0 / np.clip(depth_m, 0.2, 60), 1.0 / 0.2),
              'predicted depth (near=bright)')]
    for tile, text in tiles:
        cv2.putText(tile, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    grid = np.vstack([np.hstack([tiles[0][0], tiles[1][0]]), np.hstack([tiles[3][0],
                                                                        tiles[2][0]])])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), grid)


def timing(recorder: Recorder, sent: dict) -> dict:
    """Node output rate and latency (bag publish to disparity arrival, wall clock)."""
    latency = [recorder.received[s][1] - sent[s] for s in sent if s in recorder.received]
    arrivals = sorted(t for _, t in recorder.received.values())
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float('nan')
    return {'frames_sent': len(sent), 'frames_out': len(latency),
            'rate_hz': (len(arrivals) - 1) / span if span > 0 else float('nan'),
            'latency_p50_ms': 1e3 * float(np.median(latency)) if latency else float('nan'),
            'latency_p95_ms': 1e3 * float(np.percentile(latency, 95)) if latency else
            float('nan')}


def run(args: argparse.Namespace, work: Path) -> int:
    """Render, replay, score and report in the scratch folder ``work``; 0 when done."""
    domain = private_domain_id(7)
    print(f'1/4 rendering {args.frames} synthetic sorghum frames as a bag in {work} '
          '(scratch: removed after a good run)')
    write_synthetic(work / 'scene', count=args.frames, seed=4242, bag_path=work / 'bag')
    print(f'2/4 starting depth_node with {args.model}')
    node = start_node(args.model, work, domain)
    try:
        print('3/4 replaying the bag to the node over DDS and recording its output')
        recorder, sent = replay_and_record(work / 'bag', domain, args.rate,
                                           lambda: node.poll() is None)
    finally:
        exited = node.poll()
        node.terminate()
        node.wait(timeout=30)
    if not recorder.received:
        why = 'published nothing' if exited is None else f'exited with code {exited}'
        log = work / 'node.log'
        print(f'error: the node {why}; its log, {log}, ends:')
        print('\n'.join(log.read_text(errors='replace').splitlines()[-5:]))
        return 1
    metrics, frames = score(recorder, sent, work / 'scene')
    write_panel(args.out / 'demo_panel.png', work / 'scene', frames[len(frames) // 2])
    others = baselines(work / 'scene', [f[0] for f in frames])
    summary = {'accuracy_vs_gt': metrics, 'beside': others, 'node': timing(recorder, sent)}
    (args.out / 'demo.json').write_text(json.dumps(summary, indent=2))
    m, t = metrics, summary['node']
    print(f"4/4 {t['frames_out']}/{t['frames_sent']} frames; node {t['rate_hz']:.1f} Hz, "
          f"latency p50 {t['latency_p50_ms']:.0f} ms, p95 {t['latency_p95_ms']:.0f} ms")
    for label, row in (('model (left image only)', m),
                       ('SGBM (stereo, valid pixels)', others['sgbm']),
                       ('best constant disparity', others['best_constant'])):
        print(f"    {label:28s} mae {row['mae_px']:5.2f} px, mae_pct {row['mae_pct']:5.1f} %, "
              f"bad_3 {row['bad_3']:5.1f} %, abs_rel {row['abs_rel']:.3f}, "
              f"density {row['density']:5.1f} %")
    print(f"panel: {args.out / 'demo_panel.png'}; figures: {args.out / 'demo.json'}")
    return 0


def main() -> int:
    """Run the demo; exit 1 if the node produced nothing (its scratch folder is kept)."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--frames', type=int, default=16, help='synthetic frames (default 16)')
    p.add_argument('--rate', type=float, default=1.0, help='replay speed (the bag is 10 Hz)')
    p.add_argument('--model', type=Path, default=MODEL)
    p.add_argument('--out', type=Path, default=REPO / 'demo_output')
    args = p.parse_args()
    if not args.model.is_file():
        print(f'error: model {args.model} not found (make default-model rebuilds it)')
        return 2
    # The bag, the scene and the node's log go to a scratch folder, removed after a
    # successful run (6-7 MB each time) and kept for a look after a failed one.
    work = Path(tempfile.mkdtemp(prefix='sorghum_demo_'))
    code = 1
    try:
        code = run(args, work)
    finally:
        if code == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f'the scratch folder is kept for a look: {work}')
    return code


if __name__ == '__main__':
    sys.exit(main())
