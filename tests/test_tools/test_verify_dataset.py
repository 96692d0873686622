import os.path as osp
import shutil
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import ROOT, shrink_selfsup_cfg

SCL_DEMO = osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py')


@pytest.fixture
def scenes_with_a_corrupt_image(tiny_data, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(osp.join(tiny_data, 'scenes', 'train'), root / 'scenes' / 'train')
    bad = sorted((root / 'scenes' / 'train').iterdir())[3]
    bad.write_bytes(bad.read_bytes()[:60])  # a truncated PNG, as a broken download leaves it
    return str(root), str(bad)


def tiny_cfg(data_root, work_dir):
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), data_root, work_dir, iters=8)
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=False)  # reaches the bad image in 8 steps
    cfg.custom_hooks = cfg.custom_hooks[:1]
    return cfg


def verify(cfg_path, *args):
    return subprocess.run([sys.executable, osp.join(ROOT, 'tools/misc/verify_dataset.py'), cfg_path, *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.mark.slow
def test_verify_dataset_lists_unreadable_images_and_fails(scenes_with_a_corrupt_image, tmp_path):
    data_root, bad = scenes_with_a_corrupt_image
    cfg_path = str(tmp_path / 'cfg.py')
    tiny_cfg(data_root, str(tmp_path / 'wd')).dump(cfg_path)
    proc = verify(cfg_path, '--out-path', str(tmp_path / 'bad.txt'), '--workers', '1')
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f'unreadable: {bad}' in proc.stdout and '1 of 24 images cannot be read' in proc.stdout
    assert open(tmp_path / 'bad.txt').read().split() == [bad]
    assert 'reading images' in proc.stderr  # the progress bar


@pytest.mark.slow
def test_verify_dataset_passes_clean_data(tiny_data, tmp_path):
    cfg_path = str(tmp_path / 'cfg.py')
    tiny_cfg(tiny_data, str(tmp_path / 'wd')).dump(cfg_path)
    proc = verify(cfg_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '0 of 24 images cannot be read' in proc.stdout


def test_corrupt_image_in_training_names_the_file_and_the_tool(scenes_with_a_corrupt_image, tmp_path):
    data_root, bad = scenes_with_a_corrupt_image
    from scl.datasets.image_check import CorruptImageError
    with pytest.raises(CorruptImageError, match=f'{bad}.*tools/misc/verify_dataset.py'):
        Runner.from_cfg(tiny_cfg(data_root, str(tmp_path / 'wd'))).train()
