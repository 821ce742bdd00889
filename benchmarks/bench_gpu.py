#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Forward speed on an accelerator: TorchScript on CUDA (fp32, fp16) and ONNX Runtime.

For the shipped ``models/sorghum_synth_small.ts`` and the default-size generator
(config/train.yaml's EfficientNet-Lite0 at 128x416, random weights, built and exported
on the machine itself; ``sorghum_depth_training`` must be importable), the TorchScript
variants in one process and the ONNX Runtime ones in another, through the robot's path
``load_model(...).predict_disparity`` (uint8 RGB in, disparity in px out, so the upload
and the download are inside the time), at 640x480 and 1241x376, batch 1:

* ``ts_fp32``, ``ts_fp16`` (``load_model(fp16=True)``: half weights and input) and
  ``ts_autocast`` (fp32 weights under ``torch.autocast`` fp16), each also with
  ``torch.backends.cudnn.benchmark`` on (``*_cudnnbench``); ``device_ms``: the module
  alone on a tensor already on the GPU, synchronised;
* ``ort_cuda``, ``ort_trt_fp16``: ONNX Runtime's CUDA and TensorRT providers, only when
  this onnxruntime build lists them (the CPU-only wheel does not);
* ``ort_cpu``: ONNX Runtime's CPU provider, one thread per core, for reference.

