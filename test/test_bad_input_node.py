# Copyright 2026 The sorghum_depth Authors
# SPDX-License-Identifier: Apache-2.0
"""
Bad input to the robot runtime: node start-up, infer-bag and replay (issue 10, point 13).

Each case asserts the exit code, the ``error:`` message and that no partial output is
left behind. Bad messages to a running node are in test_node.py.
"""

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest
from ros_harness import private_domain
from sorghum_depth import bag_replay
from sorghum_depth import infer_bag
from sorghum_depth.inference import METADATA_FILE
from sorghum_depth.interrupt import first_ctrl_c_only
from sorghum_depth.node_process import node_executable, private_ros_env
from test_infer_bag import write_image_bag
from test_model_file import Constant, GOOD_META, TupleOut
from tiny_model import make_tiny_model
import torch


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Return (folder, {name: model path} of a good and bad models, a small image bag)."""
    root = tmp_path_factory.mktemp('bad_input')
    models = {'good': make_tiny_model(root / 'good.ts'), 'junk': root / 'junk.ts',
              'empty': root / 'empty.ts', 'tuple': root / 'tuple.ts',
              'zero_baseline': root / 'zero_baseline.ts'}
    models['junk'].write_bytes(b'PK\x03\x04' + bytes(range(256)) * 4)
    models['empty'].write_bytes(b'')
    for name, module, meta in (('tuple', TupleOut(), GOOD_META),
                               ('zero_baseline', Constant(), {**GOOD_META, 'baseline_m': 0.0})):
        torch.jit.script(module).save(str(models[name]),
                                      _extra_files={METADATA_FILE: json.dumps(meta)})
    return root, models, write_image_bag(root / 'bag')


# ---------------------------------------------------------------- node start-up


def _node(tmp_path, params: str, domain_slot: int = 2, **kwargs):
    path = tmp_path / 'params.yaml'
    path.write_text(params)
    return [node_executable(), '--ros-args', '--params-file', str(path)], \
        private_ros_env(private_domain(domain_slot))


def _params(**values) -> str:
    lines = ''.join(f'    {k}: {json.dumps(v)}\n' for k, v in values.items())
    return '/**:\n  ros__parameters:\n' + lines


def _node_fails(tmp_path, params: str, *needles):
    cmd, env = _node(tmp_path, params)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    text = done.stdout + done.stderr
    assert done.returncode == 2, text
    assert 'error: cannot start depth_node: ' in done.stderr and 'Traceback' not in text, text
    for needle in needles:
        assert needle in done.stderr, text


@pytest.mark.parametrize('device,words', [
    ('cuda:abc', "device: 'cuda:abc' is not 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ('tpu', "device: 'tpu' is not")])
def test_node_malformed_device(tmp_path, files, device, words):
    _node_fails(tmp_path, _params(model_path=str(files[1]['good']), device=device), words)


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a CUDA GPU')
def test_node_cuda_without_a_gpu_names_the_device(tmp_path, files):
    _node_fails(tmp_path, _params(model_path=str(files[1]['good']), device='cuda'),
                "device 'cuda': CUDA is not available")


def test_node_params_file_that_is_not_yaml(tmp_path):
    _node_fails(tmp_path, '{{{ not: yaml: [', "Couldn't parse params file")


@pytest.mark.parametrize('model,words', [
    ('tuple', 'returned a tuple'), ('zero_baseline', 'metadata baseline_m is 0.0'),
    ('empty', 'not a loadable TorchScript')])
def test_node_refuses_a_model_that_cannot_run(tmp_path, files, model, words):
    path = files[1][model]
    _node_fails(tmp_path, _params(model_path=str(path), device='cpu'), str(path), words)


def _interrupt(cmd, env, when) -> tuple[int, str]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        when(proc)
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out


def _read_until(proc, words: str) -> None:
    """Read the process's output up to a line that holds ``words``; fail if it ends first."""
    line = ''
    while words not in line:
        line = proc.stdout.readline()
        assert line, f'the process ended before printing {words!r}'


def _assert_ended_cleanly(code: int, out: str) -> None:
    assert code == 0, out
    for words in ('Traceback', 'terminate called', 'Exception ignored'):
        assert words not in out, out


