"""Saliency localisation: how much of a saliency map's mass falls on the objects, relative to their area.

``ratio = (sum_c S_c m_c / sum_c S_c) / (mean_c m_c)`` over the cells ``c`` of a G x G map ``S``, with ``m_c`` the
fraction of cell ``c`` covered by object masks. 1.0 means no better than a uniform map; higher is better. The same
function scores SCL's store and any model's feature-map saliency, so methods are compared on equal terms.
"""
import json
import os.path as osp

import numpy as np


def cell_mask_fraction(mask, grid_size):
    """Fraction of each of the G x G cells covered by a boolean H x W mask (cells as in the saliency grid)."""
    h, w = mask.shape
    ys = np.linspace(0, h, grid_size + 1)
    xs = np.linspace(0, w, grid_size + 1)
    # Integral image for exact fractional cell sums (pixel-aligned when H, W are multiples of G).
    sat = np.pad(mask.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))

    def area_sum(y0, y1, x0, x1):
        return sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]

    yi = np.round(ys).astype(int)
    xi = np.round(xs).astype(int)
    out = np.empty((grid_size, grid_size))
    for r in range(grid_size):
        for c in range(grid_size):
            area = (yi[r + 1] - yi[r]) * (xi[c + 1] - xi[c])
            out[r, c] = area_sum(yi[r], yi[r + 1], xi[c], xi[c + 1]) / area if area else 0.0
    return out


def localisation_ratio(saliency, mask_fraction):
    """The localisation ratio of one map (see the module docstring); NaN when the image has no object."""
    s = np.clip(np.asarray(saliency, dtype=np.float64), 0, None)
    m = np.asarray(mask_fraction, dtype=np.float64)
    if s.shape != m.shape:
        raise ValueError(f'saliency {s.shape} and mask fractions {m.shape} differ in shape')
    area_share = m.mean()
    if area_share <= 0 or s.sum() <= 0:
        return float('nan')
    return float((s * m).sum() / s.sum() / area_share)


def scene_union_masks(ann_file):
    """``{file_name: H x W bool}``: the union of the object masks of each scene of a scene-builder COCO file."""
    from pycocotools import mask as mask_utils
    with open(ann_file) as f:
        coco = json.load(f)
    union = {img['id']: np.zeros((img['height'], img['width']), bool) for img in coco['images']}
    for ann in coco['annotations']:
        union[ann['image_id']] |= mask_utils.decode(ann['segmentation']).astype(bool)
    return {osp.basename(img['file_name']): union[img['id']] for img in coco['images']}


def scene_masks(ann_file, grid_size):
    """``{file_name: G x G object-cover fractions}`` from a COCO instance file of the scene builder."""
    return {name: cell_mask_fraction(m, grid_size) for name, m in scene_union_masks(ann_file).items()}


def pooled_mask_map(mask, side, grid_size):
    """A map that knows where the objects are but has only ``side x side`` cells: the mask's cover fractions on a
    ``side`` grid, resampled to the G x G grid the way model maps are (bilinear, ``align_corners=False``). Its score
    shows what a feature map of that resolution (e.g. 4 x 4 for the scene benchmark's stride-16 network on a 64 px
    view) can reach."""
    import torch
    coarse = torch.from_numpy(cell_mask_fraction(mask, side)).float()[None, None]
    return torch.nn.functional.interpolate(coarse, size=(grid_size, grid_size), mode='bilinear',
                                           align_corners=False)[0, 0].numpy()


def centre_prior(grid_size, sigma=0.25):
    """A centred Gaussian bump on the G x G grid (``sigma`` as a fraction of the side), peak 1: the baseline a
    centre-biased saliency map has to beat."""
    c = (np.arange(grid_size) + 0.5) / grid_size - 0.5
    return np.exp(-(c[:, None]**2 + c[None, :]**2) / (2 * sigma**2))


def mean_localisation(maps, mask_fractions):
    """Mean localisation ratio over images (NaN-skipping: images without objects do not count)."""
    return float(np.nanmean([localisation_ratio(s, m) for s, m in zip(maps, mask_fractions)]))


def held_out_scenes(data, split, num):
    """``(COCO file, names, RGB images)`` of the scenes to score from a scene-builder directory.

    ``split='val'``: the first ``num`` held-out val scenes (the benchmark's test scenes); ``'train-holdout'``: the last
    ``num`` pretraining scenes, the validation split on which settings are chosen (their masks are never used in
    pretraining).
    """
    import os

    from scl.visualization import load_rgb
    if split not in ('val', 'train-holdout'):
        raise ValueError(f"split must be 'val' or 'train-holdout', got {split!r}")
    sub = 'val' if split == 'val' else 'train'
    ann = osp.join(data, 'scenes', 'annotations', f'instances_{sub}.json')
    if not osp.isfile(ann):
        raise FileNotFoundError(f'{ann} does not exist: build scene data with '
                                'tools/dataset_converters/build_scene_dataset.py')
    names = sorted(n for n in os.listdir(osp.join(data, 'scenes', sub)) if n.endswith('.png'))
    names = names[:num] if split == 'val' else names[-num:]
    return ann, names, [load_rgb(osp.join(data, 'scenes', sub, n)) for n in names]


def source_maps(model, images, size, grid_size, source, batch=32, **kwargs):
    """``scl.saliency.model_saliency`` of many images, ``batch`` at a time (N x G x G in [0, 1])."""
    from scl.saliency import model_saliency
    return np.concatenate([model_saliency(model, images[i:i + batch], size, grid_size, source=source, **kwargs)
                           for i in range(0, len(images), batch)])


def store_localisation(store_state, ann_file, scene_names, all_names):
    """Mean localisation of an SCL saliency store (``checkpoint['saliency_store']``) on the named training scenes.

    Args:
        store_state (dict): The store's state dict (``maps``: N x G x G, one row per pretraining scene).
        ann_file (str): The pretraining scenes' COCO instances file (masks).
        scene_names (list[str]): The scenes to score.
        all_names (list[str]): Every pretraining scene in dataset order (row ``i`` of the store is ``all_names[i]``).
    """
    maps = store_state['maps']
    if len(maps) != len(all_names):
        raise ValueError(f'the store holds {len(maps)} maps but the data has {len(all_names)} pretraining scenes: '
                         'score a checkpoint with the data it was trained on')
    masks = scene_masks(ann_file, maps.shape[1])
    row = {n: i for i, n in enumerate(all_names)}
    return mean_localisation([maps[row[n]].float().numpy() for n in scene_names], [masks[n] for n in scene_names])
