"""Saliency-guided cropping of positive pairs, and a multi-view wrapper that keeps per-view keys."""
import copy
import math
from typing import List, Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmcv.image.geometric import cv2_interp_codes
from mmcv.transforms.utils import cache_randomness
from mmpretrain.registry import TRANSFORMS

from scl.utils.saliency_geometry import box_scores, normalise_boxes

ANCHOR_MODES = ('saliency', 'uniform')


@TRANSFORMS.register_module()
class SaliencyCropTransform(BaseTransform):
    """Crop the views of a positive pair around one salient anchor cell.

    Per image, one anchor cell ``p`` of the image's saliency map ``S`` (read from the saliency store by
    ``sample_idx``) is drawn with probability proportional to ``S ** gamma``; then, for each view, a scale and an
    aspect ratio are drawn exactly as in ``RandomResizedCrop`` and the crop is placed uniformly among the positions
    that contain ``p``. All views thus share the salient region ``p``. During the warm-up (store not yet guided) and
    with ``anchor='uniform'`` the anchor is uniform, i.e. plain random crops that share a random point.

    The crop's saliency score is the area-weighted mean of ``S`` inside its box; it is 1.0 during the warm-up (so the
    loss weights are 1 then) and when no store is attached in ``anchor='uniform'`` mode.

    **Required Keys:**

    - img
    - sample_idx

    **Modified Keys:**

    - img (a list of ``num_views`` crops, each ``size x size``)
    - img_shape

    **Added Keys:**

    - crop_bbox (np.float32, ``num_views x 4``: x1, y1, x2, y2 in source pixels)
    - saliency_score (np.float32, ``num_views``)
    - anchor_cell (np.int64, ``2``: row, col of the anchor cell; -1, -1 without a grid)

    Args:
        size (int | tuple[int, int]): Output size of each view, ``(h, w)`` or a side.
        num_views (int): Number of views cropped around the same anchor. Defaults to 2.
        scale (tuple[float, float]): Range of the crop's area fraction. Defaults to (0.2, 1.0).
        ratio (tuple[float, float]): Range of the crop's aspect ratio (w / h). Defaults to (3 / 4, 4 / 3).
        gamma (float): Sharpness of the anchor distribution ``S ** gamma`` (reconstruction). Defaults to 1.0.
        anchor (str): ``'saliency'`` (the method) or ``'uniform'`` (ablation: shared uniform anchor, scores still
            read from the store). Defaults to ``'saliency'``.
        max_attempts (int): Scale/ratio draws before falling back to the whole image. Defaults to 10.
        interpolation (str): Resize interpolation. Defaults to ``'bilinear'``.
        backend (str): Resize backend, ``'cv2'`` or ``'pillow'``. Defaults to ``'cv2'``.

    Attributes:
        store (SaliencyStore | None): Attached by :class:`SaliencyStoreHook` before training.
    """

    def __init__(self,
                 size,
                 num_views: int = 2,
                 scale: Tuple[float, float] = (0.2, 1.0),
                 ratio: Tuple[float, float] = (3. / 4., 4. / 3.),
                 gamma: float = 1.0,
                 anchor: str = 'saliency',
                 max_attempts: int = 10,
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        if isinstance(size, int):
            size = (size, size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f'size must be a positive int or (h, w), got {size}')
        if num_views < 1:
            raise ValueError(f'num_views must be >= 1, got {num_views}')
        if not (0 < scale[0] <= scale[1] <= 1):
            raise ValueError(f'scale must satisfy 0 < min <= max <= 1, got {scale}')
        if not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f'ratio must satisfy 0 < min <= max, got {ratio}')
        if gamma < 0:
            raise ValueError(f'gamma must be >= 0, got {gamma}')
        if anchor not in ANCHOR_MODES:
            raise ValueError(f'anchor must be one of {ANCHOR_MODES}, got {anchor!r}')
        if max_attempts < 1:
            raise ValueError(f'max_attempts must be >= 1, got {max_attempts}')
        self.size = tuple(size)
        self.num_views = num_views
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.gamma = gamma
        self.anchor = anchor
        self.max_attempts = max_attempts
        self.interpolation = interpolation
        self.backend = backend
        if backend == 'cv2':
            if interpolation not in cv2_interp_codes:
                raise ValueError(f'interpolation must be one of {sorted(cv2_interp_codes)}, got {interpolation!r}')
            self._cv2_interp = cv2_interp_codes[interpolation]
        self.store = None

    # -- randomness ------------------------------------------------------------------------------------------------
    def anchor_cdf(self, saliency: Optional[np.ndarray]) -> Optional[np.ndarray]:
        """Cumulative anchor weights of ``S ** gamma`` over the grid cells (row-major, float64), or None for a
        uniform anchor (no map, or a map without positive mass).

        The draw scales by the last entry, so the weights need not sum to 1.
        """
        if saliency is None:
            return None
        p = np.maximum(saliency.ravel(), 0)
        if self.gamma != 1:
            p = p.astype(np.float64)**self.gamma
        cdf = np.cumsum(p, dtype=np.float64)
        total = float(cdf[-1])
        if not (0 < total < math.inf):
            return None  # an all-zero (or non-finite) map carries no preference
        return cdf

    @staticmethod
    def _draw_cell(cdf: np.ndarray, u: Optional[float] = None) -> int:
        """One cell index ``i`` with probability ``(cdf[i] - cdf[i - 1]) / cdf[-1]``, by inverse CDF of ``u``."""
        u = np.random.uniform() if u is None else u
        return min(int(cdf.searchsorted(u * float(cdf[-1]), side='right')), cdf.size - 1)

    @cache_randomness
    def sample_boxes(self, height: int, width: int, cdf: Optional[np.ndarray], grid_size: int):
        """Draw the anchor (from :meth:`anchor_cdf`'s ``cdf``; uniform when None) and one box per view.

        Returns:
            tuple: anchor cell ``(row, col)``, anchor point ``(x, y)`` in pixels (inside the cell), and
            ``num_views x 4`` boxes, each containing the pixel that holds the anchor point, hence the point.
        """
        u = np.random.random(3).tolist()  # one call: cell, x and y jitter (as Python floats: faster arithmetic)
        if cdf is None:
            ax, ay = u[1] * width, u[2] * height
            cell = [int(ay * grid_size / height), int(ax * grid_size / width)] if grid_size else [-1, -1]
        else:
            r, c = divmod(self._draw_cell(cdf, u[0]), grid_size)
            cell = [r, c]
            ax = (c + u[1]) * width / grid_size
            ay = (r + u[2]) * height / grid_size
        # Integer anchor pixel inside the image.
        px = min(int(ax), width - 1)
        py = min(int(ay), height - 1)
        boxes = [self._box_containing(px, py, height, width) for _ in range(self.num_views)]
        return np.array(cell, dtype=np.int64), np.array([ax, ay]), np.array(boxes, dtype=np.float32)

    def _box_containing(self, px: int, py: int, height: int, width: int) -> list:
        area = height * width
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(self.max_attempts):
            us, ur, ux, uy = np.random.random(4).tolist()  # one call per attempt: scale, ratio, x, y
            target_area = (self.scale[0] + us * (self.scale[1] - self.scale[0])) * area
            aspect = math.exp(log_lo + ur * (log_hi - log_lo))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                # Uniform among the positions whose box contains the anchor pixel, clamped to the image.
                x_lo, x_hi = max(0, px - w + 1), min(px, width - w)
                y_lo, y_hi = max(0, py - h + 1), min(py, height - h)
                x1 = x_lo + min(int(ux * (x_hi - x_lo + 1)), x_hi - x_lo)
                y1 = y_lo + min(int(uy * (y_hi - y_lo + 1)), y_hi - y_lo)
                return [x1, y1, x1 + w, y1 + h]
        return [0, 0, width, height]  # the whole image always contains the anchor

    # -- transform -------------------------------------------------------------------------------------------------
    def _read_saliency(self, results: dict):
        if self.store is None:
            if self.anchor == 'saliency':
                raise RuntimeError(
                    'SaliencyCropTransform has no saliency store attached. Add '
                    "dict(type='SaliencyStoreHook') to custom_hooks (it creates the store and attaches it before "
                    'training), or attach one with scl.engine.hooks.attach_saliency_store(dataset, store).')
            return None, False
        if 'sample_idx' not in results:
            raise KeyError('SaliencyCropTransform needs `sample_idx` in the results (set by mmengine BaseDataset)')
        return self.store.get(int(results['sample_idx'])), self.store.guided

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img is None:
            raise ValueError(f'empty image for {results.get("img_path", "<unknown file>")}')
        height, width = img.shape[:2]
        saliency, guided = self._read_saliency(results)
        grid_size = saliency.shape[0] if saliency is not None else 0
        cdf = self.anchor_cdf(saliency) if (guided and self.anchor == 'saliency') else None
        cell, _, boxes = self.sample_boxes(height, width, cdf, grid_size)

        views = []
        for x1, y1, x2, y2 in boxes.astype(np.int64).tolist():
            crop = img[y1:y2, x1:x2]
            if self.backend == 'cv2':  # what mmcv.imresize does for cv2, without its per-call argument handling
                views.append(cv2.resize(crop, (self.size[1], self.size[0]), interpolation=self._cv2_interp))
            else:
                views.append(
                    mmcv.imresize(
                        crop, (self.size[1], self.size[0]), interpolation=self.interpolation, backend=self.backend))
        if saliency is not None and guided:
            scores = box_scores(saliency, normalise_boxes(boxes, height, width))
        else:
            scores = np.ones(self.num_views, dtype=np.float32)

        results['img'] = views
        results['img_shape'] = self.size
        results['crop_bbox'] = boxes
        results['saliency_score'] = scores
        results['anchor_cell'] = cell
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, num_views={self.num_views}, scale={self.scale}, '
                f'ratio={self.ratio}, gamma={self.gamma}, anchor={self.anchor!r}, '
                f'max_attempts={self.max_attempts}, interpolation={self.interpolation!r}, '
                f'backend={self.backend!r})')


