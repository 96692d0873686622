import numpy as np
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import scl  # noqa: F401
from scl.saliency import SaliencyStore

G = 8


def tiny_model(type_='SCLAlgorithm', head=None, **overrides):
    """A small model; SCL with ``saliency_source='activation'`` (its map is written in the loss step itself) unless
    ``overrides`` (more arguments of the model) say otherwise."""
    torch.manual_seed(0)
    extra = dict(saliency_source='activation') if type_ == 'SCLAlgorithm' else {}
    extra.update(overrides)
    return MODELS.build(
        dict(
            type=type_,
            **extra,
            queue_len=64,
            feat_dim=32,
            momentum=0.01,
            data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]),
            backbone=dict(type='ResNet', depth=18, base_channels=16, strides=(1, 2, 2, 1)),
            neck=dict(type='MoCoV2Neck', in_channels=128, hid_channels=64, out_channels=32, with_avg_pool=True),
            head=head or dict(type='SaliencyContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2)))


def samples(n=4, size=64, flips=None, boxes=None, direction='horizontal'):
    """Data samples as SCL's pipeline packs them; ``boxes`` in pixels of a ``size`` x ``size`` image."""
    out = []
    for i in range(n):
        ds = DataSample()
        ds.set_metainfo(dict(sample_idx=i, ori_shape=(size, size)))
        b = boxes[i] if boxes is not None else np.array([[0, 0, size, size], [0, 0, size, size]], np.float32)
        ds.set_field(np.asarray(b, np.float32) / size, 'crop_bbox')  # the crop transform normalises its boxes
        ds.set_field(np.array([1.0, 0.5], np.float32), 'saliency_score')
        flip = np.asarray(flips[i] if flips is not None else [False, False])
        ds.set_field(flip, 'view_flip')
        ds.set_field(np.where(flip, direction, 'none'), 'view_flip_direction')
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


def almost_zero_maps(n=4, side=4):
    """Maps that are 0 but for 1e-4 in one corner: not constant, so the store takes them (a constant map carries
    no saliency and is never written)."""
    m = torch.zeros(n, side, side)
    m[:, 0, 0] = 1e-4
    return m


def test_store_update_changes_exactly_the_covered_cells(tmp_path):
    model = tiny_model()
    store = SaliencyStore.create(str(tmp_path / 's'), 4, grid_size=G, init_value=1.0, dtype='float32')
    model.saliency_store = store
    model.saliency_ema = 0.5
    # Sample 0: view 0 covers the left half, view 1 the top-left quarter of a 64 x 64 image.
    boxes = [np.array([[0, 0, 32, 64], [0, 0, 32, 32]], np.float32)] + [None] * 3
    boxes[1:] = [np.array([[16, 16, 48, 48], [16, 16, 48, 48]], np.float32)] * 3
    view_maps = [almost_zero_maps(), almost_zero_maps()]  # the key encoder's reduced maps
    model._after_keys(view_maps, samples(boxes=boxes))
    m = store.maps[0]
    expected = np.ones((G, G), np.float32)
    expected[:, :4] = 0.5  # view 0: left half, once
    expected[:4, :4] = 0.25  # view 1 also covers the top-left quarter: blended twice
    np.testing.assert_allclose(m, expected, atol=1e-4)
    assert (m[:, 4:] == 1).all()  # uncovered cells keep their value exactly
    # Samples 1-3: the centre box [0.25, 0.75) covers cells 2..5.
    e = np.ones((G, G), np.float32)
    e[2:6, 2:6] = 0.25
    np.testing.assert_allclose(store.maps[1], e, atol=1e-4)
    assert (store.maps[1][:2] == 1).all()


@pytest.mark.parametrize('direction,mirror_x,mirror_y', [('horizontal', True, False), ('vertical', False, True),
                                                          ('diagonal', True, True)])
def test_store_update_honours_flip_direction(tmp_path, direction, mirror_x, mirror_y):
    model = tiny_model()
    store = SaliencyStore.create(str(tmp_path / 's'), 2, grid_size=G, init_value=0.0, dtype='float32')
    model.saliency_store = store
    model.saliency_ema = 1.0
    view = torch.arange(64, dtype=torch.float32).view(1, 8, 8) / 63  # grows along x, faster along y
    full = [np.array([[0, 0, 64, 64], [0, 0, 64, 64]], np.float32)] * 2
    model._after_keys([view.expand(2, 8, 8)] * 2, samples(n=2, boxes=full, flips=[[False, False], [True, True]],
                                                          direction=direction))
    plain, flipped = store.maps[0], store.maps[1]
    assert np.all(np.diff(plain, axis=1) > 0) and np.all(np.diff(plain, axis=0) > 0)
    expected = plain[::-1 if mirror_y else 1, ::-1 if mirror_x else 1]  # the flipped view is mirrored back
    np.testing.assert_allclose(flipped, expected, atol=1e-4)


def test_boxes_are_taken_normalised_whatever_the_original_shape(tmp_path):
    """A Resize before the crop changes the array the crop sees, not ``ori_shape``: the update must use the
    transform's normalised boxes only."""
    maps = []
    for ori in (64, 640):
        model = tiny_model()
        model.saliency_store = SaliencyStore.create(str(tmp_path / f's{ori}'), 1, grid_size=G, dtype='float32')
        data = samples(n=1, boxes=[np.array([[0, 0, 32, 32], [0, 0, 32, 64]], np.float32)])
        data[0].set_metainfo(dict(ori_shape=(ori, ori)))
        model._after_keys([almost_zero_maps(1)] * 2, data)
        maps.append(np.array(model.saliency_store.maps[0]))
    np.testing.assert_array_equal(maps[0], maps[1])
    assert maps[0][:4, :4].max() < 1 and maps[0][:, 4:].min() == 1  # the left half only


def test_unknown_flip_direction_is_a_clear_error(tmp_path):
    model = tiny_model()
    model.saliency_store = SaliencyStore.create(str(tmp_path / 's'), 2, grid_size=G)
    with pytest.raises(ValueError, match='unknown flip direction.*sideways'):
        model._after_keys([torch.zeros(2, 4, 4)] * 2, samples(n=2, flips=[[True, False]] * 2, direction='sideways'))


def test_only_the_reduced_map_crosses_ranks_in_the_unshuffle(monkeypatch):
    """batch_unshuffle_ddp all-gathers what it is given: keys (N x C) and, for SCL, the N x h x w map, never the
    N x C x h x w feature map."""
    import scl.models.selfsup.mocov2 as mocov2
    shapes = []
    real = mocov2.batch_unshuffle_ddp
    monkeypatch.setattr(mocov2, 'batch_unshuffle_ddp', lambda x, idx: shapes.append(tuple(x.shape)) or real(x, idx))
    tiny_model().loss(fixed_batch(), samples())
    assert sorted(shapes) == [(4, 2, 2), (4, 2, 2), (4, 32), (4, 32)]  # keys and 2 x 2 maps (32 px views), per view
    shapes.clear()
    head = dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2)
    tiny_model('SymMoCo', head).loss(fixed_batch(), samples())
    assert shapes == [(4, 32), (4, 32)]  # the baseline gathers its keys only


