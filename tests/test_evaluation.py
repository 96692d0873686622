import os.path as osp

import numpy as np
import pytest

from scl.evaluation import (cell_mask_fraction, cue_images, cue_retrieval, fresh_backgrounds, localisation_ratio,
                            pooled_mask_map, retrieval_top1, scene_masks)


def test_cell_fractions_exact():
    mask = np.zeros((8, 8), bool)
    mask[:4, :2] = True  # half of the top-left 4 x 4 cell
    f = cell_mask_fraction(mask, 2)
    np.testing.assert_allclose(f, [[0.5, 0], [0, 0]])


def test_uniform_map_scores_one_and_perfect_map_more():
    m = np.zeros((4, 4))
    m[1, 1] = 1.0
    assert localisation_ratio(np.ones((4, 4)), m) == pytest.approx(1.0)
    assert localisation_ratio(m, m) == pytest.approx(16.0)  # all mass on 1/16 of the image
    assert localisation_ratio(1 - m, m) == pytest.approx(0.0)
    assert np.isnan(localisation_ratio(np.ones((4, 4)), np.zeros((4, 4))))
    with pytest.raises(ValueError, match='shape'):
        localisation_ratio(np.ones((2, 2)), m)


def test_scene_masks_cover_the_objects(tiny_data):
    masks = scene_masks(osp.join(tiny_data, 'scenes/annotations/instances_val.json'), 8)
    assert len(masks) == 6
    for f in masks.values():
        assert f.shape == (8, 8) and 0 < f.mean() < 1 and f.max() <= 1


def test_pooled_mask_map_spans_uniform_to_the_exact_masks():
    mask = np.zeros((64, 64), bool)
    mask[8:24, 40:60] = True
    exact = cell_mask_fraction(mask, 8)
    # one cell knows nothing: uniform, ratio 1; as many cells as the grid: the exact cover fractions
    np.testing.assert_allclose(pooled_mask_map(mask, 1, 8), np.full((8, 8), mask.mean()), rtol=1e-6)
    assert localisation_ratio(pooled_mask_map(mask, 1, 8), exact) == pytest.approx(1.0)
    np.testing.assert_allclose(pooled_mask_map(mask, 8, 8), exact, rtol=1e-6)
    # 2 x 2 by hand: the object lies in the top-right quadrant only (cover 320 / 1024); bilinear resampling to 8 x 8
    # (align_corners=False) keeps the corner cells at their quadrant's value and ramps across the centre
    two = pooled_mask_map(mask, 2, 8)
    assert two[0, 7] == pytest.approx(320 / 1024) and two[7, 0] == pytest.approx(0.0)
    scores = [localisation_ratio(pooled_mask_map(mask, s, 8), exact) for s in (1, 2, 4, 8)]
    assert scores == sorted(scores) and scores[-1] > 3


def _cue_scenes(n=20, side=16, seed=0):
    """Noise scenes whose objects fill the left half, and two sets of fresh backgrounds."""
    rng = np.random.default_rng(seed)
    images, fresh_o, fresh_b = (rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8) for _ in range(3))
    masks = np.zeros((n, side, side), bool)
    masks[:, :, :side // 2] = True
    return images, masks, fresh_o, fresh_b


def test_cue_images_paste_objects_and_paint_over_them():
    images, masks, fresh_o, fresh_b = _cue_scenes(n=3)
    edited = cue_images(images, masks, fresh_o, fresh_b)
    left, right = np.s_[:, :, :8], np.s_[:, :, 8:]
    np.testing.assert_array_equal(edited['objects'][left], images[left])
    np.testing.assert_array_equal(edited['objects'][right], fresh_o[right])
    np.testing.assert_array_equal(edited['background'][left], fresh_b[left])
    np.testing.assert_array_equal(edited['background'][right], images[right])
    with pytest.raises(ValueError, match='fresh_background'):
        cue_images(images, masks, fresh_o, fresh_b[:2])


def test_cue_retrieval_names_the_cue_a_network_looks_at():
    images, masks, fresh_o, fresh_b = _cue_scenes()

    def half(cols):  # a "network" that sees only some columns: its features are their pixels
        return lambda x: x[:, :, cols].reshape(len(x), -1).astype(np.float32) - 127.5

    objects_net = cue_retrieval(half(slice(0, 8)), images, masks, fresh_o, fresh_b)
    background_net = cue_retrieval(half(slice(8, 16)), images, masks, fresh_o, fresh_b)
    assert objects_net['objects'] == 1.0 and objects_net['background'] < 0.3
    assert background_net['background'] == 1.0 and background_net['objects'] < 0.3
    assert objects_net['chance'] == 1 / 20
    # retrieval by hand: row 1 is nearest to gallery row 0, so one of the two queries misses
    assert retrieval_top1([[1.0, 0.0], [1.0, 0.1]], [[1.0, 0.0], [0.0, 1.0]]) == 0.5


def test_fresh_backgrounds_follow_the_data_and_name_missing_meta(tiny_data, tmp_path):
    bgs = fresh_backgrounds(tiny_data, 3, 32, seed=1)
    assert bgs.shape == (3, 32, 32, 3) and bgs.dtype == np.uint8
    np.testing.assert_array_equal(bgs, fresh_backgrounds(tiny_data, 3, 32, seed=1))
    with pytest.raises(FileNotFoundError, match='meta.json'):
        fresh_backgrounds(str(tmp_path), 3, 32)
