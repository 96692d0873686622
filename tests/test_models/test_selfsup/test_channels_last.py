"""``channels_last``: the same initial weights, the same loss, gradients and saliency up to rounding, checkpoints that
load into the default layout, and the scene benchmark's CPU preset asking for it."""
import pytest
import torch

import scl  # noqa: F401
from scl.benchmarks.scene import arms as A
from scl.benchmarks.scene.runs import pretrain_options
from test_scl import fixed_batch, samples, tiny_model

CL = torch.channels_last
MOCO_HEAD = dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.2)


def build(type_='SCLAlgorithm', channels_last=False):
    """test_scl's tiny model (SCL with Grad-CAM, the default source), initialised as the Runner does."""
    extra = dict(saliency_source='gradcam') if type_ == 'SCLAlgorithm' else {}
    model = tiny_model(type_, None if type_ == 'SCLAlgorithm' else MOCO_HEAD, channels_last=channels_last, **extra)
    torch.manual_seed(1)
    model.init_weights()  # as the Runner does before training
    return model


def conv_weights(model):
    return {n: p for n, p in model.state_dict().items() if p.dim() == 4}


@pytest.mark.parametrize('type_', ['SCLAlgorithm', 'SymMoCo'])
def test_same_initial_weights_in_the_channels_last_layout(type_):
    a, b = build(type_), build(type_, channels_last=True)
    weights = conv_weights(b)
    assert weights and any(n.startswith('encoder_k.') for n in weights)  # both encoders
    for name, p in b.state_dict().items():
        assert torch.equal(p, a.state_dict()[name]), name  # the same values: converted after the random draws
    for name, p in weights.items():
        assert p.is_contiguous(memory_format=CL), name
        assert p.shape[-1] == 1 or not p.is_contiguous(), name  # a 1 x 1 kernel is both


@pytest.mark.parametrize('type_', ['SCLAlgorithm', 'SymMoCo'])
def test_same_loss_gradients_and_gradcam_up_to_rounding(type_):
    models = [build(type_), build(type_, channels_last=True)]
    outs = []
    for model in models:
        loss = model.loss([v.clone() for v in fixed_batch()], samples())['loss']
        loss.backward()
        outs.append(loss)
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-6)
    ref = dict(models[0].named_parameters())
    for name, p in models[1].named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(p.grad, ref[name].grad, rtol=1e-3, atol=1e-5, msg=name)
    torch.testing.assert_close(models[1].queue, models[0].queue, rtol=1e-4, atol=1e-6)
    if type_ == 'SCLAlgorithm':  # Grad-CAM's activations and gradients of each query view
        for v0, v1 in zip(models[0]._gradcam_views, models[1]._gradcam_views):
            assert v1['act'].is_contiguous(memory_format=CL)
            torch.testing.assert_close(v1['act'], v0['act'], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(v1['grad'], v0['grad'], rtol=1e-3, atol=1e-7)


def test_a_model_built_without_init_weights_converts_at_its_first_step():
    fresh = tiny_model('SymMoCo', MOCO_HEAD, channels_last=True)
    assert all(p.is_contiguous() for p in conv_weights(fresh).values())
    assert not all(p.is_contiguous(memory_format=CL) for p in conv_weights(fresh).values())
    fresh.loss(fixed_batch(), samples())
    assert all(p.is_contiguous(memory_format=CL) for p in conv_weights(fresh).values())


def test_a_channels_last_checkpoint_loads_into_the_default_layout():
    trained = build(channels_last=True)
    trained.loss(fixed_batch(), samples())['loss'].backward()
    with torch.no_grad():
        for p in trained.parameters():
            if p.grad is not None:
                p -= 0.1 * p.grad
    plain = build()
    plain.load_state_dict(trained.state_dict())
    x = fixed_batch()[0]
    trained.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(plain.extract_feat(x)[-1], trained.extract_feat(x)[-1], rtol=1e-4, atol=1e-5)
    assert all(p.is_contiguous() for p in conv_weights(plain).values())


def test_the_cpu_preset_trains_channels_last_and_the_gpu_preset_does_not():
    def opts(preset):
        return pretrain_options('scl', '/data', A.PRESETS[preset], 0)

    assert 'model.channels_last=True' in opts('cpu') and 'model.channels_last=True' in opts('smoke')
    assert not any(o.startswith('model.channels_last') for o in opts('gpu'))
    assert 'channels_last' in A.stage_keys('scl', A.PRESETS['cpu'])  # part of an arm's cache key
    assert 'channels_last' not in A.stage_keys('random_init', A.PRESETS['cpu'])  # the anchors do not train it
