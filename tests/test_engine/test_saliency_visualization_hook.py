import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import ROOT, shrink_selfsup_cfg


def tiny_scl_run(tiny_data, work_dir, vis_backends, name, iters=2, interval=None):
    cfg = shrink_selfsup_cfg(Config.fromfile(osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py')),
                             tiny_data, work_dir, iters=iters)
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] == 'SaliencyStoreHook'] + [
        dict(type='SaliencyVisualizationHook', num_images=2, num_pairs=1, interval=interval)
    ]
    # A unique visualiser name: mmengine keeps one instance per name, and two runs may start in the same second.
    cfg.visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends, name=name)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def test_pictures_go_through_the_visualiser_and_stay_on_disk(tiny_data, tmp_path):
    runner = tiny_scl_run(tiny_data, str(tmp_path), [dict(type='LocalVisBackend')], 'vis_local', iters=2, interval=1)
    # The files the quick start and the docs point at.
    for name in ('saliency_iter_1.png', 'saliency_iter_2.png', 'saliency_final.png'):
        assert osp.isfile(tmp_path / 'saliency' / name), name
    # LocalVisBackend's copies, one per step (the final picture shares step 2 with the last periodic one).
    vis = sorted(osp.basename(p) for p in glob.glob(osp.join(tmp_path, runner.timestamp, 'vis_data', 'vis_image',
                                                             '*.png')))
    assert vis == ['saliency_1.png', 'saliency_2.png']


def test_tensorboard_backend_receives_the_picture(tiny_data, tmp_path):
    pytest.importorskip('tensorboard', reason='tensorboard is not installed (pip install tensorboard)')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    runner = tiny_scl_run(tiny_data, str(tmp_path), [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')],
                          'vis_tensorboard', iters=1)
    runner.visualizer.get_backend('TensorboardVisBackend').close()  # flush the event file
    events = glob.glob(osp.join(tmp_path, runner.timestamp, 'vis_data', '**', 'events.out.tfevents.*'),
                       recursive=True)
    assert len(events) == 1
    acc = EventAccumulator(events[0], size_guidance={'images': 0})
    acc.Reload()
    assert 'saliency' in acc.Tags()['images']
    image = acc.Images('saliency')[-1]
    assert image.step == 1 and image.width > 100 and image.height > 100
    assert image.encoded_image_string[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'loss' in acc.Tags()['scalars']  # the scalar logs go there too


def test_bad_interval_is_a_clear_error():
    from mmpretrain.registry import HOOKS
    with pytest.raises(ValueError, match='interval must be a positive integer'):
        HOOKS.build(dict(type='SaliencyVisualizationHook', interval=0))
