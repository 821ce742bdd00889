# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's ROS-free core: payload decoding, depth encoding, mailbox, self-check, params."""

import threading
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from sorghum_depth.geometry import choose_focal, MODEL_FX, plausible_fx
from sorghum_depth.image_codec import (decode_image, encode_depth, image_to_rgb8,
                                       ImageDecodeError)
from sorghum_depth.params import unknown_parameters, validate
from sorghum_depth.runtime import assess, ERROR, LatestFrame, OK, RateStats, WARN
from sorghum_depth.selfcheck import photometric_error


def _msg(array: np.ndarray, encoding: str, step: int | None = None, big: bool = False):
    rows = array.reshape(array.shape[0], -1).view(np.uint8)
    step = step or rows.shape[1]
    padded = np.zeros((array.shape[0], step), np.uint8)
    padded[:, :rows.shape[1]] = rows
    return SimpleNamespace(height=array.shape[0], width=array.shape[1], encoding=encoding,
                           is_bigendian=int(big), step=step, data=padded.tobytes())


def test_padded_rows_and_colour_orders_decode_to_the_same_rgb():
    rgb = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    assert (image_to_rgb8(_msg(rgb, 'rgb8', step=24)) == rgb).all()
    assert (image_to_rgb8(_msg(rgb[:, :, ::-1].copy(), 'bgr8')) == rgb).all()
    bgra = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)
    assert (image_to_rgb8(_msg(bgra, 'bgra8')) == rgb).all()


def test_big_endian_mono16_is_byte_swapped():
    values = (np.arange(12) * 1000).reshape(3, 4)
    msg = _msg(values.astype('>u2'), 'mono16', big=True)
    assert (decode_image(msg) == values).all()


@pytest.mark.parametrize('field,value,words', [
    ('step', 5, 'step 5 is smaller'), ('data', b'\0' * 10, 'data has 10 bytes'),
    ('encoding', '8UC3x', 'unsupported'), ('height', 0, 'zero size'),
    ('encoding', 'yuv422', 'unsupported')])
def test_bad_payloads_are_refused_with_the_reason(field, value, words):
    msg = _msg(np.zeros((4, 6, 3), np.uint8), 'rgb8')
    setattr(msg, field, value)
    with pytest.raises(ImageDecodeError, match=words):
        image_to_rgb8(msg)


def test_depth_encodings_follow_rep_118():
    depth = np.array([[1.2344, np.nan], [70.0, 0.0001]], np.float32)   # 70 m > 65.535 m
    data, step = encode_depth(depth, '32FC1')
    assert step == 8 and np.allclose(np.frombuffer(data, '<f4'), depth.ravel(), equal_nan=True)
    data, step = encode_depth(depth, '16UC1')
    assert step == 4 and np.frombuffer(data, '<u2').tolist() == [1234, 0, 0, 0]


def test_mailbox_keeps_the_newest_frame_and_counts_the_replaced_ones():
    box = LatestFrame()
    for i in range(5):
        box.put(i)
    assert box.take(0.1) == 4 and box.dropped == 4
    assert box.take(0.01) is None
    waiter = threading.Thread(target=lambda: box.put('late'))
    waiter.start()
    assert box.take(2.0) == 'late'
    waiter.join()


def test_rate_stats_percentiles():
    stats = RateStats()
    for latency in (0.01, 0.02, 0.03):
        stats.output(latency, forward_s=0.005)
    s = stats.summary()
    assert s['processed'] == 3 and s['latency_p50_ms'] == pytest.approx(20.0)
    assert s['forward_p50_ms'] == pytest.approx(5.0)
    assert 'decode_p50_ms' not in s and np.isnan(s['own_work_p50_ms'])     # none recorded


def test_rate_stats_stage_percentiles():
    stats = RateStats()
    for own_s in (0.001, 0.002, 0.009):
        stats.output(0.05, 0.04, stages={'own_work': own_s, 'decode': own_s / 2})
    s = stats.summary()
    assert s['own_work_p50_ms'] == pytest.approx(2.0)
    assert s['own_work_p95_ms'] == pytest.approx(8.3)
    assert s['decode_p50_ms'] == pytest.approx(1.0)


def test_photometric_self_check_prefers_the_true_disparity():
    rng = np.random.default_rng(1)
    scene = cv2.resize(rng.integers(0, 255, (12, 24, 3), dtype=np.uint8), (120, 48))
    d_px = 6
    left, right = scene[:, :100 - d_px], scene[:, d_px:100]   # left(x) = right(x - d)
    good = photometric_error(left, right, np.full(left.shape[:2], d_px, np.float32))
    bad = photometric_error(left, right, np.full(left.shape[:2], 0.01, np.float32))
    assert good < 0.02 and bad > 5 * good


def test_parameter_validation_names_every_problem():
    with pytest.raises(ValueError) as err:
        validate({'model_path': 'm.ts', 'min_depth_m': 5.0, 'max_depth_m': 1.0,
                  'depth_encoding': '8UC1', 'nonsense': 1})
    text = str(err.value)
    assert 'nonsense: unknown' in text and 'depth_encoding' in text
    with pytest.raises(ValueError, match='min_depth_m must be smaller'):
        validate({'model_path': 'm.ts', 'min_depth_m': 5.0, 'max_depth_m': 1.0})
    assert validate({'model_path': 'm.ts', 'baseline_m': 1}).baseline_m == 1.0


