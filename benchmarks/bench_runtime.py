#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
TorchScript against ONNX Runtime: forward time, memory and agreement, one model file each.

Two models, each exported to ``model.ts`` and ``model.onnx`` from the same weights: the
shipped ``models/sorghum_synth_small.ts`` converted (``sorghum-depth-export`` given a
model.ts rebuilds its generator; its checkpoint is not in the repository) and the
default-size generator (config/train.yaml's EfficientNet-Lite0 at 128x416, random
weights). Forward p50/p95 at 640x480 and 1241x376, batch 1, 2 threads, through
``load_model(...).predict_disparity`` (uint8 in, disparity out), each runtime in its own
process (their thread pools interfere in one), alternated A B A B; the RSS each loaded
model adds; ORT's graph optimisation levels on the shipped model; and the largest and
mean |ONNX - TorchScript| in px on real images (KITTI odometry, Middlebury 2003) at both
sizes. Writes ``results/runtime.json``.

``--post-process-cost``: instead, the shipped model's TorchScript forward with flip
post-processing off (A) and on (B), same sizes and threads, A B A B in fresh processes;
writes ``results/post_process.json``.
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
ROOT = HERE.parent
DATA = ROOT.parent / 'shared' / 'data'
SIZES = ((640, 480), (1241, 376))
PP_FLAGS = {'as_exported': None, 'on': True, 'off': False}


