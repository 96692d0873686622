import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

import scl  # noqa: F401


def reference_loss(pos, neg, s_q, s_k, T, beta, clip=(0.1, 10.0)):
    """Written from the method's definition, independently of the head."""
    logits = torch.cat([pos, neg], dim=1) / T
    per_sample = -F.log_softmax(logits, dim=1)[:, 0]
    w = (s_q * s_k)**beta
    w = torch.clamp(w / w.mean(), clip[0], clip[1])
    w = w / w.mean()
    return (w * per_sample).mean()


def random_logits(N=8, K=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, 1, generator=g), torch.randn(N, K, generator=g)


def head(**kwargs):
    return MODELS.build(dict(type='SaliencyContrastiveHead', loss=dict(type='CrossEntropyLoss'), **kwargs))


def test_beta_zero_equals_mmpretrain_contrastive_head():
    pos, neg = random_logits()
    ref = MODELS.build(dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2))
    s = torch.rand(8)
    out = head(temperature=0.2, beta=0.0).loss(pos, neg, s, s.flip(0))
    torch.testing.assert_close(out['loss'], ref.loss(pos.clone(), neg.clone()), rtol=1e-6, atol=1e-6)
    assert out['weight_std'] == 0


def test_without_scores_equals_contrastive_head():
    pos, neg = random_logits(seed=1)
    ref = MODELS.build(dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.1))
    out = head(temperature=0.1, beta=1.0).loss(pos, neg)
    torch.testing.assert_close(out['loss'], ref.loss(pos.clone(), neg.clone()), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('beta', [0.5, 1.0, 2.0])
def test_matches_reference(beta):
    pos, neg = random_logits(seed=2)
    s_q, s_k = torch.rand(8) + 0.05, torch.rand(8) + 0.05
    out = head(temperature=0.2, beta=beta).loss(pos, neg, s_q, s_k)
    torch.testing.assert_close(out['loss'], reference_loss(pos, neg, s_q, s_k, 0.2, beta), rtol=1e-6, atol=1e-6)


def test_weights_clip_renormalise_and_detach():
    from scl.models.heads import saliency_weights
    s_q = torch.tensor([0.0, 0.5, 1.0, 1.0], requires_grad=True)
    s_k = torch.tensor([1.0, 0.5, 1.0, 0.9])
    w = saliency_weights(s_q, s_k, beta=1.0, clip=(0.1, 10.0))
    raw = torch.tensor([0.0, 0.25, 1.0, 0.9]) / 0.5375  # mean 1: 0, 0.465, 1.860, 1.674
    raw[0] = 0.1  # 0 is clipped up to 0.1 of the mean
    torch.testing.assert_close(w, raw / raw.mean())
    assert w.mean().item() == pytest.approx(1.0)
    assert not w.requires_grad


def test_peaky_scores_give_non_uniform_weights():
    """Crop scores of a peaky map (most crops near 0.05, a few near 0.3): clipping the raw products (all below 0.1)
    at 0.1 would make every weight equal; normalising first keeps their spread."""
    from scl.models.heads import saliency_weights
    s = torch.tensor([0.05, 0.04, 0.06, 0.05, 0.3, 0.05, 0.28, 0.03])
    w = saliency_weights(s, s, beta=1.0, clip=(0.1, 10.0))
    assert w.std() > 1.0 and w.argmax() == 4 and w.min() > 0
    old = (s * s).clamp(0.1, 10.0)
    assert torch.equal(old, torch.full_like(old, 0.1))  # what the former clip did to the same scores


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_or_all_zero_scores_give_uniform_weights(bad):
    from scl.models.heads import saliency_weights
    ones = torch.ones(4)
    torch.testing.assert_close(saliency_weights(torch.tensor([0.5, bad, 0.2, 0.1]), ones, 1.0, (0.1, 10.0)), ones)
    torch.testing.assert_close(saliency_weights(torch.zeros(4), ones, 1.0, (0.1, 10.0)), ones)


def test_higher_score_pairs_get_more_gradient():
    pos, neg = random_logits(N=2, seed=3)
    pos = torch.cat([pos[:1], pos[:1]]).requires_grad_()
    neg = torch.cat([neg[:1], neg[:1]])
    out = head(beta=1.0).loss(pos, neg, torch.tensor([1.0, 0.2]), torch.tensor([1.0, 0.2]))
    out['loss'].backward()
    assert pos.grad[0].abs() > pos.grad[1].abs()


@pytest.mark.parametrize('kwargs,match', [(dict(temperature=0), 'temperature'), (dict(beta=-1), 'beta'),
                                          (dict(clip=(0, 1)), 'clip'), (dict(clip=(2, 1)), 'clip')])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        head(**kwargs)


def test_bad_scores():
    pos, neg = random_logits()
    h = head()
    with pytest.raises(ValueError, match='both'):
        h.loss(pos, neg, torch.rand(8), None)
    with pytest.raises(ValueError, match='shape'):
        h.loss(pos, neg, torch.rand(7), torch.rand(7))
