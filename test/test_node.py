# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""depth_node as a real process over DDS: the output contract, encodings, bad input."""

import subprocess
import time

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_harness import image_msg, private_domain, Probe, start_node
from sensor_msgs.msg import CameraInfo, Image
from sorghum_depth.node_process import node_executable, private_ros_env
from sorghum_depth.selfcheck import photometric_error
from std_msgs.msg import Float32
from tiny_model import make_tiny_model

FX_PX, WIDTH, HEIGHT = 90.0, 160, 96       # FX_PX: the rectified P[0]; K[0] is 5 % more
K_FX_PX = 1.05 * FX_PX
MODEL_FX_PX = 0.6 * WIDTH                  # the tiny model's fx / W times the width
DOMAIN = private_domain(0)


def _camera_info(k_fx: float, p_fx: float) -> CameraInfo:
    info = CameraInfo(width=WIDTH, height=HEIGHT, distortion_model='plumb_bob')
    info.k = [k_fx, 0.0, 79.5, 0.0, k_fx, 47.5, 0.0, 0.0, 1.0]
    info.p = [p_fx, 0.0, 79.0, 0.0, 0.0, p_fx, 47.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


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
    probe.info = _camera_info(K_FX_PX, FX_PX)
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
    assert info.p[0] == pytest.approx(FX_PX) and info.k[0] == pytest.approx(K_FX_PX)


BAD_FX = [float('nan'), float('inf'), 0.0, -90.0, 1e-9, 1e12, 2e12, 3e12, -1.0, -2.0]


def test_bad_camera_info_falls_back_and_says_so_throttled(running):
    proc, probe, work, ready = running
    good_info, before = probe.info, _log(work).count('need a finite fx')
    start = time.monotonic()
    try:
        for k, bad in enumerate(BAD_FX):
            probe.info = _camera_info(bad, bad)
            disparity, depth, info = _answer(
                probe, image_msg(_frame(5), 'rgb8', stamp_ns=20 * 10 ** 9 + k))
            assert disparity.f == pytest.approx(MODEL_FX_PX), f'{bad}: the model rig'
            assert info.k[0] == info.p[0] == pytest.approx(MODEL_FX_PX), 'K not sent on'
            assert np.isfinite(info.k).all() and np.isfinite(info.p).all()
            z = np.frombuffer(bytes(depth.data), '<f4')
            assert np.isfinite(z).mean() > 0.5, 'depth must not be blanked'
    finally:
        probe.info = good_info
    warned = _log(work).count('need a finite fx') - before
    assert 'camera_info P[0] is nan and K[0] is nan' in _log(work)
    most = 1 + int((time.monotonic() - start) / 5.0)       # one per 5 s
    assert 1 <= warned <= most < len(BAD_FX), f'{warned} warnings for {len(BAD_FX)} frames'


def test_an_empty_p_falls_back_to_k(running):
    proc, probe, work, ready = running
    good_info, probe.info = probe.info, _camera_info(K_FX_PX, 0.0)
    probe.info.p = [0.0] * 12
    try:
        disparity, _, info = _answer(probe, image_msg(_frame(5), 'rgb8', stamp_ns=21 * 10 ** 9))
    finally:
        probe.info = good_info
    assert disparity.f == pytest.approx(K_FX_PX) and info.p[0] == pytest.approx(K_FX_PX)
    assert 'P is empty; using K[0]' in _log(work)


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
    good_info, probe.info = probe.info, CameraInfo(width=WIDTH, height=HEIGHT)   # all zero
    try:
        disparity, _, _ = _answer(probe, image_msg(_frame(4), 'rgb8', stamp_ns=5 * 10 ** 9))
    finally:
        probe.info = good_info
    assert proc.poll() is None, 'the node died'
    assert 'camera_info P is empty and K[0] is 0' in _log(work)
    assert disparity.f == pytest.approx(MODEL_FX_PX), 'fx = 0 falls back to the model rig'


def test_right_image_self_check_and_diagnostics(running):
    proc, probe, work, ready = running
    errors, diagnostics = {}, []
    probe.node.create_subscription(Float32, 'photometric_error',
                                   lambda m: errors.setdefault(len(errors), m.data), 10)
    probe.node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
    pub_right = probe.node.create_publisher(Image, 'right/image', 10)
    stamp = 7 * 10 ** 9
    left_rgb, right_rgb = _frame(6), np.roll(_frame(6), -3, axis=1)
    left = image_msg(left_rgb, 'rgb8', stamp_ns=stamp)
    for _ in range(40):
        pub_right.publish(image_msg(right_rgb, 'rgb8', stamp_ns=stamp))
        probe.pub_image.publish(left)
        if probe.spin_until(lambda: errors and diagnostics and stamp in probe.disparity, 0.5):
            break
    disparity = probe.disparity[stamp]
    d = np.frombuffer(bytes(disparity.image.data), '<f4').reshape(HEIGHT, WIDTH)
    # the oracle: the same error computed here from the published disparity
    assert errors[0] == pytest.approx(photometric_error(left_rgb, right_rgb, d), rel=1e-5)
    assert errors[0] != pytest.approx(photometric_error(left_rgb, left_rgb, d), rel=1e-3)
    status = diagnostics[-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert status.name.endswith('depth_node: depth') and values['device'] == 'cpu'
    assert int(values['processed']) > 1 and float(values['rate_hz']) > 0.0
    assert {'dropped', 'latency_p50_ms', 'forward_p95_ms', 'bad_input'} <= set(values)
    # the node's own work, by stage (benchmarks/bench_node.py reads them)
    stages = ('own_work', 'queue', 'decode', 'geometry', 'encode', 'publish')
    assert all(float(values[f'{s}_p50_ms']) >= 0.0 for s in stages), values


def test_a_right_image_of_another_size_is_warned_about(running):
    proc, probe, work, ready = running
    errors = []
    probe.node.create_subscription(Float32, 'photometric_error', errors.append, 10)
    pub_right = probe.node.create_publisher(Image, 'right/image', 10)
    probe.spin_until(lambda: False, 1.0)    # errors of the frames of the test before
    errors.clear()
    stamp = 8 * 10 ** 9
    right = image_msg(_frame(6)[:HEIGHT // 2, :WIDTH // 2].copy(), 'rgb8', stamp_ns=stamp)
    for _ in range(20):
        pub_right.publish(right)
        probe.pub_image.publish(image_msg(_frame(6), 'rgb8', stamp_ns=stamp))
        if probe.spin_until(lambda: 'right image is 80x48' in _log(work), 0.5):
            break
    assert f'right image is 80x48, the left {WIDTH}x{HEIGHT}' in _log(work)
    assert not errors, 'no photometric error for a pair of two sizes'


def _statuses(probe, predicate, timeout_s: float, publish=None):
    """Collect /diagnostics until ``predicate(status)``; ``publish()`` runs every 0.1 s."""
    found, seen = [], []

    def keep(msg):
        seen.extend((s.level, s.message) for s in msg.status)
        found.extend(s for s in msg.status if predicate(s))
    sub = probe.node.create_subscription(DiagnosticArray, '/diagnostics', keep, 10)
    end = time.monotonic() + timeout_s
    while not found and time.monotonic() < end:
        if publish is not None:
            publish()
        probe.spin_until(lambda: bool(found), 0.1)
    probe.node.destroy_subscription(sub)
    return found or seen[-8:]


def test_diagnostics_error_when_every_frame_fails_warn_when_all_invalid(running):
    proc, probe, work, ready = running
    bad = image_msg(_frame(3), 'rgb8', stamp_ns=1)
    bad.step = 10

    def error(status):
        return status.level == DiagnosticStatus.ERROR and 'every frame failed' in status.message
    statuses = _statuses(probe, error, 15.0, lambda: probe.pub_image.publish(bad))
    assert statuses and isinstance(statuses[0], DiagnosticStatus), statuses
    assert _set(probe, 'min_depth_m', 0.01) and _set(probe, 'max_depth_m', 0.02)
    good = image_msg(_frame(4), 'rgb8', stamp_ns=30 * 10 ** 9)

    def empty(status):
        return status.level == DiagnosticStatus.WARN and 'all invalid' in status.message
    try:
        statuses = _statuses(probe, empty, 15.0, lambda: probe.pub_image.publish(good))
        assert statuses and isinstance(statuses[0], DiagnosticStatus), statuses
    finally:
        assert _set(probe, 'max_depth_m', 40.0) and _set(probe, 'min_depth_m', 0.3)


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
                          env=private_ros_env(private_domain(1)), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith('error: '), done.stderr
    assert words in done.stderr and 'Traceback' not in done.stdout + done.stderr
    assert time.monotonic() - start < 60, 'refused at load, before any warm-up'


def test_domain_ids_stay_in_the_valid_range():
    assert all(1 <= private_domain(slot) <= 100 for slot in range(10))
    with pytest.raises(ValueError):
        private_domain(10)


def test_two_xdist_workers_never_share_a_domain(monkeypatch):
    domains = []
    for worker in ('gw0', 'gw1'):
        monkeypatch.setenv('PYTEST_XDIST_WORKER', worker)
        domains.append({private_domain(slot) for slot in range(10)})
    assert not domains[0] & domains[1]
    assert all(1 <= d <= 100 for d in domains[0] | domains[1])
