"""FusedRandomGrayscale and FusedRandomFlip: mmcv's RandomGrayscale and RandomFlip, the same draws and the same
output bits."""
import random

import numpy as np
import pytest
from mmcv.transforms import RandomFlip, RandomGrayscale
from mmpretrain.registry import TRANSFORMS

import scl  # noqa: F401

GREY = [
    dict(prob=0.5, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),  # the scene benchmark's
    dict(prob=0.2, keep_channels=False, channel_weights=(0.114, 0.587, 0.2989)),
    dict(prob=1.0, keep_channels=True),  # mmcv's default weights (1, 1, 1)
    dict(prob=0.7, keep_channels=True, channel_weights=(3, 1, 2)),
]


def views(rng, n):
    """Noise at every level, the extremes (all 255: the weights' sum rounds below 1 in float64) and strided views."""
    for k in range(n):
        img = rng.integers(0, 256, (16 + k % 5, 12 + k % 3, 3), dtype=np.uint8)
        if k % 4 == 1:
            img[:4] = 255
            img[4:6] = 0
        yield img[:, ::-1] if k % 4 == 2 else img


def same_draws_and_output(ours, theirs, img, seed, key='img'):
    np.random.seed(seed)
    random.seed(seed)
    expected = theirs.transform(dict(img=img.copy()))
    after = (np.random.random(), random.random())
    np.random.seed(seed)
    random.seed(seed)
    got = ours.transform(dict(img=img.copy()))
    assert (np.random.random(), random.random()) == after  # the same numbers drawn from both global streams
    assert got[key].dtype == expected[key].dtype and got[key].shape == expected[key].shape
    np.testing.assert_array_equal(got[key], expected[key])
    return got, expected


@pytest.mark.parametrize('kwargs', GREY)
def test_fused_grayscale_equals_mmcvs_bit_for_bit(kwargs):
    ours, theirs = TRANSFORMS.build(dict(type='FusedRandomGrayscale', **kwargs)), RandomGrayscale(**kwargs)
    greyed = 0
    for k, img in enumerate(views(np.random.default_rng(0), 200)):
        got, _ = same_draws_and_output(ours, theirs, img, k)
        greyed += got['img'].ndim == 2 or bool(np.all(got['img'][..., 0] == got['img'][..., 2]))
    assert 0 < greyed  # the converting branch ran


def test_fused_grayscale_every_grey_level():
    # every (b, g, r) on a grid through the whole range, in one image: the table sums match the broadcast sums
    levels = np.arange(0, 256, 5, dtype=np.uint8)
    b, g, r = np.meshgrid(levels, levels, levels, indexing='ij')
    img = np.stack([b, g, r], -1).reshape(-1, len(levels), 3)
    for weights in ((0.114, 0.587, 0.2989), (1, 1, 1)):
        kwargs = dict(prob=1.0, keep_channels=False, channel_weights=weights)
        same_draws_and_output(TRANSFORMS.build(dict(type='FusedRandomGrayscale', **kwargs)),
                              RandomGrayscale(**kwargs), img, 0)


def test_fused_grayscale_leaves_other_images_to_mmcv():
    kwargs = dict(prob=1.0, keep_channels=True)
    ours, theirs = TRANSFORMS.build(dict(type='FusedRandomGrayscale', **kwargs)), RandomGrayscale(**kwargs)
    rng = np.random.default_rng(1)
    for img in (rng.integers(0, 256, (8, 8), dtype=np.uint8), rng.random((8, 8, 3)) * 255):
        same_draws_and_output(ours, theirs, img, 0)


FLIP = [
    dict(prob=0.5),  # the scene benchmark's
    dict(prob=0.3, direction='vertical'),
    dict(prob=0.9, direction=['horizontal', 'vertical', 'diagonal']),
    dict(prob=[0.2, 0.5], direction=['horizontal', 'diagonal']),
    dict(prob=1.0),
    dict(prob=0.0),
]


@pytest.mark.parametrize('kwargs', FLIP)
def test_fused_flip_equals_mmcvs(kwargs):
    ours, theirs = TRANSFORMS.build(dict(type='FusedRandomFlip', **kwargs)), RandomFlip(**kwargs)
    seen = set()
    for k, img in enumerate(views(np.random.default_rng(2), 120)):
        got, expected = same_draws_and_output(ours, theirs, img, k)
        assert got['flip'] == expected['flip'] and got['flip_direction'] == expected['flip_direction']
        seen.add(got['flip_direction'])
    directions = kwargs.get('direction', 'horizontal')
    possible = ({directions} if isinstance(directions, str) else set(directions)) if kwargs['prob'] != 0.0 else set()
    assert possible <= seen and seen <= possible | {None}


def test_fused_flip_flips_boxes_as_mmcv():
    kwargs = dict(prob=1.0, direction='horizontal')
    img = np.zeros((10, 20, 3), np.uint8)
    boxes = np.array([[1., 2., 5., 6.]], np.float32)
    np.random.seed(0)
    got = TRANSFORMS.build(dict(type='FusedRandomFlip', **kwargs)).transform(dict(img=img, gt_bboxes=boxes.copy()))
    np.random.seed(0)
    expected = RandomFlip(**kwargs).transform(dict(img=img, gt_bboxes=boxes.copy()))
    np.testing.assert_array_equal(got['gt_bboxes'], expected['gt_bboxes'])
    np.testing.assert_array_equal(got['gt_bboxes'], [[15., 2., 19., 6.]])
