from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_gather
from mmpretrain.models.selfsup import MoCo
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from scl.utils.saliency_geometry import REDUCTIONS, reduce_feature_map, warp_to_image_grid


@MODELS.register_module()
class SymMoCo(MoCo):
    """MoCo v2 with the symmetric loss: each of the two views is once the query and once the key.

    Implementation of `Improved Baselines with Momentum Contrastive Learning <https://arxiv.org/abs/2003.04297>`_
    (MoCo v2: MLP neck, stronger augmentation) with the symmetrised loss used by most scene-pretraining baselines.
    Built on mmpretrain's ``MoCo``: same arguments, same queue and key encoder. The loss is the mean of the two
    directions, so its scale matches the asymmetric one; both views' keys are enqueued, so ``queue_len`` must be a
    multiple of ``2 x`` the global batch.

    Momentum convention: ``momentum`` is MMEngine's ``ExponentialMovingAverage`` momentum, the weight of the *new*
    parameters: ``momentum=0.001`` is MoCo's ``m = 0.999``.

    This is the baseline that :class:`SCLAlgorithm` extends; with a ``ContrastiveHead`` and mmpretrain's
    ``MultiView`` + ``RandomResizedCrop`` pipeline it is plain MoCo v2.
    """

    def _query(self, img: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.neck(self.backbone(img))[0], dim=1)  # N x C

    @torch.no_grad()
    def _key(self, img: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Key embedding and the key encoder's last feature map (one forward pass)."""
        backbone_k, neck_k = self.encoder_k.module[0], self.encoder_k.module[1]
        img, idx_unshuffle = batch_shuffle_ddp(img)
        feats = backbone_k(img)
        k = nn.functional.normalize(neck_k(feats)[0], dim=1)  # N x C
        return batch_unshuffle_ddp(k, idx_unshuffle), batch_unshuffle_ddp(feats[-1], idx_unshuffle)

    def _logits(self, q: torch.Tensor, k: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        pos = torch.einsum('nc,nc->n', [q, k]).unsqueeze(-1)  # N x 1
        neg = torch.einsum('nc,ck->nk', [q, self.queue.clone().detach()])  # N x K
        return pos, neg

    def _pair_loss(self, q: torch.Tensor, k: torch.Tensor, data_samples: List[DataSample], iq: int,
                   ik: int) -> Dict[str, torch.Tensor]:
        out = self.head.loss(*self._logits(q, k))
        return out if isinstance(out, dict) else dict(loss=out)

    def _after_keys(self, feat_maps: List[torch.Tensor], data_samples: List[DataSample]) -> None:
        """Called with the key encoder's feature maps of each view, once the loss is computed."""

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample], **kwargs) -> Dict[str, torch.Tensor]:
        """Symmetric MoCo loss.

        Args:
            inputs (list[torch.Tensor]): The two views, each ``N x 3 x H x W``.
            data_samples (list[DataSample]): Per-sample data (unused here; used by subclasses).

        Returns:
            dict[str, torch.Tensor]: ``loss`` (mean of both directions) and any logged terms of the head.
        """
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f'{type(self).__name__} needs exactly two views per sample, got '
                             f'{len(inputs) if isinstance(inputs, (list, tuple)) else type(inputs)}')
        q = [self._query(v) for v in inputs]
        with torch.no_grad():
            self.encoder_k.update_parameters(nn.Sequential(self.backbone, self.neck))
            k, feat_maps = zip(*[self._key(v) for v in inputs])
        terms = [self._pair_loss(q[0], k[1], data_samples, 0, 1), self._pair_loss(q[1], k[0], data_samples, 1, 0)]
        losses = {name: 0.5 * (terms[0][name] + terms[1][name]) for name in terms[0]}
        self._dequeue_and_enqueue(torch.cat(k, dim=0))
        self._after_keys(list(feat_maps), data_samples)
        return losses


