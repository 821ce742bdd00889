# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""Ground-truth readers (PFM, Middlebury PNG, KITTI PNG, npy) and pair discovery."""

from conftest import shared_data
import cv2
import numpy as np
import pytest
from sorghum_depth_training.data.synthetic import write_synthetic
from sorghum_depth_training.evaluation.gt_io import (find_pairs, GTError, GTFormatError,
                                                     read_gt_disparity, read_gt_mask, read_mask,
                                                     read_pfm, write_pfm)


@pytest.mark.parametrize('little_endian', [True, False])
def test_pfm_round_trip_and_bottom_up_rows(tmp_path, little_endian):
    a = np.arange(12, dtype=np.float32).reshape(3, 4) + 0.25
    a[0, 1] = np.inf
    path = tmp_path / 'd.pfm'
    write_pfm(path, a, little_endian=little_endian)
    raw = path.read_bytes()
    header = b'Pf\n4 3\n' + (b'-1.0\n' if little_endian else b'1.0\n')
    assert raw.startswith(header)
    # the file's first stored row is the image's BOTTOM row, in the header's byte order
    first_row = np.frombuffer(raw[len(header):len(header) + 16], '<f4' if little_endian
                              else '>f4')
    assert first_row.tolist() == a[2].tolist()
    back = read_pfm(path)
    assert back.dtype == np.float32 and np.array_equal(back, a)
    disp = read_gt_disparity(path)
    assert disp[0, 1] == 0.0 and disp[2, 3] == pytest.approx(11.25)  # inf -> unknown


def test_pfm_hand_written_big_endian_colour(tmp_path):
    rows_bottom_up = np.array([[[1, 2, 3]], [[4, 5, 6]]], '>f4')  # W=1, H=2, 3 channels
    path = tmp_path / 'c.pfm'
    path.write_bytes(b'PF\n1 2\n1.0\n' + rows_bottom_up.tobytes())
    a = read_pfm(path)
    assert a.shape == (2, 1, 3) and a[0, 0].tolist() == [4, 5, 6] and a[1, 0].tolist() == [1, 2, 3]
    with pytest.raises(GTFormatError, match='one real numeric channel'):
        read_gt_disparity(path)


def test_kitti_uint16_png_decoding(tmp_path):
    raw = np.array([[0, 256, 257], [512, 6400, 65535]], np.uint16)
    path = tmp_path / '000000_10.png'
    assert cv2.imwrite(str(path), raw)
    disp = read_gt_disparity(path)
    assert disp.dtype == np.float32
    assert disp.tolist() == [[0.0, 1.0, 1.00390625], [2.0, 25.0, 255.99609375]]


def test_middlebury_png_uses_info_txt_scale(tmp_path):
    folder = shared_data('middlebury2003', 'tsukuba')
    raw = cv2.imread(str(folder / 'groundtruth.png'), cv2.IMREAD_GRAYSCALE)
    disp = read_gt_disparity(folder / 'groundtruth.png')
    assert np.array_equal(disp, raw.astype(np.float32) / 16)  # info.txt says 16
    assert 13.0 < disp.max() <= 15.0  # tsukuba's disparity range in px
    assert np.array_equal(read_gt_disparity(folder / 'groundtruth.png', scale=8.0), raw / 8.0)
    # without info.txt beside it, an 8-bit PNG has no known scale
    cv2.imwrite(str(tmp_path / 'gt.png'), raw)
    with pytest.raises(GTError, match='info.txt'):
        read_gt_disparity(tmp_path / 'gt.png')


def test_npy_invalid_values_become_zero(tmp_path):
    np.save(tmp_path / 'g.npy', np.array([[1.5, np.nan], [-2.0, np.inf]], np.float64))
    assert read_gt_disparity(tmp_path / 'g.npy').tolist() == [[1.5, 0.0], [0.0, 0.0]]


def test_unknown_or_malformed_gt_format_names_the_file(tmp_path):
    path = tmp_path / 'disp.exr'
    path.write_bytes(b'\x00' * 16)
    with pytest.raises(GTFormatError, match=r'disp\.exr.*unknown ground-truth format'):
        read_gt_disparity(path)
    bad = tmp_path / 'bad.pfm'
    bad.write_bytes(b'P6\n2 2\n255\n' + b'\x00' * 12)
    with pytest.raises(GTFormatError, match=r'bad\.pfm'):
        read_gt_disparity(bad)
    short = tmp_path / 'short.pfm'
    short.write_bytes(b'Pf\n4 4\n-1.0\n' + b'\x00' * 8)
    with pytest.raises(GTFormatError, match='truncated'):
        read_gt_disparity(short)


def test_find_pairs_whole_middlebury_folder():
    refs = find_pairs(shared_data('middlebury2003'), 'nonocc')
    assert [r.name for r in refs] == ['cones', 'teddy', 'tsukuba', 'venus']
    assert [r.gt_scale for r in refs] == [4.0, 4.0, 16.0, 8.0]
    pair = refs[2].load()
    assert pair.left_rgb.shape == (288, 384, 3) and pair.left_rgb.dtype == np.uint8
    assert pair.mask.dtype == bool and 0.5 < pair.mask.mean() < 1.0
    disc = find_pairs(shared_data('middlebury2003', 'tsukuba'), 'disc')[0]
    assert disc.mask.name == 'disc.png' and read_mask(disc.mask).mean() < pair.mask.mean()


def test_find_pairs_synthetic_dataset_has_calibration_and_nonocc(tmp_path):
    calib = write_synthetic(tmp_path / 'synth', count=2, width=64, height=64)
    refs = find_pairs(tmp_path / 'synth')
    assert [r.name for r in refs] == ['synth/000000', 'synth/000001']
    pair = refs[1].load()
    assert pair.fx_px == calib.fx and pair.baseline_m == calib.baseline_m
    assert np.array_equal(pair.disp_gt_px, np.load(tmp_path / 'synth/disp_gt/000001.npy'))
    assert pair.mask is not None and pair.mask.shape == (64, 64)


