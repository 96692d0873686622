"""Packaging: compatible install_requires, and configs / tools / model index shipped for OpenMMLab's `mim`."""
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys

import yaml

from conftest import ROOT, load_script


def load_setup_module():
    return load_script('setup.py')  # setup() itself only runs under __main__


def test_install_requires_are_ranges_that_keep_the_users_torch():
    setup = load_setup_module()
    reqs = setup.parse_requirements('requirements/runtime.txt')
    assert reqs and not [r for r in reqs if '==' in r], reqs  # exact pins live in requirements/pinned.txt
    names = {r.split('<')[0].split('>')[0].split('=')[0].strip().lower() for r in reqs}
    assert {'torch', 'mmengine', 'mmpretrain'} <= names
    assert 'mmdet' not in names  # detection transfer only: the [det] extra
    assert any(r.startswith('mmdet') for r in setup.parse_requirements('requirements/det.txt'))
    pinned = setup.parse_requirements('requirements/pinned.txt')
    assert 'torch==2.14.1' in pinned and 'mmengine==0.10.7' in pinned
    # mmcv is not pinned there (a pin would make pip build the full mmcv over mmcv-lite): install.sh pins it
    assert not [r for r in pinned if r.startswith('mmcv')]
    assert 'MMCV_VERSION=2.1.0' in open(osp.join(ROOT, 'tools', 'install.sh')).read()


def metafile_models():
    index = yaml.safe_load(open(osp.join(ROOT, 'model-index.yml')))
    return [m['Name'] for path in index['Import'] for m in yaml.safe_load(open(osp.join(ROOT, path)))['Models']]


def test_mim_finds_scl_configs_in_the_built_wheel(tmp_path):
    """Build the wheel the OpenMMLab way (configs, tools and model-index.yml copied into scl/.mim) from a copy of the
    repository, install it into a folder, and ask `mim search scl` what it finds."""
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('setup.py', 'README.md', 'model-index.yml'):
        shutil.copyfile(osp.join(ROOT, name), src / name)
    for name in ('requirements', 'scl', 'configs', 'tools'):
        shutil.copytree(osp.join(ROOT, name), src / name, ignore=shutil.ignore_patterns('__pycache__', '.mim'))
    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w',
                           str(tmp_path / 'wheel'), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = glob.glob(str(tmp_path / 'wheel' / 'scl-*.whl'))[0]
    target = tmp_path / 'site'
    proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target', str(target), wheel],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ('configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py', 'tools/train.py', 'model-index.yml'):
        assert osp.isfile(target / 'scl' / '.mim' / name), name
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([mim, 'search', 'scl'], capture_output=True, text=True, timeout=300, env=env,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    check_mim_table(proc.stdout)


def check_mim_table(out):
    """`mim search scl` lists every metafile model, and every field of its table carries a value: mim cuts values to
    its display width minus the longest field name, so long result names leave every field blank."""
    found = {line.split(':', 1)[1].strip() for line in out.splitlines() if line.startswith('config id:')}
    expected = set(metafile_models())
    assert expected and expected <= found, (expected - found, out[-2000:])
    import re
    lines = [line for line in out.splitlines() if line and not line.startswith(('config id:', '---'))]
    fields = [re.match(r'^(\S.*?)\s{2,}(\S.*)$', line) for line in lines]  # key, padded, then its value
    blank = [line for line, m in zip(lines, fields) if m is None]
    assert fields and not blank, blank[:5]
    assert any(m.group(1) == 'scenes v2 objects/top_1_accuracy' for m in fields), out[-2000:]


def test_mim_search_and_list_work_on_the_editable_install(tmp_path):
    """tools/install.sh installs scl editable (compat mode) with its `.mim` folder linked where mim looks."""
    import pytest
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    if not osp.isfile(mim):
        pytest.skip('openmim is not installed in this environment')
    import scl
    if not osp.samefile(osp.dirname(scl.__file__), osp.join(ROOT, 'scl')):
        pytest.skip('scl is not installed from this source tree')
    proc = subprocess.run([mim, 'search', 'scl'], capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    check_mim_table(proc.stdout)
    proc = subprocess.run([mim, 'list'], capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0 and any(line.split()[:1] == ['scl'] for line in proc.stdout.splitlines()), \
        proc.stdout[-2000:] + proc.stderr[-2000:]
