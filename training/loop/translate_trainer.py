# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``task: translate`` run: pix2pix on paired images, in the depth task's loop.

``TranslateTrainer`` overrides ``Trainer``'s task hooks only: it reads a paired folder
(or grey-to-colour pairs of a stereo dataset), builds the ``Translator`` and a
conditional PatchGAN on cat(input, output), runs ``step.translate_step`` (discriminator,
then generator) and validates with IoU / boundary F-score (mask targets) or PSNR / SSIM
(colour targets). Data order, resume, logging, checkpoints and torchrun are the shared
loop's. Checkpoints have the depth checkpoints' format with ``train_config.task``
'translate', ``model.generator`` the ``TranslatorConfig`` and, at the top level,
``task``, ``translate_task`` (the pairs' free-text task), ``output_encoding`` and
``input_transform`` (what an exported model needs).
"""

from pathlib import Path

import numpy as np
import torch

from .config import ConfigError, TrainConfig
from .step import translate_step
from .trainer import Trainer
from .validate import validate_translate
from ..data.dataset_dir import DatasetError
from ..data.paired_loader import open_translation_source, random_crop_flip, TranslationDataset
from ..nets.discriminator import PatchDiscriminator
from ..nets.translator import LogitsView, Translator
from ..objectives.translate import discriminator_channels


def _rgb(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> uint8 (H, W, 3); one channel is shown grey."""
    x = image.detach().float().cpu().clamp(-1, 1).numpy() * 0.5 + 0.5
    x = np.repeat(x, 3, axis=0) if x.shape[0] == 1 else x
    return (x.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)


def _centre(image: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """Crop the centre ``size_hw`` of (..., H', W')."""
    top = (image.shape[-2] - size_hw[0]) // 2
    left = (image.shape[-1] - size_hw[1]) // 2
    return image[..., top:top + size_hw[0], left:left + size_hw[1]]


@torch.no_grad()
def translation_panel(translator: torch.nn.Module, batch: dict, size_hw: tuple[int, int],
                      device: torch.device) -> np.ndarray:
    """
    Return input | target | output (eval mode) of the first sample of ``batch``.

    The loaded samples are larger than the training size (jitter): the centre is shown.
    """
    image_a, target_b = _centre(batch['a'][0], size_hw), _centre(batch['b'][0], size_hw)
    was_training = translator.training
    translator.eval()
    output = translator(image_a[None].to(device))[0]
    translator.train(was_training)
    return np.hstack([_rgb(image_a), _rgb(target_b), _rgb(output)])


def translation_spec(cfg: TrainConfig) -> str:
    """Return the folder of the pairs: ``translate.data``, else the one ``data.dirs``."""
    if cfg.translate.data:
        return cfg.translate.data
    if len(cfg.data.dirs) == 1:
        return cfg.data.dirs[0]
    raise DatasetError('translate needs one paired folder (translate.data, or one folder '
                       f'with --data), got {cfg.data.dirs or "none"}')


class TranslateTrainer(Trainer):
    """One translation run in ``out_dir``; call ``fit()``."""

    def _open_data(self) -> None:
        tr = self.cfg.translate
        spec = translation_spec(self.cfg)
        self.pairs = open_translation_source(spec, tr.source)
        self.mask = self.pairs.b_encoding == 'mono8'
        want = 1 if self.mask else 3
        if tr.generator.out_channels != want:
            raise ConfigError(f'{spec}: the targets are {self.pairs.b_encoding}, so '
                              f'translate.generator.out_channels must be {want}, got '
                              f'{tr.generator.out_channels}')
        if tr.loss.kind == 'ce' and not self.mask:
            raise ConfigError(f'{spec}: translate.loss.kind ce needs mask (mono8) targets')
        size = (tr.height, tr.width)
        self.train_set = TranslationDataset(self.pairs, 'train', size, tr.jitter)
        self.val_set = TranslationDataset(self.pairs, 'val', size)
        if len(self.train_set) < self.cfg.batch_size * self.world:
            raise DatasetError(f'{len(self.train_set)} training pairs in {spec}, fewer than '
                               f'one batch ({self.cfg.batch_size} x {self.world} processes)')

    def _build_networks(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        tr = self.cfg.translate
        channels = discriminator_channels(tr.generator.in_channels, tr.generator.out_channels)
        return Translator(tr.generator), PatchDiscriminator(tr.discriminator, channels)

    def _model_configs(self) -> dict:
        tr = self.cfg.translate
        return {'generator': tr.generator.to_dict(),
                'discriminator': tr.discriminator.to_dict()}

    def _checkpoint_extra(self) -> dict:
        grey = self.cfg.translate.source == 'grey2colour'
        return {'task': 'translate', 'translate_task': str(self.pairs.task),
                'output_encoding': 'mono8' if self.mask else 'rgb8',
                'input_transform': 'grey' if grey else 'rgb',
                'data_root': str(Path(self.pairs.root))}

    def _step_generator(self) -> torch.nn.Module:
        return LogitsView(self.generator)

    def _train_one(self, batch: dict) -> dict[str, float]:
        self._set_learning_rates()
        tr = self.cfg.translate
        seed = self.cfg.seed * 1_000_003 + self.step
        gen = torch.Generator().manual_seed(seed)
        # the dropout noise (the global RNG) is a function of the step and rank too: a
        # resumed run's new data loader draws from the global RNG and would shift it
        torch.manual_seed(seed * 4099 + self.rank + 1)
        image_a, target_b = random_crop_flip(batch['a'], batch['b'], (tr.height, tr.width),
                                             tr.flip_prob, gen)
        return translate_step(self.models, image_a.to(self.device), target_b.to(self.device),
                              tr.loss, amp=self.cfg.amp)

    def _validate(self) -> dict[str, float]:
        return validate_translate(self.eval_generator(), self.val_set, self.device)

    def _score(self, metrics: dict[str, float]) -> float:
        """Best is the highest IoU (masks) or PSNR (colour): the negative is minimised."""
        return -metrics['iou'] if self.mask else -metrics['psnr']

    def _log_images(self, batch: dict) -> None:
        if self.log.enabled:
            size = (self.cfg.translate.height, self.cfg.translate.width)
            self.log.image('panel', translation_panel(self.generator, batch, size, self.device),
                           self.step)


def make_trainer(cfg: TrainConfig, out_dir: Path, device: torch.device, rank: int = 0,
                 world: int = 1, resume: Path | None = None) -> Trainer:
    """Return the trainer of ``cfg.task``: ``Trainer`` (depth) or ``TranslateTrainer``."""
    cls = TranslateTrainer if cfg.task == 'translate' else Trainer
    return cls(cfg, out_dir, device, rank, world, resume)
