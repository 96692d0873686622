import os
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
os.environ.setdefault('OMP_NUM_THREADS', '2')


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory):
    """A tiny real scene set (Fashion-MNIST objects on real photos), built once per test session."""
    from scl.datasets.scene_builder import SceneConfig, build_scene_dataset
    out = str(tmp_path_factory.mktemp('scenes'))
    cfg = SceneConfig(num_train=24, num_val=6, canvas=64, min_object_size=12, max_object_size=24, num_cls_train=60,
                      num_cls_test=30, cls_size=32, seed=0)
    build_scene_dataset(out, cfg)
    return out


def same_view_augmentation(views):
    """A per-view pipeline config with the fused transforms read as mmpretrain's and mmcv's (bit for bit the same:
    tests/test_datasets/test_transforms/test_color.py and test_grey_flip.py), for comparing the twins' augmentations."""
    import json
    text = json.dumps(views)
    for fused in ('ColorJitter', 'RandomGrayscale', 'RandomFlip'):
        text = text.replace(f'"Fused{fused}"', f'"{fused}"')
    return json.loads(text)


def shrink_selfsup_cfg(cfg, data_root, work_dir, iters=2):
    """Make a pretraining config tiny: our tiny scenes, batch 4, a 16-wide ResNet-18, 32 px views, no workers."""
    cfg.work_dir = work_dir
    cfg.train_dataloader.dataset.data_root = osp.join(data_root, 'scenes')
    cfg.train_dataloader.dataset.data_prefix = 'train'
    cfg.train_dataloader.batch_size = 4
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.model.queue_len = 64
    cfg.model.backbone.base_channels = 16
    cfg.model.neck.in_channels = 128
    cfg.model.neck.hid_channels = 64
    from scl.datasets.transforms import iter_transforms
    for t in iter_transforms(cfg.train_dataloader.dataset.pipeline):
        if t['type'] == 'SaliencyCropTransform':
            t['size'] = 32
        if t['type'] == 'RandomResizedCrop':
            t['scale'] = 32
    for h in cfg.get('custom_hooks', []):
        if h['type'] == 'KNNMonitorHook':  # the tiny set's labelled split, 32 px, a check at the last iteration
            for key in ('bank', 'query'):
                h[key]['data_root'] = osp.join(data_root, 'cls')
                for t in h[key]['pipeline']:
                    if t['type'] == 'Resize':
                        t['scale'] = 32
            h.update(num_bank=40, num_query=20, interval=iters, batch_size=16)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=iters, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_level = 'WARNING'
    return cfg


def load_script(relpath):
    """Import a script of the repository (``tools/...``, ``setup.py``) as a module, to call its functions."""
    import importlib.util
    name = osp.splitext(osp.basename(relpath))[0]
    spec = importlib.util.spec_from_file_location(f'script_{name}', osp.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
