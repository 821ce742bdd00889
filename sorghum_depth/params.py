# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The depth node's parameters: one table, pure validation, no ROS.

The node declares each parameter with a descriptor built from ``PARAMETERS``; the
defaults here match ``config/depth_node.yaml``; ``validate`` turns a dict of values into
``NodeParams`` or raises ``ValueError`` naming every bad parameter.
"""

from dataclasses import dataclass, fields
import difflib
import math
import re


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: default, description, numeric range, and runtime changeability."""

    name: str
    default: object
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    runtime: bool = False
    also_bool: bool = False     # a bool is accepted too (declared with dynamic typing)


PARAMETERS = (
    ParamSpec('model_path', '', 'exported model to load at start: model.onnx (ONNX Runtime, no '
              'torch needed) or model.ts (TorchScript)'),
    ParamSpec('device', 'auto', "'auto' (CUDA when present, else CPU), 'cpu', 'cuda', 'cuda:N'"),
    ParamSpec('fp16', False, 'half precision on CUDA (ignored on CPU)'),
    ParamSpec('cpu_threads', 0, 'CPU threads of the runtime (torch or ONNX Runtime); 0 = one '
              'per core. Idle threads sleep, so the default holds on a shared CPU too', 0, 256),
    ParamSpec('post_process', 'as_exported', 'monodepth flip post-processing (twice the '
              "compute): as_exported (the model's metadata flag), true or false",
              choices=('as_exported',), also_bool=True),
    ParamSpec('baseline_m', 0.0, 'stereo baseline the depth is scaled to, m; 0 = the '
              "training rig's (model metadata)", 0.0, 10.0),
    ParamSpec('fx_px', 0.0, "focal length, px; 0 = camera_info's rectified P[0] (K[0] when P "
              "is empty or invalid), else the training rig's fx / W times the image width",
              0.0, 1e5),
    ParamSpec('min_depth_m', 0.3, 'nearer depths are published as invalid, m',
              0.01, 1000.0, runtime=True),
    ParamSpec('max_depth_m', 40.0, 'farther depths are published as invalid, m',
              0.02, 10000.0, runtime=True),
    ParamSpec('depth_encoding', '32FC1', 'REP 118: 32FC1 metres, NaN invalid; or 16UC1 '
              'millimetres, 0 invalid', choices=('32FC1', '16UC1'), runtime=True),
    ParamSpec('right_check', False, "subscribe to 'right/image' and publish the photometric "
              "error of the left view rebuilt from it on 'photometric_error'"),
    ParamSpec('diagnostics_period_s', 1.0, 'seconds between /diagnostics status messages',
              0.1, 60.0),
    ParamSpec('translation_model_path', '', 'exported translation model (.ts or .onnx) to '
              "load at start; '' = none. When set, 'translated' (mono8 mask or rgb8, the "
              "model's metadata) is also published for each frame"),
)
SPECS = {p.name: p for p in PARAMETERS}


@dataclass(frozen=True)
class NodeParams:
    """Validated parameter values (see ``PARAMETERS`` for the meaning of each)."""

    model_path: str
    device: str
    fp16: bool
    cpu_threads: int
    post_process: bool | None       # None: as exported
    baseline_m: float
    fx_px: float
    min_depth_m: float
    max_depth_m: float
    depth_encoding: str
    right_check: bool
    diagnostics_period_s: float
    translation_model_path: str = ''


def _check(spec: ParamSpec, value) -> str:
    if spec.also_bool and type(value) is not bool and value not in spec.choices:
        return f'{spec.name}: {value!r} is not one of {", ".join(spec.choices)}, true, false'
    if spec.also_bool:
        return ''
    if type(value) is not type(spec.default) and not (
            isinstance(spec.default, float) and type(value) is int):
        return f'{spec.name}: expected {type(spec.default).__name__}, got {value!r}'
    if spec.low is not None and not (spec.low <= value <= spec.high and math.isfinite(value)):
        return f'{spec.name}: {value} is outside [{spec.low}, {spec.high}]'
    if spec.choices and value not in spec.choices:
        return f'{spec.name}: {value!r} is not one of {", ".join(spec.choices)}'
    return ''


def validate(values: dict) -> NodeParams:
    """
    Check parameter values and fill defaults.

    :param values: parameter name -> value; missing names take their defaults.
    :returns: the validated parameters.
    :raises ValueError: every problem, one per line, each naming its parameter.
    """
    merged = {p.name: values.get(p.name, p.default) for p in PARAMETERS}
    unknown = sorted(set(values) - set(SPECS))
    problems = [f'{name}: unknown parameter' for name in unknown]
    problems += [msg for spec in PARAMETERS if (msg := _check(spec, merged[spec.name]))]
    if not merged['model_path']:
        problems.append('model_path: required (path to an exported model.ts)')
    device = str(merged['device'])
    if not re.fullmatch(r'auto|cpu|cuda(:[0-9]+)?', device):
        problems.append(f"device: {device!r} is not 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if not problems and merged['min_depth_m'] >= merged['max_depth_m']:
        problems.append('min_depth_m must be smaller than max_depth_m')
    if problems:
        raise ValueError('\n'.join(problems))
    floats = {f.name for f in fields(NodeParams) if f.type is float}
    merged = {k: float(v) if k in floats else v for k, v in merged.items()}
    if merged['post_process'] == 'as_exported':
        merged['post_process'] = None
    return NodeParams(**merged)


def markdown_table() -> str:
    """Return the parameter table for the README (name, default, range, runtime, meaning)."""
    rows = ['| parameter | default | range / choices | runtime | description |',
            '|---|---|---|---|---|']
    for p in PARAMETERS:
        rng = ', '.join(p.choices + (('true', 'false') if p.also_bool else ())) if p.choices else (
            f'[{p.low:g}, {p.high:g}]' if p.low is not None else '')
        rows.append(f'| `{p.name}` | `{p.default!r}` | {rng} | {"yes" if p.runtime else ""} '
                    f'| {p.description} |')
    return '\n'.join(rows)


def unknown_parameters(names, known=None) -> list[str]:
    """
    Return one line per name in ``names`` that is not a parameter, with a likely meaning.

    :param names: parameter names given (for example a params file's).
    :param known: the valid names (default: ``PARAMETERS`` plus rclpy's ``use_sim_time``).
    """
    known = set(SPECS) | {'use_sim_time'} if known is None else set(known)
    lines = []
    for name in sorted(set(names) - known):
        close = difflib.get_close_matches(name, sorted(known), n=1)
        lines.append(f'{name}: unknown parameter, ignored' +
                     (f' (did you mean {close[0]}?)' if close else ''))
    return lines
