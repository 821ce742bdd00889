# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
sorghum-depth-export of translate checkpoints: round trip, metadata, bad pairings.

The translators are tiny and untrained (4 base channels, 32 x 64): their outputs are
arbitrary but deterministic, which is all the export contract needs.
"""

import json

import numpy as np
import pytest
from sorghum_depth.inference import load_model, ModelLoadError
from sorghum_depth.translation import load_translation_model
from sorghum_depth_training.export import main as export
from sorghum_depth_training.export.translate_export import build_from_state
from sorghum_depth_training.loop.checkpoint import load_checkpoint, save_checkpoint
from tiny_model import make_tiny_model
from tiny_translation import make_translate_checkpoint
import torch

TOLERANCE = 1e-4


@pytest.fixture(scope='module')
def mask_models(tmp_path_factory):
    """Export a mask translator's checkpoint as model.ts and model.onnx (--format both)."""
    root = tmp_path_factory.mktemp('mask')
    checkpoint = make_translate_checkpoint(root / 'last.pt', out_channels=1)
    code = export.main([str(checkpoint), str(root / 'model.ts'), '--format', 'both'])
    return checkpoint, root / 'model.ts', root / 'model.onnx', code


def _eager(checkpoint):
    """Return the eager export module (grey, resize, translator, resize) of ``checkpoint``."""
    return build_from_state(load_checkpoint(checkpoint)).eager


def test_round_trip_ts_and_onnx_match_eager_and_carry_metadata(mask_models, capsys):
    checkpoint, ts_path, onnx_path, code = mask_models
    assert code == 0
    eager = _eager(checkpoint)
    rng = np.random.default_rng(0)
    for path, backend in ((ts_path, 'torchscript'), (onnx_path, 'onnxruntime')):
        model = load_translation_model(path, device='cpu')
        meta = model.metadata
        assert model.backend == backend and model.encoding == 'mono8'
        assert {k: meta[k] for k in ('task', 'in_channels', 'out_channels', 'output_encoding',
                                     'input_transform', 'height', 'width', 'translate_task')} \
            == {'task': 'translate', 'in_channels': 3, 'out_channels': 1,
                'output_encoding': 'mono8', 'input_transform': 'rgb', 'height': 32,
                'width': 64, 'translate_task': 'stalk_segmentation'}
        assert len(meta['weights_sha256']) == 64
        assert ('onnx_weights_sha256' in meta) == (backend == 'onnxruntime')
        for h, w in ((32, 64), (75, 101)):
            rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            with torch.no_grad():
                want = eager(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)[0]
            got = model.translate_float(rgb)
            assert got.shape == (1, h, w)
            np.testing.assert_allclose(got, want.numpy(), atol=TOLERANCE)
            mask = model.translate(rgb)
            assert mask.shape == (h, w) and mask.dtype == np.uint8
            clear = np.abs(want.numpy()[0] - 0.5) > 1e-3      # away from the threshold
            np.testing.assert_array_equal(mask[clear], np.where(want[0].numpy() > 0.5,
                                                                255, 0)[clear])


def test_grey_to_colour_makes_its_grey_input_inside_the_graph(tmp_path, capsys):
    checkpoint = make_translate_checkpoint(tmp_path / 'g.pt', out_channels=3,
                                           source='grey2colour')
    out = tmp_path / 'grey2colour.onnx'
    assert export.main([str(checkpoint), str(out), '--format', 'onnx']) == 0
    assert 'grey in, rgb8 out' in capsys.readouterr().out
    model = load_translation_model(out, device='cpu')
    assert model.metadata['input_transform'] == 'grey'
    assert model.metadata['translate_task'] == 'grey2colour'
    rgb = np.random.default_rng(1).random((40, 72, 3), dtype=np.float32)
    grey = (rgb @ np.array([0.299, 0.587, 0.114], np.float32))[..., None].repeat(3, axis=2)
    np.testing.assert_allclose(model.translate_float(rgb), model.translate_float(grey),
                               atol=1e-5)
    colour = model.translate(rgb)
    assert colour.shape == (40, 72, 3) and colour.dtype == np.uint8