Accuracy: max and mean |variant - ts_fp32| in px on a real KITTI frame (``--image``)
resized to each size. Target: at least 200 Hz forward (p50 <= 5 ms). Writes JSON to
``--out`` and, where the environment variable OUT is set, to ``$OUT/gpu.json``.
"""

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import time

import numpy as np
from timing import time_calls

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SIZES = ((640, 480), (1241, 376))
TS_VARIANTS = ('ts_fp32', 'ts_fp16', 'ts_autocast', 'ts_fp32_cudnnbench',
               'ts_fp16_cudnnbench')
ORT_GPU_WHEEL = 'onnxruntime-gpu 1.30.0 (cp312 manylinux_2_28): 246.7 MB, over the 64 MiB carry'
TARGET_HZ = 200.0
SHIPPED = REPO / 'models' / 'sorghum_synth_small.ts'
EXPORT = [sys.executable, '-m', 'sorghum_depth_training.export.main']


def frame(width: int, height: int, image: Path | None) -> np.ndarray:
    """Return the real frame resized to (width, height), or a textured random one."""
    import cv2
    bgr = cv2.imread(str(image), cv2.IMREAD_COLOR) if image and image.is_file() else None
    if bgr is None:
        rng = np.random.default_rng(0)
        bgr = rng.integers(0, 255, (height // 4, width // 4, 3), dtype=np.uint8)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def timed(fn, runs: int, warmup: int) -> dict:
    """Warm ``fn`` up, then time ``runs`` calls (``fn`` synchronises itself); adds the rate."""
    stats = time_calls(fn, runs, warmup)
    return {**stats, 'hz_at_p50': 1e3 / stats['p50_ms']}


def load_variant(variant: str, path: Path, device: str):
    """Load ``path`` for ``variant``; return (model, predict function of an RGB array)."""
    from sorghum_depth import onnx_backend
    from sorghum_depth.inference import load_model
    threads = os.cpu_count() or 1
    if variant == 'ort_cpu':
        model = onnx_backend.load(path, 'cpu', False, threads)
    elif variant.startswith('ort_'):
        model = load_model(path, device, fp16=variant.endswith('fp16'), cpu_threads=threads)
    else:
        import torch
        torch.backends.cudnn.benchmark = variant.endswith('cudnnbench')
        model = load_model(path, device, fp16=variant.startswith('ts_fp16'))
        if variant == 'ts_autocast':
            def predict(rgb):
                with torch.autocast(model.device.type, dtype=torch.float16):
                    return model.predict_disparity(rgb)
            return model, predict
    return model, model.predict_disparity


def device_only(model, variant: str, width: int, height: int, runs: int) -> dict | None:
    """Time the TorchScript module alone on a GPU tensor, synchronised; None off CUDA."""
    import torch
    if not variant.startswith('ts_') or model.device.type != 'cuda':
        return None
    dtype = torch.float16 if model.fp16 else torch.float32
    x = torch.rand(1, 3, height, width, device=model.device, dtype=dtype)
    autocast = torch.autocast('cuda', dtype=torch.float16, enabled=variant == 'ts_autocast')

    def call():
        with torch.inference_mode(), autocast:
            model.module(x, -1)
        torch.cuda.synchronize()
    return timed(call, runs, 10)


def one_variant(variant: str, args: argparse.Namespace) -> dict:
    """Load the model for ``variant``; time it at each size; save its outputs for accuracy."""
    start = time.perf_counter()
    model, predict = load_variant(variant, Path(args.model), args.device)
    out = {'variant': variant, 'device': str(model.device), 'fp16': bool(model.fp16),
           'load_s': time.perf_counter() - start,
           'providers': list(getattr(model, 'providers', []))}
    runs = args.cpu_runs if variant == 'ort_cpu' else args.runs
    save = Path(args.save) / variant
    save.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        rgb = frame(width, height, args.image)
        disp = predict(rgb)
        np.save(save / f'{width}x{height}.npy', disp)
        entry = {'predict': timed(lambda: predict(rgb), runs, args.warmup),
                 'finite': bool(np.isfinite(disp).all()),
                 'mean_disparity_px': float(np.nanmean(disp))}
        entry['device_only'] = device_only(model, variant, width, height, runs)
        out[f'{width}x{height}'] = entry
    return out


def worker(args: argparse.Namespace) -> None:
    """Run each variant of ``args.worker`` (comma-separated) in turn; one JSON line each."""
    for variant in args.worker.split(','):
        try:
            result = one_variant(variant, args)
        except Exception as err:        # fp16 or a provider may fail: report, go on
            result = {'variant': variant, 'error': f'{type(err).__name__}: {err}'[-1500:]}
        print(json.dumps(result), flush=True)


def run_worker(variants: list[str], path: Path, save: Path, args: argparse.Namespace
               ) -> list[dict]:
    """Run ``worker`` in a fresh interpreter (timeout ``args.part_timeout``); its results."""
    cmd = [sys.executable, str(Path(__file__).resolve()), '--worker', ','.join(variants),
           '--model', str(path), '--device', args.device, '--runs', str(args.runs),
           '--cpu-runs', str(args.cpu_runs), '--warmup', str(args.warmup), '--save', str(save)]
    if args.image:
        cmd += ['--image', str(args.image)]
    error = ''
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                              timeout=args.part_timeout)
        stdout = done.stdout
        if done.returncode != 0:
            error = f'exit {done.returncode}: {done.stderr.strip()[-1500:]}'
    except subprocess.TimeoutExpired as err:
        stdout = err.stdout.decode() if isinstance(err.stdout, bytes) else err.stdout or ''
        error = f'timed out after {args.part_timeout} s'
    results = [json.loads(line) for line in stdout.splitlines() if line.startswith('{')]
    seen = {r['variant'] for r in results}
    return results + [{'variant': v, 'error': error or 'no result'} for v in variants
                      if v not in seen]


def accuracy(save_root: Path, variant: str, reference: str = 'ts_fp32') -> dict:
    """Max and mean |variant - reference| (px) per size, from the saved outputs."""
    out = {}
    for width, height in SIZES:
        name = f'{width}x{height}.npy'
        a, b = save_root / reference / name, save_root / variant / name
        if a.is_file() and b.is_file():
            diff = np.abs(np.load(a) - np.load(b))
            out[f'{width}x{height}'] = {'max_abs_px': float(np.nanmax(diff)),
                                        'mean_abs_px': float(np.nanmean(diff))}
    return out


def default_checkpoint(path: Path) -> None:
    """Write a checkpoint of the default-size generator (random weights, seed 0) to ``path``."""
    from dataclasses import asdict, replace
    import torch
    from sorghum_depth_training.loop.checkpoint import save_checkpoint
    from sorghum_depth_training.loop.config import TrainConfig
    from sorghum_depth_training.nets.generator import Generator
    cfg = TrainConfig()
    gen_cfg = replace(cfg.generator, pretrained=False)
    torch.manual_seed(0)
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(gen_cfg).items()}
    save_checkpoint(path, {
        'train_config': {'data': {'height': cfg.data.height, 'width': cfg.data.width},
                         'generator': {'max_disp_frac': gen_cfg.max_disp_frac}},
        'calibration': {'baseline_m': 0.12, 'fx_over_width': 0.6}, 'config_hash': 'bench',
        'git_revision': 'bench', 'step': 0, 'model': {'generator': config},
        'generator': Generator(gen_cfg).state_dict()})
    print(f'wrote {path}')


def sub(cmd: list[str], timeout_s: float, env: dict | None = None) -> str | None:
    """Run ``cmd`` in the repository; None when it worked, else the error text."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f'timed out after {timeout_s} s: {" ".join(cmd)}'
    if done.returncode != 0:
        return f'exit {done.returncode}: {(done.stderr or done.stdout).strip()[-1500:]}'
    print(done.stdout.strip()[-400:], flush=True)
    return None


