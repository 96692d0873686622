"""LoadImageFromFileCached: mmcv's LoadImageFromFile, decoded once per process, bounded."""
import cv2
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmpretrain.registry import TRANSFORMS

import scl  # noqa: F401


@pytest.fixture
def pngs(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for k in range(4):
        p = tmp_path / f'{k}.png'
        cv2.imwrite(str(p), rng.integers(0, 256, (16, 12, 3), dtype=np.uint8))
        paths.append(str(p))
    return paths


def load(t, path):
    return t.transform(dict(img_path=path))


def test_cached_loads_are_mmcvs_loads_byte_for_byte(pngs):
    t = TRANSFORMS.build(dict(type='LoadImageFromFileCached'))
    ref = LoadImageFromFile()
    for _ in range(2):  # first visit decodes, the second reads the cache
        for p in pngs:
            got, want = load(t, p), load(ref, p)
            assert set(got) == set(want)
            np.testing.assert_array_equal(got['img'], want['img'])
            assert got['img_shape'] == want['img_shape'] == (16, 12) and got['ori_shape'] == (16, 12)
    assert t.cached_images == len(pngs)


def test_a_cached_image_is_not_changed_by_what_the_pipeline_writes(pngs):
    t = TRANSFORMS.build(dict(type='LoadImageFromFileCached'))
    first = load(t, pngs[0])['img']
    first[:] = 0  # a later transform writing in place
    again = load(t, pngs[0])['img']
    np.testing.assert_array_equal(again, load(LoadImageFromFile(), pngs[0])['img'])
    again[:] = 1
    assert load(t, pngs[0])['img'].max() > 1


def test_the_cache_keeps_the_most_recent_images_within_its_bound(pngs, tmp_path):
    one = 16 * 12 * 3
    t = TRANSFORMS.build(dict(type='LoadImageFromFileCached', max_cache_mb=2.5 * one / 2**20))
    for p in pngs:
        load(t, p)
    assert t.cached_images == 2  # the two most recent
    # a file changed on disk after it left the cache is read again; one still cached is not
    cv2.imwrite(pngs[0], np.full((16, 12, 3), 7, np.uint8))
    assert load(t, pngs[0])['img'].max() == 7
    assert TRANSFORMS.build(dict(type='LoadImageFromFileCached', max_cache_mb=0)).transform(
        dict(img_path=pngs[1]))['img'].shape == (16, 12, 3)
    with pytest.raises(ValueError, match='max_cache_mb'):
        TRANSFORMS.build(dict(type='LoadImageFromFileCached', max_cache_mb=-1))


def test_unreadable_files_fail_or_are_skipped_as_in_mmcv(tmp_path):
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'not a png')
    with pytest.raises(AssertionError, match='failed to load image'):
        load(TRANSFORMS.build(dict(type='LoadImageFromFileCached')), str(bad))
    t = TRANSFORMS.build(dict(type='LoadImageFromFileCached', ignore_empty=True))
    assert load(t, str(tmp_path / 'missing.png')) is None and t.cached_images == 0