def _hold_ctrl_c(proc, seconds: float = 0.5) -> None:
    """Send SIGINT every millisecond, as a held-down Ctrl-C does, until the node ends."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.001)


@pytest.mark.parametrize('delay_s', [1.0, 2.0, 3.5])     # 1 s: torch is importing
def test_node_ctrl_c_during_start_up(tmp_path, files, delay_s):
    cmd, env = _node(tmp_path, _params(model_path=str(files[1]['good']), device='cpu'))
    _assert_ended_cleanly(*_interrupt(cmd, env, lambda proc: time.sleep(delay_s)))


def test_node_two_ctrl_c_during_the_warm_up(tmp_path, files):
    cmd, env = _node(tmp_path, _params(model_path=str(files[1]['good']), device='cpu'))

    def while_warming_up(proc):
        _read_until(proc, 'loaded')     # the model is loaded: the warm-up runs now
        proc.send_signal(signal.SIGINT)
        time.sleep(0.02)
    _assert_ended_cleanly(*_interrupt(cmd, env, while_warming_up))


@pytest.mark.parametrize('when', ['importing', 'warming up'])
def test_node_ctrl_c_held_down(tmp_path, files, when):
    # a second Ctrl-C while the first one's shutdown unwound used to escape it: the
    # process ended in tracebacks, killed by SIGINT (-2), or in a C++ abort (-6)
    cmd, env = _node(tmp_path, _params(model_path=str(files[1]['good']), device='cpu'))

    def hold(proc):
        if when == 'importing':
            time.sleep(1.0)
        else:
            _read_until(proc, 'loaded')
        _hold_ctrl_c(proc)
    _assert_ended_cleanly(*_interrupt(cmd, env, hold))


def test_node_warns_about_misspelled_parameters_and_stops_cleanly(tmp_path, files):
    cmd, env = _node(tmp_path, _params(model_path=str(files[1]['good']), device='cpu',
                                       modle_path='x.ts', max_depth=3.0))
    lines = []

    def until_warm(proc):
        end = time.monotonic() + 90
        while time.monotonic() < end and not any('warmed up' in x for x in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
    code, out = _interrupt(cmd, env, until_warm)
    out = ''.join(lines) + out
    assert 'modle_path: unknown parameter, ignored (did you mean model_path?)' in out
    assert 'max_depth: unknown parameter, ignored (did you mean max_depth_m?)' in out
    assert 'warmed up' in out, out
    assert code == 0 and 'Traceback' not in out, out


# ---------------------------------------------------------------- infer-bag


def _infer_fails(capsys, tmp_path, argv, *needles):
    out = tmp_path / 'out'
    code = infer_bag.main([str(a) for a in argv] + ['--no-progress'])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith('error: '), err
    for needle in needles:
        assert str(needle) in err, err
    assert not out.exists() or out.is_file()
    assert not [p for p in tmp_path.rglob('*') if p.name.endswith('.partial')]


def test_infer_bag_bad_files(tmp_path, files, capsys):
    _, models, bag = files
    out, good = tmp_path / 'out', ['--model', models['good'], '--device', 'cpu']
    text = tmp_path / 'file.txt'
    text.write_text('not a bag')
    _infer_fails(capsys, tmp_path, [text, out, *good], text, 'not a bag')
    _infer_fails(capsys, tmp_path, [bag, text / 'out', *good], text, 'is a file, not a folder')
    _infer_fails(capsys, tmp_path, [bag, text, *good], text, 'already exists')
    _infer_fails(capsys, tmp_path, [bag, '/', *good, '--overwrite'], 'not a valid output')
    assert text.read_text() == 'not a bag', 'an existing file is never replaced'
    for name, words in (('junk', 'not a loadable TorchScript'), ('empty', 'not a loadable'),
                        ('tuple', 'returned a tuple'), ('zero_baseline', 'baseline_m is 0.0')):
        _infer_fails(capsys, tmp_path, [bag, out, '--model', models[name], '--device', 'cpu'],
                     models[name], words)
    _infer_fails(capsys, tmp_path, [bag, out, '--model', tmp_path / 'no.ts'], 'not found')


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only folders')
def test_infer_bag_read_only_output_folder(tmp_path, files, capsys):
    _, models, bag = files
    locked = tmp_path / 'locked'
    locked.mkdir(mode=0o555)
    _infer_fails(capsys, tmp_path, [bag, locked / 'out', '--model', models['good']],
                 'is not writable')


@pytest.mark.parametrize('args,words', [
    (['--device', 'cuda:abc'], "'cuda:abc' is not a device"),
    (['--baseline', 'inf'], 'finite --baseline'), (['--min-depth', 'nan'], '--min-depth'),
    (['--prefix', 'a b'], "--prefix 'a b' is not a ROS namespace"),
    (['--threads', '-1'], '--threads')])
def test_infer_bag_bad_arguments(tmp_path, files, capsys, args, words):
    _, models, bag = files
    _infer_fails(capsys, tmp_path, [bag, tmp_path / 'out', '--model', models['good'], *args],
                 words)


# ---------------------------------------------------------------- replay


def _exit_code(call) -> int:
    """Return what ``call()`` returns, or the code of the SystemExit it raises (argparse)."""
    try:
        return call()
    except SystemExit as done:
        return done.code


@pytest.fixture
def replay_env(monkeypatch):
    """Keep an in-process rclpy on a private domain, on this machine."""
    monkeypatch.setenv('ROS_DOMAIN_ID', str(private_domain(3)))
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')


@pytest.mark.parametrize('args,words', [
    (['--rate', '0'], '--rate must be a finite number > 0'), (['--rate', '-1'], '--rate'),
    (['--rate', 'nan'], '--rate'), (['--remap', 'foo'], 'remaps must look like'),
    (['--remap', '/cam/image:=/bad name'], 'Invalid topic name'),
    (['--topics', '/nope'], "none of the topics ['/nope']")])
def test_replay_bad_arguments(replay_env, files, capsys, args, words):
    code = _exit_code(lambda: bag_replay.main([str(files[2]), *args]))
    err = capsys.readouterr().err
    assert code == 2 and 'error: ' in err and words in err, err


def test_replay_bad_files(replay_env, tmp_path, capsys):
    text = tmp_path / 'file.txt'
    text.write_text('not a bag')
    empty = tmp_path / 'empty'
    empty.mkdir()
    for path, words in ((tmp_path / 'nope', 'bag not found'),
                        (text, 'Unrecognized storage format'), (empty, 'metadata')):
        assert bag_replay.main([str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f'error: {path}: ') and words in err, err


def test_replay_ctrl_c_held_down(files):
    # as the node: a second Ctrl-C inside the first one's shutdown ended in a traceback
    replay = str(Path(node_executable()).with_name('sorghum-depth-replay'))
    cmd, env = [replay, str(files[2]), '--loop'], private_ros_env(private_domain(3))

    def hold(proc):
        _read_until(proc, 'replayed')
        _hold_ctrl_c(proc)
    _assert_ended_cleanly(*_interrupt(cmd, env, hold))


def test_first_ctrl_c_only_gives_back_the_previous_handler():
    before = signal.getsignal(signal.SIGINT)
    with first_ctrl_c_only():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before


# A Ctrl-C as torch starts importing, sent by an audit hook so that it lands there every
# time (a real one aborted a node once: 'terminate called ... error_already_set').
_CTRL_C_IN_IMPORT = """
import os, signal, sys
from sorghum_depth.inference import load_model
from sorghum_depth.interrupt import first_ctrl_c_only
sent = []
def hook(event, args):
    if event == 'import' and args[0] == 'torch' and not sent:
        sent.append(1)
        os.kill(os.getpid(), signal.SIGINT)
