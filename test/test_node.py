# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""depth_node as a real process over DDS: the output contract, encodings, bad input."""

import math
import os
import subprocess
import time

import cv2
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_harness import image_msg, Probe, start_node
from sensor_msgs.msg import CameraInfo, Image
from sorghum_depth.node_process import node_executable, private_ros_env
from std_msgs.msg import Float32
from tiny_model import make_tiny_model

FX_PX, WIDTH, HEIGHT = 90.0, 160, 96
DOMAIN = 40 + os.getpid() % 150


def _frame(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope='module')
def running(tmp_path_factory):
    work = tmp_path_factory.mktemp('node')
    model = make_tiny_model(work / 'model.ts', baseline_m=0.11)
    proc = start_node({'model_path': str(model), 'device': 'cpu', 'right_check': True,
                       'diagnostics_period_s': 0.5}, work, DOMAIN)
    probe = Probe(DOMAIN)
    probe.info = CameraInfo(width=WIDTH, height=HEIGHT)
    probe.info.k[0], probe.info.k[4] = FX_PX, FX_PX
    ready = probe.spin_until(lambda: probe.pub_image.get_subscription_count() > 0, 60.0)
    # a camera streams: the node uses the newest camera_info, which can reach it just
    # after the very first image; later frames always find one
    ready = ready and probe.send_until_answered(image_msg(_frame(9), 'rgb8', stamp_ns=999))
    yield proc, probe, work, ready
    probe.close()
    proc.terminate()
    proc.wait(timeout=20)


def _log(work) -> str:
    return (work / 'node.log').read_text()


def _answer(probe, msg):
    assert probe.send_until_answered(msg), 'no output for the frame'
    stamp = msg.header.stamp.sec * 10 ** 9 + msg.header.stamp.nanosec
    return probe.disparity[stamp], probe.depth[stamp], probe.depth_info[stamp]


def test_output_contract(running):
    proc, probe, work, ready = running
    assert ready, _log(work)
    msg = image_msg(_frame(0), 'rgb8', stamp_ns=1_000_000_123, frame_id='left_cam')
    disparity, depth, info = _answer(probe, msg)
    for out in (disparity, depth, info, disparity.image):
        assert out.header.frame_id == 'left_cam'
        assert (out.header.stamp.sec, out.header.stamp.nanosec) == (1, 123)
    assert depth.encoding == '32FC1' and depth.step == 4 * WIDTH
    assert (depth.width, depth.height) == (WIDTH, HEIGHT) == (info.width, info.height)
    assert disparity.f == pytest.approx(FX_PX) and disparity.t == pytest.approx(0.11)
    d = np.frombuffer(bytes(disparity.image.data), '<f4').reshape(HEIGHT, WIDTH)
    z = np.frombuffer(bytes(depth.data), '<f4').reshape(HEIGHT, WIDTH)
    valid = d >= disparity.min_disparity
    assert valid.mean() > 0.9
    np.testing.assert_allclose(z[valid], FX_PX * 0.11 / d[valid], rtol=1e-4)
    assert np.isnan(z[~valid]).all()
    assert disparity.min_disparity == pytest.approx(FX_PX * 0.11 / 40.0, rel=1e-5)
    assert disparity.max_disparity == pytest.approx(min(FX_PX * 0.11 / 0.3, 0.3 * WIDTH))
    assert disparity.valid_window.width == WIDTH and disparity.delta_d > 0
    assert info.k[0] == pytest.approx(FX_PX)


def _set(probe, name: str, value) -> bool:
    client = probe.node.create_client(SetParameters, '/depth_node/set_parameters')
    assert client.wait_for_service(timeout_sec=10)
    kind = ParameterType.PARAMETER_DOUBLE if isinstance(value, float) else \
        ParameterType.PARAMETER_STRING
    pv = ParameterValue(type=kind, double_value=value if kind == 3 else 0.0,
                        string_value=value if kind == 4 else '')
    future = client.call_async(SetParameters.Request(parameters=[Parameter(name=name,
                                                                           value=pv)]))
    assert probe.spin_until(future.done, 10)
    probe.node.destroy_client(client)
    return future.result().results[0].successful


def test_depth_limits_and_encoding_change_at_runtime(running):
    proc, probe, work, ready = running
    _, depth, _ = _answer(probe, image_msg(_frame(1), 'rgb8', stamp_ns=2 * 10 ** 9))
    z = np.frombuffer(bytes(depth.data), '<f4')
    median = float(np.nanmedian(z))
    assert _set(probe, 'max_depth_m', median)
    assert not _set(probe, 'min_depth_m', median + 1.0), 'min above max must be refused'
    disparity, depth, _ = _answer(probe, image_msg(_frame(1), 'rgb8', stamp_ns=3 * 10 ** 9))
    z = np.frombuffer(bytes(depth.data), '<f4')
    assert 0.2 < np.isnan(z).mean() < 0.8 and np.nanmax(z) <= median * (1 + 1e-5)
    assert disparity.min_disparity == pytest.approx(FX_PX * 0.11 / median, rel=1e-5)
    assert _set(probe, 'depth_encoding', '16UC1')
    _, depth16, _ = _answer(probe, image_msg(_frame(1), 'rgb8', stamp_ns=4 * 10 ** 9))
    mm = np.frombuffer(bytes(depth16.data), '<u2')
    assert depth16.encoding == '16UC1' and depth16.step == 2 * WIDTH
    np.testing.assert_allclose(mm[~np.isnan(z)], np.rint(z[~np.isnan(z)] * 1000), atol=1)
    assert (mm[np.isnan(z)] == 0).all()
    assert _set(probe, 'depth_encoding', '32FC1') and _set(probe, 'max_depth_m', 40.0)


