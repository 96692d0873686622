import json
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import ROOT, shrink_selfsup_cfg


def reference_knn(bank, bank_labels, query, k, temperature, num_classes):
    """A plain numpy loop over queries: the k most similar bank rows vote exp(sim / T) for their class."""
    preds = []
    for q in query:
        sims = np.array([float(np.dot(q, b)) for b in bank])
        order = np.argsort(-sims, kind='stable')[:min(k, len(bank))]
        votes = np.zeros(num_classes)
        for j in order:
            votes[bank_labels[j]] += np.exp(sims[j] / temperature)
        preds.append(int(np.argmax(votes)))
    return np.array(preds)


def clustered(rng, n, centres, noise=2.0):
    labels = rng.integers(0, len(centres), size=n)
    x = centres[labels] + noise * rng.normal(size=(n, centres.shape[1]))
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


@pytest.mark.parametrize('k,temperature', [(5, 0.07), (200, 0.07), (20, 0.5), (1, 0.07)])
def test_weighted_knn_matches_a_numpy_loop(k, temperature):
    from scl.engine.hooks.knn_monitor_hook import weighted_knn_predict
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    bank, bank_y = clustered(rng, 90, centres)
    query, query_y = clustered(rng, 40, centres)
    ref = reference_knn(bank, bank_y, query, k, temperature, 4)
    got = weighted_knn_predict(torch.tensor(bank, dtype=torch.float32), torch.tensor(bank_y),
                               torch.tensor(query, dtype=torch.float32), k, temperature, num_classes=4, chunk=7)
    np.testing.assert_array_equal(got.numpy(), ref)
    assert 0.4 < (ref == query_y).mean() < 1.0  # the clusters overlap: neither trivial nor hopeless


def test_the_vote_is_weighted_not_a_majority():
    from scl.engine.hooks.knn_monitor_hook import weighted_knn_predict
    # One very close neighbour of class 0 outweighs two distant ones of class 1 at T = 0.07.
    bank = F.normalize(torch.tensor([[1.0, 0.05], [0.2, 1.0], [0.2, -1.0]]), dim=1)
    query = torch.tensor([[1.0, 0.0]])
    assert weighted_knn_predict(bank, torch.tensor([0, 1, 1]), query, k=3, temperature=0.07).tolist() == [0]
    assert weighted_knn_predict(bank, torch.tensor([0, 1, 1]), query, k=3, temperature=1e6).tolist() == [1]


@pytest.mark.parametrize('kwargs,match', [
    (dict(k=0), 'k must be a positive integer'),
    (dict(interval=0), 'interval must be a positive integer'),
    (dict(temperature=0.0), 'temperature must be > 0'),
    (dict(num_bank=0), 'num_bank must be a positive integer or None'),
    (dict(encoder='target'), "encoder must be 'key'"),
    (dict(bank='data/demo/cls/train.txt'), 'bank must be a data set config dict'),
])
def test_bad_arguments_are_clear_errors(kwargs, match):
    from mmpretrain.registry import HOOKS
    cfg = dict(type='KNNMonitorHook', bank=dict(type='CustomDataset'), query=dict(type='CustomDataset'))
    cfg.update(kwargs)
    with pytest.raises(ValueError, match=match):
        HOOKS.build(cfg)


def test_seeded_subset_is_deterministic_and_sorted():
    from scl.engine.hooks.knn_monitor_hook import seeded_subset
    a, b, c = seeded_subset(100, 10, 0), seeded_subset(100, 10, 0), seeded_subset(100, 10, 1)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len(set(a.tolist())) == 10 and np.all(np.diff(a) > 0)
    assert np.array_equal(seeded_subset(5, 10, 0), np.arange(5)) and np.array_equal(seeded_subset(5, None, 0),
                                                                                     np.arange(5))


