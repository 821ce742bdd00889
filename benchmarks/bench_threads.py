#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training step time against torch's CPU thread count (the ``threads`` config key).

One training step of the default recipe (config/train.yaml: EfficientNet-Lite0,
128x416, batch 4, hints, the light PatchGAN) on synthetic rows, timed in a fresh process
per thread count, alternating A B A B so that slow phases of a shared machine hit both.
Run it once on an idle machine and once beside a second training (``--load``: another
process running the same steps on one thread), which is how a laptop or a shared
robot computer trains. Writes ``results/threads.json``.
"""

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = Path(__file__).resolve().parent


def worker(data: Path, threads: int, steps: int) -> list[float]:
    """Time ``steps`` training steps after 3 warm-up steps; seconds per step."""
    import torch
    from sorghum_depth_training.loop.config import TrainConfig
    from sorghum_depth_training.data.loader import open_datasets, PairDataset
    from sorghum_depth_training.nets.discriminator import PatchDiscriminator
    from sorghum_depth_training.nets.generator import Generator
    from sorghum_depth_training.loop.step import StepModels, train_step
    torch.set_num_threads(threads)
    cfg = TrainConfig()
    data_set = PairDataset(open_datasets([str(data)]), 'train',
                           (cfg.data.height, cfg.data.width), hints=True)
    batch = torch.utils.data.default_collate([data_set[i] for i in range(cfg.batch_size)])
    gen, disc = Generator(cfg.generator), PatchDiscriminator(cfg.discriminator)
    models = StepModels(gen, disc, torch.optim.Adam(gen.parameters(), 1e-4),
                        torch.optim.Adam(disc.parameters(), 1e-4))
    times = []
    for i in range(steps + 3):
        start = time.perf_counter()
        train_step(models, batch['left'], batch['right'], cfg.loss,
                   rig_scale=batch['rig_scale'], hints=batch['hints'])
        if i >= 3:
            times.append(time.perf_counter() - start)
    return times


def _spawn(data: Path, threads: int, steps: int) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    return subprocess.Popen([sys.executable, __file__, '--worker', str(threads), '--data',
                             str(data), '--steps', str(steps)], env=env,
                            stdout=subprocess.PIPE, text=True)


def main() -> None:
    """Alternate thread counts in fresh processes; write the medians and ratios."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--load', action='store_true', help='run a 1-thread training beside')
    p.add_argument('--worker', type=int, help=argparse.SUPPRESS)
    p.add_argument('--data', type=Path, help=argparse.SUPPRESS)
    p.add_argument('--out', type=Path, default=HERE / 'results')
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.data, args.worker, args.steps)))
        return
    from sorghum_depth_training.data.dataset_dir import load_dataset
    from sorghum_depth_training.data.hints import HintCache
    from sorghum_depth_training.data.synthetic import write_synthetic
    data = Path(tempfile.mkdtemp(prefix='sorghum_threads_')) / 'synth'
    write_synthetic(data, count=8, seed=7, width=640, height=192)
    HintCache(load_dataset(data)).ensure(progress=False)
    times: dict[int, list[float]] = {t: [] for t in args.threads}
    for _ in range(args.rounds):
        for t in args.threads:
            load = _spawn(data, 1, 10 ** 6) if args.load else None
            run = _spawn(data, t, args.steps)
            times[t] += json.loads(run.communicate()[0])
            if load is not None:
                load.kill()
                load.wait()
    med = {t: float(np.median(v)) for t, v in times.items()}
    result = {'condition': 'beside a 1-thread training' if args.load else 'idle machine',
              'cpu_count': os.cpu_count(), 'seconds_per_step_median': med,
              'speed_vs_1_thread': {t: med[min(med)] / m for t, m in med.items()},
              'steps_per_process': args.steps, 'rounds': args.rounds}
    args.out.mkdir(parents=True, exist_ok=True)
    name = 'threads_load.json' if args.load else 'threads.json'
    (args.out / name).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
