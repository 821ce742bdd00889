# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Runtime helpers of the node, without ROS: a newest-frame mailbox and rate statistics.

The subscription callback only drops the message into a ``LatestFrame``; a worker
thread takes the newest one when it is ready. A slow model therefore never works
through stale frames: frames replaced before they were taken are counted as dropped.
"""

from collections import deque
import threading
import time

import numpy as np


class LatestFrame:
    """Single-slot mailbox: ``put`` replaces any frame not yet taken (and counts it)."""

    def __init__(self):
        """Start empty and open."""
        self._cond = threading.Condition()
        self._item = None
        self._closed = False
        self.dropped = 0

    def put(self, item) -> None:
        """Offer the newest frame; a frame still waiting is dropped."""
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout_s: float):
        """Return the newest frame, waiting up to ``timeout_s``; None on timeout or close."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout_s)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake and release any waiting ``take``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


STAGES = ('queue', 'decode', 'geometry', 'encode', 'publish', 'own_work')
"""
Per-frame stages the node times (``RateStats.output``'s ``stages``), in seconds.

``queue``: the image callback to the worker taking the frame; ``decode``: CDR bytes to
RGB; ``geometry``: disparity to depth and validity (the pipeline minus the forward);
``encode``: output messages built and serialised; ``publish``: handed to rclpy;
``own_work``: the image callback to the last publish, minus the forward.
"""


class RateStats:
    """Counts, output rate, latency, forward and stage percentiles over a sliding window."""

    def __init__(self, window: int = 300):
        """Keep the last ``window`` outputs."""
        self._lock = threading.Lock()
        self._times = deque(maxlen=window)
        self._series = {name: deque(maxlen=window) for name in ('latency', 'forward') + STAGES}
        self.received = self.processed = self.bad_input = self.errors = self.empty = 0

    def output(self, latency_s: float, forward_s: float, empty: bool = False,
               stages: dict[str, float] | None = None) -> None:
        """Record one published frame (``empty``: not one valid pixel; ``stages``: s)."""
        with self._lock:
            self.processed += 1
            self.empty += int(empty)
            self._times.append(time.monotonic())
            self._series['latency'].append(latency_s)
            self._series['forward'].append(forward_s)
            for name, seconds in (stages or {}).items():
                self._series[name].append(seconds)

    def summary(self) -> dict[str, float]:
        """Return rate (Hz), latency, forward and own-work p50/p95, stage p50 (ms), counters."""
        with self._lock:
            times = list(self._times)
            series = {name: list(values) for name, values in self._series.items()}
            out = {'received': self.received, 'processed': self.processed,
                   'bad_input': self.bad_input, 'errors': self.errors, 'empty': self.empty}
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        out['rate_hz'] = (len(times) - 1) / span if span > 0 else 0.0
        for name in ('latency', 'forward', 'own_work'):
            p50, p95 = np.percentile(series[name], [50, 95]) if series[name] else (np.nan,) * 2
            out[f'{name}_p50_ms'], out[f'{name}_p95_ms'] = 1e3 * p50, 1e3 * p95
        for name in STAGES[:-1]:
            if series[name]:
                out[f'{name}_p50_ms'] = 1e3 * float(np.median(series[name]))
        return out


OK, WARN, ERROR = 0, 1, 2       # diagnostic_msgs/DiagnosticStatus levels


def assess(before: dict, now: dict) -> tuple[int, str]:
    """
    Judge the node's health over the last diagnostics period.

    :param before: the counters (``received``, ``processed``, ``bad_input``, ``errors``,
        ``dropped``, ``empty``) at the start of the period.
    :param now: the same counters now.
    :returns: (OK, WARN or ERROR, message). ERROR: every frame of the period failed;
        WARN: no input, most frames dropped, every output all invalid, or some failed.
    """
    d = {k: now[k] - before.get(k, 0) for k in
         ('received', 'processed', 'bad_input', 'errors', 'dropped', 'empty')}
    failed = d['bad_input'] + d['errors']
    if now['received'] == 0:
        return WARN, 'no input image yet'
    if d['received'] == 0:
        return WARN, 'no input image in the last period'
    if d['processed'] == 0 and failed > 0:
        return ERROR, (f'every frame failed: {d["bad_input"]} bad input, {d["errors"]} '
                       'inference errors (see the log)')
    if d['processed'] > 0 and d['empty'] == d['processed']:
        return WARN, ('every output was all invalid: check min_depth_m, max_depth_m, '
                      'baseline_m and the focal length')
    if 2 * d['dropped'] > d['received']:
        return WARN, (f'{d["dropped"]} of {d["received"]} frames were dropped: the model is '
                      'slower than the camera (fp16, a GPU or a smaller input would help)')
    if failed:
        return WARN, f'{failed} frames failed (bad input or inference errors, see the log)'
    return OK, 'running'
