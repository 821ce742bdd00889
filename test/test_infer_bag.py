# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
sorghum-depth-infer-bag on real bags: EuRoC, synthetic MCAP, ROS 1 + PNG, bad inputs.

The model is a tiny untrained generator exported as the real TorchScript format; its
outputs are arbitrary but deterministic, which is all the bag contract needs.
"""

import subprocess
import sys

from conftest import shared_data
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores
from sorghum_depth import infer_bag
from sorghum_depth.image_codec import image_to_rgb8
from sorghum_depth.inference import load_model
from sorghum_depth_training.data import synthetic
from sorghum_depth_training.data.bag_io import camera_info, StereoBagWriter
from tiny_model import make_tiny_model

BASELINE_M = 0.11
FX_OVER_WIDTH = 0.6
NEW = ('disparity', 'depth', 'depth/camera_info')
EUROC_LEFT = '/stereo/left/image_raw'
EUROC_P_FX = 436.24429565      # the left camera_info's rectified P[0]; K[0] is 458.654


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    """Export a tiny untrained generator the way sorghum-depth-export does."""
    return make_tiny_model(tmp_path_factory.mktemp('model') / 'model.ts', 128, 256,
                           BASELINE_M, FX_OVER_WIDTH)


@pytest.fixture(scope='module')
def synth_bag(tmp_path_factory):
    """Render three synthetic sorghum-row frames as a rosbag2 MCAP (synthetic --bag)."""
    root = tmp_path_factory.mktemp('synth')
    assert synthetic.main([str(root / 'ds'), '--count', '3', '--width', '256', '--height',
                           '128', '--bag', str(root / 'bag')]) == 0
    return root / 'bag'


def read_bag(path):
    """Return {topic: [(bag time ns, msgtype, raw bytes, message)]} of a bag."""
    out = {}
    with AnyReader([path]) as reader:
        for conn, t_ns, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            out.setdefault(conn.topic, []).append((t_ns, conn.msgtype, bytes(raw), msg))
    return out


def stamp(msg):
    """Header stamp of ``msg`` as (sec, nanosec)."""
    return msg.header.stamp.sec, msg.header.stamp.nanosec


def check_outputs(out, image_topic, prefix, encoding='32FC1'):
    """Check the contract of every new message; return the DisparityImage messages."""
    images = out[image_topic]
    assert [len(out[f'{prefix}/{n}']) for n in NEW] == [len(images)] * 3
    for k, (t_img, _, _, img) in enumerate(images):
        disp_msg, depth_msg, info_msg = (out[f'{prefix}/{n}'][k] for n in NEW)
        for t_ns, _, _, msg in (disp_msg, depth_msg, info_msg):
            assert t_ns == t_img and stamp(msg) == stamp(img)
            assert msg.header.frame_id == img.header.frame_id
        disp, depth, info = disp_msg[3], depth_msg[3], info_msg[3]
        assert (depth.width, depth.height, depth.encoding) == (img.width, img.height, encoding)
        assert (info.width, info.height) == (img.width, img.height)
        assert disp.image.encoding == '32FC1' and disp.t == pytest.approx(BASELINE_M)
        d = np.frombuffer(disp.image.data, '<f4').reshape(img.height, img.width)
        valid = d >= disp.min_disparity
        assert 0 < valid.sum() < valid.size, 'both valid and invalid pixels expected'
        assert d.max() <= disp.max_disparity + 1e-4
        want = disp.f * disp.t / d[valid]
        if encoding == '32FC1':
            z = np.frombuffer(depth.data, '<f4').reshape(d.shape)
            np.testing.assert_allclose(z[valid], want, rtol=1e-4)
            assert np.isnan(z[~valid]).all()
        else:
            z_mm = np.frombuffer(depth.data, '<u2').reshape(d.shape).astype(float)
            np.testing.assert_allclose(z_mm[valid], np.rint(want * 1000), atol=1)
            assert (z_mm[~valid] == 0).all()
    return [m[3] for m in out[f'{prefix}/disparity']]


def depth_limits(model_path, rgb, fx_px):
    """Return (--min-depth, --max-depth) that leave about half the pixels valid."""
    disp = load_model(model_path, 'cpu').predict_disparity(rgb)
    z = fx_px * BASELINE_M / disp
    return float(np.percentile(z, 2)) * 0.99, float(np.median(z))


@pytest.fixture(scope='module')
def euroc(tmp_path_factory, model_path):
    """Infer 5 frames of the real EuRoC bag; return (input bag, output bag, stdout)."""
    bag = shared_data('euroc_v101_stereo_bag')
    with AnyReader([bag]) as reader:
        conn = next(c for c in reader.connections if c.topic == EUROC_LEFT)
        raw = next(reader.messages(connections=[conn]))[2]
        rgb = image_to_rgb8(reader.deserialize(raw, conn.msgtype))
    lo, hi = depth_limits(model_path, rgb, EUROC_P_FX)
    out = tmp_path_factory.mktemp('euroc') / 'out'
    done = subprocess.run(
        [sys.executable, '-m', 'sorghum_depth.infer_bag', str(bag), str(out),
         '--model', str(model_path), '--device', 'cpu', '--max-frames', '5', '--threads', '1',
         '--min-depth', str(lo), '--max-depth', str(hi)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return bag, out, done.stdout


def test_euroc_clip_keeps_every_topic_and_adds_depth(euroc):
    bag, out_path, stdout = euroc
    print(stdout)
    assert f'image topic {EUROC_LEFT}' in stdout and 'frames/s' in stdout
    src, out = read_bag(bag), read_bag(out_path)
    cutoff = src[EUROC_LEFT][4][0]        # --max-frames 5: the clip ends at the 5th image
    assert len(src[EUROC_LEFT]) == 95 and cutoff < src[EUROC_LEFT][5][0]
    prefix = '/stereo/left/depth_net'
    assert set(out) == set(src) | {f'{prefix}/{n}' for n in NEW}
    for topic, msgs in src.items():
        kept = [m[:3] for m in msgs if m[0] <= cutoff]
        assert [m[:3] for m in out[topic]] == kept, topic
    assert len(out[EUROC_LEFT]) == 5
    left_info = src['/stereo/left/camera_info'][0][3]
    assert abs(left_info.p[0] / left_info.k[0] - 1) > 0.04, 'EuRoC: rectified P != K'
    for disp in check_outputs(out, EUROC_LEFT, prefix):
        assert disp.f == pytest.approx(left_info.p[0]), 'rectified images: fx is P[0]'
    depth_info = out[f'{prefix}/depth/camera_info'][0][3]
    np.testing.assert_array_equal(depth_info.p, left_info.p)
    np.testing.assert_array_equal(depth_info.k, left_info.k)
    np.testing.assert_array_equal(depth_info.d, left_info.d)
    assert 'camera_info P[0] (' in stdout and 'warning' not in stdout


def test_synthetic_bag_16uc1_and_overwrite(tmp_path, model_path, synth_bag, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'old.txt').write_text('previous run')
    rgb = synthetic.render_pair(0, 0, 256, 128).left
    lo, hi = depth_limits(model_path, rgb, 0.6 * 256)
    args = [str(synth_bag), str(out), '--model', str(model_path), '--device', 'cpu',
            '--depth-encoding', '16UC1', '--min-depth', str(lo), '--max-depth', str(hi),
            '--prefix', 'net', '--no-progress']
    assert infer_bag.main(args) == 2
    assert 'already exists' in capsys.readouterr().err and (out / 'old.txt').exists()
    assert infer_bag.main(args + ['--overwrite']) == 0
    assert 'skipped 0 of 3 frames' in capsys.readouterr().out
    assert not (out / 'old.txt').exists() and (out / 'out.mcap').is_file()
    got = read_bag(out)
    assert {t: len(m) for t, m in got.items()} == {
        '/stereo/left/image_rect': 3, '/stereo/left/camera_info': 3,
        '/stereo/right/image_rect': 3, '/stereo/right/camera_info': 3,
        '/net/disparity': 3, '/net/depth': 3, '/net/depth/camera_info': 3}
    for disp in check_outputs(got, '/stereo/left/image_rect', '/net', '16UC1'):
        assert disp.f == pytest.approx(0.6 * 256)
    assert [p.name for p in tmp_path.iterdir()] == ['out']


def write_image_bag(path, topics=('/cam/image',), bad_index=None):
    """Write 3 rgb8 images per topic (``bad_index`` truncated), no camera_info: model fx."""
    ts = get_typestore(Stores.ROS2_HUMBLE)
    image, header, time = (ts.types[n] for n in ('sensor_msgs/msg/Image',
                                                 'std_msgs/msg/Header',
                                                 'builtin_interfaces/msg/Time'))
    rgb = synthetic.render_pair(1, 0, 128, 64).left
    with Writer(path, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        conns = [writer.add_connection(t, 'sensor_msgs/msg/Image', typestore=ts)
                 for t in topics]
        for i in range(3):
            data = rgb.ravel()[:100] if i == bad_index else rgb.ravel()
            msg = image(header=header(stamp=time(sec=10 + i, nanosec=5), frame_id='cam'),
                        height=64, width=128, encoding='rgb8', is_bigendian=0, step=384,
                        data=data)
            for conn in conns:
                writer.write(conn, (10 + i) * 10**9, ts.serialize_cdr(msg, conn.msgtype))
    return path


def test_bad_frame_is_skipped_and_model_fx_used(tmp_path, model_path, capsys):
    bag = write_image_bag(tmp_path / 'bad_frame', bad_index=1)
    assert infer_bag.main([str(bag), str(tmp_path / 'out'), '--model', str(model_path),
                           '--device', 'cpu', '--min-depth', '0.01', '--max-depth',
                           '1e6']) == 0
    text = capsys.readouterr().out
    assert 'skipped 1 of 3 frames' in text and 'step x height needs' in text
    assert 'fx from the model metadata' in text
    out = read_bag(tmp_path / 'out')
    assert len(out['/cam/image']) == 3 and len(out['/cam/depth_net/depth']) == 2
    assert [stamp(m[3]) for m in out['/cam/depth_net/depth']] == [(10, 5), (12, 5)]
    for _, _, _, disp in out['/cam/depth_net/disparity']:
        assert disp.f == pytest.approx(FX_OVER_WIDTH * 128) and disp.t == pytest.approx(BASELINE_M)
    info = out['/cam/depth_net/depth/camera_info'][0][3]
    assert info.k[0] == pytest.approx(FX_OVER_WIDTH * 128) and info.k[2] == 63.5


def test_ros1_bag_with_png_images(tmp_path, model_path, capsys):
    rgb = synthetic.render_pair(2, 0, 128, 64).left
    info = camera_info(128, 64, 70.0, 70.0, 63.5, 31.5)
    bag = tmp_path / 'in.bag'
    with StereoBagWriter(bag, 'rosbag1', compress='png') as writer:
        for i in range(2):
            writer.write_pair(rgb, rgb, 10**18 + i * 10**8, (info, info))
    assert infer_bag.main([str(bag), str(tmp_path / 'out'), '--model', str(model_path),
                           '--device', 'cpu', '--min-depth', '0.01', '--max-depth', '1e6',
                           '--no-progress']) == 0
    assert 'image topic /stereo/left/image_raw/compressed' in capsys.readouterr().out
    src, out = read_bag(bag), read_bag(tmp_path / 'out')
    prefix = '/stereo/left/depth_net'
    assert set(out) == set(src) | {f'{prefix}/{n}' for n in NEW}
    for topic, msgs in src.items():
        assert [m[0] for m in out[topic]] == [m[0] for m in msgs]
    np.testing.assert_array_equal(out['/stereo/left/camera_info'][1][3].k, info['k'])
    for k, (t_ns, _, _, disp) in enumerate(out[f'{prefix}/disparity']):
        assert t_ns == src['/stereo/left/image_raw/compressed'][k][0] and disp.f == 70.0
    np.testing.assert_array_equal(out[f'{prefix}/depth/camera_info'][0][3].k, info['k'])


def _fails(capsys, tmp_path, argv, *needles):
    assert infer_bag.main([str(a) for a in argv] + ['--device', 'cpu']) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: '), err
    for needle in needles:
        assert str(needle) in err, err
    assert not (tmp_path / 'out').exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith('.partial')]


def test_bad_inputs_fail_cleanly(tmp_path, model_path, synth_bag, capsys):
    out, model = tmp_path / 'out', ['--model', model_path]
    _fails(capsys, tmp_path, [tmp_path / 'nope', out, *model], tmp_path / 'nope', 'not found')
    cut = tmp_path / 'cut'
    cut.mkdir()
    for f in synth_bag.iterdir():
        data = f.read_bytes()
        (cut / f.name).write_bytes(data[:len(data) // 2] if f.suffix == '.mcap' else data)
    _fails(capsys, tmp_path, [cut, out, *model], cut, 'truncated or corrupt')
    _fails(capsys, tmp_path, [synth_bag, out, '--model', tmp_path / 'no.ts'], 'no.ts',
           'not found')
    junk = tmp_path / 'junk.ts'
    junk.write_bytes(b'PK\x03\x04' + bytes(range(256)) * 4)
    _fails(capsys, tmp_path, [synth_bag, out, '--model', junk], junk, 'TorchScript')
    _fails(capsys, tmp_path, [synth_bag, out, *model, '--topic', '/cam/x'], '/cam/x')
    _fails(capsys, tmp_path, [synth_bag, out, *model, '--topic', '/stereo/left/camera_info'],
           '/stereo/left/camera_info', 'not found')
    twice = write_image_bag(tmp_path / 'twice', ('/cam/image', '/cam/depth_net/depth'))
    _fails(capsys, tmp_path, [twice, out, *model], '/cam/depth_net/depth',
           'already in the bag')
    _fails(capsys, tmp_path, [synth_bag, synth_bag / 'x', *model], 'overwrite the input')
    _fails(capsys, tmp_path, [synth_bag, out, *model, '--max-depth', '0.2'], '--max-depth')
    no_images = tmp_path / 'info_only'
    ts = get_typestore(Stores.ROS2_HUMBLE)
    with Writer(no_images, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection('/cam/camera_info', 'sensor_msgs/msg/CameraInfo',
                                     typestore=ts)
        writer.write(conn, 1, read_bag(synth_bag)['/stereo/left/camera_info'][0][2])
    _fails(capsys, tmp_path, [no_images, out, *model], no_images, 'no sensor_msgs/Image')


def _write_pair_bag(path, infos):
    """Write one synthetic frame per CameraInfo in ``infos`` (rosbag2 MCAP, sibling topic)."""
    rgb = synthetic.render_pair(3, 0, 128, 64).left
    with StereoBagWriter(path, 'mcap') as writer:
        for i, info in enumerate(infos):
            writer.write_pair(rgb, rgb, 10**18 + i * 10**8, (info, info))
    return path


def test_bad_camera_info_falls_back_and_the_summary_says_so(tmp_path, model_path, capsys):
    bad = [camera_info(128, 64, fx, fx, 63.5, 31.5) for fx in
           (float('nan'), float('inf'), 0.0, -70.0, 1e12)]
    bag = _write_pair_bag(tmp_path / 'in', bad)
    assert infer_bag.main([str(bag), str(tmp_path / 'out'), '--model', str(model_path),
                           '--device', 'cpu', '--min-depth', '0.01', '--max-depth', '1e6',
                           '--no-progress']) == 0
    text = capsys.readouterr().out
    assert text.count('warning: 1 frames: /stereo/left/camera_info: camera_info P[0] is') == 5
    out = read_bag(tmp_path / 'out')
    model_fx = FX_OVER_WIDTH * 128
    for (_, _, _, disp), (_, _, _, info), (_, _, _, depth) in zip(*(
            out[f'/stereo/left/depth_net/{n}'] for n in ('disparity', 'depth/camera_info',
                                                         'depth'))):
        assert disp.f == pytest.approx(model_fx) and info.p[0] == pytest.approx(model_fx)
        assert np.isfinite(info.k).all() and info.k[0] == pytest.approx(model_fx)
        assert np.isfinite(np.frombuffer(depth.data, '<f4')).mean() > 0.5


def test_post_processing_is_as_exported_unless_asked(tmp_path, capsys):
    from test_pipeline import exported_with_post_processing
    model = exported_with_post_processing(tmp_path)
    bag = write_image_bag(tmp_path / 'in')
    rgb = image_to_rgb8(read_bag(bag)['/cam/image'][0][3])
    loaded = load_model(model, 'cpu')
    expect = {None: loaded.predict_disparity(rgb, True), '--no-post-process':
              loaded.predict_disparity(rgb, False)}
    for flag, want in expect.items():
        out = tmp_path / f'out{flag}'
        assert infer_bag.main([str(bag), str(out), '--model', str(model), '--device', 'cpu',
                               '--min-depth', '1e-6', '--max-depth', '1e9', '--no-progress'] +
                              ([flag] if flag else [])) == 0, capsys.readouterr().err
        disp = read_bag(out)['/cam/depth_net/disparity'][0][3]
        got = np.frombuffer(disp.image.data, '<f4').reshape(rgb.shape[:2])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_killed_run_leaves_nothing_the_next_run_does_not_remove(tmp_path, model_path, capsys):
    bag = write_image_bag(tmp_path / 'in')
    stale = tmp_path / '.out.k1ll3d.partial'          # what a SIGKILLed run leaves behind
    (stale / 'out').mkdir(parents=True)
    (stale / 'out' / 'out_0.mcap').write_bytes(b'\x89MCAP0\r\n')
    assert infer_bag.main([str(bag), str(tmp_path / 'out'), '--model', str(model_path),
                           '--device', 'cpu', '--no-progress']) == 0
    assert 'removed 1 unfinished output of an earlier run' in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in', 'out']


def test_a_bag_cut_short_gives_the_frames_before_the_damage(tmp_path, model_path, capsys):
    rgb = synthetic.render_pair(4, 0, 384, 192).left     # 12 pairs: more than one chunk
    info = camera_info(384, 192, 210.0, 210.0, 191.5, 95.5)
    whole = tmp_path / 'whole'
    with StereoBagWriter(whole, 'mcap') as writer:
        for i in range(12):
            writer.write_pair(rgb, rgb, 10**18 + i * 10**8, (info, info))
    cut = tmp_path / 'cut'          # a power loss: the file ends at 70 %, no summary
    cut.mkdir()
    data = next(whole.glob('*.mcap')).read_bytes()
    (cut / 'cut.mcap').write_bytes(data[:int(len(data) * 0.7)])
    out = tmp_path / 'out'
    assert infer_bag.main([str(cut), str(out), '--model', str(model_path), '--device', 'cpu',
                           '--min-depth', '0.01', '--max-depth', '1e6', '--no-progress']) == 0
    captured = capsys.readouterr()
    assert 'cut short or damaged' in captured.err and 'before the damage' in captured.err
    got = read_bag(out)
    frames = len(got['/stereo/left/depth_net/depth'])
    assert 1 <= frames < 12 and frames == len(got['/stereo/left/image_raw'])
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cut', 'out', 'whole']
