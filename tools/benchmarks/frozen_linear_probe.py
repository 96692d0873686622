"""Frozen-feature linear probe of pretraining checkpoints (and of random initialisation) on the object-centric set.

    python tools/benchmarks/frozen_linear_probe.py <data dir> <config> [CKPT ...] [--random-init] \\
        [--sizes 32 64] [--cfg-options model.backbone.base_channels=32 ...] [--out probes.jsonl --tag NAME]

Extracts the backbone's globally pooled last feature map once per image (``cls/train`` and ``cls/test`` of a
``build_scene_dataset`` directory, resized to each ``--sizes`` side), then fits a multinomial logistic regression on
standardised features (full batch, Adam) on all labelled training images, and on class-balanced ``--low-shot``
fractions of them (default 1 %, drawn ``--low-shot-draws`` times with different seeds, mean reported). Prints one
line per checkpoint and size, and appends a JSON record to ``--out``. One thread unless ``--threads``.

``--supervised ITERS`` adds the supervised anchor (the same backbone trained on the labels for ITERS steps).
``--random-init`` adds the same model built from the config with mmengine's ``init_weights`` (seed ``--seed``): the
anchor every pretraining figure must be compared with. Checkpoints load strictly (every key of the config's model).
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import numpy as np

from scl.evaluation.linear_probe import logistic_top1  # also the scene benchmark's quick probe


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data', help='a build_scene_dataset output directory (uses cls/)')
    p.add_argument('config', help='the pretraining config the checkpoints were trained with')
    p.add_argument('checkpoints', nargs='*', help='pretraining checkpoints (iter_*.pth)')
    p.add_argument('--random-init', action='store_true', help='also probe the randomly initialised model')
    p.add_argument('--sizes', type=int, nargs='+', default=[32], help='input sides to probe at')
    p.add_argument('--low-shot', type=float, nargs='*', default=[1.0], help='label percentages besides 100')
    p.add_argument('--low-shot-draws', type=int, default=3)
    p.add_argument('--supervised', type=int, default=0, metavar='ITERS',
                   help='also probe the supervised anchor: the randomly initialised backbone trained with the '
                   'labels of every training image for ITERS SGD steps (batch --supervised-batch, at the first of '
                   '--sizes)')
    p.add_argument('--supervised-batch', type=int, default=32)
    p.add_argument('--max-train', type=int, default=0, help='use only the first N training images (0: all)')
    p.add_argument('--epochs', type=int, default=300, help='full-batch Adam steps of the logistic regression')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides (e.g. the backbone width)')
    p.add_argument('--out', help='append one JSON record per checkpoint and size to this file')
    p.add_argument('--tag', default='', help='a name stored in the records')
    return p.parse_args(argv)


def load_split(data, split, cache_dir=None):
    """(N x H x W x 3 uint8 RGB images, N labels) of ``cls/<split>.txt``, cached as .npz next to the list."""
    import cv2
    ann = osp.join(data, 'cls', f'{split}.txt')
    if not osp.isfile(ann):
        raise FileNotFoundError(f'{ann} not found: pass a directory written by '
                                'tools/dataset_converters/build_scene_dataset.py')
    cache = osp.join(cache_dir or osp.join(data, 'cls'), f'{split}_arrays.npz')
    if osp.isfile(cache) and osp.getmtime(cache) >= osp.getmtime(ann):
        z = np.load(cache)
        return z['images'], z['labels']
    with open(ann) as f:
        items = [line.split() for line in f if line.strip()]
    images = np.stack([cv2.cvtColor(cv2.imread(osp.join(data, 'cls', p)), cv2.COLOR_BGR2RGB) for p, _ in items])
    labels = np.array([int(label) for _, label in items])
    np.savez(cache, images=images, labels=labels)
    return images, labels


def build_model(cfg, ckpt=None, seed=0):
    """The config's model; from ``ckpt`` (strict) or, without one, mmengine's initialisation under ``seed``."""
    import torch
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    if ckpt is None:
        model.init_weights()
    else:
        state = torch.load(ckpt, map_location='cpu', weights_only=False)
        model.load_state_dict(state.get('state_dict', state), strict=True)
    return model.eval()


def extract(model, images, size, batch=500):
    """Globally pooled last backbone feature map of every image resized to ``size`` (N x C float32 tensor)."""
    import torch
    import torch.nn.functional as F
    pre = model.data_preprocessor
    mean, std = pre.mean.view(1, -1, 1, 1), pre.std.view(1, -1, 1, 1)
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i:i + batch]).permute(0, 3, 1, 2).float()
            if x.shape[-1] != size:
                x = F.interpolate(x, size=(size, size), mode='bilinear', align_corners=False)
            out.append(model.backbone((x - mean) / std)[-1].mean(dim=(2, 3)))
    return torch.cat(out)


def train_supervised(model, images, labels, size, iters, batch=32, lr=0.1, seed=0):
    """Train ``model.backbone`` + a linear head on the labels (SGD, momentum 0.9, cosine lr); returns the head's
    training loss over the last 50 steps."""
    import torch
    import torch.nn.functional as F
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pre = model.data_preprocessor
    mean, std = pre.mean.view(1, -1, 1, 1), pre.std.view(1, -1, 1, 1)
    backbone = model.backbone
    backbone.eval()
    with torch.no_grad():
        dim = backbone(torch.zeros(2, 3, size, size))[-1].shape[1]
    backbone.train()  # mmpretrain's ResNet.train returns None
    head = torch.nn.Linear(dim, int(labels.max()) + 1)
    params = list(backbone.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
    losses = []
    for _ in range(iters):
        idx = rng.integers(len(images), size=batch)
        x = torch.from_numpy(images[idx]).permute(0, 3, 1, 2).float()
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode='bilinear', align_corners=False)
        loss = F.cross_entropy(head(backbone((x - mean) / std)[-1].mean(dim=(2, 3))), torch.from_numpy(labels[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss))
    model.eval()
    return float(np.mean(losses[-50:]))


def balanced_indices(labels, percent, seed):
    """``percent`` % of the indices, the same number per class (at least one), seeded."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    k = max(1, int(round(len(labels) * percent / 100 / len(classes))))
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), size=k, replace=False) for c in classes])


