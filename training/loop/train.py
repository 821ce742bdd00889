# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Train the depth generator and its discriminator on recorded stereo datasets.

Self-supervised: no ground truth is needed. Each dataset folder is one made by
sorghum-depth-extract, sorghum-depth-import or sorghum-depth-synth. Several folders
(several rigs) can be mixed. The run folder gets config.yaml, losses.jsonl, TensorBoard
events (tb/) and checkpoints/last.pt.

typical runs:
  sorghum-depth-train --data data/field1 data/field2 --out runs/field
  sorghum-depth-train --config config/train.yaml --data data/field1 --set loss.w_gan=0
  sorghum-depth-train --out runs/field --resume          # continue runs/field exactly
  torchrun --nproc_per_node 4 -m sorghum_depth_training.loop.train --data ... --out ...

With task: translate (config/translate_stalks.yaml, config/translate_grey2colour.yaml) it
trains pix2pix on a paired folder instead (docs/translation.md):
  sorghum-depth-train --config config/translate_stalks.yaml --data data/stalks --out runs/s
"""

import argparse
import os
from pathlib import Path
import sys

import torch
import torch.distributed as dist
import yaml

from .checkpoint import CheckpointError, load_checkpoint
from .config import ConfigError, load_config
from .trainer import TrainingError
from .translate_trainer import make_trainer
from ..cli_types import folder_problem
from ..data.dataset_dir import DatasetError
from ..nets.encoders import EncoderError


def setup_distributed() -> tuple[int, int, torch.device]:
    """Join the torchrun process group if there is one: (rank, world size, device)."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    cuda = torch.cuda.is_available()
    device = torch.device(f'cuda:{local_rank}' if cuda else 'cpu')
    if cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group('nccl' if cuda else 'gloo')
        return dist.get_rank(), world, device
    return 0, 1, device


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='sorghum-depth-train', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', type=Path, help='training YAML (default: built-in defaults; '
                   'see config/train.yaml for every key)')
    p.add_argument('--data', nargs='+', metavar='DIR', help='dataset folder(s); replaces '
                   'data.dirs of the config')
    p.add_argument('--out', type=Path, required=True, help='run folder')
    p.add_argument('--resume', nargs='?', const='last', metavar='CHECKPOINT',
                   help='continue from a checkpoint (default OUT/checkpoints/last.pt); the '
                   "run's own config is used unless --config is given")
    p.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                   help='override a config value, e.g. --set loss.w_gan=0 --set epochs=20')
    return p


def resolve(args: argparse.Namespace):
    """Turn the arguments into (config, resume checkpoint path or None)."""
    resume = None
    overrides = list(args.set)
    if args.data:
        overrides.append('data.dirs=' + yaml.safe_dump(list(args.data), default_flow_style=True))
    if args.resume is not None:
        resume = args.out / 'checkpoints' / 'last.pt' if args.resume == 'last' else Path(
            args.resume)
        if args.config is None:
            saved = args.out / 'resume_config.yaml'
            state = load_checkpoint(resume)
            check_run_folder(args.out)
            args.out.mkdir(parents=True, exist_ok=True)
            saved.write_text(yaml.safe_dump(state['train_config']))
            return load_config(saved, overrides), resume
    return load_config(args.config, overrides), resume


def check_run_folder(out: Path) -> None:
    """Refuse a run folder that is a file or lies under one (ConfigError naming it)."""
    problem = folder_problem(out)
    if problem:
        raise ConfigError(f'the run folder {problem}')


def _run(args: argparse.Namespace) -> int:
    try:
        cfg, resume = resolve(args)
        check_run_folder(args.out)
        rank, world, device = setup_distributed()
        trainer = make_trainer(cfg, args.out, device, rank, world, resume)
        losses = trainer.fit()
    except (ConfigError, DatasetError, CheckpointError, EncoderError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    except OSError as err:          # logs and TensorBoard events on a full disk
        print(f'error: {args.out}: cannot write the run folder ({err})', file=sys.stderr)
        return 2
    except TrainingError as err:
        print(f'training stopped: {err}', file=sys.stderr)
        return 3
    if rank == 0:
        print(f'done: step {trainer.step}, epoch {trainer.epoch}, generator loss '
              f"{losses.get('generator', float('nan')):.4f}; checkpoint "
              f"{args.out / 'checkpoints' / 'last.pt'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit 2 on bad input, 3 when training fails."""
    code = _run(_parser().parse_args(argv))
    if dist.is_initialized():
        dist.destroy_process_group()
        # Under load, gloo's background threads can still be joinable at interpreter
        # teardown and abort the process (SIGABRT) after all work is saved: leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == '__main__':
    sys.exit(main())