def test_the_monitored_backbone_is_the_momentum_encoder_else_the_online_one():
    import scl  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from scl.engine.hooks.knn_monitor_hook import monitored_backbone
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py'))
    cfg.model.backbone.base_channels = 8
    cfg.model.neck.in_channels = 64
    moco = MODELS.build(cfg.model)
    assert monitored_backbone(moco) is moco.encoder_k.module[0] and monitored_backbone(moco) is not moco.backbone
    assert monitored_backbone(moco, 'query') is moco.backbone
    clf = MODELS.build(dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18, base_channels=8),
                            neck=dict(type='GlobalAveragePooling'),
                            head=dict(type='LinearClsHead', num_classes=3, in_channels=64)))
    assert monitored_backbone(clf) is clf.backbone


def cls_dataset(data_root, ann_file):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=32), dict(type='PackInputs')]
    return dict(type='CustomDataset', data_root=osp.join(data_root, 'cls'), ann_file=ann_file, data_prefix='',
                pipeline=pipeline)


def demo_knn_hook():
    """The hook as the demo configs would carry it (data/demo/cls, 64 px); shrink_selfsup_cfg points it at the tiny
    set (32 px, 40 bank / 20 query samples, k stays as configured)."""
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=64, backend='cv2'), dict(type='PackInputs')]
    data = dict(type='CustomDataset', data_root='data/demo/cls/', data_prefix='', pipeline=pipeline)
    return dict(type='KNNMonitorHook', interval=100, bank=dict(data, ann_file='train.txt'),
                query=dict(data, ann_file='test.txt'), num_bank=1000, num_query=500, k=10)


@pytest.fixture(scope='module')
def monitored_run(tiny_data, tmp_path_factory):
    wd = str(tmp_path_factory.mktemp('knn'))
    cfg = Config.fromfile(osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py'))
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] == 'SaliencyStoreHook'] + [demo_knn_hook()]
    cfg = shrink_selfsup_cfg(cfg, tiny_data, wd, iters=2)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner, wd


def test_logs_the_knn_accuracy_of_the_momentum_encoder(monitored_run, tiny_data):
    """The logged value equals a kNN recomputed another way: own image loading, key backbone, numpy vote."""
    from mmpretrain.registry import DATASETS

    from scl.engine.hooks.knn_monitor_hook import KNNMonitorHook, seeded_subset
    runner, wd = monitored_run
    hook = next(h for h in runner.hooks if isinstance(h, KNNMonitorHook))
    logged = runner.message_hub.get_scalar('train/knn/top1').current()

    model = runner.model
    backbone = model.encoder_k.module[0]
    backbone.eval()  # mmpretrain's ResNet.train() returns None, so no chaining
    pre = model.data_preprocessor

    def features(ann_file, num, seed):
        ds = DATASETS.build(cls_dataset(tiny_data, ann_file))
        idx = seeded_subset(len(ds), num, seed)
        imgs = torch.stack([ds[int(i)]['inputs'] for i in idx]).float()[:, [2, 1, 0]]  # BGR -> RGB
        x = (imgs - pre.mean) / pre.std
        with torch.no_grad():
            f = backbone(x)[-1].mean(dim=(2, 3))
        labels = np.array([ds.get_data_info(int(i))['gt_label'] for i in idx])
        return (f / f.norm(dim=1, keepdim=True)).numpy(), labels

    bank, bank_y = features('train.txt', 40, 0)
    query, query_y = features('test.txt', 20, 1)
    num_classes = int(max(bank_y.max(), query_y.max())) + 1
    ref = (reference_knn(bank, bank_y, query, 10, 0.07, num_classes) == query_y).mean() * 100
    assert logged == pytest.approx(ref, abs=1e-4)
    assert hook.evaluate(model) == pytest.approx(ref, abs=1e-4)  # the hook leaves the model as it found it

    scalars = [json.loads(line) for line in open(osp.join(wd, runner.timestamp, 'vis_data', 'scalars.json'))]
    assert [s['knn/top1'] for s in scalars if 'knn/top1' in s][-1] == pytest.approx(logged, abs=1e-3)


