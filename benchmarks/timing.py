# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared by the benchmark scripts: wall time of repeated calls after a warm-up."""

import time

import numpy as np


def time_calls(fn, repeats: int = 20, warmup: int = 3) -> dict[str, float]:
    """Call ``fn`` ``warmup`` times, then time ``repeats`` calls; median, p95, min in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {'p50_ms': 1e3 * float(np.median(times)), 'p95_ms': 1e3 * float(
        np.percentile(times, 95)), 'min_ms': 1e3 * min(times), 'repeats': repeats}
