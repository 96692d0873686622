"""Saliency-guided cropping of positive pairs."""
import math
from typing import Optional, Tuple

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.image.geometric import cv2_interp_codes
from mmcv.transforms.utils import cache_randomness
from mmpretrain.registry import TRANSFORMS

from scl.datasets.samplers import seed_streams
from scl.saliency import SaliencyStoreLink
from scl.utils.errors import ConfigError
from scl.saliency import box_scores, normalise_boxes

ANCHOR_MODES = ('saliency', 'uniform', 'independent')


@TRANSFORMS.register_module()
class SaliencyCropTransform(BaseTransform):
    """Crop the views of a positive pair around one salient anchor cell.

    Per image, one anchor cell ``p`` of the image's saliency map ``S`` (read from the saliency store by
    ``sample_idx``) is drawn with probability proportional to ``S ** gamma``; then, for each view, a scale and an
    aspect ratio are drawn exactly as in ``RandomResizedCrop`` and the crop is placed uniformly among the positions
    that contain ``p``. All views thus share the salient region ``p``.

    During the warm-up (the store is not yet guided, or not yet published to this process) every mode draws plain,
    independent random crops, exactly MoCo v2's (scale and ratio as above, position uniform in the image). The
    ablation modes change one thing each: ``anchor='uniform'`` shares a uniformly drawn point instead of a salient one
    (the crop-geometry control); ``anchor='independent'`` keeps independent crops throughout and only reads the
    crops' scores from the store (saliency weights without saliency crops).

    The crop's saliency score is the area-weighted mean of ``S`` inside its box; it is 1.0 during the warm-up (so the
    loss weights are 1 then).

    **Required Keys:**

    - img
    - sample_idx
    - sample_key (optional: ``(seed, index, position)`` from :class:`~scl.datasets.KeyedInfiniteSampler`; the crop
      then draws from its own stream of that sample visit, and the warm-up is decided by the sample's iteration)

    **Modified Keys:**

    - img (a list of ``num_views`` crops, each ``size x size``)
    - img_shape

    **Added Keys:**

    - crop_bbox (np.float32, ``num_views x 4``: x1, y1, x2, y2 normalised to [0, 1] of the image the crop was taken
      from, so a ``Resize`` before the crop does not misregister the saliency update)
    - saliency_score (np.float32, ``num_views``)
    - anchor_cell (np.int64, ``2``: row, col of the anchor cell; -1, -1 without a grid)

    Args:
        size (int | tuple[int, int]): Output size of each view, ``(h, w)`` or a side.
        num_views (int): Number of views cropped around the same anchor. Defaults to 2.
        scale (tuple[float, float]): Range of the crop's area fraction. Defaults to (0.2, 1.0).
        ratio (tuple[float, float]): Range of the crop's aspect ratio (w / h). Defaults to (3 / 4, 4 / 3).
        gamma (float): Sharpness of the anchor distribution ``S ** gamma`` (reconstruction). Defaults to 1.0.
        anchor (str): ``'saliency'`` (the method), ``'uniform'`` (ablation: a shared uniform anchor) or
            ``'independent'`` (ablation: independent crops); the ablations still read the crops' scores from the
            store. Defaults to ``'saliency'``.
        max_attempts (int): Scale/ratio draws before falling back to the whole image. Defaults to 10.
        interpolation (str): Resize interpolation. Defaults to ``'bilinear'``.
        backend (str): Resize backend, ``'cv2'`` or ``'pillow'``. Defaults to ``'cv2'``.

    Attributes:
        link (SaliencyStoreLink): Made with the transform; :class:`SaliencyStoreHook` publishes the run's store
            through it, to this process and to the dataloader workers.
        store (SaliencyStore | None): The published store (None before publication); assigning a store publishes it.
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
            raise ConfigError(f'size must be a positive int or (h, w), got {size}')
        if num_views < 1:
            raise ConfigError(f'num_views must be >= 1, got {num_views}')
        if not (0 < scale[0] <= scale[1] <= 1):
            raise ConfigError(f'scale must satisfy 0 < min <= max <= 1, got {scale}')
        if not (0 < ratio[0] <= ratio[1]):
            raise ConfigError(f'ratio must satisfy 0 < min <= max, got {ratio}')
        if gamma < 0:
            raise ConfigError(f'gamma must be >= 0, got {gamma}')
        if anchor not in ANCHOR_MODES:
            raise ConfigError(f'anchor must be one of {ANCHOR_MODES}, got {anchor!r}')
        if max_attempts < 1:
            raise ConfigError(f'max_attempts must be >= 1, got {max_attempts}')
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
                raise ConfigError(f'interpolation must be one of {sorted(cv2_interp_codes)}, got {interpolation!r}')
            self._cv2_interp = cv2_interp_codes[interpolation]
        self.link = SaliencyStoreLink()

    @property
    def store(self):
        return self.link.get()

    @store.setter
    def store(self, store):
        self.link.publish(store)

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
    def sample_boxes(self, height: int, width: int, cdf: Optional[np.ndarray], grid_size: int, shared: bool = True):
        """Draw the anchor (from :meth:`anchor_cdf`'s ``cdf``; uniform when None) and one box per view.

        Returns:
            tuple: anchor cell ``(row, col)``, anchor point ``(x, y)`` in pixels (inside the cell), and
            ``num_views x 4`` pixel boxes, each containing the pixel that holds the anchor point, hence the point.
            With ``shared=False`` the boxes are independent random crops and there is no anchor (cell ``(-1, -1)``,
            point NaN).
        """
        if not shared:
            boxes = [self._box(None, None, height, width) for _ in range(self.num_views)]
            return np.array([-1, -1], dtype=np.int64), np.array([np.nan, np.nan]), np.array(boxes, dtype=np.float32)
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
        boxes = [self._box(px, py, height, width) for _ in range(self.num_views)]
        return np.array(cell, dtype=np.int64), np.array([ax, ay]), np.array(boxes, dtype=np.float32)

    def _box(self, px: Optional[int], py: Optional[int], height: int, width: int) -> list:
        """One box with RandomResizedCrop's scale and ratio, placed uniformly among the positions that contain the
        pixel ``(px, py)``, or anywhere in the image when ``px`` is None (RandomResizedCrop's placement). When no
        draw fits in ``max_attempts``: the whole image around an anchor (it always contains it), and without one
        mmpretrain's fallback, the central crop of the ratio range's nearest end."""
        area = height * width
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(self.max_attempts):
            us, ur, ux, uy = np.random.random(4).tolist()  # one call per attempt: scale, ratio, x, y
            target_area = (self.scale[0] + us * (self.scale[1] - self.scale[0])) * area
            aspect = math.exp(log_lo + ur * (log_hi - log_lo))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                if px is None:
                    x_lo, x_hi, y_lo, y_hi = 0, width - w, 0, height - h
                else:  # the positions whose box contains the anchor pixel, clamped to the image
                    x_lo, x_hi = max(0, px - w + 1), min(px, width - w)
                    y_lo, y_hi = max(0, py - h + 1), min(py, height - h)
                x1 = x_lo + min(int(ux * (x_hi - x_lo + 1)), x_hi - x_lo)
                y1 = y_lo + min(int(uy * (y_hi - y_lo + 1)), y_hi - y_lo)
                return [x1, y1, x1 + w, y1 + h]
        if px is not None:
            return [0, 0, width, height]  # the whole image always contains the anchor
        w, h = width, height  # mmpretrain's RandomResizedCrop: the central crop, clamped to the ratio range
        if width / height < self.ratio[0]:
            h = int(round(width / self.ratio[0]))
        elif width / height > self.ratio[1]:
            w = int(round(height * self.ratio[1]))
        x1, y1 = (width - w) // 2, (height - h) // 2
        return [x1, y1, x1 + w, y1 + h]

    # -- transform -------------------------------------------------------------------------------------------------
    def _read_saliency(self, results: dict):
        """This sample's map and whether it is guided; ``(None, False)`` before a store is published. A sample that
        knows its position in the run (``sample_key`` from :class:`~scl.datasets.KeyedInfiniteSampler`) is guided by
        its iteration, otherwise by the store's live flag."""
        key = results.get('sample_key')
        # A keyed sample waits for the store (loader workers start before the trainer publishes it), so that its
        # guidance follows its iteration and never when its worker started.
        store = self.store if key is None else self.link.wait()
        if store is None:
            return None, False
        if 'sample_idx' not in results:
            raise KeyError('SaliencyCropTransform needs `sample_idx` in the results (set by mmengine BaseDataset)')
        if key is None:
            return store.get(int(results['sample_idx'])), store.guided
        # the version of the maps of its iteration (SaliencyStore.get_at), never what the trainer wrote meanwhile
        return store.get_at(int(results['sample_idx']), key[2]), store.guided_at(key[2])

    def transform(self, results: dict) -> dict:
        if results.get('sample_key') is not None:  # the crop's own stream: the same draws whatever came before
            seed_streams(results['sample_key'], 'crop')
        img = results['img']
        if img is None:
            raise ConfigError(f'empty image for {results.get("img_path", "<unknown file>")}')
        height, width = img.shape[:2]
        saliency, guided = self._read_saliency(results)
        grid_size = saliency.shape[0] if saliency is not None else 0
        shared = guided and self.anchor != 'independent'
        cdf = self.anchor_cdf(saliency) if (shared and self.anchor == 'saliency') else None
        cell, _, boxes = self.sample_boxes(height, width, cdf, grid_size, shared)
        norm_boxes = normalise_boxes(boxes, height, width)

        views = []
        for x1, y1, x2, y2 in boxes.astype(np.int64).tolist():
            crop = img[y1:y2, x1:x2]
            if self.backend == 'cv2':  # what mmcv.imresize does for cv2, without its per-call argument handling
                views.append(cv2.resize(crop, (self.size[1], self.size[0]), interpolation=self._cv2_interp))
            else:
                views.append(
                    mmcv.imresize(
                        crop, (self.size[1], self.size[0]), interpolation=self.interpolation, backend=self.backend))
        if guided:
            scores = box_scores(saliency, norm_boxes)
        else:
            scores = np.ones(self.num_views, dtype=np.float32)

        results['img'] = views
        results['img_shape'] = self.size
        results['crop_bbox'] = norm_boxes
        results['saliency_score'] = scores
        results['anchor_cell'] = cell
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, num_views={self.num_views}, scale={self.scale}, '
                f'ratio={self.ratio}, gamma={self.gamma}, anchor={self.anchor!r}, '
                f'max_attempts={self.max_attempts}, interpolation={self.interpolation!r}, '
                f'backend={self.backend!r})')
