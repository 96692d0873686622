import os.path as osp

import numpy as np
import pytest

from scl.evaluation import cell_mask_fraction, localisation_ratio, scene_masks


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
