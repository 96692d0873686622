import numpy as np
import pytest
from mmcv.transforms import Compose
from mmpretrain.registry import TRANSFORMS

import scl  # noqa: F401
from scl.saliency_store import SaliencyStore
from scl.utils.saliency_geometry import box_score


def make_store(tmp_path, maps, guided=True):
    store = SaliencyStore.create(str(tmp_path / 'store'), len(maps), grid_size=maps.shape[1])
    store.maps[:] = maps
    store.set_guided(guided)
    return store


def crop_transform(store=None, **kwargs):
    cfg = dict(type='SaliencyCropTransform', size=16)
    cfg.update(kwargs)
    t = TRANSFORMS.build(cfg)
    t.store = store
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


def test_warmup_gives_uniform_crops_and_unit_scores(tmp_path):
    G = 8
    maps = np.zeros((1, G, G), np.float32)
    maps[0, 0, 0] = 1.0
    t = crop_transform(make_store(tmp_path, maps, guided=False))
    np.random.seed(0)
    cells = set()
    for _ in range(300):
        out = t(results(64, 64))
        np.testing.assert_array_equal(out['saliency_score'], np.ones(2, np.float32))
        cells.add(tuple(out['anchor_cell']))
    assert len(cells) > G * G // 2  # the anchor is uniform, not stuck on the salient cell


def test_uniform_anchor_mode_reads_scores(tmp_path):
    rng = np.random.default_rng(3)
    maps = rng.random((1, 4, 4)).astype(np.float32)
    t = crop_transform(make_store(tmp_path, maps), anchor='uniform')
    np.random.seed(0)
    out = t(results(64, 64))
    for box, score in zip(out['crop_bbox'], out['saliency_score']):
        assert score == pytest.approx(box_score(t.store.get(0), box / 64.0), rel=1e-6)  # float16 store


def test_score_is_area_weighted_mean():
    G = 4
    sal = np.arange(G * G, dtype=np.float32).reshape(G, G) / (G * G)
    # Exactly the top-left 2 x 2 cells.
    assert box_score(sal, np.array([0, 0, 0.5, 0.5])) == pytest.approx(sal[:2, :2].mean())
    # Half of cell (0, 0) and all of cell (0, 1) along x, one row: weights 0.5 and 1.
    assert box_score(sal, np.array([0.125, 0, 0.5, 0.25])) == pytest.approx((0.5 * sal[0, 0] + sal[0, 1]) / 1.5)


def test_missing_store_is_a_clear_error():
    with pytest.raises(RuntimeError, match='SaliencyStoreHook'):
        crop_transform(None)(results())


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
            dict(type='PackInputs', algorithm_keys=['crop_bbox', 'saliency_score', 'view_flip'],
                 meta_keys=['sample_idx']),
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
    assert ds.crop_bbox.shape == (2, 4)
    for v in range(2):
        np.testing.assert_array_equal(packed['inputs'][v].permute(1, 2, 0).numpy(), crops[v][:, ::-1])


def test_multiview_with_keys_default_when_key_missing():
    t = TRANSFORMS.build(dict(type='MultiViewWithKeys', num_views=3, transforms=[], keys=dict(flip=False)))
    out = t(dict(img=np.zeros((4, 4, 3), np.uint8)))
    assert len(out['img']) == 3
    np.testing.assert_array_equal(out['view_flip'], [False, False, False])


def test_corrupt_and_missing_images_name_the_file(tmp_path):
    load = TRANSFORMS.build(dict(type='LoadImageFromFile'))
    bad = tmp_path / 'corrupt.png'
    bad.write_bytes(b'not an image at all')
    with pytest.raises(Exception, match='corrupt.png'):
        load(dict(img_path=str(bad)))
    with pytest.raises(Exception, match='missing.png'):
        load(dict(img_path=str(tmp_path / 'missing.png')))


def test_anchor_cell_frequencies_follow_the_map():
    from scl.datasets.transforms.saliency_crop import SaliencyCropTransform
    weights = np.array([1.0, 0.0, 0.4, 0.6])  # unnormalised: probabilities 0.5, 0, 0.2, 0.3
    np.random.seed(0)
    cdf = np.cumsum(weights)
    counts = np.bincount([SaliencyCropTransform._draw_cell(cdf) for _ in range(20000)], minlength=4) / 20000
    np.testing.assert_allclose(counts, weights / 2, atol=0.01)
    assert counts[1] == 0
