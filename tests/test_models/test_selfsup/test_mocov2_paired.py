"""MoCo v2 in SCL's pipeline (the paired arm): SaliencyCropTransform's independent crops are distributed like
mmpretrain's RandomResizedCrop, and SCL with beta = 0 and no saliency gives SymMoCo's loss and gradients."""
import numpy as np
import pytest
import torch
from mmpretrain.datasets.transforms import RandomResizedCrop
from scipy import stats

import scl  # noqa: F401
from scl.benchmarks.scene import arms as A
from scl.datasets.transforms import SaliencyCropTransform
from test_scl import fixed_batch, samples, tiny_model


def ours(height, width, scale, ratio, n, seed):
    t = SaliencyCropTransform(size=8, scale=scale, ratio=ratio, anchor='independent')
    np.random.seed(seed)
    return np.array([t.sample_boxes(height, width, None, 0, shared=False)[2][0] for _ in range(n)], np.float64)


def mmpretrain(height, width, scale, ratio, n, seed):
    rrc = RandomResizedCrop(scale=8, crop_ratio_range=scale, aspect_ratio_range=ratio)
    img = np.empty((height, width, 1), np.uint8)
    np.random.seed(seed)
    out = []
    for _ in range(n):
        y, x, h, w = rrc.rand_crop_params(img)
        out.append([x, y, x + w, y + h])
    return np.array(out, np.float64)


def features(boxes, height, width):
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return dict(area=w * h / (height * width), log_ratio=np.log(w / h), x_offset=boxes[:, 0] / np.maximum(
        width - w, 1), y_offset=boxes[:, 1] / np.maximum(height - h, 1))


@pytest.mark.parametrize('height,width,scale', [(128, 128, (0.2, 1.0)), (96, 160, (0.08, 1.0))])
def test_independent_crops_are_distributed_like_random_resized_crop(height, width, scale):
    ratio = (3 / 4, 4 / 3)
    a = features(ours(height, width, scale, ratio, 4000, 0), height, width)
    b = features(mmpretrain(height, width, scale, ratio, 4000, 1), height, width)
    for key in a:
        assert stats.ks_2samp(a[key], b[key]).pvalue > 1e-3, key
    shifted = features(ours(height, width, (scale[0] + 0.1, 1.0), ratio, 4000, 0), height, width)
    assert stats.ks_2samp(shifted['area'], b['area']).pvalue < 1e-6  # the test can tell another scale


def test_when_no_crop_fits_both_fall_back_to_the_same_central_crop():
    # a 200 x 40 image with square-ish crops of at least 90 % of its area: no draw fits, every time
    a = ours(40, 200, (0.9, 1.0), (0.9, 1.1), 50, 0)
    b = mmpretrain(40, 200, (0.9, 1.0), (0.9, 1.1), 50, 0)
    assert (a == a[0]).all() and np.array_equal(a, b)
    assert a[0].tolist() == [78, 0, 122, 40]  # width 44 = round(40 x 1.1), centred


def test_scl_without_saliency_and_beta_zero_is_symmoco(tmp_path):
    """Same initial weights and queue, same batch: the same loss and the same gradient of every parameter."""
    arm = A.ARMS['mocov2_paired']
    assert 'model.saliency_source=none' in arm.overrides and 'model.head.beta=0' in arm.overrides
    moco = tiny_model('SymMoCo', dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))
    ours_ = tiny_model(head=dict(type='SaliencyContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2,
                                 beta=0.0))
    ours_.saliency_source = 'none'
    from scl.saliency import SaliencyStore
    ours_.saliency_store = SaliencyStore.create(str(tmp_path / 's'), 4, grid_size=8, init_value=0.5,
                                                dtype='float32')
    for name, p in moco.state_dict().items():
        assert torch.equal(p, ours_.state_dict()[name]), name
    batch, data = fixed_batch(), samples()
    losses = []
    for model in (moco, ours_):
        loss = model.loss([v.clone() for v in batch], data)['loss']
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=0)
    for (name, p), q in zip(moco.named_parameters(), ours_.parameters()):
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0, msg=name)
    torch.testing.assert_close(moco.queue, ours_.queue, rtol=0, atol=0)
    assert (ours_.saliency_store.maps[:] == 0.5).all()  # no saliency computed, nothing written
