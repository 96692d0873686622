import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import scl  # noqa: F401
from scl.saliency_store import SaliencyStore

G = 8


def tiny_model(type_='SCLAlgorithm', head=None):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type=type_,
            queue_len=64,
            feat_dim=32,
            momentum=0.01,
            data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]),
            backbone=dict(type='ResNet', depth=18, base_channels=16, strides=(1, 2, 2, 1)),
            neck=dict(type='MoCoV2Neck', in_channels=128, hid_channels=64, out_channels=32, with_avg_pool=True),
            head=head or dict(type='SaliencyContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2)))


def samples(n=4, size=64, flips=None, boxes=None):
    out = []
    for i in range(n):
        ds = DataSample()
        ds.set_metainfo(dict(sample_idx=i, ori_shape=(size, size)))
        b = boxes[i] if boxes is not None else np.array([[0, 0, size, size], [0, 0, size, size]], np.float32)
        ds.set_field(np.asarray(b, np.float32), 'crop_bbox')
        ds.set_field(np.array([1.0, 0.5], np.float32), 'saliency_score')
        ds.set_field(np.asarray(flips[i] if flips is not None else [False, False]), 'view_flip')
        out.append(ds)
    return out


def fixed_batch(n=4):
    g = torch.Generator().manual_seed(1)
    return [torch.rand(n, 3, 32, 32, generator=g), torch.rand(n, 3, 32, 32, generator=g)]


@pytest.mark.parametrize('type_,head', [('SCLAlgorithm', None),
                                        ('SymMoCo', dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                                                         temperature=0.2))])
def test_loss_decreases_on_fixed_batch(type_, head):
    model = tiny_model(type_, head)
    inputs, data = fixed_batch(), samples()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(8):
        model.queue.normal_().div_(model.queue.norm(dim=0, keepdim=True))  # same negatives each step
        loss = model.loss(inputs, data)['loss']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses


def test_key_encoder_runs_once_per_view_and_query_once_per_view(tmp_path):
    model = tiny_model()
    model.saliency_store = SaliencyStore.create(str(tmp_path / 's'), 4, grid_size=G)
    calls = {'k': 0, 'q': 0}
    model.encoder_k.module[0].register_forward_hook(lambda *a: calls.__setitem__('k', calls['k'] + 1))
    model.backbone.register_forward_hook(lambda *a: calls.__setitem__('q', calls['q'] + 1))
    model.loss(fixed_batch(), samples())
    assert calls == {'k': 2, 'q': 2}  # the saliency update reuses the key feature maps: no extra pass


def test_enqueues_both_views():
    model = tiny_model()
    model.loss(fixed_batch(), samples())
    assert int(model.queue_ptr) == 8


def test_store_update_changes_exactly_the_covered_cells(tmp_path):
    model = tiny_model()
    store = SaliencyStore.create(str(tmp_path / 's'), 4, grid_size=G, init_value=1.0, dtype='float32')
    model.saliency_store = store
    model.saliency_ema = 0.5
    # Sample 0: view 0 covers the left half, view 1 the top-left quarter of a 64 x 64 image.
    boxes = [np.array([[0, 0, 32, 64], [0, 0, 32, 32]], np.float32)] + [None] * 3
    boxes[1:] = [np.array([[16, 16, 48, 48], [16, 16, 48, 48]], np.float32)] * 3
    fmaps = [torch.zeros(4, 5, 4, 4), torch.zeros(4, 5, 4, 4)]  # all-zero maps -> normalised value 0
    model._after_keys(fmaps, samples(boxes=boxes))
    m = store.maps[0]
    expected = np.ones((G, G), np.float32)
    expected[:, :4] = 0.5  # view 0: left half, once
    expected[:4, :4] = 0.25  # view 1 also covers the top-left quarter: blended twice
    np.testing.assert_array_equal(m, expected)
    # Samples 1-3: the centre box [0.25, 0.75) covers cells 2..5.
    e = np.ones((G, G), np.float32)
    e[2:6, 2:6] = 0.25
    np.testing.assert_array_equal(store.maps[1], e)


def test_store_update_honours_flip(tmp_path):
    model = tiny_model()
    store = SaliencyStore.create(str(tmp_path / 's'), 2, grid_size=G, init_value=0.0, dtype='float32')
    model.saliency_store = store
    model.saliency_ema = 1.0
    ramp = torch.arange(8, dtype=torch.float32).view(1, 1, 1, 8).expand(2, 3, 8, 8).contiguous()  # grows along x
    full = [np.array([[0, 0, 64, 64], [0, 0, 64, 64]], np.float32)] * 2
    model._after_keys([ramp, ramp], samples(n=2, boxes=full, flips=[[False, False], [True, True]]))
    row_plain, row_flip = store.maps[0][0], store.maps[1][0]
    assert np.all(np.diff(row_plain) > 0)  # saliency grows left to right in the image
    assert np.all(np.diff(row_flip) < 0)  # the flipped view's map is mirrored back
    np.testing.assert_allclose(row_plain, row_flip[::-1], atol=1e-6)


def test_missing_keys_give_clear_error():
    model = tiny_model()
    ds = DataSample()
    ds.set_metainfo(dict(sample_idx=0, ori_shape=(32, 32)))
    with pytest.raises(KeyError, match='algorithm_keys'):
        model.loss(fixed_batch(1), [ds])


def test_needs_two_views():
    with pytest.raises(ValueError, match='two views'):
        tiny_model().loss([torch.rand(2, 3, 32, 32)], samples(2))
