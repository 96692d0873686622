"""The baseline: MoCo v2 with the symmetric loss (the method SCL extends)."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_gather
from mmpretrain.models.selfsup import MoCo
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from scl.utils.errors import ConfigError


def check_queue_len(queue_len: int, keys_per_step: int) -> None:
    """Raise a ValueError unless ``queue_len`` is a multiple of the keys enqueued per step.

    Args:
        queue_len (int): The queue length of the model.
        keys_per_step (int): Keys enqueued per step over all ranks (views x per-GPU batch x GPUs).

    Raises:
        ValueError: With both numbers and the nearest valid queue lengths.
    """
    if keys_per_step <= 0 or queue_len % keys_per_step == 0:
        return
    lower = queue_len // keys_per_step * keys_per_step
    options = [n for n in (lower, lower + keys_per_step) if n > 0]
    raise ConfigError(
        f'queue_len={queue_len} is not a multiple of the {keys_per_step} keys enqueued per step (views x batch per '
        f'GPU x GPUs): the queue would wrap in the middle of a batch. Set model.queue_len to '
        f'{" or ".join(map(str, options))} (e.g. --cfg-options model.queue_len={options[0]}), or change the batch '
        'size / number of GPUs')


@MODELS.register_module()
class SymMoCo(MoCo):
    """MoCo v2 with the symmetric loss: each of the two views is once the query and once the key.

    Implementation of `Improved Baselines with Momentum Contrastive Learning <https://arxiv.org/abs/2003.04297>`_
    (MoCo v2: MLP neck, stronger augmentation) with the symmetrised loss used by most scene-pretraining baselines.
    Built on mmpretrain's ``MoCo``: same arguments, same queue and key encoder. The loss is the mean of the two
    directions, so its scale matches the asymmetric one; both views' keys are enqueued, so ``queue_len`` must be a
    multiple of ``2 x`` the global batch (checked with a clear error, see :func:`check_queue_len`).

    Momentum convention: ``momentum`` is MMEngine's ``ExponentialMovingAverage`` momentum, the weight of the *new*
    parameters: ``momentum=0.001`` is MoCo's ``m = 0.999``.

    This is the baseline that :class:`~scl.models.selfsup.SCLAlgorithm` extends; with a ``ContrastiveHead`` and
    mmpretrain's ``MultiView`` + ``RandomResizedCrop`` pipeline it is plain MoCo v2. Subclasses add per-sample
    outputs of the key encoder through :meth:`_key_extras` (un-shuffled with the keys) and act on them in
    :meth:`_after_keys`.

    For inference (``mode='tensor'``, mmpretrain's ``get_model`` / ``FeatureExtractor``) the backbone embeds one view:
    a batch tensor, or the first view of a multi-view list.
    """

    keys_per_sample = 2  # both views' keys are enqueued

    def __init__(self, *args, channels_last: bool = False, **kwargs) -> None:
        """Arguments of mmpretrain's ``MoCo``, and ``channels_last``: train in the channels-last memory format
        (NHWC). The weights and buffers of both encoders change layout once they are initialised (the first
        :meth:`init_weights`, or the first training step of a model built without a Runner), so the random
        initialisation is the one of the default layout; convolutions then take the NHWC kernels of oneDNN (19-21 %
        less time per step of the scene benchmark's ResNet-18 on a 2-core CPU, docs/benchmarks.md). The results
        differ from the default layout only by floating-point rounding; checkpoints (and a resume, which loads after
        the initialisation) go into either layout. Measured on CPU only: mmengine wraps a model in DDP before it
        initialises the weights, so under DDP the conversion comes after the wrapper was built (not timed)."""
        super().__init__(*args, **kwargs)
        self.channels_last = bool(channels_last)
        self._memory_format_applied = False

    def init_weights(self) -> None:
        super().init_weights()
        self.apply_memory_format()

    def apply_memory_format(self) -> None:
        """Put the weights and buffers in the channels-last layout if ``channels_last`` asks for it (once)."""
        if self.channels_last and not self._memory_format_applied:
            self.to(memory_format=torch.channels_last)
            self._memory_format_applied = True

    def extract_feat(self, inputs):
        """Backbone features of one view.

        Args:
            inputs (torch.Tensor | list[torch.Tensor]): ``N x 3 x H x W``, or a list of views (the first is used,
                as the ``SelfSupDataPreprocessor`` returns a one-element list for a single-view pipeline).

        Returns:
            tuple[torch.Tensor]: The backbone's outputs.
        """
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        return self.backbone(inputs)

    def forward(self, inputs, data_samples: Optional[List[DataSample]] = None, mode: str = 'tensor'):
        """mmpretrain's modes (``'tensor'``: backbone features, ``'loss'``), plus ``'predict'`` (:meth:`predict`)."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)

    def predict(self, inputs, data_samples: Optional[List[DataSample]] = None, **kwargs) -> List[DataSample]:
        """Embed one view per sample: each data sample gets ``feature``, the globally average-pooled last stage of
        the backbone (what transfers). The test loop of the pretraining configs scores it with ``KNNAccuracy``.
        """
        feats = self.extract_feat(inputs)[-1].mean(dim=(2, 3))  # N x C
        if data_samples is None:
            data_samples = [DataSample() for _ in range(len(feats))]
        for ds, f in zip(data_samples, feats):
            ds.set_field(f, 'feature')
        return data_samples

    def _query(self, img: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.neck(self.backbone(img))[0], dim=1)  # N x C

    def _key_extras(self, img: torch.Tensor, feats: Tuple[torch.Tensor, ...],
                    keys: torch.Tensor) -> Optional[torch.Tensor]:
        """A per-sample tensor computed from the key view's pixels, the key encoder's backbone outputs and the
        (normalised) keys of the same samples, all still in the shuffled order, un-shuffled with the keys.

        None (the default) gathers nothing more than the keys; SCL returns the reduced ``N x h x w`` saliency map,
        so only that, not the ``N x C x h x w`` feature map, crosses the network in the un-shuffle.
        """
        return None

    @torch.no_grad()
    def _key(self, img: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Key embedding and :meth:`_key_extras` of one view (one forward pass of the key encoder)."""
        backbone_k, neck_k = self.encoder_k.module[0], self.encoder_k.module[1]
        img, idx_unshuffle = batch_shuffle_ddp(img)
        feats = backbone_k(img)
        k = nn.functional.normalize(neck_k(feats)[0], dim=1)  # N x C
        extras = self._key_extras(img, feats, k)
        if extras is not None:
            extras = batch_unshuffle_ddp(extras, idx_unshuffle)
        return batch_unshuffle_ddp(k, idx_unshuffle), extras

    def _logits(self, q: torch.Tensor, k: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        pos = torch.einsum('nc,nc->n', [q, k]).unsqueeze(-1)  # N x 1
        neg = torch.einsum('nc,ck->nk', [q, self.queue.clone().detach().to(q.dtype)])  # N x K
        return pos, neg

    def _pair_loss(self, q: torch.Tensor, k: torch.Tensor, data_samples: List[DataSample], iq: int,
                   ik: int) -> Dict[str, torch.Tensor]:
        out = self.head.loss(*self._logits(q, k))
        return out if isinstance(out, dict) else dict(loss=out)

    def _after_keys(self, extras: List[Optional[torch.Tensor]], data_samples: List[DataSample]) -> None:
        """Called with each view's :meth:`_key_extras`, once the loss is computed."""

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        """Enqueue the keys of every rank (mmpretrain's update, with a clear error for a queue that does not fit)."""
        keys = torch.cat(all_gather(keys), dim=0)
        check_queue_len(self.queue_len, keys.shape[0])
        ptr = int(self.queue_ptr)
        if ptr % keys.shape[0]:
            raise ConfigError(
                f'{keys.shape[0]} keys reached the queue at position {ptr}, which is not a multiple of them: a batch '
                'of another size came before (the last batch of an epoch is short when the data set\'s length is not '
                'a multiple of the batch size), and the queue would wrap in the middle of a batch. Set '
                'train_dataloader.drop_last=True in an epoch-based config (mmpretrain\'s MoCo configs do), or train '
                'with an InfiniteSampler and an IterBasedTrainLoop')
        self.queue[:, ptr:ptr + keys.shape[0]] = keys.transpose(0, 1).to(self.queue.dtype)
        self.queue_ptr[0] = (ptr + keys.shape[0]) % self.queue_len

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
        self.apply_memory_format()
        q = [self._query(v) for v in inputs]
        with torch.no_grad():
            self.encoder_k.update_parameters(nn.Sequential(self.backbone, self.neck))
            k, extras = zip(*[self._key(v) for v in inputs])
        terms = [self._pair_loss(q[0], k[1], data_samples, 0, 1), self._pair_loss(q[1], k[0], data_samples, 1, 0)]
        losses = {name: 0.5 * (terms[0][name] + terms[1][name]) for name in terms[0]}
        self._dequeue_and_enqueue(torch.cat(k, dim=0))
        self._after_keys(list(extras), data_samples)
        return losses
