import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import ROOT, load_script, shrink_selfsup_cfg

SCL_DEMO = osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py')
MOCO_DEMO = osp.join(ROOT, 'configs/mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py')


def run(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def test_baseline_two_iterations_write_a_checkpoint(tiny_data, tmp_path):
    cfg = shrink_selfsup_cfg(Config.fromfile(MOCO_DEMO), tiny_data, str(tmp_path))
    run(cfg)
    assert osp.isfile(tmp_path / 'iter_2.pth')
    ckpt = torch.load(tmp_path / 'iter_2.pth', map_location='cpu')  # torch's weights_only default: see scl.utils
    assert any(k.startswith('backbone.') for k in ckpt['state_dict'])


def test_scl_trains_saves_store_and_picture_and_resumes_bit_exactly(tiny_data, tmp_path):
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, str(tmp_path), iters=4)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2, by_epoch=False)
    cfg.custom_hooks[0]['warmup_epochs'] = 0
    cfg.custom_hooks[0]['grid_size'] = 8
    run(cfg)
    assert osp.isfile(tmp_path / 'saliency' / 'saliency_final.png')
    ckpt = torch.load(tmp_path / 'iter_2.pth', map_location='cpu')
    saved = ckpt['saliency_store']['maps'].numpy()
    assert saved.shape == (24, 8, 8) and saved.dtype == np.float16
    assert (saved != 1).any(), 'the store was never updated'
    final = np.load(tmp_path / 'saliency_store' / 'rank0' / 'maps.npy')
    assert not np.array_equal(final, saved)  # iterations 3-4 changed it after the checkpoint

    # Resume from iteration 2 with nothing left to train: the store must be the checkpoint's, bit for bit.
    cfg2 = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, str(tmp_path / 'resumed'), iters=2)
    cfg2.custom_hooks[0]['grid_size'] = 8
    cfg2.custom_hooks = cfg2.custom_hooks[:1]
    cfg2.resume, cfg2.load_from = True, str(tmp_path / 'iter_2.pth')
    run(cfg2)
    restored = np.load(tmp_path / 'resumed' / 'saliency_store' / 'rank0' / 'maps.npy')
    assert np.array_equal(restored.view(np.uint16), saved.view(np.uint16))


def test_resume_on_another_dataset_size_fails_clearly(tiny_data, tmp_path):
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, str(tmp_path / 'a'), iters=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, by_epoch=False)
    cfg.custom_hooks = cfg.custom_hooks[:1]
    run(cfg)
    cfg2 = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, str(tmp_path / 'b'), iters=1)
    cfg2.train_dataloader.dataset.data_prefix = 'val'  # 6 scenes instead of 24
    cfg2.custom_hooks = cfg2.custom_hooks[:1]
    cfg2.resume, cfg2.load_from = True, str(tmp_path / 'a' / 'iter_1.pth')
    with pytest.raises(ValueError, match='24, 16, 16.*6 samples'):
        run(cfg2)


def test_missing_data_root_names_the_path(tmp_path):
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), str(tmp_path / 'nowhere'), str(tmp_path / 'wd'))
    with pytest.raises(FileNotFoundError, match='nowhere.*build_scene_dataset'):
        run(cfg)


@pytest.mark.slow
def test_dist_train_two_processes_on_cpu_identical_stores(tiny_data, tmp_path):
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, str(tmp_path), iters=3)
    cfg.custom_hooks[0]['warmup_epochs'] = 0
    cfg.custom_hooks = cfg.custom_hooks[:1]
    cfg.train_dataloader.num_workers = 1  # workers too: they must see the store created after the loop
    cfg_path = str(tmp_path / 'tiny_scl.py')
    cfg.dump(cfg_path)
    env = dict(os.environ, PORT=str(29600 + os.getpid() % 300), PYTHON=sys.executable, OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools/dist_train.sh'), cfg_path, '2', '--work-dir',
                           str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    a = np.load(tmp_path / 'saliency_store' / 'rank0' / 'maps.npy')
    b = np.load(tmp_path / 'saliency_store' / 'rank1' / 'maps.npy')
    assert (a != 1).any()
    assert np.array_equal(a.view(np.uint16), b.view(np.uint16))
    assert osp.isfile(tmp_path / 'iter_3.pth')


def test_queue_that_does_not_fit_the_global_batch_stops_before_training(tiny_data, tmp_path):
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, str(tmp_path))
    cfg.model.queue_len = 60  # batch 4 x 2 views = 8 keys per step
    with pytest.raises(ValueError, match=r'queue_len=60 .* 8 keys .* model.queue_len=56') as e:
        run(cfg)
    assert any(entry.name == 'before_train' for entry in e.traceback)  # the hook, not an assert in the first step
    assert not osp.exists(tmp_path / 'iter_1.pth')


def load_train_tool():
    return load_script('tools/train.py')


def test_auto_scale_lr_works_on_every_config_or_says_why(tmp_path):
    import argparse
    import glob
    train = load_train_tool()
    args = argparse.Namespace(work_dir=str(tmp_path), amp=False, resume=None, auto_scale_lr=True, cfg_options=None,
                              config=None)
    configs = [p for p in glob.glob(osp.join(ROOT, 'configs/**/*.py'), recursive=True) if '_base_' not in p]
    assert len(configs) > 10
    for path in configs:
        args.config = path
        cfg = train.merge_args(Config.fromfile(path), args)
        assert cfg.auto_scale_lr.enable and cfg.auto_scale_lr.base_batch_size > 0, path
    cfg = Config.fromfile(SCL_DEMO)
    cfg.pop('auto_scale_lr')
    args.config = 'my_config.py'
    with pytest.raises(ValueError, match='my_config.py has no auto_scale_lr'):
        train.merge_args(cfg, args)