def rss_mb() -> float:
    """Resident set size of this process, MB (Linux /proc)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 1e6


def worker(path: str, threads: int, width: int, height: int, runs: int,
           level: str, post_process: bool | None = None) -> dict:
    """
    Load ``path`` (backend by suffix) on the CPU and time ``runs`` forwards; ms and MB.

    ``post_process``: flip post-processing on / off; None = as exported.
    """
    from sorghum_depth import inference
    before = rss_mb()
    if path.endswith('.onnx'):
        from sorghum_depth import onnx_backend
        model = onnx_backend.load(Path(path), 'cpu', False, threads, level)
    else:
        model = inference.load_model(path, 'cpu', cpu_threads=threads, check=False)
    loaded = rss_mb()
    rgb = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    for _ in range(3):
        model.predict_disparity(rgb, post_process)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.predict_disparity(rgb, post_process)
        times.append(time.perf_counter() - start)
    return {'times_ms': [1e3 * t for t in times], 'rss_before_load_mb': before,
            'rss_loaded_mb': loaded, 'rss_after_runs_mb': rss_mb(),
            'backend': model.backend}


def run_worker(path: Path, threads: int, size: tuple[int, int], runs: int,
               level: str = 'all', pp: str = 'as_exported') -> dict:
    """Run ``worker`` in a fresh interpreter and return its result; ``pp``: a PP_FLAGS key."""
    cmd = [sys.executable, str(Path(__file__).resolve()), '--worker', str(path),
           '--threads', str(threads), '--size', f'{size[0]}x{size[1]}', '--runs', str(runs),
           '--level', level, '--pp', pp]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(results: list[dict]) -> dict:
    """Pool the forward times of several workers: p50, p95, min in ms; RSS in MB."""
    times = np.concatenate([r['times_ms'] for r in results])
    return {'p50_ms': float(np.median(times)), 'p95_ms': float(np.percentile(times, 95)),
            'min_ms': float(times.min()), 'forwards': int(times.size),
            'per_process_p50_ms': [float(np.median(r['times_ms'])) for r in results],
            'rss_model_mb': float(np.median([r['rss_loaded_mb'] - r['rss_before_load_mb']
                                             for r in results])),
            'rss_after_runs_mb': float(np.median([r['rss_after_runs_mb'] for r in results]))}


def export_pair(source: Path, out_dir: Path) -> tuple[Path, Path]:
    """Export ``source`` (checkpoint or model.ts) to model.ts and model.onnx; both paths."""
    ts = out_dir / f'{source.stem}.ts'
    cmd = [sys.executable, '-m', 'sorghum_depth_training.export.main', str(source), str(ts),
           '--format', 'both']
    subprocess.run(cmd, check=True, cwd=ROOT)
    return ts, ts.with_suffix('.onnx')


def default_checkpoint(path: Path) -> Path:
    """Write a checkpoint of the default-size generator (random weights) to ``path``."""
    import torch
    from dataclasses import asdict, replace
    from sorghum_depth_training.loop.checkpoint import save_checkpoint
    from sorghum_depth_training.loop.config import TrainConfig
    from sorghum_depth_training.nets.generator import Generator
    cfg = TrainConfig()
    gen_cfg = replace(cfg.generator, pretrained=False)
    torch.manual_seed(0)
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(gen_cfg).items()}
    state = {'train_config': {'data': {'height': cfg.data.height, 'width': cfg.data.width},
                              'generator': {'max_disp_frac': gen_cfg.max_disp_frac}},
             'calibration': {'baseline_m': 0.12, 'fx_over_width': 0.6},
             'config_hash': 'bench', 'git_revision': 'bench', 'step': 0,
             'model': {'generator': config}, 'generator': Generator(gen_cfg).state_dict()}
    return save_checkpoint(path, state)


def real_images(limit: int) -> list[tuple[str, np.ndarray]]:
    """Return up to ``limit`` KITTI odometry left images plus the Middlebury 2003 left ones."""
    import cv2
    kitti = sorted((DATA / 'kitti_odometry').glob('*/image_l/*.png'))[:max(limit - 4, 0)]
    middlebury = sorted((DATA / 'middlebury2003').glob('*/imL.png'))
    images = []
    for path in kitti + middlebury:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is not None:
            images.append((str(path.relative_to(DATA)), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    return images


def agreement(ts: Path, onnx_path: Path, limit: int) -> dict:
    """Largest and mean |ONNX - TorchScript| (px) on real images resized to each size."""
    import cv2
    from sorghum_depth.inference import load_model
    models = [load_model(p, 'cpu', cpu_threads=2) for p in (ts, onnx_path)]
    result = {}
    for width, height in SIZES:
        worst, means, disp_means = 0.0, [], []
        for _, rgb in real_images(limit):
            image = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
            a, b = (m.predict_disparity(image) for m in models)
            worst = max(worst, float(np.abs(a - b).max()))
            means.append(float(np.abs(a - b).mean()))
            disp_means.append(float(a.mean()))
        result[f'{width}x{height}'] = {'max_abs_px': worst, 'mean_abs_px': float(np.mean(means)),
                                       'mean_disparity_px': float(np.mean(disp_means)),
                                       'images': len(means)}
    return result


def alternate(jobs: dict[str, dict], rounds: int, runs: int, ratio: tuple[str, str, str]
              ) -> dict:
    """
    Time each job in fresh processes, alternated A B A B, at each of ``SIZES``.

    :param jobs: name -> ``run_worker`` keyword arguments (``path``, optionally ``pp``).
    :param ratio: (key, numerator job, denominator job): their p50 ratio is stored as key.
    :returns: per size, each job's ``summary`` and the ratio.
    """
    out = {}
    for size in SIZES:
        per = {name: [] for name in jobs}
        for _ in range(rounds):
            for name, job in jobs.items():
                per[name].append(run_worker(threads=2, size=size, runs=runs, **job))
        stats = {name: summary(results) for name, results in per.items()}
        key, num, den = ratio
        stats[key] = stats[num]['p50_ms'] / stats[den]['p50_ms']
        out[f'{size[0]}x{size[1]}'] = stats
        print(size, {k: (v['p50_ms'], v['p95_ms']) for k, v in stats.items()
                     if isinstance(v, dict)}, f'{key} {stats[key]:.2f}', flush=True)
    return out


def compare_runtimes(pair: tuple[Path, Path], rounds: int, runs: int) -> dict:
    """Time TorchScript (A) and ORT (B) in fresh processes, A B A B, at each size."""
    jobs = {'torchscript': {'path': pair[0]}, 'onnxruntime': {'path': pair[1]}}
    return alternate(jobs, rounds, runs, ('ort_speedup_p50', 'torchscript', 'onnxruntime'))


def main() -> int:
    """Export, time, measure; write results/runtime.json."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--rounds', type=int, default=2, help='A B rounds per size (default 2)')
    p.add_argument('--runs', type=int, default=30, help='forwards per process (default 30)')
    p.add_argument('--images', type=int, default=12, help='real images for the agreement')
    p.add_argument('--out', type=Path, default=None,
                   help='JSON to write (default results/runtime.json, or '
                   'results/post_process.json with --post-process-cost)')
    p.add_argument('--post-process-cost', action='store_true',
                   help='time the shipped model with flip post-processing off and on instead')
    p.add_argument('--worker', help=argparse.SUPPRESS)
    p.add_argument('--threads', type=int, default=2, help=argparse.SUPPRESS)
    p.add_argument('--size', default='640x480', help=argparse.SUPPRESS)
    p.add_argument('--level', default='all', help=argparse.SUPPRESS)
    p.add_argument('--pp', default='as_exported', choices=PP_FLAGS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        width, height = map(int, args.size.split('x'))
        print(json.dumps(worker(args.worker, args.threads, width, height, args.runs,
                                args.level, PP_FLAGS[args.pp])))
        return 0
    name = 'post_process.json' if args.post_process_cost else 'runtime.json'
    args.out = args.out or HERE / 'results' / name
    return post_process_cost(args) if args.post_process_cost else run_all(args)


def machine_facts(**versions: str) -> dict:
    """CPU count, load average now and the given library versions, for a report."""
    return {'cpus': os.cpu_count(), 'load_avg_at_start': os.getloadavg(), **versions}


def write_report(report: dict, out: Path) -> int:
    """Add the load average at the end, write ``report`` as JSON to ``out``; exit code 0."""
    report['machine']['load_avg_at_end'] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + '\n')
    print(f'wrote {out}')
    return 0


