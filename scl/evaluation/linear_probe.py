"""Linear probes of frozen features (the scene benchmark, tools/benchmarks/frozen_linear_probe.py) and the
supervised anchor they are compared with."""
import os.path as osp
from typing import Optional

import numpy as np
import torch


def logistic_top1(xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: torch.Tensor, epochs: int = 300,
                  seed: int = 0, num_classes: Optional[int] = None) -> float:
    """Top-1 % on (xte, yte) of a multinomial logistic regression fitted on standardised (xtr, ytr).

    Full batch, Adam (lr 0.01, weight decay 1e-4), ``epochs`` steps; the features are standardised with the training
    set's mean and standard deviation.

    Args:
        num_classes (int, optional): Output classes. Defaults to None (``max(ytr) + 1``).
    """
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    torch.manual_seed(seed)
    lin = torch.nn.Linear(xtr.shape[1], int(ytr.max()) + 1 if num_classes is None else num_classes)
    opt = torch.optim.Adam(lin.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(lin(xtr), ytr).backward()
        opt.step()
    with torch.no_grad():
        return float((lin(xte).argmax(1) == yte).float().mean() * 100)


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


def extract(model, images, size, batch=500):
    """Globally pooled last backbone feature map of every image resized to ``size`` (N x C float32 tensor)."""
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


def train_supervised(model, images, labels, size, iters, batch=32, lr=0.03, seed=0):
    """Train ``model.backbone`` + a linear head on the labels (SGD, momentum 0.9, cosine lr); returns the head's
    training loss over the last 50 steps.

    ``lr`` 0.03: at 0.1 the half-width ResNet-18 (32 px, batch 32) stays at chance on Fashion-MNIST (training loss
    2.30 = ln 10 after 300 steps, seeds 0 and 1), at 0.03 and 0.01 it trains (0.83-0.91 after 300 steps).
    """
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
        losses.append(loss.item())
    model.eval()
    return float(np.mean(losses[-50:]))


def balanced_indices(labels, percent, seed):
    """``percent`` % of the indices, the same number per class (at least one), seeded."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    k = max(1, int(round(len(labels) * percent / 100 / len(classes))))
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), size=k, replace=False) for c in classes])


def frozen_probe(model, train, test, size, low_shot=(1.0, ), draws=3, epochs=300, seed=0):
    """Linear-probe figures of one model at one input size: ``dict(top1=..., top1_<p>pct=..., n_<p>pct=...)``."""
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
