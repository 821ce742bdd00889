# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""scripts/make_default_model.py --score-only: bad input is an error, never a traceback."""

from pathlib import Path
import subprocess
import sys

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
