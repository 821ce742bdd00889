#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The forward beside a CPU hog: idle threads spinning or sleeping, 1 or 2 threads, per backend.

ONNX Runtime's intra-op threads and torch's OpenMP threads spin-wait for work by
default. On a small CPU shared with other processes (a camera driver, other nodes) a
spinning thread holds a core that the thread doing the work needs. For each backend
(the shipped model, ``.ts`` and its ``.onnx`` twin), thread count (``--threads``) and
setting (``spin``: the runtime's default; ``sleep``: ORT ``allow_spinning`` 0 as
``onnx_backend.load`` now sets, torch with ``OMP_WAIT_POLICY=PASSIVE`` as the node now
sets), each in a fresh process, A B A B, quiet and beside ``--hog`` busy processes:
forward p50/p95 of ``predict_disparity`` at 640x480 (30 forwards after 3 warm-up, at
most ~15 s each). Writes ``results/busy_forward.json``.
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
MODEL = HERE.parent / 'models' / 'sorghum_synth_small.ts'


def worker(path: str, threads: int, spin: bool, width: int, height: int) -> dict:
    """Load ``path`` with ``threads``; time up to 30 forwards; ms."""
    from sorghum_depth import onnx_backend
    from sorghum_depth.inference import load_model
    if path.endswith('.onnx'):
        model = onnx_backend.load(Path(path), 'cpu', False, threads, spinning=spin)
    else:
        model = load_model(path, 'cpu', cpu_threads=threads, check=False)
    rgb = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    for _ in range(3):
        model.predict_disparity(rgb)
    times, end = [], time.monotonic() + 15.0
    while len(times) < 30 and (len(times) < 5 or time.monotonic() < end):
        start = time.perf_counter()
        model.predict_disparity(rgb)
        times.append(time.perf_counter() - start)
    return {'p50_ms': 1e3 * float(np.median(times)),
            'p95_ms': 1e3 * float(np.percentile(times, 95)), 'repeats': len(times)}


def measure(path: Path, threads: int, spin: bool, size: tuple[int, int]) -> dict:
    """Run ``worker`` in a fresh process (torch reads OMP_WAIT_POLICY at import)."""
    env = {**os.environ, 'OMP_WAIT_POLICY': 'ACTIVE' if spin else 'PASSIVE'}
    if spin:
        env.pop('OMP_WAIT_POLICY')              # the runtime's own default
    cmd = [sys.executable, __file__, '--worker', str(path), str(threads), str(int(spin)),
           str(size[0]), str(size[1])]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run every setting A B A B, quiet and beside the hog; write the JSON."""
    if sys.argv[1:2] == ['--worker']:
        path, threads, spin, width, height = sys.argv[2:7]
        print(json.dumps(worker(path, int(threads), bool(int(spin)), int(width), int(height))))
        return
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', type=Path, default=MODEL, help='model.ts; its .onnx beside it')
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    p.add_argument('--hog', type=int, default=1, help='busy processes in the loaded half')
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--size', default='640x480')
    p.add_argument('--out', type=Path, default=HERE / 'results' / 'busy_forward.json')
    args = p.parse_args()
    size = tuple(int(v) for v in args.size.split('x'))
    models = {'ts': args.model, 'onnx': args.model.with_suffix('.onnx')}
    started, rows = time.monotonic(), []
    for rnd in range(args.rounds):
        for hog in (0, args.hog):
            hogs = [subprocess.Popen([sys.executable, '-c', 'while True: pass'])
                    for _ in range(hog)]
            try:
                for threads in args.threads:
                    for spin in (True, False):
                        for backend, path in models.items():
                            r = measure(path, threads, spin, size)
                            rows.append({'round': rnd, 'hog': hog, 'threads': threads,
                                         'idle_threads': 'spin' if spin else 'sleep',
                                         'backend': backend, **r})
                            print(rows[-1], flush=True)
            finally:
                for h in hogs:
                    h.kill()
                    h.wait()
    summary = {}
    for r in rows:
        key = f"{r['backend']} threads={r['threads']} {r['idle_threads']} hog={r['hog']}"
        summary.setdefault(key, []).append(round(r['p50_ms'], 1))
    report = {'cpu_count': os.cpu_count(), 'loadavg_end': os.getloadavg(),
              'settings': {k: str(v) for k, v in vars(args).items()},
              'wall_s': time.monotonic() - started, 'p50_ms_per_round': summary, 'rows': rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    for key, values in summary.items():
        print(f'{key}: p50 {values} ms')
    print(f'wrote {args.out} ({report["wall_s"]:.0f} s)')


if __name__ == '__main__':
    main()
