from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn
from mmengine.dist import all_gather
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from scl.utils.errors import ConfigError
from scl.saliency import (REDUCTIONS, contrastive_gradcam, dense_contrast, get_source, valid_maps,
                          warp_to_image_grid)
from .mocov2 import SymMoCo

# Which image axes a flip mirrors: (x, y), for mmcv's RandomFlip directions.
FLIP_AXES = {'horizontal': (True, False), 'vertical': (False, True), 'diagonal': (True, True)}
ALGORITHM_KEYS = ['crop_bbox', 'saliency_score', 'view_flip', 'view_flip_direction']


@MODELS.register_module()
class SCLAlgorithm(SymMoCo):
    """Saliency Guided Contrastive Learning on scene images.

    Implementation of `Saliency Guided Contrastive Learning on Scene Images <https://arxiv.org/abs/2302.11461>`_.

    MoCo v2 (:class:`SymMoCo`) whose positive pairs are cropped around salient regions
    (:class:`SaliencyCropTransform`) and whose per-pair losses are reweighed by the crops' saliency scores
    (:class:`SaliencyContrastiveHead`). The saliency maps come from the model itself (``saliency_source``, a
    source of :mod:`scl.saliency.sources`): by default the contrastive Grad-CAM of each query view's loss on the
    query encoder's last feature map, from the gradient of the main backward (no extra pass). Each view's map, in
    [0, 1], is warped back into image coordinates through the view's crop box and flip and blended into the saliency
    store (gathered across ranks first, so every rank's store stays identical); sources computed from the key
    encoder's pass un-shuffle only the ``N x h x w`` map across GPUs, never the feature map.

    Differences from the paper / reconstruction: only the abstract is available. The base framework, the saliency
    source, the EMA update of a per-image grid and every default are our reconstruction, each a config knob
    (docs/method.md).

    Momentum convention: ``momentum`` is MMEngine's EMA momentum, the weight of the *new* parameters:
    ``momentum=0.001`` is MoCo's ``m = 0.999``.

    Args:
        backbone (dict): Backbone config (a ResNet; its last stage gives the saliency).
        neck (dict): Neck config (``MoCoV2Neck``).
        head (dict): Head config (``SaliencyContrastiveHead``).
        queue_len (int): Queue length; a multiple of ``2 x`` the global batch. Defaults to 65536.
        feat_dim (int): Embedding dimension. Defaults to 128.
        momentum (float): MMEngine EMA momentum of the key encoder. Defaults to 0.001 (MoCo m = 0.999).
        saliency_reduce (str): Channel reduction of the feature map, ``'mean_relu'`` or ``'l2'``.
            Defaults to ``'mean_relu'``.
        saliency_ema (float): Weight of a new observation when a view's map is blended into the store
            (reconstruction). Defaults to 0.5.
        saliency_source (str): Where a view's map comes from (reconstruction; docs/method.md; the registry
            :data:`scl.saliency.SOURCES`): ``'activation'``: the momentum encoder's last feature map reduced by
            ``saliency_reduce``, in the loss step. ``'gradcam'``: contrastive Grad-CAM of the loss on the query
            encoder's last feature map, from the gradient of the main backward, written after it.
            ``'dense_contrast'``: the key encoder's projection neck applied at every location of its last feature map
            (its MLP as 1 x 1 convolutions), each location's log-softmax of the view's key (the positive target of
            the other view's query) against the queue, at the head's temperature; forward only, in the loss step.
            ``'spectral_residual'``: not the model's but the key view's pixels' spectral-residual saliency (Hou &
            Zhang 2007) at the store's resolution, a model-free control (what a map that localises does to SCL).
            ``'oracle'``: benchmark only, the ground truth: the store holds each training scene's object cover from
            its annotations, written once by :class:`SaliencyStoreHook` and never updated by the model. ``'none'``:
            no map is computed and the store is never written (with ``anchor='independent'`` crops and ``beta=0``
            this is MoCo v2 in SCL's pipeline).
            Defaults to ``'gradcam'``.
        dense_negatives (int, optional): ``'dense_contrast'`` only: score each location against this many queue
            entries (evenly strided) instead of the whole queue. Defaults to None (the whole queue).
        data_preprocessor (dict, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Initialization config. Defaults to None.
        channels_last (bool): Train in the channels-last memory format (a CPU speed setting, see
            :class:`SymMoCo`). Defaults to False.

    Attributes:
        saliency_store (SaliencyStore | None): Attached by :class:`SaliencyStoreHook` before training; training
            without it is an error, :meth:`loss` alone (tests, analysis) skips the update.
        invalid_maps (int): Views whose map was not finite or was constant (:func:`valid_maps`) and so was not
            written into the store, since the model was built; each update also logs its count as
            ``saliency_invalid`` (train/ scalars of mmengine's message hub).

    Raises:
        ValueError: An unknown ``saliency_reduce`` or ``saliency_source``, ``saliency_ema`` outside (0, 1], or
            ``dense_negatives < 1``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 queue_len: int = 65536,
                 feat_dim: int = 128,
                 momentum: float = 0.001,
                 saliency_reduce: str = 'mean_relu',
                 saliency_ema: float = 0.5,
                 saliency_source: str = 'gradcam',
                 dense_negatives: Optional[int] = None,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 channels_last: bool = False) -> None:
        if saliency_reduce not in REDUCTIONS:
            raise ConfigError(f'saliency_reduce must be one of {REDUCTIONS}, got {saliency_reduce!r}')
        if not 0 < saliency_ema <= 1:
            raise ConfigError(f'saliency_ema must be in (0, 1], got {saliency_ema}')
        get_source(saliency_source, 'training')  # an unknown name: ConfigError before anything is built
        if dense_negatives is not None and dense_negatives < 1:
            raise ConfigError(f'dense_negatives must be None (the whole queue) or >= 1, got {dense_negatives}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            queue_len=queue_len,
            feat_dim=feat_dim,
            momentum=momentum,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
            channels_last=channels_last)
        self.saliency_reduce = saliency_reduce
        self.saliency_ema = saliency_ema
        self.saliency_source = saliency_source  # sets self.source, its registry entry (scl.saliency.sources)
        self.dense_negatives = dense_negatives
        self.saliency_store = None
        self.invalid_maps = 0
        self._gradcam_views = []  # per query view of the current step: its feature map and, after backward, dL/dA
        self._pending_samples = None  # data samples whose gradcam update waits for the backward

    @property
    def saliency_source(self) -> str:
        """The name of the saliency source; ``self.source`` is its :class:`~scl.saliency.SaliencySource`, which
        says when and how the training step gets its maps."""
        return self.source.name

    @saliency_source.setter
    def saliency_source(self, name: str) -> None:
        self.source = get_source(name, 'training')

    @staticmethod
    def _require(data_samples: List[DataSample], name: str):
        if not data_samples or name not in data_samples[0]:
            raise KeyError(f'data samples carry no `{name}`: the SCL pipeline must end with '
                           f'PackInputs(algorithm_keys={ALGORITHM_KEYS})')
        return [ds.get(name) for ds in data_samples]

    @classmethod
    def _field(cls, data_samples: List[DataSample], name: str, device) -> torch.Tensor:
        return torch.stack([torch.as_tensor(v) for v in cls._require(data_samples, name)]).to(device)

    @classmethod
    def _flip_axes(cls, data_samples: List[DataSample], device):
        """Per view, whether its flip mirrored x and whether it mirrored y: two ``N x V`` bool tensors."""
        flipped = np.stack([np.asarray(v, dtype=bool) for v in cls._require(data_samples, 'view_flip')])
        directions = np.stack([np.asarray(v, dtype=str) for v in cls._require(data_samples, 'view_flip_direction')])
        unknown = set(directions[flipped].tolist()) - set(FLIP_AXES)
        if unknown:
            raise ConfigError(f'unknown flip direction(s) {sorted(unknown)}; the saliency warp knows {list(FLIP_AXES)}')
        axes = [np.isin(directions, [d for d, a in FLIP_AXES.items() if a[i]]) & flipped for i in (0, 1)]
        return tuple(torch.from_numpy(a).to(device) for a in axes)

    def _pair_loss(self, q, k, data_samples, iq, ik):
        scores = self._field(data_samples, 'saliency_score', q.device).float()  # N x V
        return self.head.loss(*self._logits(q, k), scores[:, iq], scores[:, ik])

    def loss(self, inputs, data_samples, **kwargs):
        self._gradcam_views, self._pending_samples = [], None  # a new step: nothing of an earlier one is pending
        return super().loss(inputs, data_samples, **kwargs)

    def _query(self, img):
        feats = self.backbone(img)
        if self.source.training == 'backward' and torch.is_grad_enabled() and feats[-1].requires_grad:
            # Capture dL/dA of the main backward with a tensor hook: no extra forward or backward pass.
            record = dict(act=feats[-1].detach())
            feats[-1].register_hook(lambda grad, record=record: record.__setitem__('grad', grad.detach()))
            self._gradcam_views.append(record)
        return nn.functional.normalize(self.neck(feats)[0], dim=1)  # N x C

    def _key_extras(self, img, feats, keys):
        """The view's ``N x h x w`` saliency map in [0, 1] (float32) for a source the loss step computes from the key
        encoder's pass (the source's ``key_map``: e.g. the last feature map reduced over channels for
        ``'activation'``); nothing for the others (``'gradcam'``'s map comes from the query encoder's gradient)."""
        return self.source.key_map(self, img, feats, keys) if self.source.key_map is not None else None

    @torch.no_grad()
    def dense_contrast_map(self, fmap: torch.Tensor, keys: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """:func:`~scl.saliency.dense_contrast` with the key encoder's neck, the queue and the
        head's temperature.

        Shape:
            fmap: (N, C, h, w); keys: (N, D) normalised -> (N, h, w) float32 in [0, 1]
        """
        return dense_contrast(fmap, keys, self.encoder_k.module[1].mlp, self.queue, self.head.temperature,
                              self.dense_negatives, chunk)

    def train_step(self, data, optim_wrapper):
        """mmpretrain's step (forward, backward, optimiser update under accumulation / AMP), then the saliency
        update that needs the backward (``'gradcam'``). Under DDP the wrapper runs its own step and
        :class:`SaliencyStoreHook` calls :meth:`apply_pending_saliency` after each iteration instead."""
        if self.saliency_store is None:
            raise RuntimeError(
                'SCLAlgorithm is training without a saliency store: add dict(type=\'SaliencyStoreHook\') to '
                'custom_hooks (it creates the store and shares it with the model and the data pipeline)')
        log_vars = super().train_step(data, optim_wrapper)
        self.apply_pending_saliency()
        return log_vars

    @torch.no_grad()
    def apply_pending_saliency(self) -> bool:
        """Write the gradcam maps of the last loss into the store once its backward has run; idempotent.

        Returns:
            bool: Whether an update was written (False: nothing pending, no backward yet, or a non-finite gradient
            of an AMP step that the loss scaler skips).
        """
        views, samples = self._gradcam_views, self._pending_samples
        if samples is None or self.saliency_store is None:
            return False
        if len(views) != 2 or any('grad' not in v for v in views):
            return False  # the backward has not run (yet)
        self._gradcam_views, self._pending_samples = [], None
        maps = [contrastive_gradcam(v['act'], v['grad']) for v in views]
        # Every rank takes part in the gather; a view whose map is not finite (an overflowing AMP step) or constant
        # is left out of the update on every rank alike.
        idx, values, coverage = self.saliency_update(maps, samples)
        if not coverage.any():
            return False
        self.saliency_store.update(idx.numpy(), values.numpy(), coverage.numpy(), self.saliency_ema)
        return True

    @torch.no_grad()
    def saliency_update(self, view_maps: List[torch.Tensor], data_samples: List[DataSample]):
        """Per-view grid values and coverage in image coordinates (all ranks gathered), without writing them.

        Args:
            view_maps (list[torch.Tensor]): Per view, the ``N x h x w`` saliency map in [0, 1].
            data_samples (list[DataSample]): With ``crop_bbox`` (``V x 4`` normalised to the image the crop was
                taken from), ``view_flip`` and ``view_flip_direction`` (``V``) and ``sample_idx``.

        Returns:
            tuple: indices (M, ), values (M, G, G), coverage (M, G, G) as CPU tensors, ``M = world x N x V``. A view
            whose map is not finite or constant covers no cell (its values are 0): it never reaches the store.
        """
        G = self.saliency_store.grid_size
        device = view_maps[0].device
        boxes = self._field(data_samples, 'crop_bbox', device).float()  # N x V x 4 in [0, 1]
        flip_x, flip_y = self._flip_axes(data_samples, device)  # N x V each
        idx = torch.tensor([ds.sample_idx for ds in data_samples], device=device, dtype=torch.long)
        values, coverage, invalid = [], [], 0
        for v, view_map in enumerate(view_maps):
            ok = valid_maps(view_map)
            invalid += int((~ok).sum())
            view_map = torch.where(ok[:, None, None], view_map.float(), torch.zeros_like(view_map, dtype=torch.float))
            val, cov = warp_to_image_grid(view_map, boxes[:, v], flip_x[:, v], G, flips_y=flip_y[:, v])
            values.append(val)
            coverage.append(cov & ok[:, None, None])
        self._count_invalid(invalid)
        # Row order: view 0 of every sample, then view 1; identical on every rank after the gather.
        idx = idx.repeat(len(view_maps))
        values, coverage = torch.cat(values), torch.cat(coverage)
        gathered = [torch.cat(all_gather(t)).cpu() for t in (idx, values, coverage.to(torch.uint8))]
        return gathered[0], gathered[1], gathered[2].bool()

    def _count_invalid(self, n: int) -> None:
        self.invalid_maps += n
        from mmengine.logging import MessageHub
        hub = MessageHub.get_current_instance()
        hub.update_scalar('train/saliency_invalid', float(n))

    def _after_keys(self, extras, data_samples):
        if self.saliency_store is None or not self.source.updates_store:
            return  # e.g. the oracle's store is the annotations' object cover, fixed before training
        if self.source.training == 'backward':
            self._pending_samples = data_samples  # written by apply_pending_saliency after the backward
            return
        idx, values, coverage = self.saliency_update(extras, data_samples)
        self.saliency_store.update(idx.numpy(), values.numpy(), coverage.numpy(), self.saliency_ema)
