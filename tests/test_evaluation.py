import os.path as osp

import numpy as np
import pytest

from scl.evaluation import cell_mask_fraction, localisation_ratio, pooled_mask_map, scene_masks


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