@MODELS.register_module()
class SCLAlgorithm(SymMoCo):
    """Saliency Guided Contrastive Learning on scene images.

    Implementation of `Saliency Guided Contrastive Learning on Scene Images <https://arxiv.org/abs/2302.11461>`_.

    MoCo v2 (:class:`SymMoCo`) whose positive pairs are cropped around salient regions
    (:class:`SaliencyCropTransform`) and whose per-pair losses are reweighed by the crops' saliency scores
    (:class:`SaliencyContrastiveHead`). The saliency maps come from the model itself: after each step, the momentum
    (key) encoder's last feature map of each view, already computed for the keys (no extra forward pass), is reduced
    over channels, normalised to [0, 1], warped back into image coordinates through the view's crop box and flip, and
    blended into the saliency store (gathered across ranks first, so every rank's store stays identical).

    Differences from the paper / reconstruction: only the abstract is available. The base framework, the saliency
    source (key encoder, ReLU-mean over channels), the EMA update of a per-image grid and every default are our
    reconstruction, each a config knob (docs/method.md).

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
        data_preprocessor (dict, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Initialization config. Defaults to None.

    Attributes:
        saliency_store (SaliencyStore | None): Attached by :class:`SaliencyStoreHook`; without it the model trains but
            does not update saliency.
        saliency_ema (float): EMA rate of the store update, set by the hook. Defaults to 0.5.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 queue_len: int = 65536,
                 feat_dim: int = 128,
                 momentum: float = 0.001,
                 saliency_reduce: str = 'mean_relu',
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if saliency_reduce not in REDUCTIONS:
            raise ValueError(f'saliency_reduce must be one of {REDUCTIONS}, got {saliency_reduce!r}')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            queue_len=queue_len,
            feat_dim=feat_dim,
            momentum=momentum,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.saliency_reduce = saliency_reduce
        self.saliency_store = None
        self.saliency_ema = 0.5

    @staticmethod
    def _field(data_samples: List[DataSample], name: str, device) -> torch.Tensor:
        if not data_samples or name not in data_samples[0]:
            raise KeyError(f'data samples carry no `{name}`: the SCL pipeline must end with '
                           "PackInputs(algorithm_keys=['crop_bbox', 'saliency_score', 'view_flip'])")
        return torch.stack([torch.as_tensor(ds.get(name)) for ds in data_samples]).to(device)

    def _pair_loss(self, q, k, data_samples, iq, ik):
        scores = self._field(data_samples, 'saliency_score', q.device).float()  # N x V
        return self.head.loss(*self._logits(q, k), scores[:, iq], scores[:, ik])

    @torch.no_grad()
    def saliency_update(self, feat_maps: List[torch.Tensor], data_samples: List[DataSample]):
        """Per-view grid values and coverage in image coordinates (all ranks gathered), without writing them.

        Returns:
            tuple: indices (M, ), values (M, G, G), coverage (M, G, G) as CPU tensors, ``M = world x N x V``.
        """
        G = self.saliency_store.grid_size
        device = feat_maps[0].device
        boxes = self._field(data_samples, 'crop_bbox', device).float()  # N x V x 4, source pixels
        flips = self._field(data_samples, 'view_flip', device).bool()  # N x V
        sizes = torch.tensor([ds.ori_shape for ds in data_samples], device=device, dtype=torch.float32)  # N x 2
        idx = torch.tensor([ds.sample_idx for ds in data_samples], device=device, dtype=torch.long)
        whwh = sizes.flip(1).repeat(1, 2)  # N x 4: (w, h, w, h)
        values, coverage = [], []
        for v, fmap in enumerate(feat_maps):
            norm = boxes[:, v] / whwh  # N x 4 in [0, 1]
            val, cov = warp_to_image_grid(reduce_feature_map(fmap, self.saliency_reduce), norm, flips[:, v], G)
            values.append(val)
            coverage.append(cov)
        # Row order: view 0 of every sample, then view 1; identical on every rank after the gather.
        idx = idx.repeat(len(feat_maps))
        values, coverage = torch.cat(values), torch.cat(coverage)
        gathered = [torch.cat(all_gather(t)).cpu() for t in (idx, values, coverage.to(torch.uint8))]
        return gathered[0], gathered[1], gathered[2].bool()

    def _after_keys(self, feat_maps, data_samples):
        if self.saliency_store is None:
            return
        idx, values, coverage = self.saliency_update(feat_maps, data_samples)
        self.saliency_store.update(idx.numpy(), values.numpy(), coverage.numpy(), self.saliency_ema)
