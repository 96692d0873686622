"""Tune SCL's reconstruction knobs for the scene benchmark on validation splits of the *training* data.

    python tools/benchmarks/scene_tuning.py --bench work_dirs/scene_benchmark \\
        --candidate gamma2 train_dataloader.dataset.pipeline.1.gamma=2.0 \\
        --candidate dense model.saliency_source=dense_contrast

Every candidate pretrains SCL with the scene benchmark's preset, seed 0 and data (``<bench>/data``), plus its config
overrides (the knobs docs/method.md lists); MoCo v2 and the default SCL of seed 0 are taken from
``<bench>/runs`` when the benchmark has made them, trained here otherwise. Each final checkpoint is scored by
``scl.benchmarks.scene.evaluation.Evaluator(split='train-holdout')``:

* the frozen linear probe fitted on the labelled *training* objects minus their last sixth and tested on that sixth
  (the test list is never read), all labels and 1 %;
* saliency localisation of every source on the last pretraining scenes (their masks are never used in pretraining),
  and of the run's own store on them.

Writes ``<bench>/tuning/tuning.json`` and ``tuning.md``; run the chosen candidate through the benchmark by adding it
to ``scl.benchmarks.scene.arms.ARMS``.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from scl.benchmarks.scene import arms as A
from scl.benchmarks.scene import runs
from scl.benchmarks.scene.evaluation import SOURCES, Evaluator, run_model_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bench', required=True, help="the scene benchmark's --out directory (data, runs)")
    p.add_argument('--preset', choices=sorted(A.PRESETS), default='cpu')
    p.add_argument('--candidate', nargs='+', action='append', default=[], metavar=('NAME', 'OVERRIDE'),
                   help='a name and the config overrides of one SCL candidate (repeat for more)')
    p.add_argument('--threads', type=int, default=2)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from tqdm import tqdm
    preset = A.PRESETS[args.preset]
    bench = osp.abspath(args.bench)
    data = osp.join(bench, 'data')
    if not osp.isfile(osp.join(data, 'meta.json')):
        raise SystemExit(f'{data} has no scene data: run tools/benchmarks/scene_benchmark.py --out {args.bench} first')
    out = osp.join(bench, 'tuning')
    os.makedirs(out, exist_ok=True)
    candidates = [('mocov2', A.ARMS['mocov2'], bench), ('scl', A.ARMS['scl'], bench)]
    for name, *overrides in args.candidate:
        if name in A.ARMS:
            raise SystemExit(f'--candidate {name}: the name is taken by an arm of the benchmark')
        candidates.append((name, A.Arm('scl', list(overrides), f'SCL {name}'), out))
    ev = Evaluator(data, preset, split='train-holdout')
    results = []
    for name, arm, where in tqdm(candidates, desc='tuning', unit='run'):
        t0 = time.time()
        ckpt = runs.pretrain(where, 0, name, data, preset, arm=arm)
        wd = osp.join(runs.run_dir(where, 0, name), 'pretrain')
        res = ev.evaluate_checkpoint(run_model_config(A.config_path(arm), wd), ckpt, seed=0)
        results.append(dict(name=name, overrides=arm.overrides, checkpoint=osp.relpath(ckpt, bench),
                            wall_time_s=round(time.time() - t0, 1), **res))
    with open(osp.join(out, 'tuning.json'), 'w') as f:
        json.dump(dict(preset=args.preset, seed=0, split='train-holdout', centre_prior=ev.centre_prior,
                       command=' '.join(['python', 'tools/benchmarks/scene_tuning.py'] + list(argv or sys.argv[1:])),
                       runs=results), f, indent=1)
    lines = [f'Validation splits of the training data (centre prior {ev.centre_prior:.3f}, uniform 1.0)', '',
             '| run | overrides | val linear top-1 % | val 1 % labels | ' + ' | '.join(SOURCES) + ' | store |',
             '| --- | --- | --- | --- | ' + ' | '.join('---' for _ in SOURCES) + ' | --- |']
    for r in results:
        store = r.get('localisation_store')
        lines.append(f'| {r["name"]} | {" ".join(f"`{o}`" for o in r["overrides"]) or "-"} | '
                     f'{r["linear_top1"]:.1f} | {r["top1_1pct"]:.1f} | '
                     + ' | '.join(f'{r[f"localisation_{s}"]:.3f}' for s in SOURCES)
                     + f' | {"-" if store is None else f"{store:.3f}"} |')
    with open(osp.join(out, 'tuning.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
