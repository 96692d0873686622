"""Geometry shared by the crop transform, the algorithm's store update and the visualiser.

A saliency grid of side G covers the image in normalised coordinates: cell (r, c) spans x in [c/G, (c+1)/G) and
y in [r/G, (r+1)/G). Boxes are (x1, y1, x2, y2) in pixels of the source image; ``normalise_boxes`` maps them to [0, 1].
"""
import functools

import numpy as np
import torch
import torch.nn.functional as F

# The saliency sources of SCL's training step (``SCLAlgorithm.saliency_source``) that come from the model itself;
# see docs/method.md.
SALIENCY_SOURCES = ('activation', 'gradcam', 'dense_contrast')
# Sources that read only the view's pixels, not the model (a control: what a map that localises does to SCL).
MODEL_FREE_SOURCES = ('spectral_residual', )
# Sources that are ground truth, for the scene benchmark only: ``'oracle'`` is the union of each training scene's
# object masks (from the scene builder's COCO annotations) as cover fractions on the store's grid, written into the
# store once before training and never updated (``SaliencyStoreHook``). It tells whether a benchmark can reward
# saliency at all; on data without annotations it is an error.
BENCHMARK_SOURCES = ('oracle', )
# No saliency at all: the model computes no map and never writes the store (with independent crops and beta = 0,
# SCL's pipeline is MoCo v2: the paired MoCo v2 arm of the scene benchmark).
NO_SOURCE = 'none'
ALGORITHM_SOURCES = SALIENCY_SOURCES + MODEL_FREE_SOURCES + BENCHMARK_SOURCES + (NO_SOURCE, )
REDUCTIONS = ('mean_relu', 'l2')


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


def reduce_feature_map(feat, mode='mean_relu'):
    """Channel-reduce a feature map to a per-view saliency map normalised to [0, 1].

    Computed in float32 whatever the feature map's dtype (fp16 / bf16 under AMP), so mixed precision does not change
    the normalised map beyond the rounding of the features themselves.

    Shape:
        feat: (B, C, h, w) -> (B, h, w) float32
    """
    feat = feat.float()
    if mode == 'mean_relu':
        m = F.relu(feat).mean(dim=1)
    elif mode == 'l2':
        m = feat.pow(2).sum(dim=1).sqrt()
    else:
        raise ValueError(f'saliency reduction must be one of {REDUCTIONS}, got {mode!r}')
    return normalise_maps(m)


def normalise_maps(m):
    """Min-max normalise each map of a (B, h, w) batch to [0, 1] (a constant map becomes 0), in float32."""
    m = m.float()
    flat = m.flatten(1)
    lo = flat.min(dim=1).values[:, None, None]
    hi = flat.max(dim=1).values[:, None, None]
    return (m - lo) / (hi - lo).clamp_min(1e-6)


def valid_maps(maps):
    """Which maps of a (B, h, w) batch carry saliency: every value finite and not all equal (a constant map, e.g.
    from a constant image or a degenerate gradient, is all 0 after :func:`normalise_maps`).

    Shape:
        maps: (B, h, w) -> (B, ) bool
    """
    flat = maps.float().flatten(1)
    spread = flat.amax(1) - flat.amin(1)
    return torch.isfinite(flat).all(1) & (spread > 1e-6)


def contrastive_gradcam(activations, grads):
    """Contrastive Grad-CAM (ContraCAM, Mo et al. 2021) of one view from its feature map and the loss gradient.

    Channel weights ``w_k = mean_hw(-dL/dA_k)`` clamped at 0 (the channels whose increase lowers the contrastive
    loss), map ``ReLU(sum_k w_k A_k)``, min-max normalised per view; computed in float32. A uniform scale of the
    gradient (AMP's loss scale) does not change the result.

    Shape:
        activations, grads: (B, C, h, w) -> (B, h, w) float32 in [0, 1]
    """
    a, g = activations.float(), grads.float()
    weights = (-g).mean(dim=(2, 3)).clamp_min(0)  # B x C
    return normalise_maps(F.relu(torch.einsum('bc,bchw->bhw', weights, a)))


def spectral_residual(images, out_size=16, sigma=0.02):
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007) of each image, from its pixels alone.

    The grey image (channel mean; an affine change of the intensities, such as the preprocessor's normalisation,
    changes only the zero frequency) is Fourier transformed; its log amplitude minus the 3 x 3 box average of the log
    amplitude (the spectral residual) is recombined with the phase, ``|ifft|^2`` smoothed with a Gaussian of
    ``sigma`` times the side, area-pooled to ``out_size x out_size`` and min-max normalised per image. Computed in
    float32. ``sigma = 0.02`` and ``out_size = 16`` (the store's grid) localised best of the values tried on the
    scene benchmark's validation scenes (docs/method.md).

    Shape:
        images: (B, C, H, W) -> (B, out_size, out_size) float32 in [0, 1]
    """
    grey = images.float().mean(dim=1)  # B x H x W
    H, W = grey.shape[-2:]
    spectrum = torch.fft.fft2(grey)
    log_amp = torch.log(spectrum.abs().clamp_min(1e-8))
    # Box average with the border replicated (cv2.blur's reflect-101 border differs only on the outermost rows).
    smooth = F.avg_pool2d(F.pad(log_amp[:, None], (1, 1, 1, 1), mode='replicate'), 3, stride=1)[:, 0]
    sal = torch.fft.ifft2(torch.exp(log_amp - smooth) * torch.exp(1j * torch.angle(spectrum))).abs().pow(2)
    radius = max(1, int(round(3 * sigma * max(H, W))))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=grey.device)
    kernel = torch.exp(-x**2 / (2 * (sigma * max(H, W))**2))
    kernel = kernel / kernel.sum()
    sal = F.pad(sal[:, None], (radius, radius, radius, radius), mode='reflect')
    sal = F.conv2d(F.conv2d(sal, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
    return normalise_maps(F.adaptive_avg_pool2d(sal, out_size)[:, 0])


def dense_contrast(fmap, keys, mlp, queue, temperature, negatives=None, chunk=4096):
    """Per location ``l``: ``log softmax`` of ``z_l . k / T`` over ``[k, queue]``, with ``z_l`` the projection MLP
    applied at ``l`` (its linear layers as 1 x 1 convolutions; L2-normalised) and ``k`` the view's key; min-max
    normalised per view. The queue is scored in chunks of ``chunk`` entries (a running log-sum-exp), so memory stays
    at ``B x h x w x chunk``; ``negatives`` keeps that many evenly strided entries instead of the whole queue.

    Shape:
        fmap: (B, C, h, w); keys: (B, D) normalised; queue: (D, K) -> (B, h, w) float32 in [0, 1]
    """
    z = F.normalize(mlp(fmap.permute(0, 2, 3, 1)).float(), dim=-1)  # B x h x w x D
    pos = torch.einsum('bhwd,bd->bhw', z, keys.float()) / temperature
    queue = queue.detach().float()
    if negatives is not None and negatives < queue.shape[1]:
        queue = queue[:, ::queue.shape[1] // negatives][:, :negatives]
    lse = pos
    for s in range(0, queue.shape[1], chunk):
        neg = torch.einsum('bhwd,dk->bhwk', z, queue[:, s:s + chunk]) / temperature
        lse = torch.logaddexp(lse, torch.logsumexp(neg, dim=-1))
    return normalise_maps(pos - lse)


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
