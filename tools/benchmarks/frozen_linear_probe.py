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

from scl.evaluation.linear_probe import (balanced_indices, extract, frozen_probe, load_split,  # noqa: F401
                                        logistic_top1, train_supervised)
from scl.utils.checkpoint import load_model


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
        model = load_model(cfg, ckpt, args.seed)
        if name.startswith('supervised_'):
            t0 = time.time()
            loss = train_supervised(model, train[0], train[1], args.sizes[0], args.supervised,
                                    args.supervised_batch, seed=args.seed)
            print(f'{args.tag} {name}: trained in {time.time() - t0:.0f} s, final training loss {loss:.3f}', flush=True)
        for size in args.sizes:
            t0 = time.time()
            res = frozen_probe(model, train, test, size, args.low_shot, args.low_shot_draws, args.epochs, args.seed)
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
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
