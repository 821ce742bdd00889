# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX export and the ONNX Runtime backend: same depth as TorchScript, no torch on the robot."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sorghum_depth.inference import DeviceError, load_model, ModelLoadError
from sorghum_depth_training.export import main as export
from tiny_model import make_tiny_checkpoint, make_tiny_model
import torch

onnx = pytest.importorskip('onnx', reason='onnx not installed (requirements.txt)')
pytest.importorskip('onnxruntime', reason='onnxruntime not installed (requirements.txt)')
pytest.importorskip('onnxscript', reason='onnxscript not installed (the dynamo exporter)')
numpy_helper = onnx.numpy_helper

ONNX_KEYS = {'onnx_weights_sha256', 'onnx_opset'}


def _rgb(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize('size', [(64, 128), (97, 211), (376, 1241)])
def test_onnx_gives_the_torchscript_disparity(tiny_exports, size):
    ts, onnx_path = tiny_exports
    models = [load_model(p, device='cpu') for p in (ts, onnx_path)]
    assert [m.backend for m in models] == ['torchscript', 'onnxruntime']
    rgb = _rgb(*size, seed=size[1])
    for pp in (None, True, False):
        a, b = (m.predict_disparity(rgb, pp) for m in models)
        assert b.shape == size and b.dtype == np.float32
        assert np.abs(a - b).max() < 1e-3, (pp, np.abs(a - b).max())
    on, off = (models[1].predict_disparity(rgb, pp) for pp in (True, False))
    assert np.abs(on - off).max() > 1e-3, 'the post-processing input must select a branch'
    depth_a, depth_b = (m.predict_depth(rgb)[1] for m in models)
    np.testing.assert_allclose(depth_b, depth_a, rtol=1e-3)


@pytest.mark.parametrize('exported_on', [True, False])
def test_the_exported_post_processing_is_the_onnx_default(tmp_path, exported_on):
    """The ONNX graph's -1 picks the export's choice (the shipped pair: test_export_parity)."""
    from sorghum_depth_training.export.onnx_export import OnnxDepth
    built = export._build(make_tiny_checkpoint(tmp_path / 'tiny.pt'), exported_on)
    wrapped, image = OnnxDepth(built.eager), torch.rand(1, 3, 70, 150)
    with torch.no_grad():
        default, on, off = (wrapped(image, torch.tensor(flag)) for flag in (-1, 1, 0))
        assert torch.equal(on, built.eager(image, 1)) and torch.equal(off, built.eager(image, 0))
    assert (on - off).abs().max() > 1e-3, 'the two branches must differ'
    assert torch.equal(default, on if exported_on else off)


def test_onnx_metadata_is_the_torchscript_metadata(tiny_exports):
    ts, onnx_path = tiny_exports
    ts_meta = load_model(ts, device='cpu', check=False).metadata
    onnx_meta = load_model(onnx_path, device='cpu', check=False).metadata
    assert set(onnx_meta) - set(ts_meta) == ONNX_KEYS
    assert {k: v for k, v in onnx_meta.items() if k not in ONNX_KEYS} == ts_meta
    props = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(props['metadata.json']) == onnx_meta
    assert len(onnx_meta['onnx_weights_sha256']) == 64


def test_altered_onnx_weights_are_refused(tiny_exports, tmp_path):
    model = onnx.load(str(tiny_exports[1]))
    init = max(model.graph.initializer, key=lambda i: int(np.prod(i.dims)))
    array = numpy_helper.to_array(init).copy()
    array.flat[0] += 0.5
    init.CopyFrom(numpy_helper.from_array(array, init.name))
    onnx.save(model, str(tmp_path / 'altered.onnx'))
    with pytest.raises(ModelLoadError, match='do not match the hash'):
        load_model(tmp_path / 'altered.onnx', device='cpu')


def test_a_corrupt_or_foreign_onnx_file_is_refused(tiny_exports, tmp_path):
    (tmp_path / 'cut.onnx').write_bytes(tiny_exports[1].read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match='not a loadable ONNX model'):
        load_model(tmp_path / 'cut.onnx', device='cpu')
    model = onnx.load(str(tiny_exports[1]))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / 'bare.onnx'))
    with pytest.raises(ModelLoadError, match='no sorghum_depth metadata'):
        load_model(tmp_path / 'bare.onnx', device='cpu')
    with pytest.raises(ModelLoadError, match='not found'):
        load_model(tmp_path / 'absent.onnx', device='cpu')


