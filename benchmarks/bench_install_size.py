#!/usr/bin/env python3
# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Install size of each route: the robot set (no torch) against the full set.

Each route is pip-installed into a fresh venv under /tmp (``python -m venv``, pins from
the requirements files, pip's cache and PyPI) and measured with ``du`` on the venv's
site-packages, beside an empty venv (pip and setuptools only). Routes:

* ``robot``: requirements-robot.txt (depth_node, replay and infer-bag on model.onnx);
* ``runtime``: requirements.txt (torch, training, export; no ROS wheels);
* ``full``: requirements-dev.txt (requirements.txt, ROS 2 wheels, test tools) and
  requirements-nodeps.txt, as ``make setup`` installs them (without ../shared/ros2_py).

Writes ``results/install_size.json``: per route MiB on disk, package count, the ten
largest top-level entries of site-packages and the install time (network-bound, noisy;
the load average is recorded). The ROS 2 wheels put about 100 MiB of shared libraries
and headers beside site-packages (``venv/lib``, ``include``, ``share``): ``venv_mib``
counts them.
"""

import argparse
import json
import os
from pathlib import Path
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PIP = ['-m', 'pip', 'install', '-q', '--disable-pip-version-check']
ROUTES = {
    'robot': [PIP + ['-r', 'requirements-robot.txt']],
    'runtime': [PIP + ['-r', 'requirements.txt']],
    'full': [PIP + ['-r', 'requirements-dev.txt'],
             PIP + ['--no-deps', '-r', 'requirements-nodeps.txt']],
}
MIB = 2 ** 20


def du_bytes(path: Path) -> int:
    """Disk usage of ``path`` as ``du -s`` counts it (allocated blocks), bytes."""
    out = subprocess.run(['du', '-sk', str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) * 1024


def site_packages(venv: Path) -> Path:
    """Return the site-packages folder of ``venv``."""
    return venv / 'lib' / f'python{sys.version_info.major}.{sys.version_info.minor}' / \
        'site-packages'


def clean_env() -> dict:
    """Return this environment without the running venv's paths (a fresh venv's own)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'VIRTUAL_ENV', '_ROS_WHEELS_BOOTSTRAP_COMPLETE')}
    libs = [p for p in os.environ.get('LD_LIBRARY_PATH', '').split(os.pathsep)
            if p and not p.startswith(sys.prefix)]
    env['LD_LIBRARY_PATH'] = os.pathsep.join(libs)
    return env


def packages(python: Path) -> dict[str, str]:
    """Return {name: version} of what pip lists in the venv of ``python``."""
    out = subprocess.run([str(python), '-m', 'pip', 'list', '--format', 'json',
                          '--disable-pip-version-check'], capture_output=True, text=True,
                         check=True, env=clean_env())
    return {p['name']: p['version'] for p in json.loads(out.stdout)}


def measure(venv: Path, commands: list[list[str]]) -> dict:
    """Create ``venv``, run the pip ``commands`` in it, and measure what landed."""
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    python = venv / 'bin' / 'python'
    start = time.perf_counter()
    for args in commands:
        subprocess.run([str(python), *args], check=True, cwd=ROOT, env=clean_env())
    install_s = time.perf_counter() - start
    site = site_packages(venv)
    entries = {e.name: du_bytes(e) for e in site.iterdir()}
    largest = sorted(entries.items(), key=lambda kv: -kv[1])[:10]
    listed = packages(python)
    return {'site_packages_mib': round(du_bytes(site) / MIB, 1),
            'venv_mib': round(du_bytes(venv) / MIB, 1),
            'packages': len(listed), 'install_s': round(install_s, 1),
            'torch': listed.get('torch'), 'onnxruntime': listed.get('onnxruntime'),
            'largest_mib': {k: round(v / MIB, 1) for k, v in largest}}


def main(argv: list[str] | None = None) -> int:
    """Measure each route in its own fresh venv; write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--routes', nargs='+', choices=sorted(ROUTES), default=list(ROUTES))
    parser.add_argument('--out', type=Path, default=HERE / 'results' / 'install_size.json')
    args = parser.parse_args(argv)
    results, load_before = {}, os.getloadavg()
    with tempfile.TemporaryDirectory(prefix='install_size_', dir='/tmp') as tmp:
        results['empty'] = measure(Path(tmp) / 'empty', [])
        for name in args.routes:
            results[name] = measure(Path(tmp) / name, ROUTES[name])
            shutil.rmtree(Path(tmp) / name)
            print(f"{name}: {results[name]['site_packages_mib']} MiB site-packages, "
                  f"{results[name]['packages']} packages", flush=True)
    out = {'what': 'du -sk of a fresh venv and its site-packages per install route, MiB',
           'python': platform.python_version(), 'machine': platform.machine(),
           'load_avg_1min_before_after': [round(load_before[0], 1),
                                          round(os.getloadavg()[0], 1)],
           'routes': {name: ' && '.join('pip install ' + ' '.join(c[len(PIP):])
                                        for c in ROUTES[name]) for name in args.routes},
           'results': results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + '\n')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
