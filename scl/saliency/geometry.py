"""Geometry of saliency grids, crop boxes and views: only coordinates, no map is computed here.

A saliency grid of side G covers the image in normalised coordinates: cell (r, c) spans x in [c/G, (c+1)/G) and
y in [r/G, (r+1)/G). Boxes are (x1, y1, x2, y2) in pixels of the source image; ``normalise_boxes`` maps them to [0, 1].
"""
import functools

import numpy as np
import torch
import torch.nn.functional as F


def normalise_boxes(boxes, height, width):
    """Pixel boxes (..., 4) to [0, 1] coordinates (numpy or torch)."""
    scale = boxes.new_tensor([width, height, width, height]) if isinstance(boxes, torch.Tensor) else np.array(
        [width, height, width, height], dtype=np.float32)
    return boxes / scale


@functools.lru_cache(maxsize=8)
def _cell_edges(grid_size):
    edges = np.linspace(0.0, 1.0, grid_size + 1, dtype=np.float32)
    return edges[:-1], edges[1:]


def box_scores(saliency, boxes):
    """Area-weighted mean of a (G, G) map inside each normalised box: the crops' saliency scores.

    Shape:
        saliency: (G, G); boxes: (V, 4) normalised (x1, y1, x2, y2) -> (V, ) float32
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    V = len(boxes)
    lo, hi = _cell_edges(saliency.shape[0])
    # Overlap lengths of each box's x interval, then y interval, with each cell's interval: 2V x G in one pass.
    # (Written for few boxes: every numpy call here costs about a microsecond, per crop, in the data loader.)
    starts = boxes[:, :2].T.reshape(-1, 1)
    ends = boxes[:, 2:].T.reshape(-1, 1)
    overlap = np.minimum(hi, ends)
    overlap -= np.maximum(lo, starts)
    np.maximum(overlap, 0, out=overlap)
    lengths = overlap.sum(1)
    area = lengths[:V] * lengths[V:]
    if area.min() <= 0:
        raise ValueError(f'a box does not overlap the image: {boxes[area <= 0].tolist()}')
    ox, oy = overlap[:V], overlap[V:]
    return ((oy @ saliency.astype(np.float32, copy=False)) * ox).sum(1) / area  # sum_rc oy[r] S[r,c] ox[c]


def box_score(saliency, box):
    """The saliency score of one normalised box (see :func:`box_scores`)."""
    return float(box_scores(saliency, box)[0])


def cell_centres(grid_size, device=None):
    c = (torch.arange(grid_size, device=device, dtype=torch.float32) + 0.5) / grid_size
    return c


def warp_to_image_grid(view_maps, boxes, flips, grid_size, flips_y=None):
    """Warp per-view maps back into each image's G x G grid through the view's crop box and flip.

    A grid cell is covered by a view when its centre lies inside the view's box; its value is the view map sampled
    bilinearly at the cell centre's position inside the crop (mirrored along each axis the view was flipped on).

    Shape:
        view_maps: (B, h, w); boxes: (B, 4) normalised (x1, y1, x2, y2); flips (mirrored in x), flips_y (mirrored
        in y, optional): (B, ) bool; returns values (B, G, G) float32 and coverage (B, G, G) bool
    """
    B = view_maps.shape[0]
    c = cell_centres(grid_size, view_maps.device)
    cy, cx = torch.meshgrid(c, c, indexing='ij')  # G x G
    x1, y1, x2, y2 = (boxes[:, i, None, None].float() for i in range(4))
    u = (cx[None] - x1) / (x2 - x1).clamp_min(1e-6)  # B x G x G, position inside the crop in [0, 1]
    v = (cy[None] - y1) / (y2 - y1).clamp_min(1e-6)
    u = torch.where(flips[:, None, None].bool(), 1.0 - u, u)
    if flips_y is not None:
        v = torch.where(flips_y[:, None, None].bool(), 1.0 - v, v)
    coverage = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    grid = torch.stack([u * 2 - 1, v * 2 - 1], dim=-1)  # B x G x G x 2, grid_sample's (x, y) order
    values = F.grid_sample(
        view_maps[:, None].float(), grid, mode='bilinear', padding_mode='border', align_corners=False)[:, 0]
    assert values.shape == (B, grid_size, grid_size)
    return values, coverage
