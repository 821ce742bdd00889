#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Benchmark bag extraction on the real EuRoC bag: pairs per second and peak memory.

Extracts all 95 raw pairs of ``euroc_v101_stereo_bag`` (decode, rectify from CameraInfo,
PNG write) at native size and resized, each configuration in a fresh child process so
its peak resident memory is its own. Writes JSON (default
``benchmarks/results/extract.json``). Data: ``../shared/data`` or $SORGHUM_DEPTH_DATA.
"""

import argparse
import json
import multiprocessing as mp
import os
from pathlib import Path
import platform
import resource
import statistics
import tempfile
import time

import psutil
from sorghum_depth_training.data.extract import extract, ExtractOptions

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results'
DATA = Path(os.environ.get('SORGHUM_DEPTH_DATA', ROOT.parent / 'shared' / 'data'))


def _run_config(bag: str, size, repeats: int, queue) -> None:
    """Child process: time ``repeats`` extractions, report times and peak RSS."""
    rss_start = psutil.Process().memory_info().rss
    times, written = [], 0
    for k in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            summary = extract([Path(bag)], Path(tmp) / 'ds', ExtractOptions(size=size),
                              log=lambda *a: None)
            times.append(time.perf_counter() - start)
            written = summary.written
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({'size': list(size) if size else 'native', 'pairs': written,
               'median_s': statistics.median(times), 'min_s': min(times),
               'pairs_per_s': written / statistics.median(times), 'repeats': repeats,
               'rss_at_start_mib': rss_start / 2**20, 'peak_rss_mib': peak_kib / 1024})


def main() -> None:
    """Run the benchmark and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--bag', type=Path, default=DATA / 'euroc_v101_stereo_bag')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--out', type=Path, default=RESULTS / 'extract.json')
    args = parser.parse_args()
    if not args.bag.exists():
        raise SystemExit(f'error: {args.bag}: bag not found (set SORGHUM_DEPTH_DATA)')
    ctx = mp.get_context('spawn')
    runs = []
    for size in (None, (512, 256)):
        queue = ctx.Queue()
        child = ctx.Process(target=_run_config, args=(str(args.bag), size, args.repeats, queue))
        child.start()
        runs.append(queue.get())
        child.join()
    result = {'benchmark': 'extract EuRoC V1_01 stereo bag (MCAP, raw mono8 752x480, '
                           'rectified from CameraInfo)',
              'bag': str(args.bag.resolve()), 'bag_mib': sum(
                  p.stat().st_size for p in args.bag.rglob('*')) / 2**20,
              'runs': runs, 'cpu': platform.processor() or platform.machine(),
              'cpu_count': os.cpu_count(), 'python': platform.python_version()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + '\n')
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
