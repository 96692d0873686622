"""FusedColorJitter: mmpretrain's ColorJitter (Pillow backend), the same draws and the same output bits."""
import cv2
import numpy as np
import pytest
from mmpretrain.datasets.transforms import ColorJitter
from mmpretrain.registry import TRANSFORMS

import scl  # noqa: F401

SETTINGS = [
    dict(brightness=0.4, contrast=0.4, saturation=0.8, hue=0.5),  # the scene benchmark's
    dict(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1),  # MoCo v2's
    dict(brightness=(0.0, 3.0), contrast=(0.0, 3.0)),  # extrapolation: Pillow clips
    dict(saturation=(0.0, 0.5), hue=(-0.5, -0.3)),  # negative hue shifts wrap around
]


def images(rng, n, shape=(24, 20, 3)):
    for k in range(n):
        if k % 2:  # noise: every grey level, every hue
            yield rng.integers(0, 256, shape, dtype=np.uint8)
        else:  # smooth, with flat and saturated regions
            small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
            small[0, 0] = 255
            yield cv2.resize(small, shape[1::-1], interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize('kwargs', SETTINGS)
def test_fused_jitter_equals_mmpretrains_bit_for_bit(kwargs):
    ours, theirs = TRANSFORMS.build(dict(type='FusedColorJitter', **kwargs)), ColorJitter(**kwargs)
    rng = np.random.default_rng(0)
    for k, img in enumerate(images(rng, 120)):
        np.random.seed(k)
        expected = theirs.transform(dict(img=img.copy()))['img']
        after_theirs = np.random.random()
        np.random.seed(k)
        got = ours.transform(dict(img=img.copy()))['img']
        assert np.random.random() == after_theirs  # the same numbers drawn
        assert got.dtype == np.uint8 and got.shape == img.shape
        np.testing.assert_array_equal(got, expected)


def test_fused_jitter_reads_strided_views_and_changes_colours():
    t = TRANSFORMS.build(dict(type='FusedColorJitter', brightness=0.4, contrast=0.4, saturation=0.8, hue=0.5))
    img = next(images(np.random.default_rng(1), 1))
    np.random.seed(3)
    a = t.transform(dict(img=img[:, ::-1]))['img']
    np.random.seed(3)
    b = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.8, hue=0.5).transform(dict(img=img[:, ::-1]))['img']
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, img[:, ::-1])


def test_fused_jitter_rejects_what_pillow_cannot_take():
    t = TRANSFORMS.build(dict(type='FusedColorJitter', brightness=0.4))
    with pytest.raises(TypeError, match='uint8 BGR'):
        t.transform(dict(img=np.zeros((8, 8, 3), np.float32)))
    with pytest.raises(TypeError, match='uint8 BGR'):
        t.transform(dict(img=np.zeros((8, 8), np.uint8)))


def test_the_cv2_backend_is_mmpretrains_own():
    kwargs = dict(brightness=0.4, contrast=0.4, saturation=0.8, hue=0.5, backend='cv2')
    img = next(images(np.random.default_rng(2), 1))
    np.random.seed(0)
    a = TRANSFORMS.build(dict(type='FusedColorJitter', **kwargs)).transform(dict(img=img.copy()))['img']
    np.random.seed(0)
    np.testing.assert_array_equal(a, ColorJitter(**kwargs).transform(dict(img=img.copy()))['img'])
