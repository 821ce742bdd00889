# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training configuration: nested dataclasses, strict YAML loading, command-line overrides.

A run folder gets the resolved config as ``config.yaml``; checkpoints carry it too, so a
model and its training can always be rebuilt.
"""

from dataclasses import asdict, dataclass, field, fields, is_dataclass, MISSING
import hashlib
import json
import math
from pathlib import Path
import typing

import yaml

from ..nets.discriminator import DiscriminatorConfig
from ..nets.generator import GeneratorConfig
from ..nets.translator import TranslatorConfig
from ..objectives.depth import LossConfig
from ..objectives.translate import TranslateLossConfig


class ConfigError(ValueError):
    """A bad configuration; the message names the offending key or file."""


@dataclass
class DataConfig:
    """
    Where the pairs come from and the training resolution.

    Height and width are multiples of the generator's ``divisor``: 32 for the pretrained
    encoders, 64 for ``unet``. ``hint_resize`` brings the cached stereo hints to that
    size: ``nearest`` (one stored pixel per training pixel) or ``area`` (the mean of the
    hinted pixels each training pixel covers; none where under half of them are hinted).
    ``hint_lr_check_px`` > 0 drops the hints whose left and right views disagree by more
    than that many px of the stored width (``hints.lr_consistent``); 0 keeps them all.
    """

    dirs: list[str] = field(default_factory=list)
    height: int = 128
    width: int = 416
    num_workers: int = 2
    hint_resize: str = 'nearest'
    hint_lr_check_px: float = 0.0


@dataclass
class OptimConfig:
    """
    Adam for each network (pix2pix's beta1 = 0.5 for the discriminator).

    Both learning rates are multiplied by ``decay_factor`` once the run is ``decay_at``
    of the way through its budget (steps, minutes or epochs, whichever ends it first;
    0 = never), as monodepth2 does at 3/4 of its epochs; ``schedule`` ``cosine`` instead
    lowers them along a half cosine from 1x to ``decay_factor`` x over the whole budget.
    ``ema`` > 0 keeps an exponential moving average of the generator's weights with that
    decay per step (0 = off); validation, ``best.pt`` and the export then use the average.
    ``encoder_lr_mult`` scales the generator encoder's learning rate (the decoder and
    heads keep ``lr_g``).
    """

    lr_g: float = 5e-4
    lr_d: float = 1e-4
    betas_g: tuple[float, float] = (0.9, 0.999)
    betas_d: tuple[float, float] = (0.5, 0.999)
    decay_at: float = 0.75
    decay_factor: float = 0.1
    ema: float = 0.0
    encoder_lr_mult: float = 1.0
    schedule: str = 'step'


@dataclass
class AugmentConfig:
    """
    Monodepth augmentation: swap-and-mirror flip, and colour jitter on both views.

    With ``zoom_prob`` > 0 a sample is also zoomed in by a factor drawn from ``zoom``: the
    same random crop of both views (and of their hints) resized back to the input size,
    the hints' disparities multiplied by the factor (a longer focal length).

    Camera corruptions (``data.sensor_augment``) for training on rendered scenes: a share
    ``grey_prob`` of samples turned grey, a share ``blur_prob`` blurred by a Gaussian of
    ``blur_sigma`` pixels (both views alike), and noise of standard deviation up to
    ``noise_std`` (images in [0, 1]) on the generator's input only (the appearance loss
    compares the views without it). All off by default.
    """

    flip_prob: float = 0.5
    jitter_prob: float = 0.5
    gamma: tuple[float, float] = (0.8, 1.2)
    brightness: tuple[float, float] = (0.5, 2.0)
    colour: tuple[float, float] = (0.8, 1.2)
    zoom_prob: float = 0.0
    zoom: tuple[float, float] = (1.0, 1.25)
    grey_prob: float = 0.0
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    noise_std: float = 0.0


@dataclass
class TranslateConfig:
    """
    The ``task: translate`` run: pix2pix on paired images (see ``docs/translation.md``).

    ``data``: a paired folder (A/, B/, splits/, paired.yaml), or with ``source:
    grey2colour`` any stereo dataset folder (grey left image -> its colour); empty = the
    one folder of ``data.dirs`` (``--data``). Images are resized to ``height`` x
    ``width`` (multiples of 32); training samples are first resized to ``jitter`` times
    that size and randomly cropped back, and flipped left-right with ``flip_prob``, the
    same crop and flip for input and target (pix2pix's random jitter). The
    discriminator's defaults are pix2pix's 70x70 PatchGAN (64 channels, full size).
    """

    data: str = ''
    source: str = 'paired'
    height: int = 256
    width: int = 256
    jitter: float = 1.125
    flip_prob: float = 0.5
    generator: TranslatorConfig = field(default_factory=TranslatorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: TranslateLossConfig = field(default_factory=TranslateLossConfig)


# pix2pix's optimiser for both networks, the optim defaults of a translate run.
PIX2PIX_OPTIM = {'lr_g': 2e-4, 'lr_d': 2e-4, 'betas_g': [0.5, 0.999],
                 'betas_d': [0.5, 0.999], 'decay_at': 0.0}


def _recipe_generator() -> GeneratorConfig:
    return GeneratorConfig(encoder='efficientnet_lite0')


def _recipe_discriminator() -> DiscriminatorConfig:
    return DiscriminatorConfig(base_channels=32, downsample=2)


@dataclass
class TrainConfig:
    """
    Everything a training run needs besides the data itself.

    The defaults are the recipe measured by ``benchmarks/bench_recipe.py`` (see
    ``docs/training.md``): an ImageNet-pretrained EfficientNet-Lite0 encoder, stereo
    hints, the PatchGAN at 32 channels on half-size views, 128x416, batch 4. The network
    dataclasses keep the published shapes as their own defaults (the from-scratch U-Net,
    pix2pix's 64-channel PatchGAN). ``task``: 'depth' (this recipe) or 'translate' (the
    ``translate`` section; its optim defaults are pix2pix's, ``PIX2PIX_OPTIM``).
    """

    task: str = 'depth'
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=_recipe_generator)
    discriminator: DiscriminatorConfig = field(default_factory=_recipe_discriminator)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    translate: TranslateConfig = field(default_factory=TranslateConfig)
    batch_size: int = 4
    epochs: int = 100
    max_steps: int = 0
    seed: int = 0
    amp: bool = True
    log_every: int = 10
    image_every: int = 200
    checkpoint_every: int = 0
    checkpoint_minutes: float = 10.0
    max_minutes: float = 0.0
    snapshot_minutes: float = 0.0
    clock: str = 'wall'
    threads: int = 0
    bn_adapt_epochs: int = 1
    init_from: str = ''

    def to_dict(self) -> dict:
        """Plain types only (lists, not tuples), ready for YAML and JSON."""
        return json.loads(json.dumps(asdict(self)))

    def config_hash(self) -> str:
        """Short stable hash of the resolved config (recorded in exported models)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _section_default(cls: type, name: str) -> dict:
    """Return the default of dataclass field ``name`` of ``cls`` as a dict ({} if none)."""
    for f in fields(cls):
        if f.name == name and f.default_factory is not MISSING:
            value = f.default_factory()
            return asdict(value) if is_dataclass(value) else {}
    return {}


def _scalar(hint, value, key: str):
    """Convert one YAML scalar to ``hint`` (int, float, str) without losing anything."""
    if isinstance(value, bool) or (hint is str and not isinstance(value, str)):
        raise ValueError(f'expected {hint.__name__}')
    if hint is float:
        return float(value)        # YAML reads 1e-4 (no dot) as a string
    if hint is int:
        number = float(value) if isinstance(value, (str, float)) else value
        if not isinstance(number, (int, float)) or not float(number).is_integer():
            raise ValueError('expected a whole number')
        return int(number)
    return value


def _coerce(hint, value, key: str, default: dict | None = None):
    """
    Convert ``value`` to the field type ``hint``, refusing anything it would change.

    2.7 for an integer, ``true`` for a number, a string for a list or a list of the
    wrong length for a fixed-length tuple is an error, not a silent conversion. A
    section (a dataclass field) starts from ``default``, the parent's default of it, so a
    YAML that sets one key of a section keeps the recipe's other keys.
    """
    if is_dataclass(hint):
        if not isinstance(value or {}, dict):
            raise ConfigError(f'config section "{key}" must be a mapping')
        return from_dict(hint, {**(default or {}), **(value or {})}, f'{key}.')
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    try:
        if hint is bool:
            if not isinstance(value, bool):
                raise ValueError('expected true or false')
            return value
        if hint in (int, float, str):
            return _scalar(hint, value, key)
        if origin in (tuple, list):
            if not isinstance(value, (list, tuple)):
                raise ValueError('expected a list')
            if origin is tuple and Ellipsis not in args and len(value) != len(args):
                raise ValueError(f'expected {len(args)} values, got {len(value)}')
            return origin(_scalar(args[0], v, key) for v in value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f'config key "{key}": bad value {value!r} ({err})') from err
    return value


def from_dict(cls: type, values: dict, prefix: str = ''):
    """
    Build dataclass ``cls`` from a nested dict, refusing unknown keys.

    :param cls: a dataclass type (nested dataclass fields are built recursively).
    :param values: mapping of field names to values.
    :param prefix: dotted path of ``values`` inside the whole config, for messages.
    :returns: an instance of ``cls``; fields not in ``values`` keep their defaults.
    :raises ConfigError: an unknown key (named with its dotted path) or a bad value.
    """
    if not isinstance(values, dict):
        raise ConfigError(f'config section "{prefix or "<root>"}" must be a mapping')
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f'unknown config key "{prefix}{key}" '
                              f'(known: {", ".join(sorted(known))})')
        kwargs[key] = _coerce(hints[key], value, f'{prefix}{key}', _section_default(cls, key))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f'config section "{prefix or "<root>"}": {err}') from err