def export_default_ts(work: Path, timeout_s: float) -> str | None:
    """Build the default-size checkpoint and export it to ``work/default_size.ts``."""
    checkpoint = work / 'default.pt'
    error = sub([sys.executable, str(Path(__file__).resolve()), '--make-default',
                 str(checkpoint)], timeout_s)
    return error or sub(EXPORT + [str(checkpoint), str(work / 'default_size.ts')], timeout_s)


def export_default_onnx(work: Path, timeout_s: float) -> str | None:
    """
    Convert ``work/default_size.ts`` to ``work/default_size.onnx``.

    Apart from the TorchScript export: an ONNX export that fails on this torch must not
    cost the TorchScript figures (an export writes all its files or none).
    """
    return sub(EXPORT + [str(work / 'default_size.ts'), str(work / 'default_size.onnx'),
                         '--format', 'onnx'], timeout_s)


def export_shipped_onnx(work: Path, timeout_s: float) -> str | None:
    """Convert the shipped model.ts to ``work/shipped.onnx`` (unless the repository has one)."""
    if SHIPPED.with_suffix('.onnx').is_file():
        return None
    return sub(EXPORT + [str(SHIPPED), str(work / 'shipped.onnx'), '--format', 'onnx'],
               timeout_s)


def stages(work: Path, providers: list[str], device: str) -> list[tuple]:
    """(model, export step or None, file, variants) in order of importance."""
    cuda = device.startswith('cuda')
    ts = list(TS_VARIANTS) if cuda else ['ts_fp32']
    ort = [v for v, p in (('ort_cuda', 'CUDAExecutionProvider'),
                          ('ort_trt_fp16', 'TensorrtExecutionProvider'))
           if cuda and p in providers]
    shipped_onnx = SHIPPED.with_suffix('.onnx')
    shipped_onnx = shipped_onnx if shipped_onnx.is_file() else work / 'shipped.onnx'
    return [('shipped', None, SHIPPED, ts),
            ('default_size', export_default_ts, work / 'default_size.ts', ts),
            ('shipped', export_shipped_onnx, shipped_onnx, ort + ['ort_cpu']),
            ('default_size', export_default_onnx, work / 'default_size.onnx', ort + ['ort_cpu'])]


def machine(device: str) -> dict:
    """Versions, GPU and onnxruntime providers of this machine."""
    import onnxruntime
    import torch
    info = {'cpus': os.cpu_count(), 'python': sys.version.split()[0],
            'torch': str(torch.__version__), 'onnxruntime': onnxruntime.__version__,
            'ort_providers': onnxruntime.get_available_providers(), 'device': device,
            'cuda_available': torch.cuda.is_available()}
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name(0)
    if 'CUDAExecutionProvider' not in info['ort_providers']:
        info['ort_gpu_note'] = ('this onnxruntime is the CPU build: no CUDA or TensorRT '
                                'provider to measure; onnxruntime-gpu cannot travel: '
                                + ORT_GPU_WHEEL + ' limit, and TensorRT is not installed')
    return info


