"""Embedding your own images: tools/analysis_tools/extract_features.py, mmpretrain's get_model / FeatureExtractor on
our pretraining configs, and the pretraining configs' test loop (leave-one-out kNN)."""
import os.path as osp
import re
import shutil
import subprocess
import sys

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import ROOT, load_script, shrink_selfsup_cfg

SCL_DEMO = osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py')


@pytest.fixture(scope='module')
def trained(tiny_data, tmp_path_factory):
    """A 2-iteration SCL run on the tiny scenes, its config (test set: the tiny labelled objects) and checkpoint."""
    wd = tmp_path_factory.mktemp('extract')
    cfg = shrink_selfsup_cfg(Config.fromfile(SCL_DEMO), tiny_data, str(wd))
    cfg.custom_hooks = cfg.custom_hooks[:1]
    cfg.test_dataloader.dataset.data_root = osp.join(tiny_data, 'cls')
    cfg.test_dataloader.num_workers = 0
    Runner.from_cfg(cfg).train()
    cfg_path = str(wd / 'tiny_scl.py')
    cfg.dump(cfg_path)
    return cfg, cfg_path, str(wd / 'iter_2.pth')


def reference_features(cfg, ckpt, paths):
    """Pooled last-stage backbone features computed without mmpretrain's inferencer: resize, RGB, normalise."""
    import scl  # noqa: F401
    from mmpretrain.registry import MODELS
    model = MODELS.build(cfg.model).eval()
    model.load_state_dict(torch.load(ckpt, map_location='cpu')['state_dict'])
    size = cfg.view_size
    imgs = [mmcv.imresize(mmcv.imread(p), (size, size))[..., ::-1].astype(np.float32) for p in paths]
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2)
    mean = torch.tensor(cfg.data_preprocessor.mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.data_preprocessor.std).view(1, 3, 1, 1)
    with torch.no_grad():
        return model.backbone((x - mean) / std)[-1].mean(dim=(2, 3)).numpy()


@pytest.mark.slow
def test_extract_features_of_a_folder(trained, tiny_data, tmp_path):
    cfg, cfg_path, ckpt = trained
    folder = tmp_path / 'my_photos'
    folder.mkdir()
    for i in range(5):
        shutil.copy(osp.join(tiny_data, 'cls', 'test', f'{i:06d}.png'), folder / f'photo_{i}.png')
    out = tmp_path / 'feats.npy'
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools/analysis_tools/extract_features.py'), cfg_path, ckpt,
                           str(folder), '--out', str(out), '--batch-size', '2', '--device', 'cpu'],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'embedding' in proc.stderr  # the progress bar
    feats = np.load(out)
    paths = open(tmp_path / 'feats.txt').read().split()
    assert feats.shape == (5, 128) and feats.dtype == np.float32  # base_channels 16 -> 128 channels at stage 4
    assert [osp.basename(p) for p in paths] == [f'photo_{i}.png' for i in range(5)]
    np.testing.assert_allclose(feats, reference_features(cfg, ckpt, paths), rtol=1e-4, atol=1e-4)


def test_extract_features_errors(trained, tmp_path, capsys):
    tool = load_script('tools/analysis_tools/extract_features.py')
    cfg, cfg_path, ckpt = trained
    empty = tmp_path / 'empty'
    empty.mkdir()
    out = ['--out', str(tmp_path / 'f.npy')]
    for argv, match in [([cfg_path, ckpt, str(tmp_path / 'missing.jpg')] + out, 'does not exist'),
                        ([cfg_path, ckpt, str(empty)] + out, 'holds no image'),
                        ([cfg_path, ckpt, str(empty), '--out', 'x.txt'], 'must name a .npy'),
                        ([cfg_path, str(tmp_path / 'none.pth'), cfg_path] + out, 'checkpoint .* does not exist')]:
        assert tool.main(argv) == 2, argv
        assert re.search(match, capsys.readouterr().err), argv


def test_mmpretrain_feature_extractor_works_with_our_config(trained, tiny_data):
    cfg, _, ckpt = trained
    import scl  # noqa: F401
    from mmpretrain import FeatureExtractor, get_model
    model = get_model(cfg, pretrained=ckpt, device='cpu')
    path = osp.join(tiny_data, 'cls', 'test', '000000.png')
    feats = FeatureExtractor(model, device='cpu')([path])[0]
    assert feats[-1].shape[0] == 128
    np.testing.assert_allclose(feats[-1].mean(dim=(1, 2)).numpy(), reference_features(cfg, ckpt, [path])[0],
                               rtol=1e-4, atol=1e-4)


def test_knn_leave_one_out_matches_a_plain_loop():
    from scl.evaluation import weighted_knn_predict
    g = torch.Generator().manual_seed(0)
    feats = torch.nn.functional.normalize(torch.randn(30, 8, generator=g), dim=1)
    labels = torch.randint(0, 3, (30, ), generator=g)
    k, t = 5, 0.1
    expected = []
    for i in range(30):
        sims = [(float(feats[i] @ feats[j]), int(labels[j])) for j in range(30) if j != i]
        votes = np.zeros(3)
        for s, c in sorted(sims, reverse=True)[:k]:
            votes[c] += np.exp(s / t)
        expected.append(int(np.argmax(votes)))
    got = weighted_knn_predict(feats, labels, feats, k=k, temperature=t, chunk=7, exclude_self=True)
    assert got.tolist() == expected


def test_pretraining_config_test_loop_reports_knn(trained):
    cfg, _, ckpt = trained
    cfg = cfg.copy()
    cfg.load_from = ckpt
    metrics = Runner.from_cfg(cfg).test()
    assert 0 <= metrics['knn/top1'] <= 100
