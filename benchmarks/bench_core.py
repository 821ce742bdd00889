#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Benchmark the training core: size, forward time, train step time and peak memory.

Writes JSON (default ``benchmarks/results/core.json``). The train step runs in a fresh
child process so its peak resident memory is not mixed with the forward benchmarks.
"""

import argparse
import json
import multiprocessing as mp
import os
from pathlib import Path
import platform
import resource

from sorghum_depth_training.loop.step import StepModels, train_step
from sorghum_depth_training.nets.discriminator import PatchDiscriminator
from sorghum_depth_training.nets.generator import count_parameters, Generator
from sorghum_depth_training.objectives.depth import LossConfig
from timing import time_calls
import torch

RESULTS = Path(__file__).resolve().parent / 'results'


def forward_times(sizes: list[tuple[int, int]], repeats: int) -> dict:
    """Time the generator forward (eval, no grad, batch 1) at each (H, W)."""
    gen = Generator().eval()
    out = {}
    for h, w in sizes:
        image = torch.rand(1, 3, h, w)
        with torch.inference_mode():
            out[f'{h}x{w}'] = time_calls(lambda: gen(image), repeats, warmup=2)
    return out


def _step_child(h: int, w: int, batch: int, repeats: int, queue) -> None:
    torch.manual_seed(0)
    gen, disc = Generator(), PatchDiscriminator()
    models = StepModels(gen, disc, torch.optim.Adam(gen.parameters(), 1e-4),
                        torch.optim.Adam(disc.parameters(), 1e-5))
    left, right = torch.rand(batch, 3, h, w), torch.rand(batch, 3, h, w)
    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timing = time_calls(lambda: train_step(models, left, right, LossConfig(w_gan=0.01)),
                        repeats, warmup=1)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({**timing, 'batch': batch, 'size': f'{h}x{w}',
               'peak_rss_mb': peak_kb / 1024, 'rss_before_step_mb': rss_before_kb / 1024})


def train_step_time(h: int, w: int, batch: int, repeats: int) -> dict:
    """One full step (D update then G update) in a fresh process: time and peak RSS."""
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    proc = ctx.Process(target=_step_child, args=(h, w, batch, repeats, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    """Run the benchmarks and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', type=Path, default=RESULTS / 'core.json')
    parser.add_argument('--repeats', type=int, default=10, help='timed forward passes')
    parser.add_argument('--step-repeats', type=int, default=3, help='timed train steps')
    args = parser.parse_args()
    result = {
        'machine': {'cpu_count': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
                    'processor': platform.processor() or platform.machine(),
                    'torch': torch.__version__, 'device': 'cpu'},
        'generator_parameters': count_parameters(Generator()),
        'discriminator_parameters': count_parameters(PatchDiscriminator()),
        'forward_batch1': forward_times([(256, 512), (192, 640)], args.repeats),
        'train_step': train_step_time(256, 512, batch=4, repeats=args.step_repeats),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