def test_cuda_without_a_cuda_provider_is_a_device_error(tiny_exports):
    import onnxruntime
    if 'CUDAExecutionProvider' in onnxruntime.get_available_providers():
        pytest.skip('this onnxruntime has a CUDA provider')
    with pytest.raises(DeviceError, match='no CUDA provider'):
        load_model(tiny_exports[1], device='cuda')
    with pytest.raises(DeviceError, match='is not a device'):
        load_model(tiny_exports[1], device='gpu')
    assert load_model(tiny_exports[1], device='auto', check=False).device == 'cpu'


def test_the_node_runs_an_onnx_model_without_importing_torch(tiny_exports):
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from sorghum_depth import ros_node
        from sorghum_depth.pipeline import DepthPipeline
        model = ros_node.load_model({str(tiny_exports[1])!r}, 'cpu', False, 1, check=False)
        model.warm_up()
        result = DepthPipeline(model).run(np.zeros((48, 80, 3), np.uint8))
        assert result.disp_px.shape == (48, 80), result.disp_px.shape
        loaded = sorted(m for m in sys.modules if m == 'torch' or m.endswith('torch_backend'))
        print('torch modules:', loaded)
        sys.exit(1 if loaded else 0)
    """)
    run = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'torch modules: []' in run.stdout


def _export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'sorghum_depth_training.export.main', *args],
                          capture_output=True, text=True, timeout=300)


def test_export_refuses_bad_names_and_leaves_no_file(tmp_path):
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny.pt')
    cases = [(tmp_path / 'model.ts', 'onnx', 'must be named *.onnx'),
             (tmp_path / 'model.onnx', 'ts', 'must not be named *.onnx'),
             (tmp_path / 'model.onnx', 'both', 'must not be named *.onnx'),
             (tmp_path, 'both', 'output is a folder')]
    for out, fmt, words in cases:
        code = export.main([str(checkpoint), str(out), '--format', fmt])
        assert code == 2, (out, fmt)
    run = _export(str(checkpoint), str(tmp_path / 'm.ts'), '--format', 'xml')
    assert run.returncode == 2 and 'invalid choice' in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['tiny.pt']


def test_export_messages_name_the_problem(tmp_path, capsys):
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny.pt')
    assert export.main([str(checkpoint), str(tmp_path / 'm.ts'), '--format', 'onnx']) == 2
    assert 'error:' in capsys.readouterr().err
    foreign = make_tiny_model(tmp_path / 'foreign.ts')    # no generator configuration
    assert export.main([str(foreign), str(tmp_path / 'f.onnx'), '--format', 'onnx']) == 2
    assert 'not a sorghum_depth TorchScript export to convert' in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['foreign.ts', 'tiny.pt']


def test_both_formats_land_together_or_not_at_all(tmp_path):
    """At tolerance 0 the TorchScript file passes (0 px) and the ONNX one fails: neither lands."""
    checkpoint = make_tiny_checkpoint(tmp_path / 'tiny.pt')
    (tmp_path / 'model.ts').write_bytes(b'old')
    run = _export(str(checkpoint), str(tmp_path / 'model.ts'), '--format', 'both',
                  '--tolerance', '0')
    assert run.returncode == 1, run.stderr
    assert 'error:' in run.stderr and 'model.onnx differs from eager' in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.ts', 'tiny.pt']
    assert (tmp_path / 'model.ts').read_bytes() == b'old'
