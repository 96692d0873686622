"""Known user errors end a tool with one line, ``error: <what> ...`` and status 2; files are never half-written."""
import json
import os.path as osp
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

SCL_DEMO = 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py'


def run_tool(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def last_line(proc):
    return proc.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_npy_file_as_checkpoint_is_not_a_checkpoint(tiny_data, tmp_path):
    from scl.utils.checkpoint import read_checkpoint
    from scl.utils.errors import NotACheckpointError
    path = str(tmp_path / 'feats.npy')
    np.save(path, np.zeros((3, 4)))
    with pytest.raises(NotACheckpointError, match=r'not a checkpoint: .*feats.npy \(a NumPy \.npy array') as e:
        read_checkpoint(path)
    assert 'weights_only=False' not in str(e.value)
    proc = run_tool('tools/test.py', SCL_DEMO, path, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                    f'test_dataloader.dataset.data_root={tiny_data}/cls/',
                    f'train_dataloader.dataset.data_root={tiny_data}/scenes/')
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert last_line(proc).startswith('error: not a checkpoint: ') and 'Traceback' not in proc.stderr


def test_an_empty_file_as_checkpoint_says_so(tmp_path):
    from scl.utils.checkpoint import read_checkpoint
    from scl.utils.errors import NotACheckpointError
    path = tmp_path / 'iter_10.pth'
    path.write_bytes(b'')
    with pytest.raises(NotACheckpointError, match='an empty file'):
        read_checkpoint(str(path))


@pytest.mark.slow
def test_a_missing_data_root_is_one_line_with_the_fix(tmp_path):
    proc = run_tool('tools/train.py', SCL_DEMO, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                    f'train_dataloader.dataset.data_root={tmp_path}/nowhere/')
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = last_line(proc)
    assert line.startswith('error: image folder ') and 'does not exist' in line and 'build_scene_dataset' in line
    env = dict(os.environ, SCL_DEBUG='1')
    debug = subprocess.run([sys.executable, 'tools/train.py', SCL_DEMO, '--work-dir', str(tmp_path / 'w'),
                            '--cfg-options', f'train_dataloader.dataset.data_root={tmp_path}/nowhere/'],
                           cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert debug.returncode != 2 and 'Traceback' in debug.stderr


@pytest.mark.slow
def test_a_bad_option_is_one_line(tmp_path):
    proc = run_tool('tools/train.py', SCL_DEMO, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                    'model.head.beta=-1')
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'beta must be >= 0, got -1' in last_line(proc)


def test_a_run_without_its_own_config_is_an_error_naming_the_file(tmp_path):
    from scl.benchmarks.scene.evaluation import run_model_config
    from scl.utils.errors import ConfigError
    with pytest.raises(ConfigError, match=r'scl_resnet18_1xb32-coslr-300i_demo.py .* does not exist'):
        run_model_config(osp.join(ROOT, SCL_DEMO), str(tmp_path))


def test_a_writer_killed_mid_write_leaves_the_old_file(tmp_path):
    from scl.utils.fileio import atomic_write_json
    path = str(tmp_path / 'records.json')
    atomic_write_json(path, dict(old=True))
    code = ('import os, time\n'
            'from scl.utils.fileio import atomic_write_text\n'
            'def stall(fd):  # the new content is written to the temporary file: wait there to be killed\n'
            '    print("writing", flush=True)\n'
            '    time.sleep(60)\n'
            'os.fsync = stall\n'
            f'atomic_write_text({path!r}, "x" * 10_000_000)\n')
    proc = subprocess.Popen([sys.executable, '-c', code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'writing'  # the new content is written, not yet in place
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert json.load(open(path)) == dict(old=True)


def test_published_json_is_strict_json_with_null_for_missing_figures(tmp_path):
    from scl.utils.fileio import atomic_write_json, finite_json
    obj = dict(mean=np.float64('nan'), ci=(float('-inf'), 2.5), rows=[dict(x=float('inf'), n=3)], ok=1.0)
    assert finite_json(obj) == dict(mean=None, ci=[None, 2.5], rows=[dict(x=None, n=3)], ok=1.0)
    path = str(tmp_path / 'results.json')
    atomic_write_json(path, obj, finite=True, indent=1)

    def refuse(token):  # what a strict parser (jq, JavaScript's JSON.parse) does with NaN / Infinity
        raise ValueError(token)
    assert json.loads(open(path).read(), parse_constant=refuse)['ci'] == [None, 2.5]
    atomic_write_json(path, obj)  # the default keeps Python's round trip for internal records
    assert 'NaN' in open(path).read()


@pytest.mark.slow
def test_fault_drill_writes_its_rows(tmp_path):
    from conftest import load_script
    drill = load_script('tools/analysis_tools/fault_drill.py')
    rows, md = str(tmp_path / 'faults.json'), str(tmp_path / 'reliability.md')
    assert drill.main(['--out', str(tmp_path / 'drill'), '--only', 'kill_during_write', 'missing_data_root',
                       '--json', rows, '--markdown', md]) == 0
    faults = json.load(open(rows))['faults']
    assert [f['fault'] for f in faults] == ['kill during a write', 'missing data root']
    assert all(f['passed'] for f in faults) and '<out>' in faults[1]['observed']
    assert '| missing data root |' in open(md).read()
