# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The robot install without torch: requirements-robot.txt alone runs the node on model.onnx.

A fresh venv (``python -m venv`` in a temporary folder) gets only requirements-robot.txt
from the package index (pip's cache or PyPI), and a copy of the ``sorghum_depth`` package
on its PYTHONPATH (no training code, no repository). torch must not import there. The
real ``depth_node`` runs in it on a tiny generator that this (full) venv exports to ONNX;
this process publishes an image over DDS and checks disparity and depth; the offline bag
inference runs there too. When the index cannot be reached the tests skip and say why,
except where ``CI`` or ``SORGHUM_DEPTH_REQUIRE_INDEX`` is set: there they fail.
"""

from dataclasses import dataclass
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from ros_harness import image_msg, private_domain, Probe
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from sensor_msgs.msg import CameraInfo
from sorghum_depth.messages import TYPESTORE
from sorghum_depth.node_process import private_ros_env
from sorghum_depth_training.data import synthetic
from sorghum_depth_training.export import main as export
from tiny_model import make_tiny_checkpoint
import yaml

pytestmark = pytest.mark.robot_install

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / 'requirements-robot.txt'
REQUIRE_INDEX = 'SORGHUM_DEPTH_REQUIRE_INDEX'
# not in the robot set: the training side (torch) and the ONNX exporter
FORBIDDEN = ('torch', 'torchvision', 'onnxscript', 'sorghum_depth_training')
PROBE_WHEEL = 'ros-kilted-std-msgs==5.5.1'      # 1 kB, only on PyPI
DOMAIN = private_domain(5)
WIDTH, HEIGHT, FX_PX, BASELINE_M = 160, 96, 90.0, 0.11
# inherited from this venv's ROS bootstrap: they would load this venv's libraries
DROPPED_ENV = ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'AMENT_PREFIX_PATH',
               '_ROS_WHEELS_BOOTSTRAP_COMPLETE')


@dataclass
class Robot:
    """The fresh robot venv: its python, the environment to run it in, the ONNX model."""

    python: Path
    env: dict
    model: Path
    root: Path

    def run(self, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
        """Run the robot venv's python with ``args``."""
        return subprocess.run([str(self.python), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout_s, cwd=self.root)


def robot_env(pkg_dir: Path) -> dict:
    """Return this environment without this venv's paths, with only ``pkg_dir`` importable."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    libs = [p for p in os.environ.get('LD_LIBRARY_PATH', '').split(os.pathsep)
            if p and not p.startswith(sys.prefix)]
    env['LD_LIBRARY_PATH'] = os.pathsep.join(libs)
    env.update(PYTHONPATH=str(pkg_dir), PYTHONNOUSERSITE='1', PYTHONUNBUFFERED='1')
    return env


def _index_unreachable(reason: str) -> None:
    """Skip, or fail where the index must be reachable (CI)."""
    if os.environ.get('CI') or os.environ.get(REQUIRE_INDEX):
        pytest.fail(f'{reason}; CI / {REQUIRE_INDEX} is set, so this test must run')
    pytest.skip(reason)


def _install_failed(python: Path, env: dict, root: Path) -> None:
    """Fail with pip's log, or skip if the index itself is unreachable."""
    log = (root / 'pip.log').read_text()
    probe = subprocess.run([str(python), '-m', 'pip', 'download', '--no-deps', '--no-cache-dir',
                            '--timeout', '10', '--retries', '1', '-d', str(root / 'probe'),
                            PROBE_WHEEL], env=env, capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        _index_unreachable(f'package index unreachable (pip download {PROBE_WHEEL} failed: '
                           f'{probe.stdout[-300:]}{probe.stderr[-300:]})')
    pytest.fail(f'pip install -r {REQUIREMENTS.name} failed:\n{log[-3000:]}')


def _export_onnx(root: Path) -> Path:
    """Export a tiny untrained generator to ONNX, as sorghum-depth-export does."""
    checkpoint = make_tiny_checkpoint(root / 'tiny.pt', seed=3, baseline_m=BASELINE_M)
    assert export.main([str(checkpoint), str(root / 'model.onnx'), '--format', 'onnx']) == 0
    return root / 'model.onnx'


@pytest.fixture(scope='module')
def robot(tmp_path_factory) -> Robot:
    """Create the robot venv and install requirements-robot.txt; export the model meanwhile."""
    root = tmp_path_factory.mktemp('robot')
    subprocess.run([sys.executable, '-m', 'venv', str(root / 'venv')], check=True,
                   timeout=300)
    python = root / 'venv' / 'bin' / 'python'
    shutil.copytree(ROOT / 'sorghum_depth', root / 'pkg' / 'sorghum_depth',
                    ignore=shutil.ignore_patterns('__pycache__'))
    env = robot_env(root / 'pkg')
    with open(root / 'pip.log', 'w') as log:
        pip = subprocess.Popen([str(python), '-m', 'pip', 'install', '-q',
                                '--disable-pip-version-check', '-r', str(REQUIREMENTS)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            model = _export_onnx(root)          # while pip downloads
            code = pip.wait(timeout=900)
        finally:
            if pip.poll() is None:
                pip.kill()
    if code != 0:
        _install_failed(python, env, root)
    return Robot(python, env, model, root)


def test_the_robot_set_has_no_torch(robot):
    names = {line.split('==')[0].strip().lower() for line in REQUIREMENTS.read_text().splitlines()
             if line.strip() and not line.startswith('#')}
    assert not names & set(FORBIDDEN), 'export / training packages in the robot set'
    listed = robot.run('-m', 'pip', 'list', '--format', 'json', '--disable-pip-version-check')
    installed = {p['name'].lower() for p in json.loads(listed.stdout)}
    assert not installed & set(FORBIDDEN), 'pulled in by a robot requirement'
    run = robot.run('-c', 'import torch')
    assert run.returncode != 0 and "No module named 'torch'" in run.stderr, run.stderr
    # what the node, the replay and the offline inference import, without a model
    run = robot.run('-c', 'import sys; import sorghum_depth.ros_node, sorghum_depth.bag_replay, '
                    'sorghum_depth.infer_bag, sorghum_depth.onnx_backend; '
                    'print(sorted(m for m in sys.modules if "torch" in m or "training" in m))')
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == '[]', run.stdout


def _camera_info() -> CameraInfo:
    info = CameraInfo(width=WIDTH, height=HEIGHT, distortion_model='plumb_bob')
    info.k = [FX_PX, 0.0, 79.5, 0.0, FX_PX, 47.5, 0.0, 0.0, 1.0]
    info.p = [FX_PX, 0.0, 79.5, 0.0, 0.0, FX_PX, 47.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def _libraries(pid: int) -> set[str]:
    """Return the files mapped into process ``pid`` (shared libraries and extensions)."""
    maps = Path(f'/proc/{pid}/maps')
    if not maps.exists():
        return set()
    return {line.split()[-1] for line in maps.read_text().splitlines() if '/' in line}


@pytest.fixture(scope='module')
def node(robot):
    """Start ``python -m sorghum_depth.depth_node`` in the robot venv on the ONNX model."""
    work = robot.root / 'node'
    work.mkdir()
    params = {'model_path': str(robot.model), 'device': 'cpu', 'cpu_threads': 1}
    (work / 'params.yaml').write_text(yaml.safe_dump({'/**': {'ros__parameters': params}}))
    ros = private_ros_env(DOMAIN)
    env = {**robot.env, **{k: ros[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')}}
    with open(work / 'node.log', 'w') as log:
        proc = subprocess.Popen([str(robot.python), '-m', 'sorghum_depth.depth_node',
                                 '--ros-args', '--params-file', str(work / 'params.yaml')],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    probe = Probe(DOMAIN)
    probe.info = _camera_info()
    yield proc, probe, work
    probe.close()
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=20)


def test_the_node_runs_an_onnx_model_over_dds(robot, node):
    proc, probe, work = node
    log = work / 'node.log'
    probe.spin_until(lambda: proc.poll() is not None
                     or probe.pub_image.get_subscription_count() > 0, 60.0)
    assert proc.poll() is None, f'the node exited: {log.read_text()}'
    assert probe.pub_image.get_subscription_count() > 0, log.read_text()
    rgb = synthetic.render_pair(3, 0, WIDTH, HEIGHT).left
    # a camera streams: its camera_info can reach the node just after the first image
    assert probe.send_until_answered(image_msg(rgb, 'rgb8', stamp_ns=999), 60.0), \
        log.read_text()
    msg = image_msg(rgb, 'rgb8', stamp_ns=7_000_000_321, frame_id='left_cam')
    assert probe.send_until_answered(msg, 60.0), log.read_text()
    libraries = _libraries(proc.pid)
    disparity, depth = probe.disparity[7_000_000_321], probe.depth[7_000_000_321]
    info = probe.depth_info[7_000_000_321]
    for out in (disparity, disparity.image, depth, info):
        assert (out.header.stamp.sec, out.header.stamp.nanosec) == (7, 321)
        assert out.header.frame_id == 'left_cam'
    assert depth.encoding == '32FC1' and (depth.width, depth.height) == (WIDTH, HEIGHT)
    assert disparity.f == pytest.approx(FX_PX) and disparity.t == pytest.approx(BASELINE_M)
    d = np.frombuffer(bytes(disparity.image.data), '<f4').reshape(HEIGHT, WIDTH)
    z = np.frombuffer(bytes(depth.data), '<f4').reshape(HEIGHT, WIDTH)
    valid = d >= disparity.min_disparity
    assert valid.mean() > 0.9 and np.isfinite(d).all()
    assert d.max() <= disparity.max_disparity + 1e-4
    np.testing.assert_allclose(z[valid], FX_PX * BASELINE_M / d[valid], rtol=1e-4)
    assert np.isnan(z[~valid]).all() and info.p[0] == pytest.approx(FX_PX)
    text = log.read_text()
    assert 'loaded' in text and 'model.onnx' in text, text
    # the node ran on the robot venv's own libraries, and never loaded torch
    assert libraries, 'no /proc maps of the node'
    assert not [p for p in libraries if p.startswith(sys.prefix + os.sep)], 'this venv leaked'
    assert any(p.startswith(str(robot.root)) and 'rcl' in p for p in libraries)
    assert not [p for p in libraries if 'torch' in p]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, log.read_text()


def _write_bag(path: Path, frames: int) -> list[int]:
    """Write ``frames`` synthetic rgb8 images to a rosbag2 MCAP; return their stamps, ns."""
    image = TYPESTORE.types['sensor_msgs/msg/Image']
    header = TYPESTORE.types['std_msgs/msg/Header']
    stamp = TYPESTORE.types['builtin_interfaces/msg/Time']
    stamps = [(20 + i) * 10 ** 9 + 5 for i in range(frames)]
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection('/cam/image', 'sensor_msgs/msg/Image', typestore=TYPESTORE)
        for i, t_ns in enumerate(stamps):
            rgb = synthetic.render_pair(3, i, WIDTH, HEIGHT).left
            msg = image(header=header(stamp=stamp(*divmod(t_ns, 10 ** 9)), frame_id='cam'),
                        height=HEIGHT, width=WIDTH, encoding='rgb8', is_bigendian=0,
                        step=3 * WIDTH, data=rgb.ravel())
            writer.write(conn, t_ns, TYPESTORE.serialize_cdr(msg, conn.msgtype))
    return stamps


def test_offline_bag_inference_runs_in_the_robot_set(robot):
    bag_in, bag_out = robot.root / 'bag_in', robot.root / 'bag_out'
    stamps = _write_bag(bag_in, 2)
    run = robot.run('-m', 'sorghum_depth.infer_bag', str(bag_in), str(bag_out), '--model',
                    str(robot.model), '--device', 'cpu', '--threads', '1', '--no-progress')
    assert run.returncode == 0, run.stdout + run.stderr
    found = {}
    with AnyReader([bag_out]) as reader:
        for conn, t_ns, raw in reader.messages():
            found.setdefault(conn.topic, []).append(t_ns)
    assert found['/cam/depth_net/disparity'] == found['/cam/depth_net/depth'] == stamps


def test_a_torchscript_model_without_torch_is_an_error_not_a_traceback(robot, tmp_path):
    model = ROOT / 'models' / 'sorghum_synth_small.ts'
    env = {**robot.env, 'ROS_DOMAIN_ID': str(DOMAIN), 'ROS_AUTOMATIC_DISCOVERY_RANGE':
           'LOCALHOST'}
    node = subprocess.run([str(robot.python), '-m', 'sorghum_depth.depth_node', '--ros-args',
                           '-p', f'model_path:={model}'], env=env, capture_output=True,
                          text=True, timeout=120)
    _write_bag(tmp_path / 'in', 1)
    bag = robot.run('-m', 'sorghum_depth.infer_bag', str(tmp_path / 'in'),
                    str(tmp_path / 'out'), '--model', str(model))
    for run in (node, bag):
        text = run.stdout + run.stderr
        assert run.returncode == 2 and 'Traceback' not in text, text
        assert 'error:' in text and 'needs torch, which is not installed' in text, text
