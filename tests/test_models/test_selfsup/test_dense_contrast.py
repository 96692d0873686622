"""saliency_source='dense_contrast': the key neck at every location, scored against the queue."""
import numpy as np
import torch
from scl.saliency import SaliencyStore
from test_scl import G, fixed_batch, samples, tiny_model


def dense_model(**kwargs):
    model = tiny_model()
    model.saliency_source = 'dense_contrast'
    for k, v in kwargs.items():
        setattr(model, k, v)
    model.queue.normal_().div_(model.queue.norm(dim=0, keepdim=True))
    return model


def loop_reference(model, fmap, keys, negatives):
    """Location by location: the neck's MLP on the feature vector, log-softmax of the key against the negatives."""
    mlp, t = model.encoder_k.module[1].mlp, model.head.temperature
    n, _, h, w = fmap.shape
    out = torch.zeros(n, h, w)
    for i in range(n):
        for y in range(h):
            for x in range(w):
                z = torch.nn.functional.normalize(mlp(fmap[i, :, y, x][None])[0], dim=0)
                logits = torch.cat([(z @ keys[i])[None], z @ negatives]) / t
                out[i, y, x] = torch.log_softmax(logits, dim=0)[0]
    flat = out.flatten(1)
    lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    return (out - lo) / (hi - lo).clamp_min(1e-6)


def test_equals_a_per_location_loop_with_the_whole_queue_in_chunks():
    model = dense_model()
    g = torch.Generator().manual_seed(0)
    fmap = torch.randn(2, 128, 3, 3, generator=g)
    keys = torch.nn.functional.normalize(torch.randn(2, 32, generator=g), dim=1)
    with torch.no_grad():
        got = model.dense_contrast_map(fmap, keys, chunk=10)  # 64 queue entries in 7 chunks
        expected = loop_reference(model, fmap, keys, model.queue)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert got.dtype == torch.float32 and got.min() == 0 and got.max() == 1


def test_subsampled_queue_uses_evenly_strided_entries():
    model = dense_model(dense_negatives=16)
    g = torch.Generator().manual_seed(1)
    fmap = torch.randn(2, 128, 2, 2, generator=g)
    keys = torch.nn.functional.normalize(torch.randn(2, 32, generator=g), dim=1)
    with torch.no_grad():
        got = model.dense_contrast_map(fmap, keys)
        expected = loop_reference(model, fmap, keys, model.queue[:, ::4])  # 64 entries, every 4th
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_store_update_comes_from_the_loss_step_without_extra_key_passes(tmp_path):
    model = dense_model()
    model.saliency_store = SaliencyStore.create(str(tmp_path / 's'), 4, grid_size=G, dtype='float32')
    calls = []
    model.encoder_k.module[0].register_forward_hook(lambda *a: calls.append(1))
    model.loss(fixed_batch(), samples())
    assert len(calls) == 2 and (np.asarray(model.saliency_store.maps) != 1).any()

