# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
ONNX Runtime backend of ``inference.load_model``: ``model.onnx`` run without torch.

The file (``sorghum-depth-export --format onnx``) has two inputs, ``image`` float32
(B, 3, H, W) RGB in [0, 1] of any H, W and ``post_process`` an int64 scalar (1 on, 0
off, -1 as exported), and one output, ``disparity`` (B, 1, H, W) in px of the input
width. ``metadata.json`` (the TorchScript export's dict plus ``onnx_weights_sha256``)
is the model's ``metadata_props`` entry of that name. Providers: TensorRT, then CUDA,
when the device is CUDA and the onnxruntime build has them; else the CPU provider.
"""

from dataclasses import dataclass, field
import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
import onnxruntime as ort

from .inference import (check_metadata, DepthModel, DeviceError, DeviceOutOfMemory,
                        METADATA_FILE, ModelLoadError, parse_device, read_metadata, to_nchw)

INPUTS = ('image', 'post_process')
LEVELS = {'disable': ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
          'basic': ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          'extended': ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
          'all': ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


def graphs(graph: onnx.GraphProto):
    """Yield ``graph`` and every subgraph of its nodes (If / Loop bodies), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField('g') else []) + list(attr.graphs):
                yield from graphs(sub)


def onnx_weights_sha256(model: onnx.ModelProto) -> str:
    """
    SHA-256 of every initializer of every graph: names, data types, shapes and values.

    The ONNX counterpart of ``torch_backend.weights_sha256`` (the exporter renames and
    folds weights, so the two hashes differ); written into the metadata at export and
    checked at load.
    """
    entries = []
    for graph in graphs(model.graph):
        for init in graph.initializer:
            array = np.ascontiguousarray(numpy_helper.to_array(init))
            entries.append((init.name, init.data_type, tuple(init.dims), array.tobytes()))
    digest = hashlib.sha256()
    for name, dtype, dims, data in sorted(entries):
        digest.update(f'{name}|{dtype}|{dims}|'.encode())
        digest.update(data)
    return digest.hexdigest()


def _providers(device: str, fp16: bool) -> tuple[str, list]:
    """
    Return (device name, provider list) for ``device`` on this onnxruntime build.

    :raises DeviceError: CUDA asked for and the build or machine has no CUDA provider.
    """
    available = ort.get_available_providers()
    if device == 'auto':
        device = 'cuda' if 'CUDAExecutionProvider' in available else 'cpu'
    kind, index = parse_device(device)
    if kind == 'cpu':
        return 'cpu', ['CPUExecutionProvider']
    if 'CUDAExecutionProvider' not in available:
        raise DeviceError(f"device '{device}': this onnxruntime has no CUDA provider "
                          f"(providers: {', '.join(available)}); use 'cpu' or 'auto', or "
                          'install onnxruntime-gpu')
    cuda = {'device_id': index or 0}
    providers = [('CUDAExecutionProvider', cuda), 'CPUExecutionProvider']
    if 'TensorrtExecutionProvider' in available:
        providers.insert(0, ('TensorrtExecutionProvider',
                             {**cuda, 'trt_fp16_enable': bool(fp16)}))
    return f'cuda:{index or 0}', providers


@dataclass
class OnnxDepthModel(DepthModel):
    """An ONNX export in an ONNX Runtime session: metadata, device and precision."""

    session: ort.InferenceSession
    metadata: dict
    device: str
    fp16: bool = False
    path: str = ''
    backend: str = 'onnxruntime'
    providers: list = field(default_factory=list)

    def _forward(self, rgb: np.ndarray, flag: int) -> object:
        """Run the session on one image; an accelerator out of memory is DeviceOutOfMemory."""
        feed = {'image': to_nchw(rgb), 'post_process': np.array(flag, np.int64)}
        try:
            return self.session.run(None, feed)
        except Exception as err:        # ORT raises its own RuntimeException types
            text = str(err).lower()
            if self.device != 'cpu' and ('out of memory' in text or 'failed to allocate' in text):
                raise DeviceOutOfMemory(str(err)) from err
            raise

    def _as_array(self, out: object) -> np.ndarray:
        """Return the single output as float32 (B, 1, H, W); ModelLoadError otherwise."""
        if not isinstance(out, list) or len(out) != 1 or not isinstance(out[0], np.ndarray):
            raise ModelLoadError(f'{self.path}: the model returned {len(out)} outputs, not '
                                 'one disparity tensor')
        return out[0].astype(np.float32, copy=False)