def apply_override(values: dict, override: str) -> None:
    """Set ``a.b.c=value`` (value parsed as YAML) in the nested dict ``values``."""
    if '=' not in override:
        raise ConfigError(f'override "{override}" is not of the form key.path=value')
    path, raw = override.split('=', 1)
    *parents, leaf = path.strip().split('.')
    node = values
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f'override "{override}": "{key}" is not a section')
    try:
        node[leaf] = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ConfigError(f'override "{override}": the value is not YAML ({err})') from err


# Every number of the config and its allowed range: one place, checked before training.
_TESTS = {'>= 0': lambda v: v >= 0, '>= 1': lambda v: v >= 1, '> 0': lambda v: v > 0,
          'in [0, 1]': lambda v: 0 <= v <= 1, 'in [0, 1)': lambda v: 0 <= v < 1,
          'in (0, 1]': lambda v: 0 < v <= 1, 'finite': lambda v: True}
RANGES = {
    'batch_size': '>= 1', 'epochs': '>= 1', 'max_steps': '>= 0', 'seed': '>= 0',
    'log_every': '>= 1', 'image_every': '>= 0', 'checkpoint_every': '>= 0',
    'checkpoint_minutes': '>= 0', 'max_minutes': '>= 0', 'snapshot_minutes': '>= 0',
    'threads': '>= 0', 'bn_adapt_epochs': '>= 0', 'data.height': '>= 1', 'data.width': '>= 1',
    'data.num_workers': '>= 0', 'data.hint_lr_check_px': '>= 0', 'optim.lr_g': '> 0',
    'optim.lr_d': '> 0',
    'optim.betas_g': 'in [0, 1)', 'optim.betas_d': 'in [0, 1)', 'optim.decay_at': 'in [0, 1)',
    'optim.decay_factor': 'in (0, 1]', 'optim.ema': 'in [0, 1)',
    'optim.encoder_lr_mult': 'in (0, 1]', 'augment.flip_prob': 'in [0, 1]',
    'augment.jitter_prob': 'in [0, 1]', 'augment.gamma': '> 0', 'augment.brightness': '> 0',
    'augment.colour': '> 0', 'augment.zoom_prob': 'in [0, 1]', 'augment.zoom': '>= 1',
    'augment.grey_prob': 'in [0, 1]', 'augment.blur_prob': 'in [0, 1]',
    'augment.blur_sigma': '> 0', 'augment.noise_std': 'in [0, 1]',
    'loss.alpha_ssim': 'in [0, 1]', 'loss.w_appearance': '>= 0',
    'loss.w_lr': '>= 0', 'loss.w_smooth': '>= 0', 'loss.w_gan': '>= 0', 'loss.w_hint': '>= 0',
    'generator.enc_channels': '>= 1', 'generator.dec_channels': '>= 1',
    'generator.num_scales': '>= 1', 'generator.max_disp_frac': 'in (0, 1]',
    'generator.init_disp_frac': '> 0', 'generator.image_mean': 'finite',
    'generator.image_std': '> 0', 'generator.dropout': 'in [0, 1)',
    'discriminator.base_channels': '>= 1',
    'discriminator.num_layers': '>= 1', 'discriminator.downsample': '>= 1',
    'translate.height': '>= 1', 'translate.width': '>= 1', 'translate.jitter': '> 0',
    'translate.flip_prob': 'in [0, 1]', 'translate.loss.lambda_rec': '>= 0',
    'translate.loss.gan_weight': '>= 0', 'translate.generator.base_channels': '>= 1',
    'translate.generator.in_channels': '>= 1', 'translate.generator.out_channels': '>= 1',
    'translate.generator.dropout': 'in [0, 1)', 'translate.discriminator.base_channels': '>= 1',
    'translate.discriminator.num_layers': '>= 1', 'translate.discriminator.downsample': '>= 1',
}
CHOICES = {'clock': ('wall', 'cpu'), 'data.hint_resize': ('nearest', 'area'),
           'loss.gan_mode': ('lsgan', 'vanilla'), 'loss.hint_gate': ('photometric', 'always'),
           'optim.schedule': ('step', 'cosine'),
           'discriminator.norm': ('instance', 'none'), 'task': ('depth', 'translate'),
           'translate.source': ('paired', 'grey2colour'),
           'translate.loss.kind': ('l1', 'ce'), 'translate.loss.gan_mode': ('lsgan', 'vanilla'),
           'translate.discriminator.norm': ('instance', 'none')}