def test_plain_folder_and_bad_inputs(tmp_path):
    for sub in ('left', 'right', 'gt'):
        (tmp_path / sub).mkdir()
    image = np.full((6, 8, 3), 100, np.uint8)
    cv2.imwrite(str(tmp_path / 'left/a.png'), image)
    cv2.imwrite(str(tmp_path / 'right/a.png'), image)
    np.save(tmp_path / 'gt/a.npy', np.ones((6, 8), np.float32))
    pair = find_pairs(tmp_path)[0].load()
    assert pair.name == f'{tmp_path.name}/a' and pair.mask is None
    np.save(tmp_path / 'gt/a.npy', np.ones((5, 8), np.float32))
    with pytest.raises(GTError, match=r'a\.npy: size 8x5 differs'):
        find_pairs(tmp_path)[0].load()
    with pytest.raises(GTError, match='dataset folder not found'):
        find_pairs(tmp_path / 'nope')
    with pytest.raises(GTError, match='no stereo pairs'):
        find_pairs(tmp_path / 'gt')


def test_npz_disparity_with_and_without_mask(tmp_path):
    disp = np.array([[1.5, 2.0, 0.0], [3.0, np.nan, 4.0]], np.float32)
    mask = np.array([[True, False, True], [True, True, True]])
    np.savez(tmp_path / 'm.npz', disparity=disp, mask=mask)
    np.savez_compressed(tmp_path / 'plain.npz', disparity=disp.astype(np.float64))
    assert read_gt_disparity(tmp_path / 'm.npz').tolist() == [[1.5, 2.0, 0.0], [3.0, 0.0, 4.0]]
    assert read_gt_mask(tmp_path / 'm.npz').tolist() == mask.tolist()
    assert read_gt_mask(tmp_path / 'plain.npz') is None
    assert read_gt_disparity(tmp_path / 'plain.npz').dtype == np.float32


def test_npz_mask_is_applied_to_the_pair_together_with_a_mask_file(tmp_path):
    for sub in ('left', 'right', 'gt', 'nonocc'):
        (tmp_path / sub).mkdir()
    image = np.full((2, 3, 3), 100, np.uint8)
    cv2.imwrite(str(tmp_path / 'left/a.png'), image)
    cv2.imwrite(str(tmp_path / 'right/a.png'), image)
    npz_mask = np.array([[True, False, True], [True, True, True]])
    np.savez(tmp_path / 'gt/a.npz', disparity=np.ones((2, 3), np.float32), mask=npz_mask)
    pair = find_pairs(tmp_path)[0].load()
    assert pair.mask.tolist() == npz_mask.tolist()
    file_mask = np.array([[255, 255, 255], [0, 255, 255]], np.uint8)
    cv2.imwrite(str(tmp_path / 'nonocc/a.png'), file_mask)
    pair = find_pairs(tmp_path)[0].load()
    assert pair.mask.tolist() == [[True, False, True], [False, True, True]]


@pytest.mark.parametrize('name,content,message', [
    ('empty.npy', b'', 'empty file'),
    ('empty.npz', b'', 'empty file'),
    ('bad.npz', b'PK\x03\x04 not really a zip', 'not a NumPy .npz'),
    ('bad.npy', b'\x93NUMPY garbage', 'not a NumPy array file'),
])
def test_empty_or_corrupt_numpy_gt_is_a_format_error(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(GTFormatError, match=message):
        read_gt_disparity(tmp_path / name)


def test_npz_without_disparity_or_with_a_bad_mask_names_the_problem(tmp_path):
    np.savez(tmp_path / 'k.npz', depth=np.ones((2, 2)))
    with pytest.raises(GTFormatError, match=r"k\.npz.*'disparity'.*depth"):
        read_gt_disparity(tmp_path / 'k.npz')
    np.savez(tmp_path / 'm.npz', disparity=np.ones((2, 2)), mask=np.ones((3, 2)))
    with pytest.raises(GTFormatError, match=r'm\.npz.*mask'):
        read_gt_mask(tmp_path / 'm.npz')


def _scene_copy(src, dst):
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_gt_scale_is_taken_per_scene(tmp_path):
    root = shared_data('middlebury2003')
    _scene_copy(root / 'tsukuba', tmp_path / 'mb' / 'tsukuba')
    _scene_copy(root / 'venus', tmp_path / 'mb' / 'venus')
    refs = find_pairs(tmp_path / 'mb')
    assert [(r.gt_scale, r.gt_scale_from) for r in refs] == [(16.0, 'info.txt'), (8.0, 'info.txt')]
    # one --gt-scale for the whole run cannot be right for both: refused, naming the scene
    with pytest.raises(GTError, match=r'venus.*info\.txt.*8.*--gt-scale 16'):
        find_pairs(tmp_path / 'mb', gt_scale=16.0)
    # a scene without info.txt takes the given scale, and needs one
    (tmp_path / 'mb' / 'venus' / 'info.txt').unlink()
    refs = find_pairs(tmp_path / 'mb' / 'venus', gt_scale=8.0)
    assert [(r.gt_scale, r.gt_scale_from) for r in refs] == [(8.0, '--gt-scale')]
    with pytest.raises(GTError, match=r'venus.*info\.txt'):
        find_pairs(tmp_path / 'mb')
    (tmp_path / 'mb' / 'venus' / 'info.txt').write_text('0\n')
    with pytest.raises(GTError, match=r'info\.txt.*must be > 0'):
        find_pairs(tmp_path / 'mb')
