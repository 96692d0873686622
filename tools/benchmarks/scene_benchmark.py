"""Scene benchmark: does SCL beat MoCo v2 on multi-object scenes? One command, the same budget for every method.

    python tools/benchmarks/scene_benchmark.py --out work_dirs/scene_benchmark            # 1 seed, CPU preset
    python tools/benchmarks/scene_benchmark.py --out docs/benchmarks/scene --seeds 3
    python tools/benchmarks/scene_benchmark.py --out /tmp/sb --preset smoke               # a minute: plumbing only

Steps, per seed and method (MoCo v2, SCL, and the ablations SCL crops only = ``head.beta=0``, SCL weights only =
``anchor='uniform'``, run on the first ``--ablation-seeds`` seeds; every method starts from the same twin configs,
so only the method differs). Re-running the same command resumes: stages already recorded in partial_results.json
are skipped.

1. pretrain on the unlabeled scenes (Fashion-MNIST objects on real photos), saving checkpoints along the way;
2. at each checkpoint: a quick linear probe (logistic regression on frozen, pooled features) and the saliency
   localisation on the held-out scenes (saliency mass inside the object masks / the masks' area share; 1.0 = uniform),
   computed for every method from the momentum encoder's last feature map with SCL's reduction;
3. at the end: the linear-probe, 1 % and 10 % semi-supervised configs on object-centric Fashion-MNIST, and the
   Mask R-CNN transfer on the held-out scenes (tools/train.py, the same configs a user runs).

Writes ``results.json`` (every figure per seed, command, versions, machine, wall times; ``summary`` with the deltas
SCL - MoCo v2), ``results.md`` (mean +- std over seeds) and PNG plots, with a progress bar and ETA over the stages.
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import textwrap
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = {
    'scl': 'configs/scl/scl_resnet18_1xb32-coslr-300i_demo.py',
    'mocov2': 'configs/mocov2/mocov2_resnet18_1xb32-coslr-300i_demo.py',
    'linear': 'configs/benchmarks/classification/scenes/resnet18_scl-pre_1xb64-linear-coslr-20e_scenes.py',
    'semi1': 'configs/benchmarks/classification/scenes/resnet18_scl-pre_1xb64-coslr-20e_scenes-1pct.py',
    'semi10': 'configs/benchmarks/classification/scenes/resnet18_scl-pre_1xb64-coslr-20e_scenes-10pct.py',
    'det': 'configs/benchmarks/mmdetection/scenes/mask-rcnn_r18-fpn_scl-pre_600i_scenes.py',
}
# method -> (pretraining config, extra overrides): only the method differs between them.
METHODS = {
    'mocov2': ('mocov2', []),
    'scl': ('scl', []),
    'scl_crops_only': ('scl', ['model.head.beta=0']),
    'scl_weights_only': ('scl', ['train_dataloader.dataset.pipeline.1.anchor=independent']),
    'shared_point_control': ('scl', ['train_dataloader.dataset.pipeline.1.anchor=uniform', 'model.head.beta=0']),
}
LABELS = {'mocov2': 'MoCo v2', 'scl': 'SCL', 'scl_crops_only': 'SCL crops only (beta=0)',
          'scl_weights_only': 'SCL weights only (independent crops)',
          'shared_point_control': 'shared-point crops, uniform anchor, beta=0'}
PRESETS = {
    # scene data, pretraining iterations, curve points, evaluation epochs, detection iterations
    'smoke': dict(num_train=48, num_val=8, num_cls_train=100, num_cls_test=50, pretrain_iters=12, curve_points=2,
                  eval_epochs=1, det_iters=4, batch=8),
    'cpu': dict(num_train=1000, num_val=100, num_cls_train=2000, num_cls_test=1000, pretrain_iters=600,
                curve_points=4, eval_epochs=20, det_iters=300, batch=32),
    'gpu': dict(num_train=20000, num_val=500, num_cls_train=20000, num_cls_test=10000, pretrain_iters=20000,
                curve_points=10, eval_epochs=30, det_iters=3000, batch=128),
}
# the goal: SCL - MoCo v2 (mean over seeds) at least this much, and SCL's localisation clearly above uniform
# (we read "clearly" as at least 10 % more saliency mass on the objects than a uniform map would put there).
GOAL = dict(delta_linear_top1=1.0, delta_1pct_top1=3.0, localisation_scl=1.10)
METRICS = ('linear_top1', 'semi_1pct_top1', 'semi_10pct_top1', 'det_bbox_mAP', 'det_segm_mAP', 'localisation')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='output directory (results, plots, work dirs)')
    p.add_argument('--seeds', type=int, default=1, help='number of seeds (0, 1, ...)')
    p.add_argument('--preset', choices=sorted(PRESETS), default='cpu')
    p.add_argument('--pretrain-iters', type=int,
                   help="override the preset's pretraining length (the cosine schedule, checkpoints and SCL's "
                   'warm-up follow it), e.g. to ask whether a longer schedule changes the picture')
    p.add_argument('--methods', nargs='+', choices=list(METHODS), default=list(METHODS))
    p.add_argument('--ablation-seeds', type=int, default=1,
                   help='run the ablations (methods other than mocov2 / scl) on the first N seeds only')
    p.add_argument('--extra-method', nargs='+', action='append', default=[], metavar=('NAME', 'OVERRIDE'),
                   help='one more SCL variant: a name and its config overrides (e.g. a setting chosen by '
                   'tools/benchmarks/scene_tuning.py on validation splits); runs on every seed, like SCL')
    p.add_argument('--data', help='scene data directory (default: <out>/data, built if missing)')
    p.add_argument('--threads', type=int, default=2, help='torch threads for the in-process measurements')
    p.add_argument('--notes', help='a markdown file appended to results.md under "Discussion" (what was tried, '
                   'what the figures mean); kept out of the generated part so a re-run does not lose it')
    p.add_argument('--report-only', action='store_true',
                   help='write results.json / .md and the plots from what partial_results.json holds; run nothing')
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------------------------------
# running configs
# ------------------------------------------------------------------------------------------------------------------
def run_train(config, work_dir, options, log):
    """tools/train.py in a subprocess (isolated logging and memory); its output goes to ``log``."""
    cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), osp.join(ROOT, config), '--work-dir', work_dir,
           '--cfg-options'] + options
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    if proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'{" ".join(cmd)} failed (log: {log}):\n{tail}')


def last_scalars(work_dir, key):
    """The last logged value of ``key`` in an mmengine work dir (vis_data/scalars.json)."""
    found = None
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as f:
                for line in f:
                    rec = json.loads(line)
                    if key in rec:
                        found = rec[key]
    if found is None:
        raise RuntimeError(f'no {key} logged in {work_dir}')
    return float(found)


def knn_options(config, data, interval):
    """Point the config's KNNMonitorHook (if any) at the benchmark's labelled split."""
    from mmengine.config import Config
    hooks = Config.fromfile(osp.join(ROOT, config)).get('custom_hooks', [])
    i = next((i for i, h in enumerate(hooks) if h['type'] == 'KNNMonitorHook'), None)
    return [] if i is None else [f'custom_hooks.{i}.bank.data_root={data}/cls/',
                                 f'custom_hooks.{i}.query.data_root={data}/cls/', f'custom_hooks.{i}.interval={interval}']


def pretrain_options(config, data, preset, seed, method_opts):
    n, k = preset['pretrain_iters'], max(1, preset['pretrain_iters'] // preset['curve_points'])
    return [
        f'train_dataloader.dataset.data_root={data}/scenes/', f'train_dataloader.batch_size={preset["batch"]}',
        f'train_cfg.max_iters={n}', f'param_scheduler.0.T_max={n}', f'param_scheduler.0.end={n}',
        f'default_hooks.checkpoint.interval={k}', 'default_hooks.checkpoint.max_keep_ckpts=-1',
        f'randomness.seed={seed}', 'default_hooks.logger.interval=50'
    ] + method_opts + knn_options(config, data, k)


def cls_options(data, preset, seed, ckpt):
    e = preset['eval_epochs']
    opts = [f'{k}.dataset.data_root={data}/cls/' for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    return opts + [
        f'model.backbone.init_cfg.checkpoint={ckpt}', f'train_cfg.max_epochs={e}', f'train_cfg.val_interval={e}',
        f'param_scheduler.0.T_max={e}', f'param_scheduler.0.end={e}', f'randomness.seed={seed}'
    ]


def det_options(data, preset, seed, ckpt):
    n = preset['det_iters']
    root = f'{data}/scenes/'
    opts = [f'{k}.dataset.data_root={root}' for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    return opts + [
        f'val_evaluator.ann_file={root}annotations/instances_val.json',
        f'test_evaluator.ann_file={root}annotations/instances_val.json', f'model.backbone.init_cfg.checkpoint={ckpt}',
        f'train_cfg.max_iters={n}', f'train_cfg.val_interval={n}', f'param_scheduler.1.end={n}',
        f'param_scheduler.1.milestones=[{int(n * 0.75)},{int(n * 0.9)}]', f'param_scheduler.0.end={min(100, n)}',
        f'default_hooks.checkpoint.interval={n}', f'randomness.seed={seed}'
    ]


# ------------------------------------------------------------------------------------------------------------------
# in-process measurements on checkpoints
# ------------------------------------------------------------------------------------------------------------------
class CheckpointProbe:
    """Quick linear probe and saliency localisation of pretraining checkpoints (the curves)."""

    def __init__(self, data, pretrain_cfg_path, grid_size=8, max_cls=2000):
        import scl  # noqa: F401
        from mmengine.config import Config
        from mmengine.registry import init_default_scope

        from scl.evaluation import scene_masks
        from scl.visualization import load_rgb
        init_default_scope('mmpretrain')
        self.cfg = Config.fromfile(osp.join(ROOT, pretrain_cfg_path))
        self.grid = grid_size
        self.masks = scene_masks(osp.join(data, 'scenes/annotations/instances_val.json'), grid_size)
        self.val_images = [load_rgb(osp.join(data, 'scenes/val', name)) for name in sorted(self.masks)]
        self.val_names = sorted(self.masks)
        self.cls = {}
        for split in ('train', 'test'):
            with open(osp.join(data, 'cls', f'{split}.txt')) as f:
                items = [line.split() for line in f if line.strip()][:max_cls]
            self.cls[split] = (np.stack([load_rgb(osp.join(data, 'cls', p)) for p, _ in items]),
                               np.array([int(label) for _, label in items]))

    def use_validation_split(self, data, num_scenes=100, num_cls=500):
        """Evaluate on validation sets carved out of the *training* data, for tuning (never the test split).

        Scenes: the last ``num_scenes`` pretraining scenes (a quarter at most), scored against their own masks (the masks are never used
        for pretraining). Classification: the quick probe is fitted on the training list minus its last ``num_cls``
        images and scored on those.
        """
        from scl.evaluation import scene_masks
        from scl.visualization import load_rgb
        masks = scene_masks(osp.join(data, 'scenes/annotations/instances_train.json'), self.grid)
        num_scenes = min(num_scenes, len(masks) // 4)  # small (smoke) data: a quarter at most
        num_cls = min(num_cls, len(self.cls['train'][1]) // 4)
        self.val_names = sorted(masks)[-num_scenes:]
        self.masks = {n: masks[n] for n in self.val_names}
        self.val_images = [load_rgb(osp.join(data, 'scenes/train', n)) for n in self.val_names]
        x, y = self.cls['train']
        self.cls = dict(train=(x[:-num_cls], y[:-num_cls]), test=(x[-num_cls:], y[-num_cls:]))
        return self

    def model(self, ckpt):
        import torch
        from mmpretrain.registry import MODELS
        cfg = self.cfg.model.copy()
        model = MODELS.build(cfg)
        model.load_state_dict(torch.load(ckpt, map_location='cpu')['state_dict'], strict=False)
        return model.eval()

    def saliency(self, model):
        from scl.visualization import model_saliency
        size = self.val_images[0].shape[0]
        return model_saliency(model, self.val_images, size, self.grid, 'mean_relu')

    def localisation(self, maps):
        from scl.evaluation import localisation_ratio
        return float(np.nanmean([localisation_ratio(s, self.masks[n]) for s, n in zip(maps, self.val_names)]))

    def features(self, model, images, size=64):
        import torch
        import torch.nn.functional as F
        out = []
        pre = model.data_preprocessor
        with torch.no_grad():
            for i in range(0, len(images), 256):
                x = torch.from_numpy(images[i:i + 256]).permute(0, 3, 1, 2).float()
                x = F.interpolate(x, size=(size, size), mode='bilinear', align_corners=False)
                x = (x - pre.mean.view(1, -1, 1, 1)) / pre.std.view(1, -1, 1, 1)
                out.append(model.backbone(x)[-1].mean(dim=(2, 3)))
        return torch.cat(out)

    def quick_linear(self, model, epochs=200):
        """Multinomial logistic regression on standardised frozen features (full batch, Adam); test top-1 %."""
        import torch

        from scl.evaluation.linear_probe import logistic_top1
        xtr, ytr = self.features(model, self.cls['train'][0]), torch.from_numpy(self.cls['train'][1])
        xte, yte = self.features(model, self.cls['test'][0]), torch.from_numpy(self.cls['test'][1])
        return logistic_top1(xtr, ytr, xte, yte, epochs, seed=0, num_classes=10)


def checkpoints_of(work_dir):
    its = sorted(int(f[5:-4]) for f in os.listdir(work_dir) if f.startswith('iter_') and f.endswith('.pth'))
    return [(i, osp.join(work_dir, f'iter_{i}.pth')) for i in its]


# ------------------------------------------------------------------------------------------------------------------
# reporting
# ------------------------------------------------------------------------------------------------------------------
DELTA_KEYS = dict(delta_linear_top1='linear_top1', delta_1pct_top1='semi_1pct_top1',
                  delta_10pct_top1='semi_10pct_top1', delta_det_map='det_bbox_mAP')


def paired_deltas(per_seed, method, baseline='mocov2'):
    """``{delta name: (mean, sample std, seeds)}`` of ``method - baseline`` over the seeds that have both figures."""
    out = {}
    for name, k in DELTA_KEYS.items():
        d = [per_seed[s][method][k] - per_seed[s][baseline][k] for s in per_seed
             if k in per_seed[s].get(method, {}) and k in per_seed[s].get(baseline, {})]
        out[name] = (float(np.mean(d)) if d else float('nan'), float(np.std(d, ddof=1)) if len(d) > 1 else 0.0,
                     len(d))
    return out


def summarise(per_seed, methods):
    stats = {}
    for m in methods:
        stats[m] = {}
        for k in METRICS:
            vals = [per_seed[s][m][k] for s in per_seed if k in per_seed[s].get(m, {})]
            # sample standard deviation over seeds (0 for a single seed)
            stats[m][k] = ((float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, len(vals))
                           if vals else (float('nan'), 0.0, 0))
    summary = dict(seeds=len(per_seed))
    for name, (mean, _, _) in paired_deltas(per_seed, 'scl').items():
        summary[name] = mean
    # Every SCL variant (ablations, --extra-method) against MoCo v2, paired by seed: mean, sample std, seeds.
    summary['paired_deltas'] = {m: {name: dict(zip(('mean', 'std', 'n'), v))
                                    for name, v in paired_deltas(per_seed, m).items()}
                                for m in methods if m != 'mocov2'}
    summary['localisation_scl'] = stats.get('scl', {}).get('localisation', (float('nan'), ))[0]
    summary['localisation_mocov2'] = stats.get('mocov2', {}).get('localisation', (float('nan'), ))[0]
    summary['goal'] = {k: dict(target=t, measured=summary.get(k, float('nan')),
                               met=bool(summary.get(k, float('nan')) >= t)) for k, t in GOAL.items()}
    return stats, summary


def write_markdown(path, stats, summary, methods, meta, per_seed=None, notes=None):
    names = dict(linear_top1='linear top-1 %', semi_1pct_top1='1 % labels top-1 %',
                 semi_10pct_top1='10 % labels top-1 %', det_bbox_mAP='Mask R-CNN bbox mAP',
                 det_segm_mAP='Mask R-CNN segm mAP', localisation='saliency localisation (1.0 = uniform)')
    lines = [f'# Scene benchmark: SCL vs MoCo v2 ({summary["seeds"]} seed(s), preset `{meta["preset"]}`)', '',
             *([] if meta['complete'] else ['**Partial results**: the run stopped before every stage was done; '
                                            'n gives the seeds behind each figure.', '']),
             f'Command: `{meta["command"]}`  ', f'Machine: {meta["machine"]}; total wall time '
             f'{meta["wall_time_s"] / 60:.1f} min (sum of the stages).', '',
             '| metric | ' + ' | '.join(LABELS[m] for m in methods) + ' | SCL - MoCo v2 |',
             '| --- | ' + ' | '.join('---' for _ in methods) + ' | --- |']
    for k, label in names.items():
        cells = [f'{stats[m][k][0]:.2f} +- {stats[m][k][1]:.2f} (n={stats[m][k][2]})' for m in methods]
        delta = (f'{stats["scl"][k][0] - stats["mocov2"][k][0]:+.2f}'
                 if 'scl' in stats and 'mocov2' in stats else 'n/a')
        lines.append(f'| {label} | ' + ' | '.join(cells) + f' | {delta} |')
    lines += ['', 'mAP values are COCO mAP x 100 on the held-out scenes; accuracies on the object-centric test set.',
              '', '## Against the goal', '', '| goal | target | measured | met |', '| --- | --- | --- | --- |']
    goal_names = dict(delta_linear_top1='SCL - MoCo v2, linear top-1', delta_1pct_top1='SCL - MoCo v2, 1 % labels',
                      localisation_scl='SCL saliency localisation')
    for k, g in summary['goal'].items():
        lines.append(f'| {goal_names[k]} | >= {g["target"]:.2f} | {g["measured"]:.2f} | '
                     f'{"yes" if g["met"] else "**no**"} |')
    paired = summary.get('paired_deltas', {})
    if paired:
        cols = dict(delta_linear_top1='linear top-1', delta_1pct_top1='1 % labels', delta_10pct_top1='10 % labels',
                    delta_det_map='bbox mAP')
        lines += ['', '## Each SCL variant minus MoCo v2, paired by seed', '',
                  'Mean +- sample std of the per-seed differences (n = seeds with both runs).', '',
                  '| method | ' + ' | '.join(cols.values()) + ' |', '| --- | ' + ' | '.join('---' for _ in cols) + ' |']
        for m, d in paired.items():
            lines.append(f'| {LABELS[m]} | ' + ' | '.join(
                f'{d[c]["mean"]:+.2f} +- {d[c]["std"]:.2f} (n={d[c]["n"]})' for c in cols) + ' |')
    if per_seed:
        lines += ['', '## Per seed', '', '| seed | method | ' + ' | '.join(names[k] for k in METRICS) + ' |',
                  '| --- | --- | ' + ' | '.join('---' for _ in METRICS) + ' |']
        for seed in sorted(per_seed, key=int):
            for m in methods:
                if m in per_seed[seed]:
                    vals = [per_seed[seed][m].get(k) for k in METRICS]
                    lines.append(f'| {seed} | {LABELS[m]} | '
                                 + ' | '.join('-' if v is None else f'{v:.2f}' for v in vals) + ' |')
    lines += ['', '![curves](curves.png)', '', '![saliency](saliency_grid.png)', '']
    if notes:
        lines += ['## Discussion', '', notes.strip(), '']
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


def plot_curves(path, curves, methods):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for m in methods:
        pts = [c for seed in curves for c in curves[seed].get(m, [])]
        its = sorted({p['iter'] for p in pts})
        for ax, key in zip(axes, ('quick_linear_top1', 'localisation')):
            ys = [np.mean([p[key] for p in pts if p['iter'] == i]) for i in its]
            ax.plot(its, ys, marker='o', label=LABELS[m])
    axes[0].set_title('quick linear probe on frozen features (top-1 %)')
    axes[1].set_title('saliency localisation on held-out scenes')
    axes[1].axhline(1.0, color='grey', linestyle=':', label='uniform')
    for ax in axes:
        ax.set_xlabel('pretraining iteration')
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_saliency_grid(path, images, maps_by_method, methods, n=6):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    n = min(n, len(images))
    fig, axes = plt.subplots(n, 1 + len(methods), figsize=(2.2 * (1 + len(methods)), 2.2 * n), squeeze=False)
    for i in range(n):
        axes[i][0].imshow(images[i])
        axes[i][0].set_title('scene' if i == 0 else '', fontsize=8)
        h, w = images[i].shape[:2]
        for j, m in enumerate(methods):
            ax = axes[i][j + 1]
            ax.imshow(images[i])
            ax.imshow(maps_by_method[m][i], cmap='jet', alpha=0.5, extent=(0, w, h, 0), vmin=0, vmax=1)
            if i == 0:
                ax.set_title(textwrap.fill(LABELS[m], 24), fontsize=7)  # extra methods carry long names
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------------------------
def run_args(argv):
    """The arguments that decide the figures (a --report-only / --notes re-run reports the run it resumed)."""
    out, skip = [], 0
    for a in argv:
        if skip:
            skip -= 1
        elif a == '--report-only' or a.startswith('--notes='):
            pass
        elif a == '--notes':
            skip = 1
        else:
            out.append(a)
    return out


def main(argv=None):
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from tqdm import tqdm

    import scl  # noqa: F401
    from scl.datasets.scene_builder import SceneConfig, build_scene_dataset
    preset = dict(PRESETS[args.preset])
    if args.pretrain_iters is not None:
        if args.pretrain_iters < preset['curve_points']:
            raise SystemExit(f'--pretrain-iters must be at least the {preset["curve_points"]} curve points')
        preset['pretrain_iters'] = args.pretrain_iters
    for name, *overrides in args.extra_method:
        if name in METHODS:
            raise SystemExit(f'--extra-method {name}: the name is taken by a built-in method')
        METHODS[name] = ('scl', overrides)
        LABELS[name] = f'SCL {name} ({", ".join(overrides)})'
        args.methods.append(name)
    full = {'mocov2', 'scl'} | {m[0] for m in args.extra_method}  # the methods run on every seed
    out = osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    data = osp.abspath(args.data or osp.join(out, 'data'))
    t_start = time.time()
    if not osp.isfile(osp.join(data, 'meta.json')):
        build_scene_dataset(data, SceneConfig(
            num_train=preset['num_train'], num_val=preset['num_val'], num_cls_train=preset['num_cls_train'],
            num_cls_test=preset['num_cls_test'], seed=0))

    stages = [(s, m, st) for s in range(args.seeds) for m in args.methods
              if m in full or s < args.ablation_seeds
              for st in ('pretrain', 'curve', 'linear', 'semi1', 'semi10', 'det')]
    per_seed, curves, walls = {}, {}, {}
    partial = osp.join(out, 'partial_results.json')
    if osp.isfile(partial):  # resume: stages whose figures are recorded are not run again
        with open(partial) as f:
            saved = json.load(f)
        per_seed = {int(s): v for s, v in saved['per_seed'].items()}
        curves = {int(s): v for s, v in saved['curves'].items()}
        walls = saved['wall_times_s']
    done_key = dict(pretrain=None, curve='localisation', linear='linear_top1', semi1='semi_1pct_top1',
                    semi10='semi_10pct_top1', det='det_bbox_mAP')
    probe = CheckpointProbe(data, CFG['scl'])

    def final_ckpt_of(seed, method):
        return osp.join(out, 'runs', f'seed{seed}', method, 'pretrain', f'iter_{preset["pretrain_iters"]}.pth')

    def recorded(seed, method, stage):  # by an earlier run of this command
        if stage == 'pretrain':
            return osp.isfile(final_ckpt_of(seed, method))
        return done_key[stage] in per_seed.get(seed, {}).get(method, {})

    todo = [] if args.report_only else [s for s in stages if not recorded(*s)]
    bar = tqdm(todo, desc='scene benchmark', unit='stage')  # the ETA counts only the stages still to run
    for seed, method, stage in bar:
        bar.set_postfix_str(f'seed {seed} {method} {stage}')
        wd = osp.join(out, 'runs', f'seed{seed}', method)
        pre_dir = osp.join(wd, 'pretrain')
        res = per_seed.setdefault(seed, {}).setdefault(method, {})
        t0 = time.time()
        cfg_key, extra = METHODS[method]
        final_ckpt = final_ckpt_of(seed, method)
        if stage == 'pretrain':
            os.makedirs(wd, exist_ok=True)
            run_train(CFG[cfg_key], pre_dir, pretrain_options(CFG[cfg_key], data, preset, seed, extra),
                      osp.join(wd, 'pretrain.log'))
        elif stage == 'curve':
            pts = []
            for it, ckpt in checkpoints_of(pre_dir):
                model = probe.model(ckpt)
                maps = probe.saliency(model)
                pts.append(dict(iter=it, quick_linear_top1=probe.quick_linear(model),
                                localisation=probe.localisation(maps)))
                if it == preset['pretrain_iters'] and seed == 0:
                    np.save(osp.join(wd, 'final_val_saliency.npy'), maps)
            curves.setdefault(seed, {})[method] = pts
            res['localisation'] = pts[-1]['localisation']
            res['quick_linear_top1'] = pts[-1]['quick_linear_top1']
            store = torch.load(final_ckpt, map_location='cpu').get('saliency_store')
            if store is not None:  # SCL's own store, scored on the training scenes' masks
                from scl.evaluation import localisation_ratio, scene_masks
                train_masks = scene_masks(osp.join(data, 'scenes/annotations/instances_train.json'),
                                          store['maps'].shape[1])
                names = sorted(os.listdir(osp.join(data, 'scenes/train')))
                res['localisation_store_train'] = float(np.nanmean([
                    localisation_ratio(store['maps'][i].float().numpy(), train_masks[n]) for i, n in enumerate(names)
                ]))
        elif stage in ('linear', 'semi1', 'semi10'):
            sd = osp.join(wd, stage)
            run_train(CFG[stage], sd, cls_options(data, preset, seed, final_ckpt), osp.join(wd, f'{stage}.log'))
            key = dict(linear='linear_top1', semi1='semi_1pct_top1', semi10='semi_10pct_top1')[stage]
            res[key] = last_scalars(sd, 'accuracy/top1')
        else:
            sd = osp.join(wd, 'det')
            run_train(CFG['det'], sd, det_options(data, preset, seed, final_ckpt), osp.join(wd, 'det.log'))
            res['det_bbox_mAP'] = 100 * last_scalars(sd, 'coco/bbox_mAP')
            res['det_segm_mAP'] = 100 * last_scalars(sd, 'coco/segm_mAP')
        walls.setdefault(f'seed{seed}/{method}', {})[stage] = round(time.time() - t0, 1)
        with open(partial, 'w') as f:
            json.dump(dict(per_seed=per_seed, curves=curves, wall_times_s=walls), f, indent=1)

    bar.close()
    methods = [m for m in args.methods if any(m in per_seed[s] for s in per_seed)]
    complete = all(done_key[st] is None or done_key[st] in per_seed.get(s, {}).get(m, {}) for s, m, st in stages)
    stats, summary = summarise(per_seed, methods)
    summary['complete'] = complete
    import mmcv
    import mmdet
    import mmengine
    import mmpretrain
    meta = dict(
        command=' '.join(['python', 'tools/benchmarks/scene_benchmark.py'] + run_args(argv or sys.argv[1:])),
        preset=args.preset, preset_values=preset, methods=methods, complete=complete,
        versions=dict(scl=scl.__version__, torch=torch.__version__, mmengine=mmengine.__version__,
                      mmcv=mmcv.__version__, mmpretrain=mmpretrain.__version__, mmdet=mmdet.__version__),
        machine=f'{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}'
        + (f', {torch.cuda.get_device_name(0)}' if torch.cuda.is_available() else ', no GPU'),
        wall_time_s=round(sum(t for stages_ in walls.values() for t in stages_.values()), 1),
        wall_time_this_invocation_s=round(time.time() - t_start, 1))
    results = dict(summary=summary, meta=meta, per_seed={str(s): v for s, v in per_seed.items()},
                   mean_std={m: {k: dict(mean=v[0], std=v[1], n=v[2]) for k, v in st.items()}
                             for m, st in stats.items()},
                   curves={str(s): v for s, v in curves.items()}, wall_times_s=walls)
    with open(osp.join(out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    notes = None
    if args.notes:
        with open(args.notes) as f:
            notes = f.read()
    write_markdown(osp.join(out, 'results.md'), stats, summary, methods, meta, per_seed=per_seed, notes=notes)
    plot_curves(osp.join(out, 'curves.png'), curves, methods)
    final_maps = {m: np.load(osp.join(out, 'runs', 'seed0', m, 'final_val_saliency.npy')) for m in args.methods
                  if osp.isfile(osp.join(out, 'runs', 'seed0', m, 'final_val_saliency.npy'))}
    if final_maps:
        plot_saliency_grid(osp.join(out, 'saliency_grid.png'), probe.val_images, final_maps, list(final_maps))
    print(json.dumps(summary, indent=1))
    print(f'wrote {out}/results.json, results.md, curves.png, saliency_grid.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
