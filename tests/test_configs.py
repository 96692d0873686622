import glob
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import ROOT, same_view_augmentation

CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True) if '_base_' not in p)


def test_there_are_configs():
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_loads(path):
    cfg = Config.fromfile(path)
    assert 'model' in cfg
    assert cfg.get('default_scope') in ('mmpretrain', 'mmdet')
    assert 'scl' in cfg.custom_imports['imports'] and cfg.custom_imports['allow_failed_imports'] is False


def test_no_two_configs_share_a_basename():
    names = [osp.basename(p) for p in CONFIGS]
    assert len(names) == len(set(names))


def test_headline_config_is_scl_resnet50_on_coco():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/scl_r50_coco.py'))
    assert cfg.model.type == 'SCLAlgorithm' and cfg.model.backbone.depth == 50
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert cfg.train_dataloader.dataset.data_prefix == 'train2017'
    assert cfg.train_cfg.max_epochs == 800 and cfg.optim_wrapper.optimizer.lr == 0.3
    assert cfg.model.momentum == 0.001 and cfg.model.queue_len == 65536 and cfg.model.head.temperature == 0.2


def _without(d, keys):
    return {k: v for k, v in d.items() if k not in keys}


@pytest.mark.parametrize('scl_cfg,moco_cfg', [
    ('configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py', 'configs/mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py'),
    ('configs/scl/scl_resnet18_1xb32-coslr-1000i_demo.py', 'configs/mocov2/mocov2_resnet18_1xb32-coslr-1000i_demo.py'),
    ('configs/scl/scl_resnet50_8xb32-coslr-800e_coco.py', 'configs/mocov2/mocov2_resnet50_8xb32-coslr-800e_coco.py'),
    ('configs/scl/scl_resnet18_1xb32-coslr-2000i_scenes.py', 'configs/mocov2/mocov2_resnet18_1xb32-coslr-2000i_scenes.py'),
    ('configs/scl/scl_resnet18_1xb32-coslr-4000i_scenes.py', 'configs/mocov2/mocov2_resnet18_1xb32-coslr-4000i_scenes.py'),
])
def test_mocov2_twins_differ_only_in_the_method(scl_cfg, moco_cfg):
    a, b = Config.fromfile(osp.join(ROOT, scl_cfg)), Config.fromfile(osp.join(ROOT, moco_cfg))
    assert a.model.backbone == b.model.backbone and a.model.neck == b.model.neck
    assert _without(a.model, {'type', 'head', 'saliency_source', 'saliency_reduce', 'saliency_ema'}) == _without(b.model, {'type', 'head'})
    assert a.model.head.temperature == b.model.head.temperature
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'randomness', 'data_preprocessor'):
        assert a[key] == b[key], key
    assert _without(a.train_dataloader, {'dataset'}) == _without(b.train_dataloader, {'dataset'})
    # Same per-view augmentation after the crop.
    assert same_view_augmentation(a.train_dataloader.dataset.pipeline[2].transforms) == same_view_augmentation(
        b.train_dataloader.dataset.pipeline[1].transforms[0][1:])


@pytest.mark.parametrize('method', ['mocov2', 'scl'])
def test_scene_benchmark_configs_run_the_cpu_preset_schedule(method):
    """A user running the benchmark's config with tools/train.py gets the CPU preset's schedule."""
    from scl.benchmarks.scene.arms import CONFIGS, PRESETS
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[method]))
    n = PRESETS['cpu']['pretrain_iters']
    assert cfg.train_cfg.max_iters == n
    assert cfg.param_scheduler[0].T_max == n and cfg.param_scheduler[0].end == n
    assert cfg.default_hooks.checkpoint.interval == n // PRESETS['cpu']['checkpoints']


def _queue_pretraining(cfg):
    return 'queue_len' in cfg.model and cfg.get('train_dataloader') is not None


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_epoch_based_queue_configs_drop_the_short_last_batch(path):
    """A MoCo-style queue takes the same number of keys every step: an epoch whose length the batch does not divide
    ends on a short batch, which an epoch-based config must drop (an iteration-based one draws full batches from an
    InfiniteSampler)."""
    cfg = Config.fromfile(path)
    if not _queue_pretraining(cfg):
        return
    loader = cfg.train_dataloader
    if cfg.train_cfg.get('type') == 'IterBasedTrainLoop' or 'max_iters' in cfg.train_cfg:
        assert loader.sampler.type in ('InfiniteSampler', 'KeyedInfiniteSampler'), path
    else:
        assert loader.get('drop_last') is True, path
