import os.path as osp
from typing import Optional

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from scl.datasets.transforms import SaliencyCropTransform, iter_transforms
from scl.saliency import SaliencyStore
from scl.utils.errors import ConfigError

CHECKPOINT_KEY = 'saliency_store'


def image_list_fingerprint(dataset) -> str:
    """SHA-256 (16 hex digits) of the training images' paths relative to the data root, in dataset order: the
    store's rows belong to exactly this list, so a checkpoint's store is restored only into the same one."""
    import hashlib
    root = getattr(dataset, 'data_root', '') or ''
    h = hashlib.sha256()
    for i in range(len(dataset)):
        h.update(osp.relpath(dataset.get_data_info(i)['img_path'], root).encode() + b'\0')
    return h.hexdigest()[:16]


def scene_annotation_file(dataset) -> str:
    """The COCO instances file the scene builder writes beside a scene folder: ``<root>/annotations/
    instances_<split>.json`` for images in ``<root>/<split>/``."""
    paths = {osp.dirname(dataset.get_data_info(i)['img_path']) for i in (0, len(dataset) - 1)}
    if len(paths) != 1:
        raise ConfigError(f'the training images lie in several folders ({sorted(paths)}): give '
                         'SaliencyStoreHook(oracle_ann_file=...) the COCO instances file that covers them')
    folder = paths.pop()
    return osp.join(osp.dirname(folder), 'annotations', f'instances_{osp.basename(folder)}.json')


def oracle_maps(dataset, grid_size: int, ann_file: Optional[str] = None):
    """The ``'oracle'`` saliency of every training sample, in dataset order: the fraction of each of the
    ``grid_size x grid_size`` cells that the union of the image's object masks covers (N x G x G float32).

    Raises:
        FileNotFoundError: No annotation file (the oracle needs ground truth; it is a benchmark-only source).
        KeyError: A training image has no entry in the annotation file.
    """
    import numpy as np

    from scl.evaluation.localisation import scene_masks
    ann_file = ann_file or scene_annotation_file(dataset)
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f"saliency_source='oracle' needs the training scenes' object masks, but {ann_file} does not exist: the "
            'oracle is a benchmark-only source for scene data built by tools/dataset_converters/'
            "build_scene_dataset.py (or pass SaliencyStoreHook(oracle_ann_file=...)); on other data use a model "
            "source such as saliency_source='gradcam'")
    masks = scene_masks(ann_file, grid_size)
    names = [osp.basename(dataset.get_data_info(i)['img_path']) for i in range(len(dataset))]
    missing = [n for n in names if n not in masks]
    if missing:
        raise KeyError(f'{len(missing)} training image(s) have no entry in {ann_file} (e.g. {missing[0]}): the '
                       'oracle needs the annotation file of the same scenes')
    return np.stack([masks[n] for n in names]).astype(np.float32)


