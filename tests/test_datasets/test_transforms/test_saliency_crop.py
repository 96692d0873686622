import numpy as np
import pytest
from mmcv.transforms import Compose
from mmpretrain.registry import TRANSFORMS

import scl  # noqa: F401
from scl.saliency import SaliencyStore
from scl.saliency import box_score


def make_store(tmp_path, maps, guided=True):
    store = SaliencyStore.create(str(tmp_path / 'store'), len(maps), grid_size=maps.shape[1])
    store.maps[:] = maps
    store.set_guided(guided)
    return store


def crop_transform(store=None, **kwargs):
    cfg = dict(type='SaliencyCropTransform', size=16)
    cfg.update(kwargs)
    t = TRANSFORMS.build(cfg)
    if store is not None:
        t.store = store  # publishes it through the transform's link
    return t


def results(h=60, w=80, idx=0):
    rng = np.random.default_rng(0)
    return dict(img=rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8), sample_idx=idx)


def test_repr_prints_every_argument():
    t = crop_transform(num_views=2, scale=(0.3, 0.9), ratio=(0.5, 2.0), gamma=2.0, anchor='uniform')
    assert repr(t) == ("SaliencyCropTransform(size=(16, 16), num_views=2, scale=(0.3, 0.9), ratio=(0.5, 2.0), "
                       "gamma=2.0, anchor='uniform', max_attempts=10, interpolation='bilinear', backend='cv2')")


@pytest.mark.parametrize('h,w', [(60, 80), (33, 17), (128, 128)])
def test_crops_inside_image_and_contain_anchor(tmp_path, h, w):
    G = 8
    rng = np.random.default_rng(1)
    store = make_store(tmp_path, rng.random((1, G, G)).astype(np.float32))
    t = crop_transform(store, num_views=3)
    np.random.seed(0)
    for _ in range(200):
        cdf = t.anchor_cdf(store.get(0))
        cell, (ax, ay), boxes = t.sample_boxes(h, w, cdf, G)
        assert cell.shape == (2, ) and 0 <= cell[0] < G and 0 <= cell[1] < G
        # The anchor point lies in the anchor cell ...
        assert cell[0] * h / G <= ay < (cell[0] + 1) * h / G and cell[1] * w / G <= ax < (cell[1] + 1) * w / G
        for x1, y1, x2, y2 in boxes:
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h  # ... every crop lies inside the image ...
            assert x1 <= ax < x2 and y1 <= ay < y2  # ... and contains the anchor point.


def test_output_views_and_keys(tmp_path):
    store = make_store(tmp_path, np.ones((1, 4, 4), np.float32))
    out = crop_transform(store, size=(12, 20), num_views=2)(results())
    assert len(out['img']) == 2 and all(v.shape == (12, 20, 3) for v in out['img'])
    assert out['crop_bbox'].shape == (2, 4) and out['crop_bbox'].dtype == np.float32
    assert out['saliency_score'].shape == (2, )
    assert out['img_shape'] == (12, 20)


def test_seeded_determinism(tmp_path):
    rng = np.random.default_rng(2)
    store = make_store(tmp_path, rng.random((1, 8, 8)).astype(np.float32))
    t = crop_transform(store)
    np.random.seed(123)
    a = t(results())
    np.random.seed(123)
    b = t(results())
    np.testing.assert_array_equal(a['crop_bbox'], b['crop_bbox'])
    np.testing.assert_array_equal(a['anchor_cell'], b['anchor_cell'])
    for va, vb in zip(a['img'], b['img']):
        np.testing.assert_array_equal(va, vb)


def test_anchor_follows_saliency(tmp_path):
    G = 8
    maps = np.zeros((1, G, G), np.float32)
    maps[0, 2, 5] = 1.0  # all the mass in one cell
    t = crop_transform(make_store(tmp_path, maps))
    np.random.seed(0)
    for _ in range(50):
        out = t(results(64, 64))
        assert tuple(out['anchor_cell']) == (2, 5)
        # Each crop contains part of the salient cell, hence a positive score.
        assert (out['saliency_score'] > 0).all()


def test_gamma_sharpens_anchor_distribution(tmp_path):
    maps = np.array([[[0.2, 0.8]]], np.float32).repeat(2, axis=1)  # 1 x 2 x 2
    t1 = crop_transform(make_store(tmp_path, maps), gamma=1.0)
    t3 = crop_transform(t1.store, gamma=3.0)
    c1, c3 = t1.anchor_cdf(maps[0]), t3.anchor_cdf(maps[0])
    p1, p3 = np.diff(c1, prepend=0) / c1[-1], np.diff(c3, prepend=0) / c3[-1]
    np.testing.assert_allclose(p1, [0.1, 0.4, 0.1, 0.4], rtol=1e-6)
    assert p3[1] > p1[1]


