# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""scripts/make_default_model.py: bad input is an error before any work, never a traceback."""

from pathlib import Path
import subprocess
import sys

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / 'scripts' / 'make_default_model.py'


def _score_only(model: Path, work: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), '--score-only', '--model', str(model),
                           '--work', str(work)], capture_output=True, text=True, timeout=300)


def test_missing_model_is_an_error(tmp_path):
    done = _score_only(tmp_path / 'none.ts', tmp_path / 'work')
    assert done.returncode == 2
    assert 'error: --score-only' in done.stderr and 'Traceback' not in done.stderr
    assert not (tmp_path / 'work').exists()     # refused before any work


def test_unreadable_facts_are_an_error_and_kept(tmp_path):
    model = tmp_path / 'model.ts'
    model.write_bytes(b'not scored yet')
    facts = tmp_path / 'model.json'
    facts.write_text('[1')
    done = _score_only(model, tmp_path / 'work')
    assert done.returncode == 2
    assert 'error:' in done.stderr and 'Traceback' not in done.stderr
    assert facts.read_text() == '[1'            # nothing destroyed


@pytest.mark.parametrize('args, message', [
    (['--minutes', '-1'], 'argument --minutes: expected a finite number > 0'),
    (['--steps', '0'], 'argument --steps: expected a whole number >= 1'),
    (['--pairs', '0'], 'argument --pairs: expected a whole number >= 1'),
    (['--set', 'loss.w_hint=-1'], '--set: config key "loss.w_hint"'),
    (['--set', 'no_such_key=1'], '--set: unknown config key "no_such_key"'),
])
def test_a_bad_budget_or_override_is_refused_before_any_rendering(tmp_path, args, message):
    # Before: each was found only after rendering the 600 training scenes (minutes), or never.
    done = subprocess.run([sys.executable, str(SCRIPT), '--work', str(tmp_path / 'work'),
                           '--model', str(tmp_path / 'model.ts'), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f'error: {message}' in done.stderr and 'Traceback' not in done.stderr
    assert not (tmp_path / 'work').exists()
