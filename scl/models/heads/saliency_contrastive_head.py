from typing import Dict, List, Optional, Tuple, Union

import torch
from mmpretrain.models.heads import ContrastiveHead
from mmpretrain.registry import MODELS

from scl.utils.errors import ConfigError


def saliency_weights(scores_q: torch.Tensor, scores_k: torch.Tensor, beta: float,
                     clip: Tuple[float, float]) -> torch.Tensor:
    """Per-pair loss weights ``w = (s_q * s_k) ** beta``, detached: normalised to batch mean 1, clipped to ``clip``,
    then renormalised to mean 1.

    Normalising before clipping makes the clip act on the weights' spread, whatever the scale of the scores (crop
    scores are mean saliency values below 1: clipping the raw products at 0.1 flattened peaky maps to uniform
    weights). A batch whose products are not all finite, or sum to 0 (no saliency anywhere), gets uniform weights.

    Shape:
        scores_q, scores_k: (N, ) -> (N, )
    """
    w = (scores_q.detach().float() * scores_k.detach().float()).clamp_min(0)**beta
    mean = w.mean()
    if not (torch.isfinite(w).all() and mean > 0):
        return torch.ones_like(w)
    w = (w / mean).clamp(clip[0], clip[1])
    return w / w.mean()


@MODELS.register_module()
class SaliencyContrastiveHead(ContrastiveHead):
    """InfoNCE over [positive key, queue] with per-pair weights from the two crops' saliency scores.

    Part of `Saliency Guided Contrastive Learning on Scene Images <https://arxiv.org/abs/2302.11461>`_: "reweighs the
    contrastive losses among different crops by its saliency scores".

    For query ``i``: ``l_i = CE([q_i . k_i+, q_i . queue] / T, 0)`` and ``w_i = (s_q,i * s_k,i) ** beta`` (detached,
    normalised to batch mean 1, clipped to ``clip`` and renormalised to mean 1, keeping the loss scale and hence the
    learning rate unchanged; :func:`saliency_weights`). Loss ``= mean_i w_i * l_i``; the weighted mean is done by the configured loss module (mmpretrain's
    ``CrossEntropyLoss`` takes per-sample ``weight``), so with ``beta = 0`` this head equals ``ContrastiveHead``.

    Differences from the paper / reconstruction: the abstract does not give the weighting function; the product of
    the two crops' scores, ``beta``, ``clip`` and the renormalisation are our reconstruction (docs/method.md).

    Args:
        loss (dict): Config of the loss module; must accept ``weight``. Defaults to
            ``dict(type='CrossEntropyLoss')``.
        temperature (float): Softmax temperature ``T``. Defaults to 0.2.
        beta (float): Exponent of the saliency weights; 0 disables weighting. Defaults to 1.0.
        clip (tuple[float, float]): Range of the mean-1 weights before they are renormalised. Defaults to
            (0.1, 10.0).
        init_cfg (dict | list[dict], optional): Initialization config. Defaults to None.

    Raises:
        ValueError: ``temperature <= 0``, ``beta < 0`` or a bad ``clip``.
    """

    def __init__(self,
                 loss: dict = dict(type='CrossEntropyLoss'),
                 temperature: float = 0.2,
                 beta: float = 1.0,
                 clip: Tuple[float, float] = (0.1, 10.0),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if temperature <= 0:
            raise ConfigError(f'temperature must be > 0, got {temperature}')
        if beta < 0:
            raise ConfigError(f'beta must be >= 0, got {beta}')
        if len(clip) != 2 or not (0 < clip[0] <= clip[1]):
            raise ConfigError(f'clip must be (low, high) with 0 < low <= high, got {clip}')
        super().__init__(loss=loss, temperature=temperature, init_cfg=init_cfg)
        self.beta = beta
        self.clip = tuple(clip)

    def loss(self,
             pos: torch.Tensor,
             neg: torch.Tensor,
             scores_q: Optional[torch.Tensor] = None,
             scores_k: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Weighted contrastive loss.

        Args:
            pos (torch.Tensor): Positive similarities. Shape ``(N, 1)``.
            neg (torch.Tensor): Negative similarities. Shape ``(N, K)``.
            scores_q (torch.Tensor, optional): Saliency scores of the query crops. Shape ``(N, )``.
            scores_k (torch.Tensor, optional): Saliency scores of the key crops. Shape ``(N, )``.
                Without scores every weight is 1.

        Returns:
            dict[str, torch.Tensor]: ``loss`` and, detached for logging, ``weight_std``, ``weight_min``,
            ``weight_max``.

        Raises:
            ValueError: Only one of the two score tensors is given, or its length is not ``N``.
        """
        N = pos.size(0)
        if (scores_q is None) != (scores_k is None):
            raise ConfigError('give both scores_q and scores_k, or neither')
        if scores_q is None or self.beta == 0:
            weight = pos.new_ones(N)
        else:
            if scores_q.shape != (N, ) or scores_k.shape != (N, ):
                raise ConfigError(f'scores must have shape ({N},), got {tuple(scores_q.shape)} and '
                                 f'{tuple(scores_k.shape)}')
            weight = saliency_weights(scores_q, scores_k, self.beta, self.clip).to(pos.dtype)
        logits = torch.cat((pos, neg), dim=1) / self.temperature  # N x (1 + K)
        labels = torch.zeros((N, ), dtype=torch.long, device=pos.device)
        loss = self.loss_module(logits, labels, weight=weight)
        return dict(
            loss=loss,
            weight_std=weight.detach().std(unbiased=False),
            weight_min=weight.detach().min(),
            weight_max=weight.detach().max())
