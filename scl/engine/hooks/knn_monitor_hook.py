"""A cheap running check of the representation: weighted kNN top-1 of the momentum encoder on a small labelled set."""
import math
import os.path as osp
import time
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import all_gather, get_dist_info, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import DATASETS, HOOKS

from scl.evaluation.knn import weighted_knn_predict  # noqa: F401 (also importable from here, as before)


def monitored_backbone(model, encoder: str = 'key'):
    """The backbone the monitor embeds with: the momentum encoder's (``model.encoder_k.module[0]``, MoCo-style
    algorithms) for ``encoder='key'``, else, or for models without one, ``model.backbone``."""
    if is_model_wrapper(model):
        model = model.module
    if encoder == 'key' and hasattr(model, 'encoder_k'):
        return model.encoder_k.module[0]
    return model.backbone


def seeded_subset(n: int, num: Optional[int], seed: int) -> np.ndarray:
    """Sorted indices of ``min(num, n)`` samples of ``range(n)`` drawn without replacement (all of them for None)."""
    if num is None or num >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=num, replace=False))


def plot_knn_curve(path: str, history, random_init: float, title: str) -> str:
    """A picture of kNN top-1 over iterations, with the random-initialisation level as a dashed line."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    iters, top1 = zip(*([(0, random_init)] + list(history)))
    ax.plot(iters, top1, marker='o', label='pretraining')
    ax.axhline(random_init, linestyle='--', color='grey', label=f'random initialisation ({random_init:.1f} %)')
    ax.set_xlabel('iteration')
    ax.set_ylabel('kNN top-1 (%)')
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@HOOKS.register_module()
class KNNMonitorHook(Hook):
    """Every ``interval`` iterations, log the weighted kNN top-1 accuracy of the current features on a labelled set.

    The ``bank`` data set (e.g. the scenes' object-centric ``cls/train.txt``) and the ``query`` data set (e.g.
    ``cls/test.txt``) are subsampled once (seeded) and their images are decoded once and kept in memory as uint8
    tensors. At each check, both are embedded by the momentum encoder's backbone (``model.encoder_k``; the online
    ``model.backbone`` for models without one, or with ``encoder='query'``) in eval mode: the last stage's feature
    map, global-average pooled and L2-normalised; the model's own ``data_preprocessor`` normalises the images. Each
    query is classified by a weighted vote of its ``k`` nearest bank samples (:func:`weighted_knn_predict`, Wu et
    al. 2018: k = 200, temperature 0.07; other common choices: k = 20 as in DINO, or a plain majority vote, which a
    very large temperature approximates).

    The accuracy (in %) goes into the message hub as ``train/<prefix>/top1``, so the next training log line prints it
    as ``<prefix>/top1`` and every visualiser backend (``vis_data/scalars.json``, TensorBoard, ...) records it; the
    value stays the latest measurement until the next check, so choose ``interval`` as a multiple of the logger's
    interval to get it on the line of the iteration it was measured at. The hook runs before ``LoggerHook``.

    Distributed training: every rank embeds its own share (every ``world_size``-th sample) and the features are
    gathered with ``mmengine.dist.all_gather`` (all ranks must run the hook, which they do); the vote and the logging
    happen on the main process only.

    Cost: one forward pass of ``num_bank + num_query`` images per check (no gradients). On the demo (half-width
    ResNet-18, 64 px, 2 CPU cores) 1000 + 500 images take about as long as a few training steps; measure with
    ``tools/analysis_tools/benchmark_knn_monitor.py``.

    Example (the demo's classification split)::

        pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=64), dict(type='PackInputs')]
        cls = dict(type='CustomDataset', data_root='data/demo/cls/', data_prefix='', pipeline=pipeline)
        custom_hooks = [dict(type='KNNMonitorHook', interval=100, bank=dict(cls, ann_file='train.txt'),
                             query=dict(cls, ann_file='test.txt'), num_bank=1000, num_query=500)]

    Args:
        bank (dict): Config of the labelled bank data set (built with mmpretrain's ``DATASETS``). Its pipeline must
            produce images of one size (e.g. end with ``Resize`` / ``CenterCrop``, then ``PackInputs``).
        query (dict): Config of the query data set, same requirements.
        interval (int): Check every ``interval`` training iterations. Defaults to 100.
        num_bank (int, optional): Bank samples drawn (seeded) from ``bank``; None keeps all. Defaults to 1000.
        num_query (int, optional): Query samples drawn (seeded) from ``query``; None keeps all. Defaults to 500.
        k (int): Neighbours per query. Defaults to 200.
        temperature (float): Vote temperature. Defaults to 0.07.
        encoder (str): ``'key'`` (momentum encoder, falls back to the online backbone when the model has none) or
            ``'query'`` (the online backbone). Defaults to ``'key'``.
        batch_size (int): Images per forward pass. Defaults to 256.
        seed (int): Seed of the subsampling. Defaults to 0.
        prefix (str): Scalar name prefix. Defaults to ``'knn'``.
        baseline (bool): Also check once before the first iteration of a run that starts from scratch: the same
            network at its random initialisation, on the same bank and queries. At the end of training the hook
            then logs both figures side by side and draws ``<work_dir>/<prefix>_curve.png`` (top-1 over iterations,
            the random-initialisation level as a line). The baseline is kept in the message hub's runtime info, so
            a resumed run reports it too. Defaults to True.

    Raises:
        ValueError: on a non-positive ``interval``, ``k``, ``batch_size``, ``num_bank`` or ``num_query``, a
            non-positive ``temperature``, an unknown ``encoder``, and (when training starts) an empty data set,
            fewer samples than processes, or images of different sizes.
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL): a fresh value reaches the log line of the same iteration

    def __init__(self,
                 bank: dict,
                 query: dict,
                 interval: int = 100,
                 num_bank: Optional[int] = 1000,
                 num_query: Optional[int] = 500,
                 k: int = 200,
                 temperature: float = 0.07,
                 encoder: str = 'key',
                 batch_size: int = 256,
                 seed: int = 0,
                 prefix: str = 'knn',
                 baseline: bool = True) -> None:
        for name, value in (('interval', interval), ('k', k), ('batch_size', batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'KNNMonitorHook: {name} must be a positive integer, got {value!r}')
        for name, value in (('num_bank', num_bank), ('num_query', num_query)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f'KNNMonitorHook: {name} must be a positive integer or None (all samples), '
                                 f'got {value!r}')
        if not temperature > 0:
            raise ValueError(f'KNNMonitorHook: temperature must be > 0, got {temperature!r} (Wu et al. use 0.07)')
        if encoder not in ('key', 'query'):
            raise ValueError(f"KNNMonitorHook: encoder must be 'key' (momentum encoder) or 'query', got {encoder!r}")
        for name, value in (('bank', bank), ('query', query)):
            if not isinstance(value, dict) or 'type' not in value:
                raise ValueError(f'KNNMonitorHook: {name} must be a data set config dict with a type, e.g. '
                                 "dict(type='CustomDataset', data_root=..., ann_file=..., pipeline=...), "
                                 f'got {value!r}')
        self.bank_cfg, self.query_cfg = bank, query
        self.interval = interval
        self.num_bank, self.num_query = num_bank, num_query
        self.k, self.temperature = k, temperature
        self.encoder = encoder
        self.batch_size = batch_size
        self.seed = seed
        self.prefix = prefix
        self.baseline = baseline
        self._data = None  # (bank inputs, bank labels, query inputs, query labels, bank size, query size)
        self.seconds = 0.0  # wall time spent by the hook (caching + checks), for cost measurements
        self.prepare_seconds = 0.0  # of which caching the images
        self.history = []  # (iteration, top-1) of every check

    # ----------------------------------------------------------------------------------------------------------
    # data
    # ----------------------------------------------------------------------------------------------------------
    def _load(self, cfg: dict, num: Optional[int], seed: int, what: str) -> Tuple[torch.Tensor, torch.Tensor, int]:
        """This rank's share of the seeded subset: uint8 images (n_r x C x H x W), all labels, the subset size."""
        try:
            dataset = DATASETS.build(cfg)
        except Exception as e:  # a missing or empty list fails deep inside the data set class
            raise ValueError(f'KNNMonitorHook: cannot build the {what} data set from {cfg!r}: {e}. Check its data_root '
                             'and ann_file (a labelled list with at least one sample)') from e
        if len(dataset) == 0:
            raise ValueError(f'KNNMonitorHook: the {what} data set is empty ({cfg.get("ann_file", cfg)}); point it '
                             'at a labelled list with at least one sample')
        idx = seeded_subset(len(dataset), num, seed)
        rank, world_size = get_dist_info()
        if len(idx) < world_size:
            raise ValueError(f'KNNMonitorHook: {len(idx)} {what} samples cannot be shared by {world_size} processes; '
                             f'use num_{what} >= {world_size}')
        labels = torch.tensor([int(dataset.get_data_info(int(i))['gt_label']) for i in idx])
        inputs = [dataset[int(i)]['inputs'] for i in idx[rank::world_size]]
        shapes = {tuple(x.shape) for x in inputs}
        if len(shapes) > 1:
            raise ValueError(f'KNNMonitorHook: the {what} pipeline yields images of different sizes {sorted(shapes)}; '
                             "end it with a fixed-size resize, e.g. dict(type='Resize', scale=64) or a CenterCrop")
        return torch.stack(inputs), labels, len(idx)

    def prepare(self) -> str:
        """Build both data sets, draw the seeded subsets and cache this rank's images; returns a summary line."""
        t0 = time.perf_counter()
        bank_x, bank_y, nb = self._load(self.bank_cfg, self.num_bank, self.seed, 'bank')
        query_x, query_y, nq = self._load(self.query_cfg, self.num_query, self.seed + 1, 'query')
        self._data = (bank_x, bank_y, query_x, query_y, nb, nq)
        return (f'KNNMonitorHook: {nb} bank and {nq} query images cached in {time.perf_counter() - t0:.1f} s; kNN '
                f'top-1 every {self.interval} iterations (k={self.k}, T={self.temperature}, {self.encoder} encoder)')

    def before_train(self, runner) -> None:
        t0 = time.perf_counter()
        runner.logger.info(self.prepare())
        self.prepare_seconds = time.perf_counter() - t0
        self.seconds += self.prepare_seconds
        if self.baseline and runner.iter == 0:
            t0 = time.perf_counter()
            top1 = self.evaluate(runner.model)
            if is_main_process():
                runner.message_hub.update_info(self._baseline_key, top1)
                runner.logger.info(f'KNNMonitorHook: iter 0 (random initialisation): {self.prefix}/top1 = '
                                   f'{top1:.2f} % ({time.perf_counter() - t0:.2f} s)')
            self.seconds += time.perf_counter() - t0

    @property
    def _baseline_key(self) -> str:
        return f'{self.prefix}/random_init_top1'

    def after_train(self, runner) -> None:
        """Log the last check beside the random-initialisation check and draw the curve (main process)."""
        if not (self.baseline and is_main_process()):
            return
        random_init = runner.message_hub.get_info(self._baseline_key)
        if random_init is None or not self.history:
            return
        it, last = self.history[-1]
        nb, nq = self._data[4:]
        runner.logger.info(
            f'KNNMonitorHook: kNN top-1 on {nq} held-out labelled images (bank of {nb}, k={self.k}): random '
            f'initialisation {random_init:.2f} %, after {it} iterations {last:.2f} % ({last - random_init:+.2f} '
            'points)')
        path = osp.join(runner.work_dir, f'{self.prefix}_curve.png')
        plot_knn_curve(path, self.history, random_init, f'{self.prefix} top-1 (k={self.k}, {nq} queries)')
        runner.logger.info(f'KNNMonitorHook: curve written to {path}')

    # ----------------------------------------------------------------------------------------------------------
    # embedding and vote
    # ----------------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, model, inputs: torch.Tensor) -> torch.Tensor:
        """Pooled, L2-normalised last-stage features of uint8 images ``n x C x H x W`` (this rank's share)."""
        if is_model_wrapper(model):
            model = model.module
        backbone = monitored_backbone(model, self.encoder)
        was_training = backbone.training
        backbone.eval()
        feats = []
        try:
            for s in range(0, len(inputs), self.batch_size):
                x = model.data_preprocessor(dict(inputs=inputs[s:s + self.batch_size], data_samples=None))['inputs']
                f = backbone(x)[-1]
                feats.append(F.normalize(F.adaptive_avg_pool2d(f, 1).flatten(1).float(), dim=1))
        finally:
            backbone.train(was_training)
        return torch.cat(feats)

    def _gather(self, feats: torch.Tensor, n: int) -> torch.Tensor:
        """Reassemble the per-rank shares (rank r holds positions r, r + W, ...) into the subset's order."""
        rank, world_size = get_dist_info()
        if world_size == 1:
            return feats
        per_rank = math.ceil(n / world_size)  # rank r holds len(range(r, n, world_size)) >= 1 rows
        padded = feats.new_zeros(per_rank, feats.shape[1])
        padded[:len(feats)] = feats
        parts = all_gather(padded)
        out = feats.new_zeros(n, feats.shape[1])
        for r, part in enumerate(parts):
            count = len(range(r, n, world_size))
            out[r::world_size] = part[:count].to(out.device)
        return out

    def evaluate(self, model) -> float:
        """kNN top-1 (%) of ``model`` on the cached bank and queries (collective under DDP: call on every rank)."""
        if self._data is None:
            raise RuntimeError('KNNMonitorHook.evaluate needs the cached data: call prepare() first (before_train '
                               'does it)')
        bank_x, bank_y, query_x, query_y, nb, nq = self._data
        bank = self._gather(self.embed(model, bank_x), nb)
        query = self._gather(self.embed(model, query_x), nq)
        pred = weighted_knn_predict(bank, bank_y, query, self.k, self.temperature,
                                    num_classes=int(max(bank_y.max(), query_y.max())) + 1)
        return (pred.cpu() == query_y).float().mean().item() * 100.0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.interval):
            return
        t0 = time.perf_counter()
        top1 = self.evaluate(runner.model)
        if is_main_process():
            runner.message_hub.update_scalar(f'train/{self.prefix}/top1', top1)
            runner.logger.info(f'KNNMonitorHook: iter {runner.iter + 1}: {self.prefix}/top1 = {top1:.2f} % '
                               f'({time.perf_counter() - t0:.2f} s)')
        self.history.append((runner.iter + 1, top1))
        self.seconds += time.perf_counter() - t0