def test_ragged_images_and_empty_lists_are_clear_errors(tiny_data, tmp_path):
    import cv2
    from mmpretrain.registry import HOOKS
    cv2.imwrite(str(tmp_path / 'a.png'), np.zeros((20, 20, 3), np.uint8))
    cv2.imwrite(str(tmp_path / 'b.png'), np.zeros((20, 30, 3), np.uint8))
    (tmp_path / 'ragged.txt').write_text('a.png 0\nb.png 1\n')
    (tmp_path / 'empty.txt').write_text('')
    raw = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    ok = cls_dataset(tiny_data, 'train.txt')

    def hook(query):
        return HOOKS.build(dict(type='KNNMonitorHook', bank=ok, query=query, num_bank=4, num_query=4))

    ragged = dict(type='CustomDataset', data_root=str(tmp_path), ann_file='ragged.txt', data_prefix='', pipeline=raw)
    with pytest.raises(ValueError, match='images of different sizes'):
        hook(ragged).prepare()
    assert 'cached' in hook(dict(ragged, pipeline=[raw[0], dict(type='Resize', scale=(16, 16)), raw[1]])).prepare()
    with pytest.raises(ValueError, match='cannot build the query data set|query data set is empty'):
        hook(dict(ragged, ann_file='empty.txt')).prepare()
    with pytest.raises(ValueError, match='cannot build the query data set'):
        hook(dict(ragged, ann_file='missing.txt')).prepare()


def _tiny_model_and_hook(tiny_data, num_bank=9, num_query=7):
    import scl  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import HOOKS, MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py'))
    cfg.model.backbone.base_channels = 8
    cfg.model.neck.in_channels = 64
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    hook = HOOKS.build(dict(type='KNNMonitorHook', bank=cls_dataset(tiny_data, 'train.txt'),
                            query=cls_dataset(tiny_data, 'test.txt'), num_bank=num_bank, num_query=num_query, k=3))
    hook.prepare()
    return model, hook


def _ddp_worker(rank, world_size, port, tiny_data, out_dir):
    import os

    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        model, hook = _tiny_model_and_hook(tiny_data)
        bank = hook._gather(hook.embed(model, hook._data[0]), hook._data[4])
        query = hook._gather(hook.embed(model, hook._data[2]), hook._data[5])
        torch.save(dict(shard=len(hook._data[0]), bank=bank, query=query, top1=hook.evaluate(model)),
                   osp.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_gather_the_same_features_as_one(tiny_data, tmp_path):
    """Under DDP (2 gloo processes) each rank embeds every 2nd sample; the gathered bank and the accuracy equal the
    single-process ones (9 bank and 7 query samples: uneven shares exercise the padding)."""
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, tiny_data, str(tmp_path)), nprocs=2, join=True)
    from scl.engine.hooks.knn_monitor_hook import weighted_knn_predict
    model, hook = _tiny_model_and_hook(tiny_data)
    bank, query = hook.embed(model, hook._data[0]), hook.embed(model, hook._data[2])
    bank_y, query_y = hook._data[1], hook._data[3]
    for rank, shard in ((0, 5), (1, 4)):
        got = torch.load(tmp_path / f'rank{rank}.pt')
        assert got['shard'] == shard
        # Same rows in the same order (up to the last bits of a conv run on another batch size)...
        torch.testing.assert_close(got['bank'], bank, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(got['query'], query, rtol=1e-4, atol=1e-5)
        # ... and the rank's accuracy is the vote over exactly what it gathered. (Not compared with the single-process
        # figure: a barely trained encoder's similarities are nearly tied, so those last bits can flip a vote.)
        pred = weighted_knn_predict(got['bank'], bank_y, got['query'], k=3, temperature=0.07, num_classes=10)
        assert got['top1'] == pytest.approx((pred == query_y).float().mean().item() * 100)
