"""Geometry shared by the crop transform, the algorithm's store update and the visualiser.

A saliency grid of side G covers the image in normalised coordinates: cell (r, c) spans x in [c/G, (c+1)/G) and
y in [r/G, (r+1)/G). Boxes are (x1, y1, x2, y2) in pixels of the source image; ``normalise_boxes`` maps them to [0, 1].
"""
import numpy as np
import torch
import torch.nn.functional as F

REDUCTIONS = ('mean_relu', 'l2')


def normalise_boxes(boxes, height, width):
    """Pixel boxes (..., 4) to [0, 1] coordinates (numpy or torch)."""
    scale = boxes.new_tensor([width, height, width, height]) if isinstance(boxes, torch.Tensor) else np.array(
        [width, height, width, height], dtype=np.float32)
    return boxes / scale


def box_cell_overlap(box, grid_size):
    """Fraction of each grid cell's area covered by a normalised box: (G, G) float32 in [0, 1]."""
    edges = np.linspace(0.0, 1.0, grid_size + 1, dtype=np.float64)
    ox = np.clip(np.minimum(edges[1:], box[2]) - np.maximum(edges[:-1], box[0]), 0, None) * grid_size
    oy = np.clip(np.minimum(edges[1:], box[3]) - np.maximum(edges[:-1], box[1]), 0, None) * grid_size
    return np.outer(oy, ox).astype(np.float32)


def box_score(saliency, box):
    """Area-weighted mean of a (G, G) map inside a normalised box: the crop's saliency score."""
    w = box_cell_overlap(box, saliency.shape[0])
    total = w.sum()
    if total <= 0:
        raise ValueError(f'box {box} does not overlap the image')
    return float((w * saliency).sum() / total)


def reduce_feature_map(feat, mode='mean_relu'):
    """Channel-reduce a feature map to a per-view saliency map normalised to [0, 1].

    Shape:
        feat: (B, C, h, w) -> (B, h, w)
    """
    if mode == 'mean_relu':
        m = F.relu(feat).mean(dim=1)
    elif mode == 'l2':
        m = feat.float().pow(2).sum(dim=1).sqrt()
    else:
        raise ValueError(f'saliency reduction must be one of {REDUCTIONS}, got {mode!r}')
    m = m.float()
    flat = m.flatten(1)
    lo = flat.min(dim=1).values[:, None, None]
    hi = flat.max(dim=1).values[:, None, None]
    return (m - lo) / (hi - lo).clamp_min(1e-6)


def cell_centres(grid_size, device=None):
    c = (torch.arange(grid_size, device=device, dtype=torch.float32) + 0.5) / grid_size
    return c


def warp_to_image_grid(view_maps, boxes, flips, grid_size):
    """Warp per-view maps back into each image's G x G grid through the view's crop box and horizontal flip.

    A grid cell is covered by a view when its centre lies inside the view's box; its value is the view map sampled
    bilinearly at the cell centre's position inside the crop (mirrored when the view was flipped).

    Shape:
        view_maps: (B, h, w); boxes: (B, 4) normalised (x1, y1, x2, y2); flips: (B, ) bool
        returns values (B, G, G) float32 and coverage (B, G, G) bool
    """
    B = view_maps.shape[0]
    c = cell_centres(grid_size, view_maps.device)
    cy, cx = torch.meshgrid(c, c, indexing='ij')  # G x G
    x1, y1, x2, y2 = (boxes[:, i, None, None].float() for i in range(4))
    u = (cx[None] - x1) / (x2 - x1).clamp_min(1e-6)  # B x G x G, position inside the crop in [0, 1]
    v = (cy[None] - y1) / (y2 - y1).clamp_min(1e-6)
    u = torch.where(flips[:, None, None].bool(), 1.0 - u, u)
    coverage = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    grid = torch.stack([u * 2 - 1, v * 2 - 1], dim=-1)  # B x G x G x 2, grid_sample's (x, y) order
    values = F.grid_sample(
        view_maps[:, None].float(), grid, mode='bilinear', padding_mode='border', align_corners=False)[:, 0]
    assert values.shape == (B, grid_size, grid_size)
    return values, coverage