def post_process_cost(args: argparse.Namespace) -> int:
    """Time the shipped model with post-processing off (A) and on (B); write the JSON."""
    import torch
    model = ROOT / 'models' / 'sorghum_synth_small.ts'
    jobs = {name: {'path': model, 'pp': name} for name in ('off', 'on')}
    report = {'machine': machine_facts(torch=str(torch.__version__)), 'model': model.name,
              'threads': 2, 'batch': 1,
              'sizes': alternate(jobs, args.rounds, args.runs, ('on_over_off_p50', 'on', 'off'))}
    return write_report(report, args.out)


def run_all(args: argparse.Namespace) -> int:
    """Run every measurement of the module docstring and write the JSON."""
    import onnxruntime
    import torch
    report = {'machine': machine_facts(torch=str(torch.__version__),
                                       onnxruntime=onnxruntime.__version__),
              'threads': 2, 'batch': 1, 'models': {}}
    with tempfile.TemporaryDirectory() as tmp:
        sources = {'shipped': ROOT / 'models' / 'sorghum_synth_small.ts',
                   'default_size': default_checkpoint(Path(tmp) / 'default.pt')}
        for name, source in sources.items():
            pair = export_pair(source, Path(tmp))
            entry = {'source': str(source.name), 'file_mb': {
                p.suffix: p.stat().st_size / 1e6 for p in pair}}
            entry['agreement'] = agreement(*pair, args.images)
            print(name, entry['agreement'], flush=True)
            entry['forward'] = compare_runtimes(pair, args.rounds, args.runs)
            if name == 'shipped':
                entry['ort_levels_640x480'] = {
                    level: summary([run_worker(pair[1], 2, SIZES[0], args.runs, level)])
                    for level in ('disable', 'basic', 'extended', 'all')}
            report['models'][name] = entry
    return write_report(report, args.out)


if __name__ == '__main__':
    sys.exit(main())
