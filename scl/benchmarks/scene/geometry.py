"""The same-object rate of a scene set: how often the two views of a positive pair each hold at least half of the
same object, for the ways SCL and MoCo v2 cut their views. A screen for scene data on which saliency-guided crops
can matter at all (an anchor on an object must often give pairs that a uniform anchor does not), computed from the
scenes' annotations in seconds, with the crops drawn by the real transforms (no re-implementation of a crop)."""
import json

import numpy as np

# How each kind of pair is cut: SaliencyCropTransform's anchor modes, and two independent crops of mmpretrain's
# RandomResizedCrop (MoCo v2's views).
PAIR_KINDS = ('uniform', 'oracle', 'independent', 'mmpretrain')


def scene_boxes(ann_file):
    """``(sizes, boxes)``: per scene of a COCO instances file, its ``(height, width)`` and its objects' boxes as an
    ``K x 4`` float array of ``x1, y1, x2, y2`` in pixels (``K`` may be 0), in the file's image order."""
    with open(ann_file) as f:
        coco = json.load(f)
    by_image = {img['id']: [] for img in coco['images']}
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        by_image[ann['image_id']].append([x, y, x + w, y + h])
    sizes = [(img['height'], img['width']) for img in coco['images']]
    boxes = [np.asarray(by_image[img['id']], dtype=np.float64).reshape(-1, 4) for img in coco['images']]
    return sizes, boxes


def held_fraction(crop, objects):
    """The fraction of each object box's area inside the crop box (``x1, y1, x2, y2``); ``K`` values in [0, 1].

    Shape:
        crop: (4, ); objects: (K, 4) -> (K, )
    """
    objects = np.asarray(objects, dtype=np.float64).reshape(-1, 4)
    w = np.clip(np.minimum(crop[2], objects[:, 2]) - np.maximum(crop[0], objects[:, 0]), 0, None)
    h = np.clip(np.minimum(crop[3], objects[:, 3]) - np.maximum(crop[1], objects[:, 1]), 0, None)
    area = (objects[:, 2] - objects[:, 0]) * (objects[:, 3] - objects[:, 1])
    return w * h / np.maximum(area, 1e-12)


def same_object(crops, objects, threshold=0.5):
    """Whether every crop of a pair holds at least ``threshold`` of the same object's box."""
    if len(objects) == 0:
        return False
    held = np.stack([held_fraction(np.asarray(c, dtype=np.float64), objects) for c in crops])  # V x K
    return bool((held >= threshold).all(axis=0).any())


def draw_pair(kind, transform, rrc, height, width, cover=None):
    """One view pair's boxes (``2 x 4``, pixels) cut the way ``kind`` says.

    Args:
        kind (str): One of :data:`PAIR_KINDS`.
        transform (SaliencyCropTransform): Draws ``uniform``, ``oracle`` and ``independent`` pairs (its
            ``sample_boxes``: the training path's own draws).
        rrc (RandomResizedCrop): mmpretrain's crop, drawn twice for ``mmpretrain`` (its ``rand_crop_params``).
        cover (np.ndarray, optional): The scene's G x G object cover (the oracle's map), for ``oracle``.
    """
    if kind == 'mmpretrain':
        img = np.empty((height, width, 1), dtype=np.uint8)
        boxes = []
        for _ in range(2):
            y, x, h, w = rrc.rand_crop_params(img)
            boxes.append([x, y, x + w, y + h])
        return np.asarray(boxes, dtype=np.float64)
    if kind == 'independent':
        return transform.sample_boxes(height, width, None, 0, shared=False)[2]
    if kind == 'uniform':
        return transform.sample_boxes(height, width, None, 0, shared=True)[2]
    if kind == 'oracle':
        cdf = transform.anchor_cdf(np.asarray(cover, dtype=np.float32))  # the anchor drawn from the object cover
        return transform.sample_boxes(height, width, cdf, cover.shape[0], shared=True)[2]
    raise ValueError(f'unknown pair kind {kind!r}: choose from {PAIR_KINDS}')


