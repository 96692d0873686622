import pytest
from mmpretrain.registry import DATASETS, HOOKS, MODELS, TRANSFORMS

import scl  # noqa: F401


@pytest.mark.parametrize('registry,cfg', [
    (TRANSFORMS, dict(type='SaliencyCropTransform', size=32)),
    (TRANSFORMS, dict(type='MultiViewWithKeys', transforms=[dict(type='RandomFlip', prob=0.5)])),
    (MODELS, dict(type='SaliencyContrastiveHead')),
    (HOOKS, dict(type='SaliencyStoreHook')),
    (HOOKS, dict(type='SaliencyVisualizationHook')),
    (HOOKS, dict(type='QueueLengthCheckHook')),
])
def test_components_build_from_mmpretrain_registries(registry, cfg):
    obj = registry.build(cfg)
    assert type(obj).__name__ == cfg['type']


@pytest.mark.parametrize('algo', ['SCLAlgorithm', 'SymMoCo'])
def test_algorithms_build(algo):
    model = MODELS.build(
        dict(type=algo, queue_len=16, feat_dim=8,
             backbone=dict(type='ResNet', depth=18, base_channels=8),
             neck=dict(type='MoCoV2Neck', in_channels=64, hid_channels=16, out_channels=8, with_avg_pool=True),
             head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'))))
    assert type(model).__name__ == algo


def test_dataset_registered():
    assert DATASETS.get('SceneImageDataset') is not None


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match='saliency_ema'):  # the store update's EMA rate belongs to the model
        MODELS.build(dict(type='SCLAlgorithm', saliency_ema=0, backbone=dict(type='ResNet', depth=18), neck=None,
                          head=dict(type='SaliencyContrastiveHead')))
    with pytest.raises(TypeError, match='ema_rate'):  # and only there
        HOOKS.build(dict(type='SaliencyStoreHook', ema_rate=0.5))
    with pytest.raises(ValueError, match='grid_size'):
        HOOKS.build(dict(type='SaliencyStoreHook', grid_size=0))
