"""Measure what KNNMonitorHook costs as a share of training time, in one real training run.

    python tools/analysis_tools/benchmark_knn_monitor.py [--config <pretraining config>] [--interval 100] \\
        [--num-bank 1000] [--num-query 500] [--iters N] [--out knn_cost.json]

Trains the config (default: the SCL demo, 300 iterations on data/demo; build it first with
``python tools/dataset_converters/build_scene_dataset.py data/demo``) with KNNMonitorHook added on the demo's
object-centric split (cls/train.txt as the bank, cls/test.txt as the queries, resized to the view size), and reports
the hook's own wall time (caching the images once + every check) against the wall time of the whole training run:
share = hook seconds / run seconds (goal < 5 %). Also reports the seconds per check and what a check costs in median
training steps. Everything runs in this process, with the config's data loader workers and 2 torch threads by default.
"""
import argparse
import json
import os.path as osp
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCL_CFG = osp.join(ROOT, 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default=SCL_CFG, help='pretraining config (default: the SCL demo)')
    p.add_argument('--cls-root', default='data/demo/cls/', help='labelled split with train.txt and test.txt')
    p.add_argument('--interval', type=int, default=100)
    p.add_argument('--num-bank', type=int, default=1000)
    p.add_argument('--num-query', type=int, default=500)
    p.add_argument('--iters', type=int, help="training iterations (default: the config's)")
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--work-dir', help='default: a temporary folder, removed afterwards')
    p.add_argument('--keep-checkpoints', action='store_true',
                   help="keep the config's checkpoints (default: none are written, so the run times training only)")
    p.add_argument('--out', help='write the figures as JSON here')
    return p.parse_args(argv)


def knn_hook_cfg(cls_root, size, interval, num_bank, num_query):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=size, backend='cv2'),
                dict(type='PackInputs')]
    ds = dict(type='CustomDataset', data_root=cls_root, data_prefix='', pipeline=pipeline)
    return dict(type='KNNMonitorHook', interval=interval, bank=dict(ds, ann_file='train.txt'),
                query=dict(ds, ann_file='test.txt'), num_bank=num_bank, num_query=num_query)


def main(argv=None):
    args = parse_args(argv)
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    import scl  # noqa: F401
    from scl.engine.hooks import KNNMonitorHook
    from scl.utils.provenance import machine_line
    torch.set_num_threads(args.threads)
    for f in ('train.txt', 'test.txt'):
        if not osp.isfile(osp.join(args.cls_root, f)):
            print(f'error: {osp.join(args.cls_root, f)} does not exist; build the demo data first: '
                  'python tools/dataset_converters/build_scene_dataset.py data/demo', file=sys.stderr)
            return 2
    cfg = Config.fromfile(args.config)
    size = cfg.get('view_size', 64)
    if args.iters:
        cfg.train_cfg.max_iters = args.iters
        for s in cfg.param_scheduler:
            if s.get('type') == 'CosineAnnealingLR':
                s.update(T_max=args.iters, end=args.iters)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        knn_hook_cfg(args.cls_root, size, args.interval, args.num_bank, args.num_query)]
    if not args.keep_checkpoints:
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10**9, by_epoch=False, save_last=False)
    tmp = None if args.work_dir else tempfile.TemporaryDirectory()
    cfg.work_dir = args.work_dir or tmp.name
    runner = Runner.from_cfg(cfg)
    hook = next(h for h in runner.hooks if isinstance(h, KNNMonitorHook))
    t0 = time.perf_counter()
    runner.train()
    total = time.perf_counter() - t0
    step_times = runner.message_hub.get_scalar('train/time').data[0]
    checks = len(hook.history)
    result = dict(
        config=osp.relpath(args.config, ROOT), iters=cfg.train_cfg.max_iters, interval=args.interval,
        num_bank=args.num_bank, num_query=args.num_query, view_size=size, checks=checks,
        run_s=round(total, 2), hook_s=round(hook.seconds, 2), share_pct=round(100 * hook.seconds / total, 2),
        per_check_s=round((hook.seconds - hook.prepare_seconds) / max(checks, 1), 3),
        cache_s=round(hook.prepare_seconds, 2), median_step_s=round(float(np.median(step_times)), 4),
        knn_top1=[[i, round(v, 2)] for i, v in hook.history],
        machine=machine_line())
    result['check_in_steps'] = round(result['per_check_s'] / result['median_step_s'], 1)
    print(json.dumps(result, indent=1))
    print(f"KNNMonitorHook: {result['hook_s']} s of a {result['run_s']} s run = {result['share_pct']} % "
          f"({checks} checks of {result['per_check_s']} s = {result['check_in_steps']} median steps each, "
          f"+ {result['cache_s']} s caching)")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