def test_queue_that_does_not_fit_the_batch_is_a_clear_error():
    model = tiny_model()
    model.queue_len = 60  # 2 views x 4 samples = 8 keys per step
    with pytest.raises(ValueError, match=r'queue_len=60 .* 8 keys .* 56 or 64'):
        model.loss(fixed_batch(), samples())


def test_training_without_store_is_a_clear_error():
    model = tiny_model()
    from mmengine.optim import OptimWrapper
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(RuntimeError, match='SaliencyStoreHook'):
        model.train_step(dict(inputs=fixed_batch(), data_samples=samples()), optim)


def test_extract_feat_embeds_one_view():
    model = tiny_model().eval()
    x = fixed_batch()[0]
    with torch.no_grad():
        direct = model.backbone(x)[-1]
        for inputs in (x, [x]):  # a tensor, or the one-element list of SelfSupDataPreprocessor
            torch.testing.assert_close(model.extract_feat(inputs)[-1], direct)
            torch.testing.assert_close(model(inputs, mode='tensor')[-1], direct)


def test_missing_keys_give_clear_error():
    model = tiny_model()
    ds = DataSample()
    ds.set_metainfo(dict(sample_idx=0, ori_shape=(32, 32)))
    with pytest.raises(KeyError, match='algorithm_keys'):
        model.loss(fixed_batch(1), [ds])


def test_needs_two_views():
    with pytest.raises(ValueError, match='two views'):
        tiny_model().loss([torch.rand(2, 3, 32, 32)], samples(2))
