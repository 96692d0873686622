"""scl.datasets.transforms.pipeline: one walker for built and configured pipelines."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS

import scl  # noqa: F401
from scl.benchmarks.scene import arms, data_search
from scl.datasets.transforms import SaliencyCropTransform, find_transform, iter_transforms, transform_path

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def cfg(name):
    return Config.fromfile(osp.join(ROOT, name if name.startswith('configs/') else osp.join('configs', name)))


def test_the_benchmarks_override_addresses_point_at_the_crops():
    scl_pipe = cfg(arms.CONFIGS['scl']).train_dataloader.dataset.pipeline
    moco_pipe = cfg(arms.CONFIGS['mocov2']).train_dataloader.dataset.pipeline
    prefix = 'train_dataloader.dataset.pipeline.'
    assert prefix + transform_path(scl_pipe, 'SaliencyCropTransform') == arms._CROP == data_search._SCL_CROP
    assert prefix + transform_path(moco_pipe, 'RandomResizedCrop') == data_search._MOCO_CROP


@pytest.mark.slow
def test_configured_and_built_pipelines_are_walked_alike(tmp_path, tiny_data):
    init_default_scope('mmpretrain')
    for name, crop in (('scl/scl_resnet18_1xb32-coslr-300i_demo.py', 'SaliencyCropTransform'),
                       ('mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py', 'RandomResizedCrop')):
        c = cfg(name)
        configured = find_transform(c.train_dataloader.dataset.pipeline, (crop, ))
        assert configured['type'] == crop
        ds_cfg = c.train_dataloader.dataset
        ds_cfg.data_root = osp.join(tiny_data, 'scenes')
        built = DATASETS.build(ds_cfg).pipeline
        found = find_transform(built, (crop, ))
        assert type(found).__name__ == crop
        # the built walk sees every configured transform type (wrappers included) in the same order (a MultiView
        # builds its view pipeline once per view)
        conf_types = [t['type'] for t in iter_transforms(c.train_dataloader.dataset.pipeline)]
        built_types = [type(t).__name__ for t in iter_transforms(built) if type(t).__name__ != 'Compose']
        assert list(dict.fromkeys(built_types)) == list(dict.fromkeys(conf_types))
        assert len(built_types) >= len(conf_types)
    assert find_transform([], (SaliencyCropTransform, )) is None