def test_amp_on_a_cpu_only_machine_says_why(tmp_path):
    import argparse
    args = argparse.Namespace(work_dir=str(tmp_path), amp=True, resume=None, auto_scale_lr=False, cfg_options=None,
                              config=SCL_DEMO)
    if torch.cuda.is_available():
        cfg = load_train_tool().merge_args(Config.fromfile(SCL_DEMO), args)
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    else:
        with pytest.raises(ValueError, match='--amp .* needs a GPU'):
            load_train_tool().merge_args(Config.fromfile(SCL_DEMO), args)


def coco_layout(tiny_data, root, n):
    """A COCO-layout folder (``train2017/*.png``) of ``n`` of the tiny scenes."""
    import shutil
    os.makedirs(root / 'train2017')
    for name in sorted(os.listdir(osp.join(tiny_data, 'scenes', 'train')))[:n]:
        shutil.copy(osp.join(tiny_data, 'scenes', 'train', name), root / 'train2017' / name)
    return str(root)


def tiny_coco_cfg(data, work_dir, epochs, workers):
    """The headline COCO config, epoch-based as it is, on a tiny COCO-layout folder with a small network."""
    cfg = shrink_selfsup_cfg(Config.fromfile(osp.join(ROOT, 'configs/scl_r50_coco.py')), data, work_dir)
    cfg.train_dataloader.dataset.data_root = data
    cfg.train_dataloader.dataset.data_prefix = 'train2017'
    cfg.train_dataloader.num_workers = workers
    cfg.train_dataloader.persistent_workers = workers > 0
    cfg.model.backbone.depth = 18
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, by_epoch=True)
    cfg.custom_hooks = [dict(type='SaliencyStoreHook', grid_size=8, warmup_epochs=1)]
    return cfg


def test_coco_config_trains_across_epochs_whose_length_the_batch_does_not_divide(tiny_data, tmp_path):
    data = coco_layout(tiny_data, tmp_path / 'coco', 10)  # 10 images, batch 4: every epoch ends on a short batch
    cfg = tiny_coco_cfg(data, str(tmp_path / 'work'), epochs=3, workers=2)
    assert cfg.train_dataloader.drop_last is True  # the config's own setting, not the test's
    runner = run(cfg)
    assert runner.iter == 3 * 2 and osp.isfile(tmp_path / 'work' / 'epoch_3.pth')


@pytest.mark.slow
def test_a_short_batch_that_reaches_the_queue_is_a_clear_error(tiny_data, tmp_path):
    data = coco_layout(tiny_data, tmp_path / 'coco', 10)
    cfg = tiny_coco_cfg(data, str(tmp_path / 'work'), epochs=2, workers=0)
    cfg.train_dataloader.drop_last = False  # what a user's own config may do
    with pytest.raises(ValueError, match=r'a batch of another size came before .*drop_last=True'):
        run(cfg)


def test_resume_on_other_images_of_the_same_count_fails_clearly(tiny_data, tmp_path):
    import shutil
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, str(tmp_path / 'a'), iters=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, by_epoch=False)
    cfg.custom_hooks = cfg.custom_hooks[:1]
    run(cfg)
    assert torch.load(tmp_path / 'a' / 'iter_1.pth')['saliency_store']['images']
    other = tmp_path / 'other'
    os.makedirs(other / 'scenes' / 'train')
    for name in os.listdir(osp.join(tiny_data, 'scenes', 'train')):  # 24 scenes again, under other names
        shutil.copy(osp.join(tiny_data, 'scenes', 'train', name), other / 'scenes' / 'train' / f'x{name}')
    shutil.copytree(osp.join(tiny_data, 'cls'), other / 'cls')
    cfg2 = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), str(other), str(tmp_path / 'b'), iters=1)
    cfg2.custom_hooks = cfg2.custom_hooks[:1]
    cfg2.resume, cfg2.load_from = True, str(tmp_path / 'a' / 'iter_1.pth')
    with pytest.raises(ValueError, match='belongs to another list of training images'):
        run(cfg2)


@pytest.mark.slow
def test_the_demo_prints_what_it_learned_beside_random_initialisation(tiny_data, tmp_path):
    """The quick start's training command on a shrunk demo: its log ends with the kNN top-1 of the pretrained
    network beside the same network at random initialisation, and the kNN curve and the saliency picture exist."""
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, str(tmp_path / 'wd'), iters=4)
    cfg.log_level = 'INFO'
    cfg.dump(str(tmp_path / 'demo.py'))
    proc = subprocess.run([sys.executable, 'tools/train.py', str(tmp_path / 'demo.py')], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    import re
    found = re.findall(r'kNN top-1 on 20 held-out labelled images \(bank of 40, k=\d+\): random initialisation '
                       r'([\d.]+) %, after 4 iterations ([\d.]+) % \(([+-][\d.]+) points\)', out)
    assert len(found) == 1, out[-3000:]
    random_init, trained, delta = map(float, found[0])
    assert delta == pytest.approx(trained - random_init, abs=0.011)
    assert osp.isfile(tmp_path / 'wd' / 'knn_curve.png')
    assert osp.isfile(tmp_path / 'wd' / 'saliency' / 'saliency_final.png')