def _info(k0: float, p0: float, width: int = 200, height: int = 100):
    k = np.array([k0, 0, 99.5, 0, k0, 49.5, 0, 0, 1], float)
    p = np.array([p0, 0, 99.0, 0, 0, p0, 49.0, 0, 0, 0, 1, 0], float) * (p0 != 0)
    return SimpleNamespace(width=width, height=height, k=k, p=p)


def test_focal_is_the_rectified_p_not_k():
    choice = choose_focal(200, model_fx_px=120.0, info=_info(150.0, 140.0))
    assert (choice.fx_px, choice.source, choice.warning, choice.info_from) == (
        140.0, 'camera_info P[0]', '', 'P')
    assert choose_focal(200, 120.0, param_fx_px=99.0, info=_info(150.0, 140.0)).fx_px == 99.0
    assert choose_focal(200, 120.0).fx_px == 120.0


def test_focal_falls_back_from_an_empty_p_to_k_then_to_the_model():
    choice = choose_focal(200, 120.0, info=_info(150.0, 0.0))
    assert (choice.fx_px, choice.info_from) == (150.0, 'K') and 'P is empty' in choice.warning
    empty = _info(0.0, 0.0)
    choice = choose_focal(200, 120.0, info=empty)
    assert (choice.fx_px, choice.info_from, choice.source) == (120.0, '', MODEL_FX)
    assert 'P is empty and K[0] is 0' in choice.warning


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -150.0, 0.1, 1e12])
def test_implausible_focal_lengths_are_never_used(bad):
    only_p = choose_focal(200, 120.0, info=_info(150.0, bad))
    assert only_p.fx_px == 150.0 and only_p.info_from == 'K' and only_p.warning
    both = choose_focal(200, 120.0, info=_info(bad, bad))
    assert both.fx_px == 120.0 and both.info_from == '' and f'{bad:g}' in both.warning


def test_focal_of_a_camera_info_of_another_width():
    info = _info(150.0, 140.0, width=400, height=200)
    node = choose_focal(200, 120.0, info=info)
    assert node.fx_px == 120.0 and '400 px wide' in node.warning
    offline = choose_focal(200, 120.0, info=info, scale_other_width=True)
    assert (offline.fx_px, offline.info_from, offline.warning) == (70.0, '', '')
    assert offline.source == 'camera_info P[0], scaled to the width'
    assert plausible_fx(0.2, 200) and not plausible_fx(0.19, 200)


def test_post_processing_defaults_to_the_export_and_can_be_forced():
    assert validate({'model_path': 'm.ts'}).post_process is None
    assert validate({'model_path': 'm.ts', 'post_process': True}).post_process is True
    assert validate({'model_path': 'm.ts', 'post_process': False}).post_process is False
    with pytest.raises(ValueError, match='post_process'):
        validate({'model_path': 'm.ts', 'post_process': 'sometimes'})
    with pytest.raises(ValueError, match='post_process: 1 is not one of as_exported, true, false'):
        validate({'model_path': 'm.ts', 'post_process': 1})


@pytest.mark.parametrize('device', ['cuda:abc', 'cuda:', 'cuda:-1', 'cuda:1.5', 'gpu'])
def test_malformed_devices_are_refused_by_name(device):
    with pytest.raises(ValueError, match=f"device: '{device}' is not"):
        validate({'model_path': 'm.ts', 'device': device})
    assert validate({'model_path': 'm.ts', 'device': 'cuda:12'}).device == 'cuda:12'


def test_misspelled_parameters_are_named_with_a_suggestion():
    lines = unknown_parameters(['modle_path', 'max_depth', 'use_sim_time', 'device', 'zzz'])
    assert lines == ['max_depth: unknown parameter, ignored (did you mean max_depth_m?)',
                     'modle_path: unknown parameter, ignored (did you mean model_path?)',
                     'zzz: unknown parameter, ignored']


def _counts(received=0, processed=0, bad_input=0, errors=0, dropped=0, empty=0):
    return {'received': received, 'processed': processed, 'bad_input': bad_input,
            'errors': errors, 'dropped': dropped, 'empty': empty}


@pytest.mark.parametrize('now,level,words', [
    (_counts(), WARN, 'no input image yet'),
    (_counts(20, 20, 5), OK, 'running'),                      # old errors are forgotten
    (_counts(10, 10, 5), WARN, 'no input image in the last'),
    (_counts(30, 10, 15, 5), ERROR, 'every frame failed'),
    (_counts(30, 22, 5, 0, 8), OK, 'running'),                # 8 of 20 dropped: not most
    (_counts(30, 12, 5, 0, 12), WARN, '12 of 20 frames were dropped'),
    (_counts(30, 20, 5, 0, 0, 10), WARN, 'every output was all invalid'),
    (_counts(30, 12, 5, 0, 12, 2), WARN, 'every output was all invalid'),   # the worse
    (_counts(30, 19, 6), WARN, '1 frames failed')])
def test_diagnostics_judge_the_last_period(now, level, words):
    before = _counts(10, 10, 5)
    got_level, message = assess(before if now['received'] else _counts(), now)
    assert (got_level, words in message) == (level, True), message


def test_a_camera_info_with_other_non_finite_entries_is_not_passed_on():
    info = _info(150.0, 140.0)
    info.k[2] = float('nan')
    choice = choose_focal(200, 120.0, info=info)
    assert (choice.fx_px, choice.info_from) == (140.0, '')
    assert 'NaN or infinite entries' in choice.warning