def probe(model, train, test, size, low_shot=(1.0, ), draws=3, epochs=300, seed=0):
    """Linear-probe figures of one model at one input size: ``dict(top1=..., top1_<p>pct=..., n_<p>pct=...)``."""
    import torch
    xtr, xte = extract(model, train[0], size), extract(model, test[0], size)
    ytr, yte = torch.from_numpy(train[1]), torch.from_numpy(test[1])
    out = dict(top1=logistic_top1(xtr, ytr, xte, yte, epochs, seed), n_train=len(ytr), feat_dim=int(xtr.shape[1]))
    for pct in low_shot:
        accs = []
        for d in range(draws):
            idx = torch.from_numpy(balanced_indices(train[1], pct, seed + d))
            accs.append(logistic_top1(xtr[idx], ytr[idx], xte, yte, epochs, seed))
        out[f'top1_{pct:g}pct'] = float(np.mean(accs))
        out[f'top1_{pct:g}pct_draws'] = accs
        out[f'n_{pct:g}pct'] = int(len(idx))
    return out


def main(argv=None):
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from mmengine.config import Config

    from mmengine.logging import MMLogger

    import scl  # noqa: F401
    MMLogger.get_instance('frozen_linear_probe', log_level='WARNING')  # no per-parameter init report
    if not (args.checkpoints or args.random_init or args.supervised):
        raise SystemExit('nothing to probe: pass checkpoints, --random-init and / or --supervised ITERS')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    train, test = load_split(args.data, 'train'), load_split(args.data, 'test')
    if args.max_train:
        train = (train[0][:args.max_train], train[1][:args.max_train])
    runs = ([('random_init', None)] if args.random_init else []) + [(c, c) for c in args.checkpoints]
    if args.supervised:
        runs.append((f'supervised_{args.supervised}it', None))
    for name, ckpt in runs:
        model = build_model(cfg, ckpt, args.seed)
        if name.startswith('supervised_'):
            t0 = time.time()
            loss = train_supervised(model, train[0], train[1], args.sizes[0], args.supervised,
                                    args.supervised_batch, seed=args.seed)
            print(f'{args.tag} {name}: trained in {time.time() - t0:.0f} s, final training loss {loss:.3f}', flush=True)
        for size in args.sizes:
            t0 = time.time()
            res = probe(model, train, test, size, args.low_shot, args.low_shot_draws, args.epochs, args.seed)
            rec = dict(tag=args.tag, model=name, size=size, **res, seconds=round(time.time() - t0, 1))
            print(f'{args.tag} {name} @{size}px: linear top-1 {res["top1"]:.2f} % (n={res["n_train"]})'
                  + ''.join(f', {p:g} % labels {res[f"top1_{p:g}pct"]:.2f} %' for p in args.low_shot)
                  + f' [{rec["seconds"]} s]', flush=True)
            if args.out:
                os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
                with open(args.out, 'a') as f:
                    f.write(json.dumps(rec) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
