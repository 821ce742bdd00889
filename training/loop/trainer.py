# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
The training loop: data order, steps, logging, validation, checkpoints and resume.

``Trainer`` is the depth task's; ``translate_trainer.TranslateTrainer`` overrides its
task hooks (data, networks, step, validation, images, checkpoint contents) and shares the
rest; ``make_trainer`` picks one by ``cfg.task``.

Runs alone or under ``torchrun`` (DistributedDataParallel; rank 0 alone logs and saves).
Data order comes from a DistributedSampler seeded by ``seed`` and the epoch, and
augmentation from a generator seeded by the step, so ``--resume`` continues exactly.
"""

import json
import math
from pathlib import Path
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from .checkpoint import (check_model_config, CheckpointError, git_revision, load_checkpoint,
                         restore_rng_state, rng_state, save_checkpoint)
from .config import OptimConfig, save_config, TrainConfig
from .ema import WeightAverage
from .init_weights import init_generator, read_init
from .step import StepModels, train_step
from .tb_log import RunLogger
from .validate import collapse_warning, validate
from ..data.dataset_dir import DatasetError
from ..data.hints import HintCache
from ..data.loader import augment_batch, open_datasets, PairDataset, reference_rig
from ..data.sensor_augment import input_noise
from ..nets.discriminator import PatchDiscriminator
from ..nets.generator import Generator


class TrainingError(RuntimeError):
    """Training cannot go on (for example a non-finite loss); the last checkpoint stays."""


def validation_score(metrics: dict[str, float]) -> float:
    """
    Return the number ``best.pt`` minimises.

    GT abs_rel where the validation split has GT, else the photometric error.
    """
    return metrics.get('gt_abs_rel', metrics['photometric'])


def rig_calibration(datasets: list) -> dict:
    """
    Baseline and fx / W of the reference rig (``data.reference_rig``) for checkpoints.

    The generator's output is the reference rig's disparity (``step.rig_disparities``
    scales it to each sample's rig), so the reference rig's geometry turns it into depth.
    """
    ref = reference_rig(datasets)
    calib = datasets[ref].calib
    rigs = [{'baseline_m': d.calib.baseline_m, 'fx_over_width': d.calib.fx / d.calib.width,
             'path': str(d.root)} for d in datasets]
    return {'baseline_m': calib.baseline_m, 'fx_over_width': calib.fx / calib.width,
            'reference': ref, 'rigs': rigs}


def generator_param_groups(generator: torch.nn.Module, encoder_lr_mult: float) -> list[dict]:
    """
    Adam's parameter groups: the encoder's at ``encoder_lr_mult`` x the rate, the rest at 1x.

    One group when the multiplier is 1 (the optimiser state of earlier checkpoints has one).
    """
    if encoder_lr_mult == 1.0:
        return [{'params': list(generator.parameters())}]
    encoder = list(generator.encoder.parameters())
    ids = {id(p) for p in encoder}
    rest = [p for p in generator.parameters() if id(p) not in ids]
    return [{'params': encoder, 'lr_mult': encoder_lr_mult}, {'params': rest}]


def rate_factor(optim: OptimConfig, progress: float) -> float:
    """
    Return the learning rates' multiplier at ``progress`` (0 to 1) of the budget.

    ``step``: 1 until ``decay_at`` (0 = never), then ``decay_factor``. ``cosine``: a half
    cosine from 1 at the start to ``decay_factor`` at the end.
    """
    if optim.schedule == 'cosine':
        done = min(max(progress, 0.0), 1.0)
        return optim.decay_factor + (1 - optim.decay_factor) * 0.5 * (1 + math.cos(math.pi * done))
    return optim.decay_factor if 0 < optim.decay_at <= progress else 1.0


class Trainer:
    """One training run in ``out_dir``; call ``fit()``."""

    def __init__(self, cfg: TrainConfig, out_dir: Path, device: torch.device,
                 rank: int = 0, world: int = 1, resume: Path | None = None):
        """Open the data, build the networks and optimisers, and resume if asked."""
        self.cfg, self.out_dir, self.device = cfg, Path(out_dir), device
        self.rank, self.world = rank, world
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        state = None if resume is None else self._read_resume(Path(resume))
        init = None if state is not None or not cfg.init_from else read_init(
            Path(cfg.init_from), cfg.generator.to_dict())
        self._open_data()
        torch.manual_seed(cfg.seed)
        self.generator, self.discriminator = (net.to(device) for net in self._build_networks())
        if init is not None:
            init_generator(self.generator, init, Path(cfg.init_from))
        o = cfg.optim
        self.opt_g = torch.optim.Adam(generator_param_groups(self.generator, o.encoder_lr_mult),
                                      o.lr_g, tuple(o.betas_g))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), o.lr_d,
                                      tuple(o.betas_d))
        self.step = self.epoch = self.batch_in_epoch = 0
        self.train_seconds, self.best_score = 0.0, math.inf
        self._last_metrics: dict[str, float] | None = None    # the previous validation's
        self.wall_seconds = 0.0
        self.git_revision = git_revision()    # the code this run loaded, not later commits
        if state is not None:
            self._resume(Path(resume), state)
        self.ema = self._weight_average(state)
        self.models = self._step_models()
        self.log = RunLogger(self.out_dir, enabled=rank == 0,
                             resume_step=self.step if resume is not None else None)
        self._last_save = time.monotonic()
        self._clock = (self._now(), self._last_save)
        interval = 60 * cfg.snapshot_minutes
        self._snapshot_mark = int(self.train_seconds // interval) if interval > 0 else 0

    # -- task hooks (the depth task's; translate_trainer overrides them) ----------------

    def _open_data(self) -> None:
        """Open the datasets and set ``train_set`` and ``val_set``."""
        cfg = self.cfg
        if not cfg.data.dirs:
            raise DatasetError('no dataset folder given (data.dirs or --data)')
        self.datasets = open_datasets(cfg.data.dirs)
        if cfg.loss.w_hint > 0:
            self._prepare_hints()
        size = (cfg.data.height, cfg.data.width)
        self.train_set = PairDataset(self.datasets, 'train', size, hints=cfg.loss.w_hint > 0,
                                     hint_resize=cfg.data.hint_resize,
                                     hint_lr_check_px=cfg.data.hint_lr_check_px)
        self.val_set = PairDataset(self.datasets, 'val', size)
        if len(self.train_set) < cfg.batch_size * self.world:
            raise DatasetError(f'{len(self.train_set)} training pairs in {cfg.data.dirs}, '
                               f'fewer than one batch ({cfg.batch_size} x {self.world} '
                               'processes)')

    def _build_networks(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """Return the (generator, discriminator) of the task, on the CPU."""
        return Generator(self.cfg.generator), PatchDiscriminator(self.cfg.discriminator)

    def _model_configs(self) -> dict:
        """Return the network configs a checkpoint records (``model``) and resume checks."""
        return {'generator': self.cfg.generator.to_dict(),
                'discriminator': self.cfg.discriminator.to_dict()}

    def _checkpoint_extra(self) -> dict:
        """Return the task's own checkpoint entries (depth: the rig calibration)."""
        return {'calibration': rig_calibration(self.datasets)}

    def _step_generator(self) -> torch.nn.Module:
        """Return the module the step calls as the generator (before any DDP wrapper)."""
        return self.generator

    def _validate(self) -> dict[str, float]:
        """Score the generator on the validation split (rank 0)."""
        return validate(self.eval_generator(), self.val_set, self.device,
                        self.cfg.loss.alpha_ssim)

    def eval_generator(self) -> torch.nn.Module:
        """Return the generator that validation and export use: the average when kept."""
        return self.generator if self.ema is None else self.ema.module

    def _score(self, metrics: dict[str, float]) -> float:
        """Return the number ``best.pt`` minimises."""
        return validation_score(metrics)

    def _log_images(self, batch: dict) -> None:
        """Log the TensorBoard image panel of ``batch``."""
        self.log.panel(self.generator, batch, self.step, self.device)

    def _prepare_hints(self) -> None:
        """Fill each dataset's hints cache (rank 0; the other processes wait)."""
        if self.rank == 0:
            for dataset in self.datasets:
                HintCache(dataset).ensure()
        if self.world > 1:
            dist.barrier()

    def _step_models(self) -> StepModels:
        gen, disc = self._step_generator(), self.discriminator
        if self.world > 1:
            ids = [self.device.index] if self.device.type == 'cuda' else None
            gen = DistributedDataParallel(gen, device_ids=ids)
            disc = DistributedDataParallel(disc, device_ids=ids)
        return StepModels(gen, disc, self.opt_g, self.opt_d)

    def _read_resume(self, path: Path) -> dict:
        """Read the checkpoint to resume from; refuse one of another task."""
        state = load_checkpoint(path)
        saved_task = (state.get('train_config') or {}).get('task', 'depth')
        if saved_task != self.cfg.task:
            raise CheckpointError(f'{path}: a task {saved_task!r} checkpoint; this run is '
                                  f'task {self.cfg.task!r}')
        return state

    def _resume(self, path: Path, state: dict) -> None:
        check_model_config(path, state, **self._model_configs())
        self.generator.load_state_dict(state['generator'])
        self.discriminator.load_state_dict(state['discriminator'])
        if len(state['opt_g']['param_groups']) != len(self.opt_g.param_groups):
            saved = state['train_config'].get('optim', {}).get('encoder_lr_mult', 1.0)
            raise CheckpointError(f'{path}: trained with optim.encoder_lr_mult {saved}; '
                                  'resume with the same value (one Adam group at 1, two '
                                  'otherwise)')
        self.opt_g.load_state_dict(state['opt_g'])
        self.opt_d.load_state_dict(state['opt_d'])
        self.step, self.epoch = state['step'], state['epoch']
        self.batch_in_epoch = state['batch_in_epoch']
        self.train_seconds = float(state.get('train_seconds', 0.0))
        self.wall_seconds = float(state.get('wall_seconds', self.train_seconds))
        self.best_score = float(state.get('best_score', math.inf))
        restore_rng_state(state['rng'])

    def _weight_average(self, state: dict | None) -> WeightAverage | None:
        """
        Return the generator's weight average (``optim.ema``), or None when off.

        Started from the (resumed) live weights; a resumed run that saved one continues it.
        """
        if self.cfg.optim.ema <= 0:
            return None
        average = WeightAverage(self.generator, self.cfg.optim.ema)
        if state is not None and 'generator_ema' in state:
            average.load_state_dict(state['generator_ema'])
        return average

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

    def progress(self) -> float:
        """Share of the run's budget done: the largest of steps, minutes and epochs."""
        cfg = self.cfg
        done = [self.epoch / cfg.epochs]
        if cfg.max_steps > 0:
            done.append(self.step / cfg.max_steps)
        if cfg.max_minutes > 0:
            done.append(self.train_seconds / (60 * cfg.max_minutes))
        return max(done)

    def _set_learning_rates(self) -> None:
        o = self.cfg.optim
        factor = rate_factor(o, self.progress())
        for opt, lr in ((self.opt_g, o.lr_g), (self.opt_d, o.lr_d)):
            for group in opt.param_groups:
                group['lr'] = lr * factor * group.get('lr_mult', 1.0)

    def _train_one(self, batch: dict) -> dict[str, float]:
        self._set_learning_rates()
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.step)
        left = batch['left'].to(self.device, non_blocking=True)
        right = batch['right'].to(self.device, non_blocking=True)
        hints = batch['hints'].to(self.device) if 'hints' in batch else None
        left, right, hints = augment_batch(left, right, self.cfg.augment, gen, hints)
        return train_step(self.models, left, right, self.cfg.loss, amp=self.cfg.amp,
                          rig_scale=batch['rig_scale'].to(self.device), hints=hints,
                          net_input=input_noise(left, self.cfg.augment.noise_std, gen))

    def _now(self) -> float:
        """Read the clock that budgets count: wall time, or this process's CPU time."""
        return time.process_time() if self.cfg.clock == 'cpu' else time.monotonic()

    def _tick(self) -> None:
        """Add the time since the last tick (by ``cfg.clock``) to ``train_seconds``."""
        now, wall = self._now(), time.monotonic()
        self.train_seconds += now - self._clock[0]
        self.wall_seconds += wall - self._clock[1]
        self._clock = (now, wall)
        if self.world > 1 and self.cfg.max_minutes > 0:   # every process stops at one step
            t = torch.tensor([self.train_seconds], device=self.device, dtype=torch.float64)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            self.train_seconds = float(t)

    def _finished(self) -> bool:
        cfg = self.cfg
        return self.epoch >= cfg.epochs or (cfg.max_steps > 0 and self.step >= cfg.max_steps) \
            or (cfg.max_minutes > 0 and self.train_seconds >= 60 * cfg.max_minutes)

    def save(self, name: str = 'last.pt') -> Path | None:
        """Write a self-describing checkpoint (rank 0 only); return its path."""
        if self.rank != 0:
            return None
        return save_checkpoint(self.out_dir / 'checkpoints' / name, {
            'model': self._model_configs(),
            'train_config': self.cfg.to_dict(), 'config_hash': self.cfg.config_hash(),
            'git_revision': self.git_revision, 'torch_version': str(torch.__version__),
            **self._checkpoint_extra(),
            'step': self.step, 'epoch': self.epoch, 'batch_in_epoch': self.batch_in_epoch,
            'train_seconds': self.train_seconds, 'clock': self.cfg.clock,
            'wall_seconds': self.wall_seconds, 'best_score': self.best_score,
            'generator': self.generator.state_dict(),
            'discriminator': self.discriminator.state_dict(),
            'opt_g': self.opt_g.state_dict(), 'opt_d': self.opt_d.state_dict(),
            'rng': rng_state(),
            **({} if self.ema is None else {'generator_ema': self.ema.state_dict()})})

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
            self._log_images(batch)
        self._periodic_saves()

    def _periodic_saves(self) -> None:
        cfg, now = self.cfg, time.monotonic()
        every_steps = cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0
        every_minutes = cfg.checkpoint_minutes > 0 and (
            now - self._last_save >= 60 * cfg.checkpoint_minutes)
        if every_steps or every_minutes:
            self.save()
            self._last_save = now
        if cfg.snapshot_minutes > 0:
            mark = int(self.train_seconds // (60 * cfg.snapshot_minutes))
            if mark > self._snapshot_mark:    # crossed after a step or during validation
                self._snapshot_mark = mark
                self.save(f'snap_{round(mark * cfg.snapshot_minutes * 60):06d}s.pt')

    def _end_epoch(self) -> None:
        self.epoch += 1
        self.batch_in_epoch = 0
        if self.rank == 0:
            metrics = self._validate()
            self.log.scalars('val', metrics, self.step)
            score = self._score(metrics)
            note = ''
            if score < self.best_score:
                self.best_score, note = score, ' (best so far: best.pt)'
                self.save('best.pt')
            tqdm.write(f'epoch {self.epoch}, step {self.step}: ' + json.dumps(
                {k: round(v, 4) for k, v in metrics.items()}) + note)
            warning = collapse_warning(metrics, self._last_metrics)
            self._last_metrics = metrics
            if warning:
                tqdm.write(warning)
        self.save()
        self._last_save = time.monotonic()

    def _total_steps(self) -> int:
        per_epoch = len(self.train_set) // (self.cfg.batch_size * self.world)
        total = self.cfg.epochs * per_epoch
        return min(total, self.cfg.max_steps) if self.cfg.max_steps > 0 else total

    def _expected_total(self, total: int) -> int:
        """Estimate the last step: the step budget, or fewer when time runs out first."""
        if self.cfg.max_minutes <= 0 or self.train_seconds <= 0:
            return total
        left_s = 60 * self.cfg.max_minutes - self.train_seconds
        by_time = self.step + 1 + int(max(0.0, left_s) * self.step / self.train_seconds)
        return min(self._total_steps(), by_time)

    def _postfix(self, losses: dict[str, float]) -> dict[str, str]:
        out = {'epoch': str(self.epoch + 1), 'G': f"{losses['generator']:.3f}",
               'D': f"{losses['discriminator']:.3f}"}
        if self.cfg.max_minutes > 0:
            left = max(0.0, self.cfg.max_minutes - self.train_seconds / 60)
            out['budget_left'] = f'{left:.1f}min'
        return out

    def fit(self) -> dict[str, float]:
        """Train until ``epochs``, ``max_steps`` or ``max_minutes``; return the last losses."""
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.cfg, self.out_dir / 'config.yaml')
        losses: dict[str, float] = {}
        self._clock = (self._now(), time.monotonic())
        bar = tqdm(total=self._total_steps(), initial=self.step, disable=self.rank != 0,
                   desc='train', unit='step', dynamic_ncols=True)
        while not self._finished():
            batches = self._epoch_batches()
            for batch in self._loader(batches[self.batch_in_epoch:]):
                self.generator.adapt_batchnorm(self.epoch < self.cfg.bn_adapt_epochs)
                losses = self._train_one(batch)
                if self.ema is not None:
                    self.ema.update()
                self._tick()
                self._after_step(losses, batch)
                bar.total = self._expected_total(bar.total)
                bar.update(1)
                bar.set_postfix(self._postfix(losses), refresh=False)
                if self._finished():
                    break
            if self.batch_in_epoch >= len(batches):
                self._end_epoch()
                self._tick()
        bar.close()
        self.save()
        self.log.close()
        if self.world > 1:
            dist.barrier()
        return losses
