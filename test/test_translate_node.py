# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Translation models on the robot side: the node's ``translated`` topic and infer-bag's.

The node runs as a real process over DDS (``ros_harness``); the models are tiny and
untrained (a depth generator and a 4-channel U-Net translator, exported with the real
code), so outputs are arbitrary but deterministic.
"""

import subprocess

import cv2
import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import image_msg, private_domain, Probe, start_node
from sensor_msgs.msg import Image
from sorghum_depth import infer_bag
from sorghum_depth.node_process import node_executable, private_ros_env
from sorghum_depth.translation import load_translation_model
from test_infer_bag import read_bag, stamp, write_image_bag
from tiny_model import make_tiny_model
from tiny_translation import make_translation_model

WIDTH, HEIGHT = 160, 96
DOMAIN = private_domain(2)


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    """Export a tiny depth model.ts, a mask translator (.onnx), a grey-to-colour one (.ts)."""
    root = tmp_path_factory.mktemp('models')
    return (make_tiny_model(root / 'depth.ts'),
            make_translation_model(root / 'mask.onnx', out_channels=1),
            make_translation_model(root / 'colour.ts', out_channels=3, source='grey2colour'))


def _frame(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)


def _pixels(msg) -> np.ndarray:
    """Return a mono8 (H, W) or rgb8 (H, W, 3) Image message's pixels."""
    channels = {'mono8': 1, 'rgb8': 3}[msg.encoding]
    assert msg.step == msg.width * channels
    data = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, channels)
    return data[:, :, 0] if channels == 1 else data


def test_node_publishes_translated_with_the_input_header(tmp_path, models):
    depth, mask, _ = models
    proc = start_node({'model_path': str(depth), 'translation_model_path': str(mask),
                       'device': 'cpu', 'cpu_threads': 1}, tmp_path, DOMAIN)
    probe = Probe(DOMAIN)
    translated = {}
    try:
        probe.node.create_subscription(
            Image, 'translated', lambda m: translated.setdefault(
                m.header.stamp.sec * 10 ** 9 + m.header.stamp.nanosec, m),
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        rgb = _frame(3)
        msg = image_msg(rgb, 'rgb8', stamp_ns=1_234_000_000_567, frame_id='left_cam')
        ready = probe.spin_until(lambda: probe.pub_image.get_subscription_count() > 0, 60.0)
        for _ in range(60):         # resend until the node's publisher found the probe
            if not ready or 1_234_000_000_567 in translated:
                break
            probe.pub_image.publish(msg)
            probe.spin_until(lambda: 1_234_000_000_567 in translated, 0.5)
        log = (tmp_path / 'node.log').read_text()
        assert 1_234_000_000_567 in translated, log
        assert 'translation model' in log and 'mono8' in log, log
        out = translated[1_234_000_000_567]
        assert (out.header.stamp.sec, out.header.stamp.nanosec) == (1234, 567)
        assert out.header.frame_id == 'left_cam' and out.encoding == 'mono8'
        assert (out.width, out.height) == (WIDTH, HEIGHT)
        got = _pixels(out)
        assert set(np.unique(got)) <= {0, 255}
        want = load_translation_model(mask, device='cpu').translate(rgb)
        assert np.mean(got != want) < 0.01, 'the node translates as the loader does'
    finally:
        probe.close()
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize('swap', [False, True])
def test_node_refuses_a_model_given_in_the_wrong_place(tmp_path, models, swap):
    depth, mask, _ = models
    model, translation = (mask, depth) if swap else (depth, depth)
    params = {'model_path': str(model), 'translation_model_path': str(translation)}
    params_file = tmp_path / 'params.yaml'
    params_file.write_text('/**:\n  ros__parameters:\n' +
                           ''.join(f"    {k}: '{v}'\n" for k, v in params.items()))
    done = subprocess.run([node_executable(), '--ros-args', '--params-file', str(params_file)],
                          env=private_ros_env(private_domain(3)), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith('error: '), done.stderr
    words = 'not a depth model' if swap else 'not a translation model'
    assert words in done.stderr and 'Traceback' not in done.stdout + done.stderr


def test_infer_bag_writes_translated_beside_depth(tmp_path, models, capsys):
    depth, _, colour = models
    bag = write_image_bag(tmp_path / 'in')
    assert infer_bag.main([str(bag), str(tmp_path / 'out'), '--model', str(depth),
                           '--translation-model', str(colour), '--device', 'cpu',
                           '--no-progress']) == 0
    text = capsys.readouterr().out
    assert '12 added on /cam/depth_net/{disparity,depth,depth/camera_info,translated}' in text
    out = read_bag(tmp_path / 'out')
    images, translated = out['/cam/image'], out['/cam/depth_net/translated']
    assert len(translated) == len(out['/cam/depth_net/depth']) == len(images) == 3
    model = load_translation_model(colour, device='cpu')
    for (t_img, _, _, img), (t_ns, msgtype, _, msg) in zip(images, translated):
        assert t_ns == t_img and msgtype == 'sensor_msgs/msg/Image'
        assert stamp(msg) == stamp(img) and msg.header.frame_id == img.header.frame_id
        assert msg.encoding == 'rgb8' and (msg.width, msg.height) == (img.width, img.height)
        rgb = np.frombuffer(bytes(img.data), np.uint8).reshape(img.height, img.width, 3)
        diff = np.abs(_pixels(msg).astype(int) - model.translate(rgb).astype(int))
        assert diff.max() <= 1


@pytest.mark.parametrize('swap', [False, True])
def test_infer_bag_refuses_a_model_given_in_the_wrong_place(tmp_path, models, capsys, swap):
    depth, mask, _ = models
    bag = write_image_bag(tmp_path / 'in')
    model, translation = (mask, depth) if swap else (depth, depth)
    assert infer_bag.main([str(bag), str(tmp_path / 'out'), '--model', str(model),
                           '--translation-model', str(translation), '--device', 'cpu']) == 2
    err = capsys.readouterr().err
    words = 'not a depth model' if swap else 'not a translation model'
    assert err.startswith('error: ') and words in err, err
    assert not (tmp_path / 'out').exists()