@pytest.mark.parametrize('encoding', ['mono8', 'bgr8', 'bgra8', 'mono16', 'bayer_rggb8'])
def test_common_encodings(running, encoding):
    proc, probe, work, ready = running
    rgb = _frame(2)
    array = {'mono8': rgb[:, :, 0], 'bgr8': rgb[:, :, ::-1].copy(),
             'bgra8': cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA),
             'mono16': rgb[:, :, 0].astype(np.uint16) * 257,
             'bayer_rggb8': rgb[:, :, 1].copy()}[encoding]
    stamp = 10 ** 10 + len(encoding)
    _, depth, _ = _answer(probe, image_msg(array, encoding, stamp_ns=stamp))
    assert (depth.width, depth.height) == (WIDTH, HEIGHT)


def _bad_messages():
    good = image_msg(_frame(3), 'rgb8', stamp_ns=1)
    wrong_step = image_msg(_frame(3), 'rgb8', stamp_ns=1)
    wrong_step.step = 10
    truncated = image_msg(_frame(3), 'rgb8', stamp_ns=1)
    truncated.data = bytes(good.data)[:100]
    zero = image_msg(np.zeros((1, 1, 3), np.uint8), 'rgb8', stamp_ns=1)
    zero.height = zero.width = 0
    zero.data = b''
    unknown = image_msg(_frame(3), 'rgb8', stamp_ns=1)
    unknown.encoding = 'weird42'
    not_cdr = b'\x00\x01\x00\x00' + b'\xff' * 8          # published raw: 12 garbage bytes
    return {'wrong step': wrong_step, 'truncated': truncated, 'zero size': zero,
            'unknown encoding': unknown, 'not CDR': not_cdr}


def test_bad_input_is_logged_and_the_next_frame_is_processed(running):
    proc, probe, work, ready = running
    expected = {'wrong step': 'step 10 is smaller', 'truncated': 'data has 100 bytes',
                'zero size': 'zero size', 'unknown encoding': "'weird42'",
                'not CDR': 'not a valid sensor_msgs/msg/Image message (12 bytes)'}
    for name, msg in _bad_messages().items():
        logged = False
        for _ in range(20):     # best effort: re-send until the node has seen it
            probe.pub_image.publish(msg)
            probe.spin_until(lambda: False, 0.3)
            if expected[name] in _log(work):
                logged = True
                break
        assert logged, f'{name} was not reported'
    good_info, probe.info = probe.info, CameraInfo(width=WIDTH, height=HEIGHT)   # fx = 0
    probe.pub_info.publish(probe.info)
    probe.spin_until(lambda: False, 0.5)
    try:
        disparity, _, _ = _answer(probe, image_msg(_frame(4), 'rgb8', stamp_ns=5 * 10 ** 9))
    finally:
        probe.info = good_info
    assert proc.poll() is None, 'the node died'
    assert 'fx <= 0' in _log(work)
    assert disparity.f == pytest.approx(0.6 * WIDTH), 'fx = 0 falls back to the model rig'


def test_right_image_self_check_and_diagnostics(running):
    proc, probe, work, ready = running
    errors, diagnostics = [], []
    probe.node.create_subscription(Float32, 'photometric_error',
                                   lambda m: errors.append(m.data), 10)
    probe.node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
    pub_right = probe.node.create_publisher(Image, 'right/image', 10)
    left = image_msg(_frame(6), 'rgb8', stamp_ns=7 * 10 ** 9)
    right = image_msg(_frame(6), 'rgb8', stamp_ns=7 * 10 ** 9)
    for _ in range(40):
        pub_right.publish(right)
        probe.pub_image.publish(left)
        if probe.spin_until(lambda: errors and diagnostics, 0.5):
            break
    assert errors and 0.0 <= errors[-1] <= 1.0
    status = diagnostics[-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert status.name.endswith('depth_node: depth') and values['device'] == 'cpu'
    assert int(values['processed']) > 0 and float(values['rate_hz']) >= 0.0
    assert {'dropped', 'latency_p50_ms', 'forward_p95_ms', 'bad_input'} <= set(values)


@pytest.mark.parametrize('content,words', [(None, 'model file not found'),
                                           (b'not a model', 'not a loadable TorchScript')])
def test_missing_or_corrupt_model_exits_non_zero(tmp_path, content, words):
    model = tmp_path / 'model.ts'
    if content is not None:
        model.write_bytes(content)
    params = tmp_path / 'params.yaml'
    params.write_text(f"/**:\n  ros__parameters:\n    model_path: '{model}'\n")
    start = time.monotonic()
    done = subprocess.run([node_executable(), '--ros-args', '--params-file', str(params)],
                          env=private_ros_env(DOMAIN + 1), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and words in done.stdout + done.stderr
    assert math.isfinite(time.monotonic() - start)
