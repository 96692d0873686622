"""Per-sample random streams: KeyedInfiniteSampler's keys seed each stage of a sample's pipeline, so views do not
depend on loader workers, and arms that differ only in their crops draw the same augmentation numbers."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import InfiniteSampler
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import DATA_SAMPLERS, DATASETS

import scl  # noqa: F401
from scl.datasets.samplers import stream_seed
from conftest import ROOT, shrink_selfsup_cfg

SCL_DEMO = osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py')


def test_keys_follow_mmengine_infinite_sampler_order():
    class Data:
        def __len__(self):
            return 10

    keyed = DATA_SAMPLERS.build(dict(type='KeyedInfiniteSampler', dataset=Data(), shuffle=True, seed=3))
    plain = InfiniteSampler(Data(), shuffle=True, seed=3)
    it_keyed, it_plain = iter(keyed), iter(plain)
    keys = [next(it_keyed) for _ in range(25)]
    assert [k[0] for k in keys] == [next(it_plain) for _ in range(25)]
    assert [k[1] for k in keys] == list(range(25)) and {k[2] for k in keys} == {3}
    assert next(iter(keyed))[1] == 25  # a new iterator continues the stream, as InfiniteSampler's does


def test_stream_seeds_differ_by_every_part_of_the_key():
    base = stream_seed((0, 1, 2), 'crop')
    assert stream_seed((0, 1, 2), 'crop') == base
    assert len({base, stream_seed((1, 1, 2), 'crop'), stream_seed((0, 2, 2), 'crop'), stream_seed((0, 1, 3), 'crop'),
                stream_seed((0, 1, 2), 'view0')}) == 5


def pipeline_dataset(tiny_data, anchor, tmp_path):
    """The demo config's training set on the tiny scenes, its store published (a keyed sample waits for one), with a
    warm-up of 2 iterations of batch 4."""
    from scl.engine.hooks.saliency_store_hook import attach_saliency_store
    from scl.saliency import SaliencyStore
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, '/tmp/unused')
    cfg.train_dataloader.dataset.pipeline[1]['anchor'] = anchor
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    store = SaliencyStore.create(str(tmp_path / f'store_{anchor}'), len(dataset), grid_size=8)
    store.set_schedule(2, 4)
    assert attach_saliency_store(dataset, store) == 1
    return dataset


def test_the_same_key_gives_the_same_views_and_other_positions_other_views(tiny_data, tmp_path):
    ds = pipeline_dataset(tiny_data, 'saliency', tmp_path)
    a, b = ds[(3, 7, 0)], ds[(3, 7, 0)]
    np.random.seed(123)  # the global state before the call does not matter
    c = ds[(3, 7, 0)]
    for x, y in ((a, b), (a, c)):
        assert all(torch.equal(u, v) for u, v in zip(x['inputs'], y['inputs']))
    d = ds[(3, 8, 0)]
    assert not all(torch.equal(u, v) for u, v in zip(a['inputs'], d['inputs']))
    assert a['data_samples'].sample_idx == 3


def test_arms_that_differ_in_their_crops_share_every_other_draw(tiny_data, tmp_path):
    """Independent crops draw no anchor; a uniform anchor draws three numbers first: the views' flips (and every
    other per-view draw) must still be the same for the same sample visit."""
    independent = pipeline_dataset(tiny_data, 'independent', tmp_path)
    uniform = pipeline_dataset(tiny_data, 'uniform', tmp_path)
    flips = [(independent[(i, p, 0)]['data_samples'].view_flip.tolist(),
              uniform[(i, p, 0)]['data_samples'].view_flip.tolist()) for i in range(6) for p in range(0, 36, 6)]
    assert all(x == y for x, y in flips)
    assert len({tuple(x) for x, _ in flips}) > 1  # the flips do vary between visits
    crops = [(independent[(0, p, 0)]['data_samples'].crop_bbox.tolist(),
              uniform[(0, p, 0)]['data_samples'].crop_bbox.tolist()) for p in (0, 12)]  # iterations 0 and 3
    assert crops[0][0] == crops[0][1] and crops[1][0] != crops[1][1]  # same in the warm-up, then each its own


def test_a_keyed_sample_without_a_published_store_waits_then_says_what_is_missing(tiny_data):
    from scl.utils.errors import ConfigError
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, '/tmp/unused')
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    crop = dataset.pipeline.transforms[1]
    with pytest.raises(ConfigError, match='needs .*SaliencyStoreHook'):
        crop.link.wait(timeout=0.1)


def train_keyed(cfg_changes, work_dir, tiny_data, iters, workers, resume_from=None):
    """Train the demo SCL config shrunk to the tiny scenes with ``workers`` loader workers; the final weights."""
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, str(work_dir), iters=iters)
    assert cfg.train_dataloader.sampler.type == 'KeyedInfiniteSampler'
    cfg.train_dataloader.num_workers = workers
    cfg.train_dataloader.persistent_workers = workers > 0
    cfg.randomness = dict(seed=0)
    cfg_changes(cfg)
    if resume_from:
        cfg.resume, cfg.load_from = True, str(resume_from)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


def shared_point_control(cfg):
    """Uniform anchor, beta 0: the crops read no map. Guidance follows the iteration (a warm-up of 2 here)."""
    cfg.train_dataloader.dataset.pipeline[1]['anchor'] = 'uniform'
    cfg.model.head.beta = 0.0
    cfg.custom_hooks = [dict(type='SaliencyStoreHook', grid_size=8, warmup_epochs=1 / 3)]


def full_scl(cfg):
    """SCL as configured (Grad-CAM maps written every step, crops around them, weights): after the 2-iteration
    warm-up the crops read versions of the maps that already hold updates (every iteration, 5 iterations late)."""
    cfg.custom_hooks = [dict(type='SaliencyStoreHook', grid_size=8, warmup_epochs=1 / 3, snapshot_every=1,
                             snapshot_lag=5)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=5, by_epoch=False)


def assert_same(a, b):
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
@pytest.mark.parametrize('arm,iters', [(shared_point_control, 4), (full_scl, 10)])
def test_zero_or_two_loader_workers_train_bit_for_bit_the_same(tiny_data, tmp_path, arm, iters):
    assert_same(train_keyed(arm, tmp_path / 'w0', tiny_data, iters, 0),
                train_keyed(arm, tmp_path / 'w2', tiny_data, iters, 2))


@pytest.mark.slow
def test_a_resume_with_loader_workers_is_bit_exact(tiny_data, tmp_path):
    """10 iterations in one go against 5, then a resume from iter_5.pth for the other 5, both with 2 workers."""
    whole = train_keyed(full_scl, tmp_path / 'whole', tiny_data, 10, 2)
    train_keyed(full_scl, tmp_path / 'cut', tiny_data, 5, 2)
    resumed = train_keyed(full_scl, tmp_path / 'resumed', tiny_data, 10, 2, resume_from=tmp_path / 'cut' / 'iter_5.pth')
    assert_same(whole, resumed)


def test_a_lag_shorter_than_the_workers_prefetch_is_a_clear_error(tiny_data, tmp_path):
    def short_lag(cfg):
        cfg.custom_hooks = [dict(type='SaliencyStoreHook', grid_size=8, snapshot_lag=2)]
    with pytest.raises(ValueError, match=r'snapshot_lag=2\) is shorter than the 4 batches that 2 loader workers'):
        train_keyed(short_lag, tmp_path, tiny_data, 1, 2)
