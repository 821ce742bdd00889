# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The training loop: data order, steps, logging, validation, checkpoints and resume.

Runs alone or under ``torchrun`` (DistributedDataParallel; rank 0 alone logs and saves).
Data order comes from a DistributedSampler seeded by ``seed`` and the epoch, and
augmentation from a generator seeded by the step, so ``--resume`` continues exactly.
"""

import json
import math
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from .checkpoint import (check_model_config, git_revision, load_checkpoint, restore_rng_state,
                         rng_state, save_checkpoint)
from .config import save_config, TrainConfig
from .data import augment_batch, open_datasets, PairDataset
from .dataset_dir import DatasetError
from .discriminator import PatchDiscriminator
from .generator import Generator
from .step import StepModels, train_step
from .tb_log import RunLogger
from .validate import validate


class TrainingError(RuntimeError):
    """Training cannot go on (for example a non-finite loss); the last checkpoint stays."""


def rig_calibration(datasets: list) -> dict:
    """Baseline and fx / W of the (first) training rig, recorded in checkpoints."""
    calib = datasets[0].calib
    return {'baseline_m': calib.baseline_m, 'fx_over_width': calib.fx / calib.width,
            'rigs': [{'baseline_m': d.calib.baseline_m, 'fx_over_width': d.calib.fx
                      / d.calib.width, 'path': str(d.root)} for d in datasets]}


class Trainer:
    """One training run in ``out_dir``; call ``fit()``."""

    def __init__(self, cfg: TrainConfig, out_dir: Path, device: torch.device,
                 rank: int = 0, world: int = 1, resume: Path | None = None):
        """Open the data, build the networks and optimisers, and resume if asked."""
        self.cfg, self.out_dir, self.device = cfg, Path(out_dir), device
        self.rank, self.world = rank, world
        if not cfg.data.dirs:
            raise DatasetError('no dataset folder given (data.dirs or --data)')
        self.datasets = open_datasets(cfg.data.dirs)
        size = (cfg.data.height, cfg.data.width)
        self.train_set = PairDataset(self.datasets, 'train', size)
        self.val_set = PairDataset(self.datasets, 'val', size)
        if len(self.train_set) < cfg.batch_size * world:
            raise DatasetError(f'{len(self.train_set)} training pairs in {cfg.data.dirs}, '
                               f'fewer than one batch ({cfg.batch_size} x {world} processes)')
        torch.manual_seed(cfg.seed)
        self.generator = Generator(cfg.generator).to(device)
        self.discriminator = PatchDiscriminator(cfg.discriminator).to(device)
        o = cfg.optim
        self.opt_g = torch.optim.Adam(self.generator.parameters(), o.lr_g, tuple(o.betas_g))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), o.lr_d,
                                      tuple(o.betas_d))
        self.step = self.epoch = self.batch_in_epoch = 0
        self.git_revision = git_revision()    # the code this run loaded, not later commits
        if resume is not None:
            self._resume(Path(resume))
        self.models = self._step_models()
        self.log = RunLogger(self.out_dir, enabled=rank == 0)

    def _step_models(self) -> StepModels:
        gen, disc = self.generator, self.discriminator
        if self.world > 1:
            ids = [self.device.index] if self.device.type == 'cuda' else None
            gen = DistributedDataParallel(gen, device_ids=ids)
            disc = DistributedDataParallel(disc, device_ids=ids)
        return StepModels(gen, disc, self.opt_g, self.opt_d)

    def _resume(self, path: Path) -> None:
        state = load_checkpoint(path)
        check_model_config(path, state, self.cfg.generator.to_dict(),
                           self.cfg.discriminator.to_dict())
        self.generator.load_state_dict(state['generator'])
        self.discriminator.load_state_dict(state['discriminator'])
        self.opt_g.load_state_dict(state['opt_g'])
        self.opt_d.load_state_dict(state['opt_d'])
        for opt, lr in ((self.opt_g, self.cfg.optim.lr_g), (self.opt_d, self.cfg.optim.lr_d)):
            for group in opt.param_groups:    # the config wins over the saved rates
                group['lr'] = lr
        self.step, self.epoch = state['step'], state['epoch']
        self.batch_in_epoch = state['batch_in_epoch']
        restore_rng_state(state['rng'])

    def _epoch_batches(self) -> list[list[int]]:
        sampler = DistributedSampler(self.train_set, num_replicas=self.world, rank=self.rank,
                                     shuffle=True, seed=self.cfg.seed, drop_last=True)
        sampler.set_epoch(self.epoch)
        order, bs = list(sampler), self.cfg.batch_size
        return [order[i * bs:(i + 1) * bs] for i in range(len(order) // bs)]

    def _loader(self, batches: list[list[int]]) -> DataLoader:
        workers = self.cfg.data.num_workers
        return DataLoader(self.train_set, batch_sampler=batches, num_workers=workers,
                          pin_memory=self.device.type == 'cuda',
                          persistent_workers=False)

    def _train_one(self, batch: dict) -> dict[str, float]:
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.step)
        left = batch['left'].to(self.device, non_blocking=True)
        right = batch['right'].to(self.device, non_blocking=True)
        left, right = augment_batch(left, right, self.cfg.augment, gen)
        return train_step(self.models, left, right, self.cfg.loss, amp=self.cfg.amp)

    def _finished(self) -> bool:
        return self.epoch >= self.cfg.epochs or (
            self.cfg.max_steps > 0 and self.step >= self.cfg.max_steps)

    def save(self, name: str = 'last.pt') -> Path | None:
        """Write a self-describing checkpoint (rank 0 only); return its path."""
        if self.rank != 0:
            return None
        return save_checkpoint(self.out_dir / 'checkpoints' / name, {
            'model': {'generator': self.cfg.generator.to_dict(),
                      'discriminator': self.cfg.discriminator.to_dict()},
            'train_config': self.cfg.to_dict(), 'config_hash': self.cfg.config_hash(),
            'git_revision': self.git_revision, 'torch_version': str(torch.__version__),
            'calibration': rig_calibration(self.datasets),
            'step': self.step, 'epoch': self.epoch, 'batch_in_epoch': self.batch_in_epoch,
            'generator': self.generator.state_dict(),
            'discriminator': self.discriminator.state_dict(),
            'opt_g': self.opt_g.state_dict(), 'opt_d': self.opt_d.state_dict(),
            'rng': rng_state()})

    def _after_step(self, losses: dict[str, float], batch: dict) -> None:
        if not all(math.isfinite(v) for v in losses.values()):
            last = self.out_dir / 'checkpoints' / 'last.pt'
            kept = f'last good checkpoint kept: {last}' if last.exists() else 'no checkpoint yet'
            bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
            raise TrainingError(f'non-finite loss at step {self.step}: {bad}; {kept}. '
                                'Lower the learning rates or check the input images.')
        self.step += 1
        self.batch_in_epoch += 1
        if self.step % self.cfg.log_every == 0:
            self.log.scalars('train', losses, self.step)
        if self.cfg.image_every and self.step % self.cfg.image_every == 0:
            self.log.panel(self.generator, batch, self.step, self.device)
        if self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0:
            self.save()

    def _end_epoch(self) -> None:
        self.epoch += 1
        self.batch_in_epoch = 0
        if self.rank == 0:
            metrics = validate(self.generator, self.val_set, self.device,
                               self.cfg.loss.alpha_ssim)
            self.log.scalars('val', metrics, self.step)
            tqdm.write(f'epoch {self.epoch}: ' + json.dumps(
                {k: round(v, 4) for k, v in metrics.items()}))
        self.save()

    def fit(self) -> dict[str, float]:
        """Train until ``epochs`` or ``max_steps``; return the last step's losses."""
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.cfg, self.out_dir / 'config.yaml')
        losses: dict[str, float] = {}
        while not self._finished():
            batches = self._epoch_batches()
            bar = tqdm(self._loader(batches[self.batch_in_epoch:]), total=len(batches),
                       initial=self.batch_in_epoch, disable=self.rank != 0,
                       desc=f'epoch {self.epoch + 1}/{self.cfg.epochs}', unit='batch')
            for batch in bar:
                losses = self._train_one(batch)
                self._after_step(losses, batch)
                bar.set_postfix(G=f"{losses['generator']:.3f}", D=f"{losses['discriminator']:.3f}")
                if self._finished():
                    break
            if self.batch_in_epoch >= len(batches):
                self._end_epoch()
        self.save()
        self.log.close()
        if self.world > 1:
            dist.barrier()
        return losses