def test_a_depth_model_is_not_a_translation_model_and_vice_versa(tmp_path, mask_models):
    depth = make_tiny_model(tmp_path / 'depth.ts')
    with pytest.raises(ModelLoadError, match='a depth model, not a translation model'):
        load_translation_model(depth, device='cpu')
    for translation in mask_models[1:3]:
        with pytest.raises(ModelLoadError, match='a translate model, not a depth model'):
            load_model(translation, device='cpu')


def test_exporting_a_translation_model_ts_again_is_refused_cleanly(tmp_path, mask_models,
                                                                   capsys):
    assert export.main([str(mask_models[1]), str(tmp_path / 'again.onnx'),
                        '--format', 'onnx']) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'from its training checkpoint' in err, err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize('damage,words', [
    (lambda s: s['train_config']['translate'].pop('height'), 'does not describe a translator'),
    (lambda s: s.pop('generator'), 'does not describe a translator'),
    (lambda s: s['train_config'].update(task='segment'), "unknown task 'segment'"),
    (lambda s: s.update(output_encoding='rgb8'), "output_encoding 'rgb8' but its translator "
     'has 1 output channels'),
])
def test_bad_translate_checkpoint_is_exit_2_and_leaves_the_old_model(tmp_path, capsys,
                                                                     damage, words):
    checkpoint = make_translate_checkpoint(tmp_path / 'bad.pt')
    state = load_checkpoint(checkpoint)
    state.pop('format')
    damage(state)
    save_checkpoint(checkpoint, state)
    out = tmp_path / 'model.ts'
    out.write_bytes(b'the previous model')
    assert export.main([str(checkpoint), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and words in err and 'Traceback' not in err, err
    assert out.read_bytes() == b'the previous model'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bad.pt', 'model.ts']


def test_metadata_read_back_is_the_metadata_written(mask_models):
    checkpoint, ts_path, onnx_path, _ = mask_models
    written = build_from_state(load_checkpoint(checkpoint)).meta
    ts_meta = load_translation_model(ts_path, device='cpu', check=False).metadata
    assert ts_meta == json.loads(json.dumps(written))
    onnx_meta = load_translation_model(onnx_path, device='cpu', check=False).metadata
    assert {k: v for k, v in onnx_meta.items() if not k.startswith('onnx_')} == ts_meta
    assert onnx_meta['onnx_opset'] == 18


def test_a_checkpoint_of_the_real_trainer_exports_and_runs(tmp_path, capsys, repo_root):
    from sorghum_depth_training.data import synthetic
    from sorghum_depth_training.loop import train
    assert synthetic.main([str(tmp_path / 'pairs'), '--count', '4', '--width', '64',
                           '--height', '32', '--paired-stalks']) == 0
    sets = ['translate.height=32', 'translate.width=64', 'translate.generator.base_channels=4',
            'translate.discriminator.base_channels=4', 'max_steps=2', 'batch_size=2',
            'data.num_workers=0', 'translate.generator.pretrained=false']
    config = repo_root / 'config' / 'translate_stalks.yaml'
    assert train.main(['--config', str(config), '--data', str(tmp_path / 'pairs'),
                       '--out', str(tmp_path / 'run')] +
                      [a for s in sets for a in ('--set', s)]) == 0
    out = tmp_path / 'stalks.onnx'
    assert export.main([str(tmp_path / 'run' / 'checkpoints' / 'last.pt'), str(out),
                        '--format', 'onnx']) == 0
    assert 'translation stalk_segmentation, 64x32, rgb in, mono8 out' in capsys.readouterr().out
    model = load_translation_model(out, device='cpu')
    assert model.metadata['train_step'] == 2
    mask = model.translate(np.zeros((50, 90, 3), np.uint8))
    assert mask.shape == (50, 90) and set(np.unique(mask)) <= {0, 255}
