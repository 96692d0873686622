"""Tune SCL's reconstruction knobs for the scene benchmark on validation splits of the *training* data.

    python tools/benchmarks/scene_tuning.py --bench work_dirs/scene_benchmark \\
        --candidate gamma2 train_dataloader.dataset.pipeline.1.gamma=2.0 \\
        --candidate l2 model.saliency_reduce=l2

Every candidate pretrains SCL with the scene benchmark's preset, seed 0 and data (``<bench>/data``), plus its config
overrides (only DESIGN.md's knobs should appear there); the default SCL and MoCo v2 runs of seed 0 are taken from
``<bench>/runs`` when the benchmark has made them, trained here otherwise. Each final checkpoint is scored on

* ``val_quick_linear_top1``: the quick linear probe fitted on the classification *train* list minus its last 500
  images and scored on those 500 (the test list is never read);
* ``val_localisation``: the saliency localisation of the momentum encoder's map (SCL's reduction) on the last 100
  pretraining scenes, against their masks (masks are never used in pretraining);
* ``val_store_localisation``: for SCL runs, the localisation of the saliency store itself on those 100 scenes.

Writes ``<bench>/tuning/tuning.json`` and ``tuning.md``; pick the candidate with the best validation probe, then run it
through every protocol with ``scene_benchmark.py --extra-method NAME OVERRIDES...``.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import scene_benchmark as sb  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--bench', required=True, help="the scene benchmark's --out directory (data, runs)")
    p.add_argument('--preset', choices=sorted(sb.PRESETS), default='cpu')
    p.add_argument('--candidate', nargs='+', action='append', default=[], metavar=('NAME', 'OVERRIDE'),
                   help='a name and the config overrides of one SCL candidate (repeat for more)')
    p.add_argument('--threads', type=int, default=2)
    return p.parse_args(argv)


def store_localisation(ckpt, data, names):
    """Localisation of the SCL store's maps of the named training scenes (None for a checkpoint without a store)."""
    import torch

    from scl.evaluation import localisation_ratio, scene_masks
    store = torch.load(ckpt, map_location='cpu').get('saliency_store')
    if store is None:
        return None
    grid = store['maps'].shape[1]
    masks = scene_masks(osp.join(data, 'scenes/annotations/instances_train.json'), grid)
    index = {n: i for i, n in enumerate(sorted(os.listdir(osp.join(data, 'scenes/train'))))}
    return float(np.nanmean([localisation_ratio(store['maps'][index[n]].float().numpy(), masks[n]) for n in names]))


def main(argv=None):
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from tqdm import tqdm

    import scl  # noqa: F401
    preset = sb.PRESETS[args.preset]
    bench = osp.abspath(args.bench)
    data = osp.join(bench, 'data')
    if not osp.isfile(osp.join(data, 'meta.json')):
        raise SystemExit(f'{data} has no scene data: run tools/benchmarks/scene_benchmark.py --out {args.bench} first')
    out = osp.join(bench, 'tuning')
    os.makedirs(out, exist_ok=True)
    n = preset['pretrain_iters']
    runs = [('mocov2', 'mocov2', []), ('scl (default)', 'scl', [])]
    runs += [(c[0], 'scl', c[1:]) for c in args.candidate]
    probe = sb.CheckpointProbe(data, sb.CFG['scl']).use_validation_split(data)
    results = []
    for name, cfg_key, overrides in tqdm(runs, desc='tuning', unit='run'):
        if not overrides and osp.isfile(osp.join(bench, 'runs', 'seed0', cfg_key, 'pretrain', f'iter_{n}.pth')):
            pre_dir = osp.join(bench, 'runs', 'seed0', cfg_key, 'pretrain')  # made by the benchmark itself
        else:
            pre_dir = osp.join(out, name.split()[0], 'pretrain')
        ckpt = osp.join(pre_dir, f'iter_{n}.pth')
        t0 = time.time()
        if not osp.isfile(ckpt):
            os.makedirs(pre_dir, exist_ok=True)
            opts = sb.pretrain_options(sb.CFG[cfg_key], data, preset, 0, list(overrides))
            sb.run_train(sb.CFG[cfg_key], pre_dir, opts, osp.join(osp.dirname(pre_dir), 'pretrain.log'))
        model = probe.model(ckpt)
        results.append(dict(
            name=name, config=sb.CFG[cfg_key], overrides=list(overrides), checkpoint=osp.relpath(ckpt, bench),
            val_quick_linear_top1=probe.quick_linear(model),
            val_localisation=probe.localisation(probe.saliency(model)),
            val_store_localisation=store_localisation(ckpt, data, probe.val_names),
            wall_time_s=round(time.time() - t0, 1)))
    with open(osp.join(out, 'tuning.json'), 'w') as f:
        json.dump(dict(preset=args.preset, seed=0, command=' '.join(sys.argv), runs=results), f, indent=1)
    lines = ['| run | overrides | val quick probe top-1 % | val localisation (model) | val localisation (store) |',
             '| --- | --- | --- | --- | --- |']
    for r in results:
        store = '-' if r['val_store_localisation'] is None else f'{r["val_store_localisation"]:.3f}'
        lines.append(f'| {r["name"]} | {" ".join(f"`{o}`" for o in r["overrides"]) or "-"} | '
                     f'{r["val_quick_linear_top1"]:.1f} | {r["val_localisation"]:.3f} | {store} |')
    with open(osp.join(out, 'tuning.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
