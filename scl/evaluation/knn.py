"""Weighted kNN classification of embeddings (Wu et al. 2018), for monitoring and for pretraining configs' test loop."""
import math
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS


def weighted_knn_predict(bank_feats: torch.Tensor,
                         bank_labels: torch.Tensor,
                         query_feats: torch.Tensor,
                         k: int = 200,
                         temperature: float = 0.07,
                         num_classes: Optional[int] = None,
                         chunk: int = 1024,
                         exclude_self: bool = False) -> torch.Tensor:
    """Weighted kNN vote of `Wu et al. 2018 <https://arxiv.org/abs/1805.01978>`_ (InstDisc).

    Each query takes its ``k`` most similar bank samples by dot product (cosine similarity for L2-normalised
    features); neighbour ``j`` votes for its class with weight ``exp(s_j / temperature)``; the class with the largest
    summed vote is the prediction (ties: the smallest class index).

    Shape:
        bank_feats: (N, C); bank_labels: (N, ) int; query_feats: (Q, C) -> (Q, ) int64 predictions

    Args:
        bank_feats (torch.Tensor): Features of the labelled bank, L2-normalised.
        bank_labels (torch.Tensor): Their class indices.
        query_feats (torch.Tensor): Features of the queries, L2-normalised.
        k (int): Neighbours per query (clamped to the bank size). Defaults to 200.
        temperature (float): Vote temperature. Defaults to 0.07.
        num_classes (int, optional): Number of classes. Defaults to None (``max(bank_labels) + 1``).
        chunk (int): Queries handled at once (bounds the Q x N similarity matrix). Defaults to 1024.
        exclude_self (bool): Leave-one-out: the queries are the bank itself and query ``i`` may not vote for itself
            through bank sample ``i``. Defaults to False.

    Raises:
        ValueError: on an empty bank, mismatched shapes, ``k < 1`` or ``temperature <= 0``.
    """
    if bank_feats.ndim != 2 or query_feats.ndim != 2 or bank_feats.shape[1] != query_feats.shape[1]:
        raise ValueError(f'kNN needs (N, C) bank and (Q, C) query features with the same C, got '
                         f'{tuple(bank_feats.shape)} and {tuple(query_feats.shape)}')
    if len(bank_feats) == 0 or len(bank_feats) != len(bank_labels):
        raise ValueError(f'kNN needs a non-empty bank with one label per feature, got {len(bank_feats)} features and '
                         f'{len(bank_labels)} labels')
    if k < 1:
        raise ValueError(f'kNN needs k >= 1, got {k}')
    if temperature <= 0:
        raise ValueError(f'kNN needs temperature > 0, got {temperature}')
    bank_labels = bank_labels.to(bank_feats.device).long()
    num_classes = int(bank_labels.max()) + 1 if num_classes is None else num_classes
    if exclude_self and len(query_feats) != len(bank_feats):
        raise ValueError('exclude_self needs the queries to be the bank itself')
    k = min(k, len(bank_feats) - 1 if exclude_self else len(bank_feats))
    if k < 1:
        raise ValueError('leave-one-out kNN needs at least two samples')
    preds = []
    for s in range(0, len(query_feats), chunk):
        sim = query_feats[s:s + chunk] @ bank_feats.t()  # q x N
        if exclude_self:
            rows = torch.arange(len(sim), device=sim.device)
            sim[rows, rows + s] = -math.inf
        top_sim, top_idx = sim.topk(k, dim=1)  # q x k
        votes = torch.zeros(len(sim), num_classes, dtype=sim.dtype, device=sim.device)
        votes.scatter_add_(1, bank_labels[top_idx], (top_sim / temperature).exp())
        preds.append(votes.argmax(dim=1))
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)



@METRICS.register_module()
class KNNAccuracy(BaseMetric):
    """Leave-one-out weighted kNN top-1 of the test images' embeddings: the test loop of a pretraining config.

    Each image is classified by the weighted vote (:func:`weighted_knn_predict`) of its ``k`` most similar *other*
    test images; the features are those the model's ``predict`` puts in each data sample's ``feature`` field
    (:class:`~scl.models.selfsup.SymMoCo`: the globally pooled last backbone stage), L2-normalised here. With it,
    ``tools/test.py <pretraining config> <checkpoint>`` reports ``knn/top1`` on the config's labelled test set, and
    mmpretrain's ``get_model`` / ``FeatureExtractor`` find the config's test pipeline.

    Args:
        k (int): Neighbours. Defaults to 200.
        temperature (float): Vote temperature. Defaults to 0.07.
        collect_device (str): Where results are gathered across ranks. Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix. Defaults to ``'knn'``.
    """

    default_prefix = 'knn'

    def __init__(self, k: int = 200, temperature: float = 0.07, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if k < 1 or temperature <= 0:
            raise ValueError(f'KNNAccuracy needs k >= 1 and temperature > 0, got k={k}, temperature={temperature}')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.k = k
        self.temperature = temperature

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for ds in data_samples:
            if 'feature' not in ds or 'gt_label' not in ds:
                raise KeyError('KNNAccuracy needs `feature` (the model\'s predict) and `gt_label` (a labelled test '
                               'set) in every data sample')
            self.results.append((ds['feature'].float().cpu(), int(ds['gt_label'])))

    def compute_metrics(self, results: List) -> dict:
        feats = F.normalize(torch.stack([f for f, _ in results]), dim=1)
        labels = torch.tensor([label for _, label in results])
        preds = weighted_knn_predict(feats, labels, feats, self.k, self.temperature, exclude_self=True)
        return dict(top1=100.0 * (preds == labels).float().mean().item())