@TRANSFORMS.register_module()
class MultiViewWithKeys(BaseTransform):
    """Apply a pipeline to each view and keep the per-view keys that mmpretrain's ``MultiView`` drops.

    If ``img`` is a list (e.g. the crops of :class:`SaliencyCropTransform`), view ``v`` of the pipeline receives
    ``img[v]``; otherwise every view receives a copy of ``img`` (like ``MultiView``). After the pipeline, each key in
    ``keys`` is collected over the views into ``view_<key>`` (an array with one entry per view; ``default`` when a
    view's pipeline did not set it, e.g. ``flip`` when RandomFlip did not run).

    **Required Keys:**

    - img (an array, or a list of ``num_views`` arrays)

    **Modified Keys:**

    - img (a list of ``num_views`` transformed views)

    **Added Keys:**

    - view_<key> for each key in ``keys`` (np.ndarray, ``num_views``)

    Args:
        transforms (list[dict | callable]): The per-view pipeline.
        num_views (int): Number of views; must match the length of a list ``img``. Defaults to 2.
        keys (dict): ``{key: default}`` to collect per view. Defaults to ``{'flip': False}``.
    """

    def __init__(self, transforms: List, num_views: int = 2, keys: Optional[dict] = None) -> None:
        if num_views < 1:
            raise ValueError(f'num_views must be >= 1, got {num_views}')
        # Build from mmpretrain's registry (mmcv's Compose alone uses the default scope, unset outside a Runner).
        self.pipeline = Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t for t in transforms])
        self.num_views = num_views
        self.keys = dict(flip=False) if keys is None else dict(keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if isinstance(img, (list, tuple)) and len(img) != self.num_views:
            raise ValueError(f'MultiViewWithKeys expects {self.num_views} views, got a list of {len(img)}')
        outputs = []
        for v in range(self.num_views):
            inputs = {k: val for k, val in results.items() if k != 'img'}
            inputs = copy.deepcopy(inputs)
            inputs['img'] = img[v] if isinstance(img, (list, tuple)) else img.copy()
            out = self.pipeline(inputs)
            if out is None:
                raise RuntimeError(f'the per-view pipeline returned None for view {v}')
            outputs.append(out)
        results['img'] = [out['img'] for out in outputs]
        for key, default in self.keys.items():
            results[f'view_{key}'] = np.array([out.get(key, default) for out in outputs])
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(transforms={self.pipeline}, num_views={self.num_views}, '
                f'keys={self.keys})')


def iter_transforms(pipeline) -> Sequence:
    """Yield every transform of a (possibly nested) pipeline: Compose, MultiView and our wrapper included."""
    stack = [pipeline]
    while stack:
        t = stack.pop()
        yield t
        for attr in ('transforms', 'pipelines', 'pipeline'):
            sub = getattr(t, attr, None)
            if sub is None or sub is t:
                continue
            if isinstance(sub, (list, tuple)):
                stack.extend(sub)
            else:
                stack.append(sub)