def read(path: Path, inputs: tuple[str, ...] = INPUTS, check=check_metadata
         ) -> tuple[onnx.ModelProto, dict]:
    """
    Return (model, metadata) of an ONNX file, checked; ModelLoadError if unusable.

    ``inputs`` are the graph's expected input names and ``check`` the metadata check
    (``inference.read_metadata``'s): a depth model's by default, a translation model's
    from ``translation``.
    """
    if not path.is_file():
        raise ModelLoadError(f'{path}: model file not found')
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:        # protobuf DecodeError and others
        raise ModelLoadError(f'{path}: not a loadable ONNX model ({err})') from err
    props = {p.key: p.value for p in model.metadata_props}
    metadata = read_metadata(path, props.get(METADATA_FILE, ''), 'onnx_weights_sha256',
                             lambda: onnx_weights_sha256(model), check)
    names = tuple(i.name for i in model.graph.input)
    if names != inputs:
        raise ModelLoadError(f'{path}: the model inputs are {names}, expected {inputs}')
    return model, metadata


def make_session(model: onnx.ModelProto, path: Path, device: str, fp16: bool,
                 cpu_threads: int, optimization: str = 'all', spinning: bool = False
                 ) -> tuple[ort.InferenceSession, str]:
    """
    Return (ONNX Runtime session of ``model``, device name); arguments as for ``load``.

    Shared by depth models (``load``) and translation models (``translation``).

    :raises DeviceError: ``device`` is malformed, or CUDA without a CUDA provider.
    :raises ModelLoadError: a session that cannot be created.
    """
    name, providers = _providers(device, fp16)
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(cpu_threads, 0)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = LEVELS[optimization]
    options.log_severity_level = 3          # errors only: no unused-initializer warnings
    options.add_session_config_entry('session.intra_op.allow_spinning', str(int(spinning)))
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=providers)
    except Exception as err:        # ORT's Fail / InvalidGraph / NotImplemented
        raise ModelLoadError(f'{path}: ONNX Runtime cannot load the model ({err})') from err
    used = session.get_providers()
    if name != 'cpu' and 'CUDAExecutionProvider' not in used:
        raise DeviceError(f"device '{device}': the CUDA provider did not start "
                          f"(providers in use: {', '.join(used)})")
    return session, name


def load(path: Path, device: str, fp16: bool, cpu_threads: int,
         optimization: str = 'all', spinning: bool = False) -> OnnxDepthModel:
    """
    Load ``model.onnx`` into an ONNX Runtime session (``inference.load_model``'s backend).

    :param optimization: ORT graph optimisation level: disable, basic, extended or all.
    :param spinning: let idle intra-op threads spin (ORT's own default). Off here: on a
        small CPU shared with the node's other threads and other processes, spinning
        threads took the cores the forward needed (measured on 2 loaded cores, 640x480:
        forward p50 62-81 ms without spinning against 104-129 ms with it).
    :raises DeviceError: ``device`` is malformed, or CUDA without a CUDA provider.
    :raises ModelLoadError: missing or unreadable file, no or bad metadata, altered
        weights, or a session that cannot be created.
    """
    _providers(device, fp16)        # a bad device is named before the file is read
    model, metadata = read(path)
    session, name = make_session(model, path, device, fp16, cpu_threads, optimization,
                                 spinning)
    used = session.get_providers()
    use_fp16 = fp16 and 'TensorrtExecutionProvider' in used
    return OnnxDepthModel(session, metadata, name, use_fp16, str(path), providers=used)