def overlap(a, b):
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


@pytest.mark.parametrize('anchor', ['saliency', 'uniform', 'independent'])
@pytest.mark.parametrize('published', [True, False])
def test_warmup_gives_independent_random_crops_and_unit_scores(tmp_path, anchor, published):
    """Before the store is guided (or before it is published to this process) every mode is MoCo v2's crop: two
    independent RandomResizedCrops, no shared anchor, unit scores."""
    G = 8
    maps = np.zeros((1, G, G), np.float32)
    maps[0, 0, 0] = 1.0
    t = crop_transform(make_store(tmp_path, maps, guided=False) if published else None, anchor=anchor,
                       scale=(0.05, 0.1))
    np.random.seed(0)
    disjoint, x1s = 0, []
    for _ in range(300):
        out = t(results(64, 64))
        np.testing.assert_array_equal(out['saliency_score'], np.ones(2, np.float32))
        assert tuple(out['anchor_cell']) == (-1, -1)
        a, b = out['crop_bbox']
        disjoint += not overlap(a, b)
        x1s.append(a[0])
    assert disjoint > 150  # small crops placed independently often miss each other; a shared point never does
    assert np.mean(np.array(x1s) < 0.3) == pytest.approx(np.mean(np.array(x1s) > 0.45), abs=0.1)  # uniform x


def test_uniform_anchor_mode_reads_scores(tmp_path):
    rng = np.random.default_rng(3)
    maps = rng.random((1, 4, 4)).astype(np.float32)
    t = crop_transform(make_store(tmp_path, maps), anchor='uniform')
    np.random.seed(0)
    out = t(results(64, 64))
    for box, score in zip(out['crop_bbox'], out['saliency_score']):
        assert score == pytest.approx(box_score(t.store.get(0), box), rel=1e-6)  # boxes are normalised


def test_score_is_area_weighted_mean():
    G = 4
    sal = np.arange(G * G, dtype=np.float32).reshape(G, G) / (G * G)
    # Exactly the top-left 2 x 2 cells.
    assert box_score(sal, np.array([0, 0, 0.5, 0.5])) == pytest.approx(sal[:2, :2].mean())
    # Half of cell (0, 0) and all of cell (0, 1) along x, one row: weights 0.5 and 1.
    assert box_score(sal, np.array([0.125, 0, 0.5, 0.25])) == pytest.approx((0.5 * sal[0, 0] + sal[0, 1]) / 1.5)


def test_shared_anchor_modes_always_overlap_and_independent_mode_reads_scores(tmp_path):
    rng = np.random.default_rng(4)
    maps = rng.random((1, 4, 4)).astype(np.float32)
    store = make_store(tmp_path, maps)
    np.random.seed(0)
    for anchor in ('saliency', 'uniform'):
        t = crop_transform(store, anchor=anchor, scale=(0.05, 0.1))
        assert all(overlap(*t(results(64, 64))['crop_bbox']) for _ in range(100))  # the shared point
    t = crop_transform(store, anchor='independent', scale=(0.05, 0.1))
    outs = [t(results(64, 64)) for _ in range(100)]
    assert sum(not overlap(*o['crop_bbox']) for o in outs) > 50
    for box, score in zip(outs[0]['crop_bbox'], outs[0]['saliency_score']):
        assert score == pytest.approx(box_score(store.get(0), box), rel=1e-6)  # weights still follow saliency


def test_boxes_are_normalised_to_the_array_the_crop_sees(tmp_path):
    """A Resize before the crop must not misregister the boxes: they are fractions of the cropped array."""
    maps = np.zeros((1, 4, 4), np.float32)
    maps[0, 1, 2] = 1.0
    store = make_store(tmp_path, maps)
    boxes = []
    for scale in (1.0, 0.5):
        pipeline = Compose([TRANSFORMS.build(dict(type='Resize', scale_factor=scale)), crop_transform(store)])
        np.random.seed(7)
        out = pipeline(dict(img=np.zeros((96, 128, 3), np.uint8), sample_idx=0, ori_shape=(96, 128)))
        boxes.append(out['crop_bbox'])
        assert (out['crop_bbox'] >= 0).all() and (out['crop_bbox'] <= 1).all()
        x1, y1, x2, y2 = out['crop_bbox'][0]
        assert x1 <= 0.75 and x2 >= 0.5 and y1 <= 0.5 and y2 >= 0.25  # contains the salient cell (row 1, col 2)
    np.testing.assert_allclose(boxes[0], boxes[1], atol=2 / 64)  # the same image region at either size