def attach_saliency_store(dataset, store) -> int:
    """Publish ``store`` to every :class:`SaliencyCropTransform` of ``dataset``'s pipeline, in this process and in
    the dataloader workers that already hold the pipeline (through each transform's :class:`SaliencyStoreLink`).

    Returns:
        int: How many transforms now read ``store``.
    """
    n = 0
    for t in iter_transforms(getattr(dataset, 'pipeline', None)):
        if isinstance(t, SaliencyCropTransform):
            t.store = store
            n += 1
    return n


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class SaliencyStoreHook(Hook):
    """Create the saliency store, share it with the data pipeline and the model, and keep it in checkpoints.

    Before the run, a store of one ``grid_size x grid_size`` map per training sample (filled with 1, i.e. uniform) is
    created under ``<work_dir>/saliency_store/rank<r>``, given to the model (its ``saliency_store``) and published to
    every :class:`SaliencyCropTransform` of the training pipeline through the transform's
    :class:`~scl.saliency.store.SaliencyStoreLink`, which dataloader workers started earlier (mmengine's
    ``IterBasedTrainLoop`` starts them when it is built) share: they open the store on their next sample, no restart
    needed; batches they prepared before that are warm-up batches (plain independent crops, unit scores). The warm-up
    ends after ``warmup_epochs``: from then on crops follow saliency (the flag lives in the store, so workers see it
    within their prefetch depth). A sample that knows its position in the run (``KeyedInfiniteSampler``) is guided by
    its iteration and reads the version of the maps of ``snapshot_lag`` iterations before it, kept every
    ``snapshot_every`` iterations: the same crops with any number of loader workers and after a resume. The store is
    saved in every checkpoint and restored on resume, from any device (a dataset of another size is an error). The
    store update's EMA rate belongs to the model (``SCLAlgorithm.saliency_ema``).

    Args:
        grid_size (int): Side of each saliency map. Defaults to 16.
        warmup_epochs (float, optional): Epochs of plain (unguided) crops. Defaults to None, i.e. 10% of the
            schedule.
        init_value (float): Initial value of every cell. Defaults to 1.0.
        dtype (str): ``'float16'`` or ``'float32'``. Defaults to ``'float16'``.
        store_dir (str, optional): Where the per-rank stores live. Defaults to ``<work_dir>/saliency_store``.
        snapshot_every (int): The maps a crop reads are a version kept every ``snapshot_every`` iterations.
            Defaults to 4.
        snapshot_lag (int): A sample of iteration ``i`` reads the newest version at or before iteration
            ``i - snapshot_lag``: what it reads depends on its iteration alone, not on how far loader workers ran
            ahead, so runs with 0 or more workers, and a run and its resume, crop alike. Must exceed the batches the
            workers prefetch (``num_workers x prefetch_factor``). Defaults to 8.
        oracle_ann_file (str, optional): For a model with ``saliency_source='oracle'`` (benchmark only), whose store
            is filled once with each scene's object cover (:func:`oracle_maps`) instead of ``init_value``: the COCO
            instances file of the training scenes. Defaults to the scene builder's ``annotations/
            instances_<split>.json`` beside the image folder.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 grid_size: int = 16,
                 warmup_epochs: Optional[float] = None,
                 init_value: float = 1.0,
                 dtype: str = 'float16',
                 store_dir: Optional[str] = None,
                 snapshot_every: int = 4,
                 snapshot_lag: int = 8,
                 oracle_ann_file: Optional[str] = None) -> None:
        if grid_size < 1:
            raise ConfigError(f'grid_size must be >= 1, got {grid_size}')
        if warmup_epochs is not None and warmup_epochs < 0:
            raise ConfigError(f'warmup_epochs must be >= 0, got {warmup_epochs}')
        self.grid_size = grid_size
        self.warmup_epochs = warmup_epochs
        self.init_value = init_value
        self.dtype = dtype
        self.store_dir = store_dir
        if snapshot_every < 1 or snapshot_lag < 0:
            raise ConfigError(f'snapshot_every must be >= 1 and snapshot_lag >= 0, got {snapshot_every}, '
                              f'{snapshot_lag}')
        self.snapshot_every, self.snapshot_lag = snapshot_every, snapshot_lag
        self.oracle_ann_file = oracle_ann_file
        self.store: Optional[SaliencyStore] = None
        self.images = None  # image_list_fingerprint of the training set
        self.warmup_iters = 0

    def before_run(self, runner) -> None:
        loop = runner.train_loop
        dataset = loop.dataloader.dataset
        directory = osp.join(self.store_dir or osp.join(runner.work_dir, 'saliency_store'), f'rank{get_rank()}')
        self.store = SaliencyStore.create(
            directory, len(dataset), grid_size=self.grid_size, init_value=self.init_value, dtype=self.dtype)
        self.images = image_list_fingerprint(dataset)
        if attach_saliency_store(dataset, self.store) == 0:
            runner.logger.warning('SaliencyStoreHook: the training pipeline has no SaliencyCropTransform; the store '
                                  'is only updated by the model (e.g. to monitor a MoCo baseline)')
        model = _unwrap(runner.model)
        if not hasattr(model, 'saliency_store'):
            raise TypeError(f'SaliencyStoreHook needs a model with a saliency update (SCLAlgorithm), got '
                            f'{type(model).__name__}')
        model.saliency_store = self.store
        if getattr(model, 'saliency_source', None) == 'oracle':
            self.store.maps[:] = oracle_maps(dataset, self.grid_size, self.oracle_ann_file)
            self.store.flush()
            runner.logger.info('SaliencyStoreHook: the store holds the object cover of every training scene '
                               "(saliency_source='oracle'); the model does not update it")

        iters_per_epoch = max(1, len(loop.dataloader))
        if self.warmup_epochs is None:
            self.warmup_iters = int(round(0.1 * runner.max_iters))
        else:
            self.warmup_iters = int(round(self.warmup_epochs * iters_per_epoch))
        self.store.set_schedule(self.warmup_iters, loop.dataloader.batch_size)
        self._check_lag(loop.dataloader)
        self.store.set_snapshots(self.snapshot_every, self.snapshot_lag)
        runner.logger.info(f'SaliencyStoreHook: {self.store}; warm-up of {self.warmup_iters} iterations '
                           f'({self.warmup_iters / iters_per_epoch:.2f} epochs) with unguided crops')

    def _check_lag(self, dataloader) -> None:
        """Loader workers prepare up to ``num_workers x prefetch_factor`` batches ahead of training: a lag shorter
        than that would make them wait for a version the trainer has not written yet."""
        workers = getattr(dataloader, 'num_workers', 0)
        ahead = workers * (getattr(dataloader, 'prefetch_factor', None) or 2) if workers else 0
        if self.snapshot_lag < ahead + 1:
            raise ConfigError(f'SaliencyStoreHook(snapshot_lag={self.snapshot_lag}) is shorter than the '
                              f'{ahead} batches that {workers} loader workers prepare ahead: set snapshot_lag >= '
                              f'{ahead + 1} (the same value for every run that should be comparable)')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.store.set_guided(runner.iter >= self.warmup_iters)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        # Saliency sources that need the backward (gradcam) are written after the step; under DDP the wrapper's
        # train_step does not call the model's, so this is where that happens (a no-op when nothing is pending).
        model = _unwrap(runner.model)
        if hasattr(model, 'apply_pending_saliency'):
            model.apply_pending_saliency()
        self.store.snapshot_after(runner.iter + 1)  # the version of this iteration, once its update is written

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.store is not None:
            self.store.flush()
            checkpoint[CHECKPOINT_KEY] = dict(self.store.state_dict(), images=self.images)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner.cfg.get('resume') or self.store is None:
            return  # `load_from` (weights only) starts a fresh store
        if CHECKPOINT_KEY not in checkpoint:
            runner.logger.warning('the resumed checkpoint has no saliency store; starting from uniform maps')
            return
        saved = checkpoint[CHECKPOINT_KEY]
        same_shape = tuple(saved['maps'].shape) == tuple(self.store.maps.shape)  # else load_state_dict says so
        if same_shape and saved.get('images', self.images) != self.images:
            raise ConfigError(
                f'the checkpoint\'s saliency store belongs to another list of training images (fingerprint '
                f'{saved["images"]}, this data set {self.images}): resume with the data set it was trained on, or '
                'start a new run without --resume')
        if 'images' not in saved:
            runner.logger.warning('the checkpoint\'s saliency store carries no image-list fingerprint (saved before '
                                  'it was recorded): restored because its shape fits')
        if self.store.load_state_dict(saved) or not self.store.snapshot_period:
            runner.logger.info('SaliencyStoreHook: restored the saliency store from the checkpoint')
        else:
            iters = int(checkpoint.get('meta', {}).get('iter', 0))
            self.store.restart_snapshots(iters)
            runner.logger.warning('SaliencyStoreHook: the checkpoint holds no saliency snapshots of this setting '
                                  f'(snapshot_every={self.snapshot_every}, snapshot_lag={self.snapshot_lag}): the '
                                  f'samples of the next {self.snapshot_lag} iterations read the maps of iteration '
                                  f'{iters}, so this resume is not bit-exact')

    def after_run(self, runner) -> None:
        if self.store is not None:
            self.store.flush()