LOW_HIGH = ('augment.gamma', 'augment.brightness', 'augment.colour', 'augment.zoom',
            'augment.blur_sigma')


def _lookup(values: dict, key: str):
    for part in key.split('.'):
        values = values[part]
    return values


def check_ranges(cfg: TrainConfig) -> None:
    """Refuse any value out of range (ConfigError naming the key and the range)."""
    values = cfg.to_dict()
    for key, rule in RANGES.items():
        value = _lookup(values, key)
        for v in (value if isinstance(value, list) else [value]):
            if not math.isfinite(v) or not _TESTS[rule](v):
                raise ConfigError(f'config key "{key}": must be finite and {rule}, got {value!r}')
    for key, allowed in CHOICES.items():
        if _lookup(values, key) not in allowed:
            raise ConfigError(f'config key "{key}": {_lookup(values, key)!r} is not one of '
                              f'{", ".join(allowed)}')
    for key in LOW_HIGH:
        low, high = _lookup(values, key)
        if low > high:
            raise ConfigError(f'config key "{key}": [low, high] with low > high: {[low, high]}')
    if cfg.task == 'translate':
        _check_translate(cfg.translate)
        if cfg.init_from:
            raise ConfigError('config key "init_from": depth runs only (task: depth)')
    gen = cfg.generator
    if not gen.init_disp_frac < gen.max_disp_frac:
        raise ConfigError('config key "generator.init_disp_frac" must be below '
                          f'generator.max_disp_frac ({gen.max_disp_frac})')
    divisor = gen.divisor
    if cfg.data.height % divisor or cfg.data.width % divisor:
        raise ConfigError(f'data.height and data.width must be multiples of {divisor}, '
                          f'got {cfg.data.height}x{cfg.data.width}')


