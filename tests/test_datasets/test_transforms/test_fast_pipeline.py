"""The scene benchmark's pipeline (LoadImageFromFileCached, FusedColorJitter, FusedRandomGrayscale, FusedRandomFlip)
trains SCL bit for bit like the pipeline it replaced (mmcv's LoadImageFromFile, mmpretrain's ColorJitter, mmcv's
RandomGrayscale and RandomFlip): the same views, the same weights."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import scl  # noqa: F401
from conftest import ROOT, shrink_selfsup_cfg
from scl.benchmarks.scene.arms import CONFIGS, LEGACY_PIPELINE



def train(tiny_data, work_dir, legacy, iters=8):
    cfg = shrink_selfsup_cfg(Config.fromfile(osp.join(ROOT, CONFIGS['scl'])), tiny_data, str(work_dir), iters=iters)
    cfg.custom_hooks = [dict(type='SaliencyStoreHook', grid_size=8, warmup_epochs=1 / 3, snapshot_every=1,
                             snapshot_lag=2)]
    cfg.randomness = dict(seed=0)
    if legacy:
        cfg.merge_from_dict(LEGACY_PIPELINE)
    pipe = cfg.train_dataloader.dataset.pipeline
    assert pipe[0]['type'] == ('LoadImageFromFile' if legacy else 'LoadImageFromFileCached')
    fused = '' if legacy else 'Fused'
    assert [t['type'] for t in pipe[2]['transforms'][1:]] == [f'{fused}RandomGrayscale', f'{fused}RandomFlip']
    assert pipe[2]['transforms'][0]['transforms'][0]['type'] == f'{fused}ColorJitter'
    runner = Runner.from_cfg(cfg)
    runner.train()
    loader = runner.train_dataloader.dataset.pipeline.transforms[0]
    if not legacy:  # 32 loads of 24 scenes: every scene decoded once and kept, 8 loads served from the cache
        assert loader.cached_images == 24
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


@pytest.mark.slow
def test_the_faster_pipeline_trains_scl_bit_for_bit_like_the_one_it_replaced(tiny_data, tmp_path):
    # 8 iterations of batch 4 on 24 scenes: the last 8 loads are scenes seen before, served by the cache
    new, old = train(tiny_data, tmp_path / 'new', False), train(tiny_data, tmp_path / 'old', True)
    assert new.keys() == old.keys()
    for k in new:
        assert torch.equal(new[k], old[k]), k