sys.addaudithook(hook)
with first_ctrl_c_only():
    try:
        load_model(sys.argv[1], 'cpu', check=False)
        print('loaded')
    except KeyboardInterrupt:
        print('interrupted after the import:', 'sorghum_depth.torch_backend' in sys.modules)
"""


def test_ctrl_c_during_the_torch_import_waits_for_the_import_to_finish(files):
    done = subprocess.run([sys.executable, '-c', _CTRL_C_IN_IMPORT, str(files[1]['good'])],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'interrupted after the import: True', done.stdout


_CTRL_C_THEN_ERROR = """
import os, signal, sys, time
from sorghum_depth.interrupt import ctrl_c_held, first_ctrl_c_only
with first_ctrl_c_only():
    try:
        with ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            raise ImportError('the block fails after the Ctrl-C')
    except KeyboardInterrupt:
        print('interrupted')
    except ImportError:
        print('ImportError')
"""


# A Ctrl-C whose handler runs inside a weakref callback (as importlib's module-lock
# clean-up is): Python drops an exception raised there, printing 'Exception ignored' and a
# traceback; a node under load did so on Ctrl-C.
_CTRL_C_IN_WEAKREF_CALLBACK = """
import signal, time, weakref
from sorghum_depth.interrupt import first_ctrl_c_only
class Lock:
    pass
with first_ctrl_c_only():
    try:
        lock = Lock()
        ref = weakref.ref(lock, lambda r: signal.raise_signal(signal.SIGINT))
        del lock
        time.sleep(5)                 # the node carries on with its work
        print('not interrupted')
    except KeyboardInterrupt:
        print('interrupted')
"""


def test_a_ctrl_c_landing_in_a_weakref_callback_still_stops_the_process():
    done = subprocess.run([sys.executable, '-c', _CTRL_C_IN_WEAKREF_CALLBACK],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == 'interrupted', done.stdout + done.stderr
    assert 'Traceback' not in done.stderr and 'Exception ignored' not in done.stderr, \
        done.stderr


def test_a_held_ctrl_c_wins_over_an_error_of_the_block():
    done = subprocess.run([sys.executable, '-c', _CTRL_C_THEN_ERROR], capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == 'interrupted', done.stdout + done.stderr