def _check_translate(tr: TranslateConfig) -> None:
    """Refuse translate settings that cannot work together (ConfigError naming the keys)."""
    divisor = tr.generator.divisor
    if tr.height % divisor or tr.width % divisor:
        raise ConfigError(f'translate.height and translate.width must be multiples of '
                          f'{divisor}, got {tr.height}x{tr.width}')
    if tr.jitter < 1:
        raise ConfigError(f'config key "translate.jitter": must be >= 1, got {tr.jitter!r}')
    if tr.loss.kind == 'ce' and tr.generator.out_channels != 1:
        raise ConfigError('translate.loss.kind ce needs a mask target: '
                          'translate.generator.out_channels must be 1')
    if tr.source == 'grey2colour' and tr.generator.out_channels != 3:
        raise ConfigError('translate.source grey2colour needs '
                          'translate.generator.out_channels: 3')


def load_config(path: Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config (or start from defaults), apply overrides, validate."""
    values = {}
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text(encoding='utf-8')) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise ConfigError(f'{path}: cannot read config, not a YAML text file? '
                              f'({err})') from err
    if not isinstance(values, dict):
        raise ConfigError(f'{path}: a config must be a mapping of keys to values, '
                          f'not a {type(values).__name__}')
    for override in overrides:
        apply_override(values, override)
    if values.get('task') == 'translate':
        optim = values.get('optim') or {}
        if not isinstance(optim, dict):
            raise ConfigError('config section "optim" must be a mapping')
        values = {**values, 'optim': {**PIX2PIX_OPTIM, **optim}}
    cfg = from_dict(TrainConfig, values)
    check_ranges(cfg)
    return cfg


def save_config(cfg: TrainConfig, path: Path) -> None:
    """Write the resolved config as YAML."""
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding='utf-8')
