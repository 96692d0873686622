"""Multi-view wrappers (peers of mmpretrain's ``MultiView``) and pipeline helpers."""
import copy
from typing import List, Optional

import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmpretrain.registry import TRANSFORMS

from scl.datasets.samplers import seed_streams


@TRANSFORMS.register_module()
class MultiViewWithKeys(BaseTransform):
    """Apply a pipeline to each view and keep the per-view keys that mmpretrain's ``MultiView`` drops.

    If ``img`` is a list (e.g. the crops of :class:`SaliencyCropTransform`), view ``v`` of the pipeline receives
    ``img[v]``; otherwise every view receives a copy of ``img`` (like ``MultiView``). After the pipeline, each key in
    ``keys`` is collected over the views into ``view_<key>`` (an array with one entry per view; ``default`` when a
    view's pipeline did not set it, e.g. ``flip`` when RandomFlip did not run).

    **Required Keys:**

    - img (an array, or a list of ``num_views`` arrays)
    - sample_key (optional: with it, view ``v``'s pipeline draws from the stream ``'view<v>'`` of that sample visit,
      the same in every arm, however many numbers the crop drew)

    **Modified Keys:**

    - img (a list of ``num_views`` transformed views)

    **Added Keys:**

    - view_<key> for each key in ``keys`` (np.ndarray, ``num_views``)

    Args:
        transforms (list[dict | callable]): The per-view pipeline.
        num_views (int): Number of views; must match the length of a list ``img``. Defaults to 2.
        keys (dict): ``{key: default}`` to collect per view. Defaults to
            ``{'flip': False, 'flip_direction': 'none'}``.
    """

    def __init__(self, transforms: List, num_views: int = 2, keys: Optional[dict] = None) -> None:
        if num_views < 1:
            raise ValueError(f'num_views must be >= 1, got {num_views}')
        # Build from mmpretrain's registry (mmcv's Compose alone uses the default scope, unset outside a Runner).
        self.pipeline = Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t for t in transforms])
        self.num_views = num_views
        self.keys = dict(flip=False, flip_direction='none') if keys is None else dict(keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if isinstance(img, (list, tuple)) and len(img) != self.num_views:
            raise ValueError(f'MultiViewWithKeys expects {self.num_views} views, got a list of {len(img)}')
        outputs = []
        key = results.get('sample_key')
        for v in range(self.num_views):
            if key is not None:  # each view's augmentation draws from its own stream (the same in every arm)
                seed_streams(key, f'view{v}')
            inputs = {k: val for k, val in results.items() if k != 'img'}
            inputs = copy.deepcopy(inputs)
            inputs['img'] = img[v] if isinstance(img, (list, tuple)) else img.copy()
            out = self.pipeline(inputs)
            if out is None:
                raise RuntimeError(f'the per-view pipeline returned None for view {v}')
            outputs.append(out)
        results['img'] = [out['img'] for out in outputs]
        for key, default in self.keys.items():
            values = [out.get(key) for out in outputs]
            results[f'view_{key}'] = np.array([default if v is None else v for v in values])
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(transforms={self.pipeline}, num_views={self.num_views}, '
                f'keys={self.keys})')
