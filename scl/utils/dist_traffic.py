"""How many bytes a training step moves through collectives, from shapes, and a counter to verify it.

MoCo v2's DDP step (mmpretrain's ``batch_shuffle_ddp`` / ``batch_unshuffle_ddp`` and the queue update) all-gathers, per
view, the images (shuffle), a permutation (broadcast from rank 0) and the keys (un-shuffle), and once per step the keys
of both views (queue). SCL with a source computed in the key encoder's pass (``saliency_source='activation'``, counted
here) adds, per view, the ``h x w`` saliency map (un-shuffled with the keys) and, once per step, the store update
(sample index, ``G x G`` values and coverage of each view); with ``'gradcam'`` (the configs') no map is un-shuffled
and the same store update is gathered after the backward. Counted here: the bytes one rank
receives, its own share included (``world x`` the tensor it contributes to an all-gather; the tensor of a broadcast).
"""
import contextlib
from typing import Dict, Tuple

import torch
import torch.distributed as torch_dist

FLOAT32, INT64, UINT8 = 4, 8, 1


def step_traffic(method: str, batch: int, view_size: int, world: int, feat_dim: int = 128,
                 map_hw: Tuple[int, int] = (7, 7), grid_size: int = 16, views: int = 2) -> Dict[str, int]:
    """Bytes one rank receives from collectives in one symmetric MoCo v2 / SCL step, by item.

    Args:
        method (str): ``'mocov2'`` (:class:`~scl.models.selfsup.SymMoCo`) or ``'scl'``.
        batch (int): Samples per GPU.
        view_size (int): Side of each view in pixels (float32 images).
        world (int): Number of GPUs.
        feat_dim (int): Key dimension. Defaults to 128.
        map_hw (tuple[int, int]): The key encoder's last feature map size (7 x 7 for ResNet-50 at 224 px).
        grid_size (int): Side of the saliency store's maps. Defaults to 16.
        views (int): Views per sample. Defaults to 2.

    Returns:
        dict[str, int]: Bytes per item, and ``total``.
    """
    if method not in ('mocov2', 'scl'):
        raise ValueError(f"method must be 'mocov2' or 'scl', got {method!r}")
    items = {
        'images (batch_shuffle_ddp)': views * world * batch * 3 * view_size**2 * FLOAT32,
        'shuffle permutation (broadcast)': views * world * batch * INT64,
        'keys (batch_unshuffle_ddp)': views * world * batch * feat_dim * FLOAT32,
        'queue keys (_dequeue_and_enqueue)': world * views * batch * feat_dim * FLOAT32,
    }
    if method == 'scl':
        items['saliency maps (batch_unshuffle_ddp)'] = views * world * batch * map_hw[0] * map_hw[1] * FLOAT32
        items['store update (index, values, coverage)'] = world * views * batch * (
            INT64 + grid_size**2 * FLOAT32 + grid_size**2 * UINT8)
    items['total'] = sum(items.values())
    return items


@contextlib.contextmanager
def count_collective_bytes():
    """Count the bytes this rank receives through ``torch.distributed`` all-gathers and broadcasts in the block.

    Yields:
        dict: ``{'all_gather': bytes, 'broadcast': bytes}``, filled as the block runs.
    """
    counts = {'all_gather': 0, 'broadcast': 0}
    real_gather, real_broadcast = torch_dist.all_gather, torch_dist.broadcast

    def all_gather(tensor_list, tensor, *args, **kwargs):
        counts['all_gather'] += sum(t.numel() * t.element_size() for t in tensor_list)
        return real_gather(tensor_list, tensor, *args, **kwargs)

    def broadcast(tensor, *args, **kwargs):
        counts['broadcast'] += tensor.numel() * tensor.element_size()
        return real_broadcast(tensor, *args, **kwargs)

    torch_dist.all_gather, torch_dist.broadcast = all_gather, broadcast
    try:
        yield counts
    finally:
        torch_dist.all_gather, torch_dist.broadcast = real_gather, real_broadcast




def _traffic_worker(rank, world, port, methods, batch, view_size, grid_size, feat_dim, out_dir):
    """One rank of :func:`measure_step_traffic`: per method, a tiny model and one loss step under the counter."""
    import json
    import os

    import numpy as np
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    import scl  # noqa: F401
    from scl.saliency import SaliencyStore
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch_dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        samples = []
        for i in range(batch):
            ds = DataSample()
            ds.set_metainfo(dict(sample_idx=rank * batch + i))
            ds.set_field(np.array([[0, 0, 1, 1], [0.25, 0.25, 0.75, 0.75]], np.float32), 'crop_bbox')
            ds.set_field(np.ones(2, np.float32), 'saliency_score')
            ds.set_field(np.array([False, True]), 'view_flip')
            ds.set_field(np.array(['none', 'horizontal']), 'view_flip_direction')
            samples.append(ds)
        inputs = [torch.rand(batch, 3, view_size, view_size) for _ in range(2)]
        out = {}
        for method in methods:
            torch.manual_seed(0)
            head = dict(type='SaliencyContrastiveHead') if method == 'scl' else dict(
                type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'))
            model = MODELS.build(dict(
                type='SCLAlgorithm' if method == 'scl' else 'SymMoCo', queue_len=4 * 2 * batch * world,
                **(dict(saliency_source='activation') if method == 'scl' else {}),
                feat_dim=feat_dim, backbone=dict(type='ResNet', depth=18, base_channels=8),
                neck=dict(type='MoCoV2Neck', in_channels=64, hid_channels=16, out_channels=feat_dim,
                          with_avg_pool=True), head=head))
            if method == 'scl':
                model.saliency_store = SaliencyStore.create(os.path.join(out_dir, f'store{rank}'), batch * world,
                                                            grid_size=grid_size)
            map_hw = tuple(model.backbone(inputs[0])[-1].shape[-2:])
            with count_collective_bytes() as counts:
                model.loss(inputs, samples)
            out[method] = dict(counts, map_hw=map_hw)
        with open(os.path.join(out_dir, f'rank{rank}.json'), 'w') as f:
            json.dump(out, f)
    finally:
        torch_dist.destroy_process_group()


def measure_step_traffic(methods=('mocov2', 'scl'), world: int = 2, batch: int = 4, view_size: int = 32,
                         grid_size: int = 8, feat_dim: int = 16, port: int = 29650) -> Dict[str, dict]:
    """Run one step of a tiny model per method on ``world`` gloo processes and count what each rank receives.

    Returns:
        dict: Per method, ``measured`` (bytes per rank: all-gathers + broadcasts) and ``expected``
        (:func:`step_traffic`'s total for the same shapes), with ``items``.
    """
    import json
    import os
    import tempfile

    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_traffic_worker, args=(world, port, tuple(methods), batch, view_size, grid_size, feat_dim, out_dir),
                 nprocs=world, join=True)
        ranks = [json.load(open(os.path.join(out_dir, f'rank{r}.json'))) for r in range(world)]
    results = {}
    for method in methods:
        items = step_traffic(method, batch, view_size, world, feat_dim, tuple(ranks[0][method]['map_hw']), grid_size)
        results[method] = dict(measured=[r[method]['all_gather'] + r[method]['broadcast'] for r in ranks],
                               expected=items['total'], items=items)
    return results