def write(report: dict, args: argparse.Namespace) -> None:
    """Write ``report`` to ``args.out`` and, where OUT is set, to ``$OUT/gpu.json``."""
    text = json.dumps(report, indent=2) + '\n'
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if os.environ.get('OUT'):
        Path(os.environ['OUT'], 'gpu.json').write_text(text)


def run_all(args: argparse.Namespace) -> dict:
    """Export and time stage by stage (``stages``); write the report after each one."""
    report = {'machine': machine(args.device), 'batch': 1, 'target_hz': TARGET_HZ,
              'settings': {k: str(v) for k, v in vars(args).items()}, 'models': {},
              'export_errors': {}}
    print(json.dumps(report['machine']), flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    for name, step, path, variants in stages(args.work, report['machine']['ort_providers'],
                                             args.device):
        if step is not None:
            error = step(args.work, args.part_timeout)
            if error:
                report['export_errors'][step.__name__] = error
                print(step.__name__, 'ERROR', error[-500:], flush=True)
        if not variants or not path.is_file():
            continue
        entry = report['models'].setdefault(name, {'files': {}, 'variants': {}})
        entry['files'][path.suffix] = str(path)
        for result in run_worker(variants, path, args.work / 'out' / name, args):
            result['vs_ts_fp32'] = accuracy(args.work / 'out' / name, result['variant'])
            entry['variants'][result['variant']] = result
            print(name, result['variant'], summary_line(result), flush=True)
        write(report, args)
    report['complete'] = True
    write(report, args)
    return report


def summary_line(result: dict) -> str:
    """Return one printable line of a variant's result."""
    if 'error' in result:
        return 'ERROR ' + result['error'][-300:].replace('\n', ' | ')
    parts = []
    for width, height in SIZES:
        r = result.get(f'{width}x{height}', {})
        p = r.get('predict', {})
        dev = r.get('device_only') or {}
        acc = result.get('vs_ts_fp32', {}).get(f'{width}x{height}', {})
        parts.append(f"{width}x{height}: p50 {p.get('p50_ms', float('nan')):.2f} ms "
                     f"p95 {p.get('p95_ms', float('nan')):.2f} ms "
                     f"device {dev.get('p50_ms', float('nan')):.2f} ms "
                     f"max|d| {acc.get('max_abs_px', float('nan')):.3g} px")
    return '; '.join(parts)


def main() -> int:
    """Parse the arguments; run a worker or the whole benchmark."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cuda', help="'cuda' (default) or 'cpu' (a dry run)")
    p.add_argument('--runs', type=int, default=300, help='timed forwards per size (default 300)')
    p.add_argument('--cpu-runs', type=int, default=30, help='the same for ort_cpu (30)')
    p.add_argument('--warmup', type=int, default=20, help='untimed forwards first (20)')
    p.add_argument('--image', type=Path, default=REPO / '.gpu_data' / 'kitti_seq2_000000_l.png',
                   help='real frame for the accuracy figures (random texture if absent)')
    p.add_argument('--work', type=Path, default=Path('/tmp/sorghum_bench_gpu'),
                   help='folder for the exported models and the outputs')
    p.add_argument('--part-timeout', type=float, default=120.0,
                   help='seconds allowed to each export and each group of variants (120)')
    p.add_argument('--out', type=Path, default=HERE / 'results' / 'gpu.json')
    p.add_argument('--worker', help=argparse.SUPPRESS)
    p.add_argument('--model', help=argparse.SUPPRESS)
    p.add_argument('--save', help=argparse.SUPPRESS)
    p.add_argument('--make-default', type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.make_default:
        default_checkpoint(args.make_default)
        return 0
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    run_all(args)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
