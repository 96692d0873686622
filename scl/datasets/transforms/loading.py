"""Decode each image once per process: mmcv's ``LoadImageFromFile`` with a bounded in-memory cache."""
from collections import OrderedDict
from typing import Optional

import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadImageFromFileCached(LoadImageFromFile):
    """mmcv's :class:`LoadImageFromFile` that keeps the decoded images of a process, up to ``max_cache_mb``.

    A pretraining set visited for many epochs (the scene benchmark reads each of its 1000 scenes 128 times) decodes the
    same PNG again at every visit: about 0.5 ms of a 1.8 ms sample on 2 cores (docs/benchmarks/throughput.md). Here the
    first visit decodes as mmcv does and keeps the array; later visits copy it (the pipeline may write into ``img``).
    The cache is per process (the training process and each loader worker hold their own) and drops the least
    recently used images beyond ``max_cache_mb``, so a COCO-sized set degrades to plain decoding instead of filling
    the memory. What comes out is what ``LoadImageFromFile`` returns, byte for byte, with the same keys.

    **Required Keys:** img_path. **Added Keys:** img, img_shape, ori_shape.

    Args:
        max_cache_mb (float): Memory the decoded images may take in each process. Defaults to 1024.
        Other arguments: those of mmcv's ``LoadImageFromFile``.
    """

    def __init__(self, *args, max_cache_mb: float = 1024, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if max_cache_mb < 0:
            raise ValueError(f'max_cache_mb must be >= 0, got {max_cache_mb}')
        self.max_cache_bytes = int(max_cache_mb * 2**20)
        self._cache: 'OrderedDict[str, np.ndarray]' = OrderedDict()
        self._cached_bytes = 0

    @property
    def cached_images(self) -> int:
        """How many decoded images this process holds."""
        return len(self._cache)

    def transform(self, results: dict) -> Optional[dict]:
        path = str(results['img_path'])
        img = self._cache.get(path)
        if img is None:
            results = super().transform(results)
            if results is None:  # ignore_empty and an unreadable file
                return None
            self._keep(path, results['img'])
            return results
        self._cache.move_to_end(path)
        img = img.copy()
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def _keep(self, path: str, img: np.ndarray) -> None:
        if img.nbytes > self.max_cache_bytes:
            return
        self._cache[path] = img.copy()
        self._cached_bytes += img.nbytes
        while self._cached_bytes > self.max_cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= old.nbytes

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', max_cache_mb={self.max_cache_bytes / 2**20:g})'
