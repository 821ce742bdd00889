# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ONNX side of ``sorghum-depth-export``: ``model.onnx`` for ONNX Runtime.

One graph keeps the exported-model contract: inputs ``image`` (B, 3, H, W) float RGB in
[0, 1] with B, H and W dynamic, and ``post_process`` an int64 scalar (1 on, 0 off, -1 as
exported) that selects one of two branches of an ONNX ``If`` (``torch.cond``): only the
chosen branch runs, so post-processing off costs one generator pass. Both resizes
(antialiased to the training size, bilinear back) are plain gathers and products
(``resize``), not ONNX ``Resize`` nodes, whose kernels in ONNX Runtime compute other
values than torch's (docs/runtime.md gives the measured difference).
"""

import contextlib
import copy
import io
import json
import logging
import os
from pathlib import Path
import warnings

import onnx
from sorghum_depth.inference import METADATA_FILE
from sorghum_depth.onnx_backend import graphs, INPUTS, onnx_weights_sha256
import torch
from torch import nn

OPSET = 18
MAX_SIDE = 16384


class OnnxDepth(nn.Module):
    """``ExportedDepth`` with its post-processing flag as a tensor input (an ONNX If)."""

    def __init__(self, exported: nn.Module):
        """Wrap ``exported`` (an eager ``ExportedDepth``)."""
        super().__init__()
        self.exported = exported

    def forward(self, image: torch.Tensor, post_process: torch.Tensor) -> torch.Tensor:
        """
        Left disparity in pixels of the input width.

        :param image: (B, 3, H, W) float RGB in [0, 1].
        :param post_process: int64 scalar: 1 on, 0 off, -1 as exported.
        :returns: (B, 1, H, W) disparity in px.
        """
        on = post_process != 0 if self.exported.post_process else post_process > 0
        return torch.cond(on, lambda x: self.exported(x, 1), lambda x: self.exported(x, 0),
                          (image,))


def to_onnx(eager: nn.Module, meta: dict) -> onnx.ModelProto:
    """
    Export ``eager`` (an ``ExportedDepth``) with the dynamo exporter; metadata inside.

    ``meta`` gets ``onnx_weights_sha256`` and ``onnx_opset`` (in place) and is stored as
    the ``metadata_props`` entry ``metadata.json``.
    """
    batch = torch.export.Dim('batch', min=1, max=64)
    height = torch.export.Dim('height', min=2, max=MAX_SIDE)
    width = torch.export.Dim('width', min=2, max=MAX_SIDE)
    example = (torch.rand(2, 3, meta['input_height'] + 7, meta['input_width'] + 9,
                          generator=torch.Generator().manual_seed(0)),
               torch.tensor(-1, dtype=torch.int64))
    return export_program(OnnxDepth(eager), example, ({0: batch, 2: height, 3: width}, None),
                          list(INPUTS), ['disparity'], meta)


def export_program(module: nn.Module, example: tuple, dynamic_shapes: tuple,
                   input_names: list[str], output_names: list[str], meta: dict
                   ) -> onnx.ModelProto:
    """
    Export ``module`` with the dynamo exporter at opset ``OPSET``; ``meta`` stored inside.

    A copy of ``module`` is exported, so that the exporter cannot alter the modules the
    TorchScript file and the check use. ``meta`` gets ``onnx_weights_sha256`` and
    ``onnx_opset`` (in place) and is stored as the ``metadata_props`` entry
    ``metadata.json``; the exporter's stack traces (90 % of the file) are dropped.
    """
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), \
            _quiet_logger('torch.onnx'), _quiet_logger('torch.export'):
        warnings.simplefilter('ignore')
        program = torch.onnx.export(
            copy.deepcopy(module).eval(), example, dynamo=True, opset_version=OPSET,
            dynamic_shapes=dynamic_shapes, input_names=input_names,
            output_names=output_names, verbose=False)
    model = program.model_proto
    for graph in graphs(model.graph):
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ''
    meta['onnx_weights_sha256'] = onnx_weights_sha256(model)
    meta['onnx_opset'] = OPSET
    del model.metadata_props[:]
    model.metadata_props.add(key=METADATA_FILE, value=json.dumps(meta, indent=2))
    return model


@contextlib.contextmanager
def _quiet_logger(name: str):
    """Raise logger ``name`` to ERROR for the duration (the exporter's progress lines)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def write_onnx(path: Path, model: onnx.ModelProto) -> None:
    """Write ``model`` as one self-contained file (no external data), synced to disk."""
    data = model.SerializeToString()
    with open(path, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class ConvertError(ValueError):
    """A model.ts given to convert is not a sorghum_depth TorchScript export."""


def generator_from_torchscript(path: Path, post_process: bool) -> tuple[nn.Module, dict]:
    """
    Rebuild the eval generator and metadata of an exported ``model.ts`` (to convert it).

    The TorchScript export keeps every weight of the generator under
    ``generator.generator.`` and its configuration in the metadata.

    :raises ConvertError: not a sorghum_depth TorchScript export.
    """
    from ..loop.checkpoint import CheckpointError
    from ..loop.init_weights import init_generator, read_torchscript
    from ..nets.generator import Generator, GeneratorConfig
    try:
        meta, saved = read_torchscript(path)
        gen = Generator(GeneratorConfig(**{**meta['generator'], 'pretrained': False}))
        init_generator(gen, saved, path)
    except (CheckpointError, RuntimeError, ValueError, KeyError, TypeError) as err:
        raise ConvertError(f'{path}: not a sorghum_depth TorchScript export to convert '
                           f'({err}); export it from its training checkpoint instead '
                           '(--format onnx or both)') from err
    meta['post_process'] = post_process
    return gen.eval(), meta
