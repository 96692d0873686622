"""saliency_source='gradcam': contrastive Grad-CAM from the gradient of the main backward (and every source through
the Runner)."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner

from conftest import ROOT, shrink_selfsup_cfg
from scl.saliency import SaliencyStore
from scl.saliency import contrastive_gradcam, warp_to_image_grid
from test_scl import G, fixed_batch, samples, tiny_model


def gradcam_model(tmp_path, name='s', n=4):
    model = tiny_model()
    model.saliency_source = 'gradcam'
    model.saliency_ema = 1.0
    model.saliency_store = SaliencyStore.create(str(tmp_path / name), n, grid_size=G, dtype='float32')
    return model


def test_unknown_source_is_a_clear_error():
    from mmpretrain.registry import MODELS
    with pytest.raises(ValueError, match="saliency_source must be one of .*'gradcam'"):
        MODELS.build(dict(type='SCLAlgorithm', saliency_source='magic', backbone=dict(type='ResNet', depth=18),
                          neck=None, head=dict(type='SaliencyContrastiveHead')))


def test_gradcam_formula_against_a_loop():
    g = torch.Generator().manual_seed(0)
    act, grad = torch.rand(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    got = contrastive_gradcam(act, grad)
    for b in range(2):
        cam = torch.zeros(4, 4)
        for c in range(3):
            cam += max(0.0, float(-grad[b, c].mean())) * act[b, c]
        cam = cam.clamp_min(0)
        cam = (cam - cam.min()) / max(float(cam.max() - cam.min()), 1e-6)
        torch.testing.assert_close(got[b], cam)
    torch.testing.assert_close(contrastive_gradcam(act, 1024.0 * grad), got)  # a loss scale changes nothing


def test_hook_gradient_equals_autograd_and_the_store_gets_its_map(tmp_path):
    """The map written after the backward is the Grad-CAM of dL/dA, with dL/dA computed independently by
    torch.autograd.grad on an identical copy of the model."""
    model = gradcam_model(tmp_path)
    reference = copy.deepcopy(model)
    reference.saliency_store = None
    inputs, data = fixed_batch(), samples()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0))

    torch.manual_seed(5)  # the same (local) batch shuffle in both runs
    acts = []
    reference.backbone.register_forward_hook(lambda m, i, o: acts.append(o[-1]))
    loss = reference.loss(inputs, data)['loss']
    grads = torch.autograd.grad(loss, acts)  # the two query views' feature maps

    torch.manual_seed(5)
    model.train_step(dict(inputs=inputs, data_samples=data), optim)
    for v in range(2):
        expected_map = contrastive_gradcam(acts[v].detach(), grads[v])
        boxes = torch.tensor(np.stack([d.crop_bbox[v] for d in data]))
        values, coverage = warp_to_image_grid(expected_map, boxes, torch.zeros(4, dtype=torch.bool), G)
        assert coverage.all()  # full-image boxes
        if v == 1:  # view 1 was written last (EMA rate 1)
            np.testing.assert_allclose(np.asarray(model.saliency_store.maps), values.numpy(), atol=1e-5)
    assert not model.apply_pending_saliency()  # written once: nothing left pending


class ScaledBackward(OptimWrapper):
    """Backward of the loss times 1024, as AMP's GradScaler does (lr 0: the step itself does not matter here)."""

    def backward(self, loss, **kwargs):
        super().backward(loss * 1024.0, **kwargs)


def test_loss_scaling_does_not_change_the_map(tmp_path):
    maps = []
    for name, wrapper in (('plain', OptimWrapper), ('scaled', ScaledBackward)):
        model = gradcam_model(tmp_path, name)
        torch.manual_seed(3)
        model.train_step(dict(inputs=fixed_batch(), data_samples=samples()),
                         wrapper(torch.optim.SGD(model.parameters(), lr=0.0)))
        maps.append(np.asarray(model.saliency_store.maps).copy())
    assert (maps[0] != 1).any()
    np.testing.assert_allclose(maps[0], maps[1], atol=1e-5)


def test_gradient_accumulation_writes_each_view_once(tmp_path):
    model = gradcam_model(tmp_path, n=8)
    writes = []
    real_update = model.saliency_store.update
    model.saliency_store.update = lambda idx, *a, **k: writes.append(sorted(idx.tolist())) or real_update(idx, *a, **k)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01), accumulative_counts=2)
    for step in range(2):
        data = samples()
        for i, d in enumerate(data):
            d.set_metainfo(dict(sample_idx=4 * step + i))
        model.train_step(dict(inputs=fixed_batch(), data_samples=data), optim)
    # One write per micro-batch (optimiser step or not), each view of each sample once.
    assert writes == [sorted([0, 1, 2, 3] * 2), sorted([4, 5, 6, 7] * 2)]


@pytest.mark.parametrize('source', ['gradcam', 'dense_contrast'])
def test_trains_with_each_source_through_the_runner(tiny_data, tmp_path, source):
    cfg = shrink_selfsup_cfg(Config.fromfile(osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py')),
                             tiny_data, str(tmp_path), iters=3)
    cfg.model.saliency_source = source
    cfg.custom_hooks = [dict(type='SaliencyStoreHook', grid_size=8, warmup_epochs=0)]
    Runner.from_cfg(cfg).train()
    maps = np.load(tmp_path / 'saliency_store' / 'rank0' / 'maps.npy').astype(np.float32)
    assert (maps != 1).any() and np.isfinite(maps).all() and 0 <= maps.min() and maps.max() <= 1
