import os.path as osp

from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import DATASETS

from scl.utils.errors import DataError

from .image_check import VERIFY_HINT, CorruptImageError, image_problem
from .samplers import seed_streams

DATA_HELP = {
    'coco': 'COCO train2017 goes to data/coco/train2017 (mmdet layout; see README "Data preparation")',
    'demo': 'build the demo scenes with `python tools/dataset_converters/build_scene_dataset.py data/demo`',
}


@DATASETS.register_module()
class SceneImageDataset(CustomDataset):
    """Unlabeled scene images from a folder (COCO train2017, the demo scenes), for self-supervised pretraining.

    mmpretrain's ``CustomDataset`` with ``with_label=False``, plus one clear error when the folder is missing or
    holds no image. Every sample gets ``sample_idx`` (its index), which keys the saliency store.

    Args:
        data_root (str): Root of the data set, e.g. ``'data/coco/'``.
        data_prefix (str): Image folder relative to ``data_root``, e.g. ``'train2017'``.
        **kwargs: Passed to ``CustomDataset`` (``pipeline``, ``extensions``, ...).

    Raises:
        FileNotFoundError: The image folder does not exist or holds no image; the message names the path.
        CorruptImageError: (when a sample is loaded) its image cannot be read; the message names the file and
            points at ``tools/misc/verify_dataset.py``, which lists every such file.
    """

    def __init__(self, data_root: str = '', data_prefix: str = '', **kwargs):
        kwargs.setdefault('with_label', False)
        self._sample_key = None  # (seed, index, position) of the sample being prepared (__getitem__ with a key)
        folder = osp.join(data_root, data_prefix) if isinstance(data_prefix, str) else data_root
        if not osp.isdir(folder):
            hint = DATA_HELP['coco'] if 'coco' in folder else DATA_HELP['demo']
            raise DataError(f'image folder {osp.abspath(folder)} does not exist: {hint}')
        try:
            super().__init__(data_root=data_root, data_prefix=data_prefix, **kwargs)
        except (RuntimeError, FileNotFoundError) as e:
            raise DataError(f'no usable images in {osp.abspath(folder)}: {e}') from e
        if len(self) == 0:
            raise DataError(f'image folder {osp.abspath(folder)} holds no image')

    def __getitem__(self, key):
        """``dataset[index]``, or ``dataset[(index, position, seed)]`` from :class:`KeyedInfiniteSampler`: the
        sample's random streams are then seeded from the key (:func:`seed_streams`) and its results carry it as
        ``sample_key`` for the transforms that key their own stages."""
        if not isinstance(key, (tuple, list)):
            return super().__getitem__(key)
        index, position, seed = (int(k) for k in key)
        self._sample_key = (seed, index, position)
        seed_streams(self._sample_key, 'pipeline')
        try:
            return super().__getitem__(index)
        finally:
            self._sample_key = None

    def get_data_info(self, idx):
        info = super().get_data_info(idx)
        if self._sample_key is not None and self._sample_key[1] == idx:
            info['sample_key'] = self._sample_key
        return info

    def prepare_data(self, idx):
        try:
            return super().prepare_data(idx)
        except Exception as e:
            path = self.get_data_info(idx).get('img_path')
            problem = image_problem(path) if path else None
            if problem is None:
                raise
            raise CorruptImageError(f'cannot read training image {path} (sample {idx}): {problem}. A long run stops '
                                    f'here: {VERIFY_HINT}') from e