class LinkReader:
    """A map-style dataset whose items say what the crop transform in a worker sees through its link."""

    def __init__(self, transform):
        self.transform = transform

    def __len__(self):
        return 2

    def __getitem__(self, i):
        store = self.transform.store
        return np.array([-1.0 if store is None else float(store.get(i)[0, 0]),
                         -1.0 if store is None else float(store.guided)], np.float32)


@pytest.mark.slow
@pytest.mark.parametrize('context', ['fork', 'spawn'])
def test_store_published_after_persistent_workers_started_reaches_them(tmp_path, context):
    """mmengine's IterBasedTrainLoop starts workers before any hook runs: the store must reach them without a
    restart."""
    import torch
    from torch.utils.data import DataLoader
    t = crop_transform(None)
    loader = DataLoader(LinkReader(t), batch_size=2, num_workers=1, persistent_workers=True,
                        multiprocessing_context=context)
    np.testing.assert_array_equal(torch.cat(list(loader)).numpy().ravel(), [-1, -1, -1, -1])  # workers start: no store
    store = make_store(tmp_path, np.full((2, 2, 2), 0.25, np.float32), guided=True)
    t.store = store
    np.testing.assert_array_equal(torch.cat(list(loader)).numpy().ravel(), [0.25, 1, 0.25, 1])
    store.maps[1] = 0.5  # later writes reach them through the shared memory map
    np.testing.assert_array_equal(torch.cat(list(loader)).numpy().ravel(), [0.25, 1, 0.5, 1])


@pytest.mark.parametrize('kwargs,match', [(dict(scale=(0, 1)), 'scale'), (dict(ratio=(2, 1)), 'ratio'),
                                          (dict(anchor='bogus'), 'anchor'), (dict(gamma=-1), 'gamma'),
                                          (dict(num_views=0), 'num_views')])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        crop_transform(**kwargs)


def test_multiview_with_keys_keeps_flips_and_boxes(tmp_path):
    store = make_store(tmp_path, np.ones((1, 4, 4), np.float32))
    pipeline = Compose([
        TRANSFORMS.build(t) for t in [
            dict(type='SaliencyCropTransform', size=16, num_views=2),
            dict(type='MultiViewWithKeys', num_views=2, transforms=[dict(type='RandomFlip', prob=1.0)]),
            dict(type='PackInputs', algorithm_keys=['crop_bbox', 'saliency_score', 'view_flip',
                                                    'view_flip_direction'], meta_keys=['sample_idx']),
        ]
    ])
    pipeline.transforms[0].store = store
    np.random.seed(0)
    data = dict(img=results()['img'], sample_idx=0)
    # Keep the un-flipped crops to check the flip was applied per view.
    np.random.seed(0)
    crops = pipeline.transforms[0](dict(data, img=data['img'].copy()))['img']
    np.random.seed(0)
    packed = pipeline(dict(data))
    assert len(packed['inputs']) == 2
    ds = packed['data_samples']
    np.testing.assert_array_equal(ds.view_flip, [True, True])
    np.testing.assert_array_equal(ds.view_flip_direction, ['horizontal', 'horizontal'])
    assert ds.crop_bbox.shape == (2, 4)
    for v in range(2):
        np.testing.assert_array_equal(packed['inputs'][v].permute(1, 2, 0).numpy(), crops[v][:, ::-1])


def test_multiview_with_keys_default_when_key_missing():
    t = TRANSFORMS.build(dict(type='MultiViewWithKeys', num_views=3, transforms=[]))
    out = t(dict(img=np.zeros((4, 4, 3), np.uint8)))
    assert len(out['img']) == 3
    np.testing.assert_array_equal(out['view_flip'], [False, False, False])
    np.testing.assert_array_equal(out['view_flip_direction'], ['none'] * 3)


def test_multiview_with_keys_carries_the_flip_direction():
    t = TRANSFORMS.build(dict(type='MultiViewWithKeys', num_views=2, transforms=[
        dict(type='RandomFlip', prob=1.0, direction=['vertical', 'diagonal'])]))
    np.random.seed(0)
    seen = set()
    for _ in range(20):
        out = t(dict(img=np.zeros((4, 4, 3), np.uint8)))
        assert out['view_flip'].all()
        seen.update(out['view_flip_direction'].tolist())
    assert seen == {'vertical', 'diagonal'}


def test_anchor_cell_frequencies_follow_the_map():
    from scl.datasets.transforms.saliency_crop import SaliencyCropTransform
    weights = np.array([1.0, 0.0, 0.4, 0.6])  # unnormalised: probabilities 0.5, 0, 0.2, 0.3
    np.random.seed(0)
    cdf = np.cumsum(weights)
    counts = np.bincount([SaliencyCropTransform._draw_cell(cdf) for _ in range(20000)], minlength=4) / 20000
    np.testing.assert_allclose(counts, weights / 2, atol=0.01)
    assert counts[1] == 0
