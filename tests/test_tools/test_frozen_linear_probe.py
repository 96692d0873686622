"""The frozen-feature linear probe: balanced low-shot subsets, the logistic regression, and an end-to-end run."""
import json
import os.path as osp

import numpy as np
import pytest

from conftest import ROOT, load_script


@pytest.fixture(scope='module')
def flp():
    return load_script('tools/benchmarks/frozen_linear_probe.py')


def test_balanced_indices_take_the_same_number_per_class(flp):
    labels = np.repeat(np.arange(10), 100)
    idx = flp.balanced_indices(labels, 5, seed=0)
    assert np.bincount(labels[idx]).tolist() == [5] * 10 and len(set(idx)) == 50
    assert (idx == flp.balanced_indices(labels, 5, seed=0)).all()
    assert not (np.sort(idx) == np.sort(flp.balanced_indices(labels, 5, seed=1))).all()
    assert np.bincount(labels[flp.balanced_indices(labels, 0.1, seed=0)]).tolist() == [1] * 10  # at least one


def test_logistic_regression_separates_separable_features(flp):
    import torch
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 8, generator=g) * 4
    y = torch.arange(300) % 3
    x = centres[y] + torch.randn(300, 8, generator=g)
    assert flp.logistic_top1(x[:200], y[:200], x[200:], y[200:], epochs=100) > 95
    assert flp.logistic_top1(x[:200], y[torch.randperm(200, generator=g)], x[200:], y[200:], epochs=100) < 60


def test_end_to_end_random_init_and_supervised(flp, tiny_data, tmp_path):
    out = tmp_path / 'probes.jsonl'
    cfg = osp.join(ROOT, 'configs/mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py')
    assert flp.main([tiny_data, cfg, '--random-init', '--supervised', '3', '--sizes', '32', '--low-shot', '10',
                     '--low-shot-draws', '2', '--epochs', '20', '--out', str(out), '--tag', 't', '--cfg-options',
                     'model.backbone.base_channels=8', 'model.neck.in_channels=64', 'model.neck.hid_channels=32']) == 0
    recs = [json.loads(line) for line in open(out)]
    assert [r['model'] for r in recs] == ['random_init', 'supervised_3it']
    assert all(r['n_train'] == 60 and r['n_10pct'] == 10 and r['feat_dim'] == 64 and 0 <= r['top1'] <= 100
               for r in recs)
    assert len(recs[0]['top1_10pct_draws']) == 2


def test_missing_classification_set_is_named(flp, tmp_path):
    with pytest.raises(FileNotFoundError, match='build_scene_dataset.py'):
        flp.load_split(str(tmp_path), 'train')
