"""scl.saliency.geometry: the warp of view maps back into image grids, against a cell-by-cell reference."""
import numpy as np
import pytest
import torch

from scl.saliency import box_scores, warp_to_image_grid


def bilinear(view, u, v):
    """Sample an h x w map at (u, v) in [0, 1) of its width / height, pixel centres at (i + 0.5) / side, the border
    repeated: grid_sample(align_corners=False, padding_mode='border') written out."""
    h, w = view.shape
    x = min(max(u * w - 0.5, 0.0), w - 1.0)
    y = min(max(v * h - 0.5, 0.0), h - 1.0)
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    return ((1 - fy) * ((1 - fx) * view[y0, x0] + fx * view[y0, x1]) + fy * ((1 - fx) * view[y1, x0]
                                                                               + fx * view[y1, x1]))


def reference(view, box, flip_x, flip_y, G):
    values, cover = np.zeros((G, G)), np.zeros((G, G), bool)
    x1, y1, x2, y2 = box
    for r in range(G):
        for c in range(G):
            cx, cy = (c + 0.5) / G, (r + 0.5) / G
            if not (x1 <= cx < x2 and y1 <= cy < y2):
                continue
            u, v = (cx - x1) / (x2 - x1), (cy - y1) / (y2 - y1)
            u, v = (1 - u if flip_x else u), (1 - v if flip_y else v)
            cover[r, c] = True
            values[r, c] = bilinear(view, u, v)
    return values, cover


@pytest.mark.parametrize('seed', range(4))
def test_warp_matches_a_cell_by_cell_reference_with_boxes_and_flips(seed):
    rng = np.random.default_rng(seed)
    B, G = 6, 8
    views = rng.random((B, 5, 7)).astype(np.float32)  # not square, not the grid's size
    lo = rng.uniform(0, 0.5, (B, 2))
    boxes = np.concatenate([lo, lo + rng.uniform(0.2, 0.5, (B, 2))], 1).clip(0, 1).astype(np.float32)
    flip_x, flip_y = rng.random(B) < 0.5, rng.random(B) < 0.5
    values, cover = warp_to_image_grid(torch.from_numpy(views), torch.from_numpy(boxes), torch.from_numpy(flip_x),
                                       G, flips_y=torch.from_numpy(flip_y))
    for b in range(B):
        ref_values, ref_cover = reference(views[b], boxes[b], flip_x[b], flip_y[b], G)
        np.testing.assert_array_equal(cover[b].numpy(), ref_cover)
        np.testing.assert_allclose(values[b].numpy()[ref_cover], ref_values[ref_cover], atol=1e-5)
    assert cover.any() and not cover.all()


def test_box_scores_equal_a_pixel_count_on_a_fine_raster():
    rng = np.random.default_rng(0)
    G, R = 4, 400
    sal = rng.random((G, G)).astype(np.float32)
    fine = np.kron(sal, np.ones((R // G, R // G)))
    boxes = np.array([[0.1, 0.2, 0.7, 0.9], [0.0, 0.0, 1.0, 1.0], [0.3, 0.3, 0.35, 0.8]], np.float32)
    for box, got in zip(boxes, box_scores(sal, boxes)):
        x1, y1, x2, y2 = (np.round(box * R)).astype(int)
        assert got == pytest.approx(fine[y1:y2, x1:x2].mean(), rel=1e-4)
