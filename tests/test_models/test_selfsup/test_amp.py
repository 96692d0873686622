"""Mixed precision: SCL and MoCo v2 train under autocast, and the saliency path stays float32.

mmengine's ``AmpOptimWrapper`` (``tools/train.py --amp``) needs a GPU (fp16 there: tools/analysis_tools/gpu_check.sh).
On CPU the same model code runs under bfloat16 autocast through an optimiser wrapper that only adds the autocast
context, so the dtype paths that --amp exercises are tested here.
"""
import contextlib
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.runner import Runner

from conftest import ROOT, shrink_selfsup_cfg
from scl.saliency import reduce_feature_map


@OPTIM_WRAPPERS.register_module(force=True)
class CPUBf16AutocastOptimWrapper(OptimWrapper):
    """mmengine's OptimWrapper with the forward pass under CPU bfloat16 autocast (AmpOptimWrapper's context)."""

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast('cpu', dtype=torch.bfloat16):
            yield


@pytest.mark.parametrize('mode', ['mean_relu', 'l2'])
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_reduced_map_is_float32_and_matches_the_float_computation(mode, dtype):
    feat = torch.randn(3, 16, 5, 5).to(dtype)
    out = reduce_feature_map(feat, mode)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, reduce_feature_map(feat.float(), mode))
    assert out.min() == 0 and out.max() == 1


@pytest.mark.parametrize('config', ['scl/scl_resnet18_1xb32-coslr-300i_demo.py',
                                    'mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py'])
def test_trains_under_bf16_autocast(tiny_data, tmp_path, config):
    cfg = shrink_selfsup_cfg(Config.fromfile(osp.join(ROOT, 'configs', config)), tiny_data, str(tmp_path), iters=3)
    cfg.optim_wrapper.type = 'CPUBf16AutocastOptimWrapper'
    if cfg.model.type == 'SCLAlgorithm':
        cfg.custom_hooks = [dict(type='SaliencyStoreHook', grid_size=8, warmup_epochs=0)]
    seen = {}
    runner = Runner.from_cfg(cfg)

    def record(module, inputs, outputs):
        seen.setdefault('dtype', outputs[-1].dtype)

    runner.model.backbone.register_forward_hook(record)
    runner.train()
    assert seen['dtype'] == torch.bfloat16  # the forward really ran in bfloat16
    losses = [v for k, v in runner.message_hub.log_scalars.items() if k == 'train/loss']
    assert losses and np.isfinite(losses[0].current())
    assert runner.model.queue.dtype == torch.float32 and torch.isfinite(runner.model.queue).all()
    if cfg.model.type == 'SCLAlgorithm':
        maps = np.load(tmp_path / 'saliency_store' / 'rank0' / 'maps.npy').astype(np.float32)
        assert (maps != 1).any() and np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