def same_object_rates(ann_file, scale=(0.2, 1.0), ratio=(3. / 4., 4. / 3.), pairs=20000, grid_size=16, seed=0,
                      kinds=PAIR_KINDS, threshold=0.5):
    """The same-object rate of each pair kind on the scenes of ``ann_file``.

    Each of ``pairs`` draws picks a scene uniformly, cuts one pair of each kind (``SaliencyCropTransform`` with the
    given scale and ratio for the anchor modes; mmpretrain's ``RandomResizedCrop`` with the same for ``mmpretrain``)
    and asks :func:`same_object`. Deterministic for a seed.

    Returns:
        dict: ``{kind: rate}`` plus ``pairs``, ``scenes``, ``objects_per_scene`` and ``object_area_share`` (mean
        share of a scene's area in object boxes).
    """
    from mmpretrain.datasets.transforms import RandomResizedCrop

    from scl.datasets.transforms import SaliencyCropTransform
    from scl.evaluation.localisation import scene_masks
    sizes, boxes = scene_boxes(ann_file)
    if not sizes:
        raise ValueError(f'{ann_file} holds no scene')
    names = None
    covers = {}
    if 'oracle' in kinds:
        with open(ann_file) as f:
            names = [img['file_name'] for img in json.load(f)['images']]
        covers = scene_masks(ann_file, grid_size)
    transform = SaliencyCropTransform(size=8, scale=tuple(scale), ratio=tuple(ratio), anchor='saliency')
    rrc = RandomResizedCrop(scale=8, crop_ratio_range=tuple(scale), aspect_ratio_range=tuple(ratio), backend='cv2')
    state = np.random.get_state()
    rng = np.random.default_rng(seed)
    np.random.seed(seed)  # the transforms draw from numpy's global stream
    try:
        scenes = rng.integers(len(sizes), size=pairs)
        hits = {k: 0 for k in kinds}
        for i in scenes.tolist():
            h, w = sizes[i]
            cover = covers[names[i].split('/')[-1]] if names is not None else None
            for k in kinds:
                hits[k] += same_object(draw_pair(k, transform, rrc, h, w, cover), boxes[i], threshold)
    finally:
        np.random.set_state(state)
    out = {k: hits[k] / pairs for k in kinds}
    areas = [((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).sum() / (h * w) for b, (h, w) in zip(boxes, sizes)]
    out.update(pairs=pairs, scenes=len(sizes), objects_per_scene=float(np.mean([len(b) for b in boxes])),
               object_area_share=float(np.mean(areas)))
    return out


def crop_scale(config):
    """``(scale, ratio)`` of the SaliencyCropTransform in a pretraining config's train pipeline (mmengine Config or
    path); ``((0.2, 1.0), (3/4, 4/3))``, the transform's defaults, for what the config leaves out."""
    from mmengine.config import Config
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    from scl.datasets.transforms import find_transform
    t = find_transform(cfg.train_dataloader.dataset.pipeline, ('SaliencyCropTransform', ))
    if t is not None:
        return tuple(t.get('scale', (0.2, 1.0))), tuple(t.get('ratio', (3. / 4., 4. / 3.)))
    raise ValueError('the config\'s train pipeline has no SaliencyCropTransform: give an SCL pretraining config')



def plot_pairs(path, data, scale, ratio=(3. / 4., 4. / 3.), n=4, grid_size=16, seed=0, split='train'):
    """A picture of ``n`` scenes of a build_scene_dataset folder: the scene with its oracle map (object cover), then
    one view pair for each of the uniform anchor, the oracle anchor and independent crops (the two boxes drawn on
    the scene, green where both views hold half of the same object, red where not)."""
    import os.path as osp

    import cv2

    from scl.benchmarks.scene.report import _plt
    from scl.datasets.transforms import SaliencyCropTransform
    from scl.evaluation.localisation import scene_masks
    ann = osp.join(data, 'scenes', 'annotations', f'instances_{split}.json')
    sizes, boxes = scene_boxes(ann)
    with open(ann) as f:
        names = [img['file_name'] for img in json.load(f)['images']]
    covers = scene_masks(ann, grid_size)
    transform = SaliencyCropTransform(size=8, scale=tuple(scale), ratio=tuple(ratio), anchor='saliency')
    plt = _plt()
    kinds = ('uniform', 'oracle', 'independent')
    fig, axes = plt.subplots(n, 1 + len(kinds), figsize=(2.0 * (1 + len(kinds)), 2.0 * n), squeeze=False)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        for i in range(n):
            img = cv2.cvtColor(cv2.imread(osp.join(data, 'scenes', split, names[i])), cv2.COLOR_BGR2RGB)
            h, w = sizes[i]
            cover = covers[names[i]]
            axes[i][0].imshow(img)
            axes[i][0].imshow(np.ma.masked_equal(cover, 0), cmap='autumn', alpha=0.6, extent=(0, w, h, 0), vmin=0,
                              vmax=1)  # the cells the objects cover, by their cover fraction
            for j, kind in enumerate(kinds, start=1):
                pair = draw_pair(kind, transform, None, h, w, cover)
                colour = 'lime' if same_object(pair, boxes[i]) else 'red'
                axes[i][j].imshow(img)
                for (x1, y1, x2, y2), style in zip(pair, ('-', '--')):
                    axes[i][j].add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=colour, lw=1.2,
                                                       ls=style))
                if i == 0:
                    axes[i][j].set_title(f'{kind} pair', fontsize=7)
        axes[0][0].set_title('scene + oracle map', fontsize=7)
    finally:
        np.random.set_state(state)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)
