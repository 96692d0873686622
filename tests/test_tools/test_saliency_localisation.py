import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from conftest import ROOT, load_script, shrink_selfsup_cfg
from scl.evaluation import held_out_scenes


def checkpoint_of(cfg_name, tiny_data, tmp_path, name):
    """A config shrunk to the test's width and a checkpoint of a freshly built model of it."""
    import scl  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    cfg = shrink_selfsup_cfg(Config.fromfile(osp.join(ROOT, 'configs', cfg_name)), tiny_data, str(tmp_path))
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.queue.normal_()
    cfg_path, ckpt = str(tmp_path / f'{name}.py'), str(tmp_path / f'{name}.pth')
    cfg.dump(cfg_path)
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return cfg_path, ckpt, model


def load_tool():
    return load_script('tools/analysis_tools/saliency_localisation.py')


def test_localisation_study_scores_every_source_of_every_run(tiny_data, tmp_path):
    runs = [('mocov2', *checkpoint_of('mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py', tiny_data, tmp_path,
                                      'mocov2')[:2]),
            ('scl', *checkpoint_of('scl/scl_resnet18_1xb32-coslr-300i_demo.py', tiny_data, tmp_path, 'scl')[:2])]
    argv = ['--data', tiny_data, '--num-scenes', '6', '--grid', '4', '--grid-rows', '2', '--out', str(tmp_path / 'o')]
    for run in runs + [('random', runs[0][1], 'none')]:
        argv += ['--run', *run]
    argv += ['--sources', 'activation', 'gradcam', 'dense_contrast', 'contracam', '--contracam-iters', '2']
    assert load_tool().main(argv) == 0
    res = json.load(open(tmp_path / 'o' / 'localisation.json'))
    assert res['num_scenes'] == 6 and res['uniform'] == 1.0 and np.isfinite(res['centre_prior'])
    for run in ('mocov2', 'scl'):
        for source in ('activation', 'gradcam', 'dense_contrast', 'contracam'):
            assert np.isfinite(res['runs'][run][source]), (run, source)
    assert osp.isfile(tmp_path / 'o' / 'localisation_grid.png')
    assert '| scl |' in open(tmp_path / 'o' / 'localisation.md').read()
    # the masks pooled to S x S cells: a uniform map at S = 1 ... the exact masks at S = grid (the most any map scores
    # on cover fractions that are its own map)
    pooled = res['pooled_masks']
    assert list(pooled) == ['2', '4', '8'] and pooled['2'] < pooled['4'] and pooled['4'] > 1
    # which cue identifies a scene, for every run, the randomly initialised one included
    assert set(res['cues']) == {'mocov2', 'scl', 'random'}
    for cue in res['cues'].values():
        assert 0 <= cue['objects'] <= 1 and 0 <= cue['background'] <= 1 and cue['chance'] == 1 / 6
    assert '| random |' in open(tmp_path / 'o' / 'localisation.md').read()


def test_train_holdout_split_takes_the_last_pretraining_scenes(tiny_data):
    _, names, images = held_out_scenes(tiny_data, 'train-holdout', 5)
    assert names == sorted(names) and names[-1] == '000023.png' and len(images) == 5


def test_eval_gradcam_equals_autograd_on_the_model(tiny_data, tmp_path):
    from scl.saliency import contrastive_gradcam
    from scl.saliency import model_saliency
    _, _, model = checkpoint_of('scl/scl_resnet18_1xb32-coslr-300i_demo.py', tiny_data, tmp_path, 'm')
    model.eval()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
    got = model_saliency(model, images, 32, 2, source='gradcam')
    # Reference: one image at a time, its own loss, torch.autograd.grad.
    pre = model.data_preprocessor
    for i, img in enumerate(images):
        x = (torch.from_numpy(img).permute(2, 0, 1)[None].float() - pre.mean.view(1, -1, 1, 1)) / pre.std.view(
            1, -1, 1, 1)
        with torch.no_grad():
            k = torch.nn.functional.normalize(model.encoder_k.module[1](model.encoder_k.module[0](x))[0], dim=1)
        feats = model.backbone(x)
        q = torch.nn.functional.normalize(model.neck(feats)[0], dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ model.queue], 1) / model.head.temperature
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(1, dtype=torch.long))
        grad, = torch.autograd.grad(loss, feats[-1])
        ref = contrastive_gradcam(feats[-1].detach(), grad)
        ref = torch.nn.functional.interpolate(ref[:, None], size=(2, 2), mode='bilinear', align_corners=False)[0, 0]
        np.testing.assert_allclose(got[i], ref.clamp(0, 1).numpy(), atol=1e-5)


def test_contracam_equals_autograd_per_image_and_rounds_only_add(tiny_data, tmp_path):
    from scl.saliency import contrastive_gradcam
    from scl.saliency import contracam
    _, _, model = checkpoint_of('mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py', tiny_data, tmp_path, 'm')
    model.eval()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    got = contracam(model, x, iters=1)
    assert got.shape == (3, 32, 32)
    # Reference: one image at a time; its key is its own projection, its negatives the other two images'.
    with torch.no_grad():
        proj = torch.nn.functional.normalize(model.neck(model.backbone(x))[0], dim=1)
    for i in range(3):
        feats = model.backbone(x[i:i + 1])
        q = torch.nn.functional.normalize(model.neck(feats)[0], dim=1)[0]
        others = torch.cat([proj[:i], proj[i + 1:]])
        loss = -(q @ proj[i] - torch.logsumexp(others @ q, dim=0))
        grad, = torch.autograd.grad(loss, feats[-1])
        ref = contrastive_gradcam(feats[-1].detach(), grad)
        ref = torch.nn.functional.interpolate(ref[:, None], size=(32, 32), mode='bilinear', align_corners=False)
        torch.testing.assert_close(got[i], ref[0, 0].clamp(0, 1), atol=1e-5, rtol=1e-4)
    # later rounds look at the painted-over image and can only add to the union
    two = contracam(model, x, iters=2)
    assert (two >= got - 1e-6).all() and two.max() <= 1
    with pytest.raises(ValueError, match='at least 2'):
        contracam(model, x[:1])


def test_centre_prior_and_ratio():
    from scl.evaluation import centre_prior, localisation_ratio
    prior = centre_prior(8)
    assert prior.shape == (8, 8) and prior.argmax() in (27, 28, 35, 36) and prior.max() <= 1
    centre = np.zeros((8, 8))
    centre[3:5, 3:5] = 1
    corner = np.zeros((8, 8))
    corner[:2, :2] = 1
    assert localisation_ratio(prior, centre) > 1 > localisation_ratio(prior, corner)
    with pytest.raises(ValueError, match='source must be one of'):
        from scl.saliency import model_saliency
        model_saliency(None, [], 8, 2, source='magic')
