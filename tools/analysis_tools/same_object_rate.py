"""Same-object rate of a scene set: the share of view pairs whose two views each hold at least half of the same
object, for a uniform shared anchor, an anchor drawn from the true object cover (the oracle), SCL's independent crops
and two independent crops of mmpretrain's RandomResizedCrop (MoCo v2's views). Prints in seconds.

    python tools/analysis_tools/same_object_rate.py data/demo \\
        --config configs/scl/scl_resnet18_1xb32-coslr-4000i_scenes.py          # the config's crop scale and ratio
    python tools/analysis_tools/same_object_rate.py data/demo --scale 0.08 1.0 --json rates.json

Anchoring can only matter where ``oracle`` is well above ``uniform``: on scenes where any crop already holds an
object, where the anchor falls changes little (docs/benchmarks/scene/data_v3/search.md).
"""
import argparse
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = 'configs/scl/scl_resnet18_1xb32-coslr-4000i_scenes.py'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data', help='a build_scene_dataset directory (or a COCO instances file)')
    p.add_argument('--split', default='train', help="the scenes' split (default: train)")
    p.add_argument('--config', default=osp.join(ROOT, DEFAULT_CONFIG),
                   help='SCL pretraining config whose SaliencyCropTransform gives scale and ratio')
    p.add_argument('--scale', type=float, nargs=2, help='crop area range, overriding the config')
    p.add_argument('--ratio', type=float, nargs=2, help='crop aspect-ratio range, overriding the config')
    p.add_argument('--pairs', type=int, default=20000)
    p.add_argument('--grid', type=int, default=16, help="the oracle map's grid (the store's)")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--json', help='also write the rates to this file')
    p.add_argument('--picture', help='also draw a few scenes with their oracle map and one view pair per anchor (PNG)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import scl  # noqa: F401  (registers the transforms)
    from scl.benchmarks.scene.geometry import crop_scale, same_object_rates
    ann = args.data if args.data.endswith('.json') else osp.join(args.data, 'scenes', 'annotations',
                                                                 f'instances_{args.split}.json')
    if not osp.isfile(ann):
        sys.exit(f'error: no scene annotations at {ann}: build the scenes with '
                 'tools/dataset_converters/build_scene_dataset.py')
    scale, ratio = crop_scale(args.config)
    scale, ratio = tuple(args.scale or scale), tuple(args.ratio or ratio)
    t0 = time.time()
    rates = same_object_rates(ann, scale, ratio, args.pairs, args.grid, args.seed)
    rates.update(scale=list(scale), ratio=list(ratio), ann_file=ann, seconds=round(time.time() - t0, 1))
    print(f'{ann}: {rates["scenes"]} scenes, {rates["objects_per_scene"]:.2f} objects each, '
          f'{100 * rates["object_area_share"]:.1f} % of the area in object boxes; crop scale {scale}, ratio '
          f'({ratio[0]:.3g}, {ratio[1]:.3g}); {args.pairs} pairs')
    print('both views hold >= half of the same object:')
    for kind, what in (('uniform', 'uniform shared anchor'), ('oracle', 'anchor on the true objects (oracle)'),
                       ('independent', "independent crops (SCL's transform)"),
                       ('mmpretrain', "independent crops (mmpretrain's RandomResizedCrop)")):
        print(f'  {what:<52} {100 * rates[kind]:5.1f} %')
    print(f'  oracle - uniform: {100 * (rates["oracle"] - rates["uniform"]):+.1f} points ({rates["seconds"]} s)')
    if args.picture:
        if args.data.endswith('.json'):
            sys.exit('error: --picture needs the data folder (the scenes), not an annotation file')
        from scl.benchmarks.scene.geometry import plot_pairs
        plot_pairs(args.picture, args.data, scale, ratio, grid_size=args.grid, seed=args.seed, split=args.split)
        print(f'wrote {args.picture}')
    if args.json:
        from scl.utils.fileio import atomic_write_json
        atomic_write_json(args.json, rates, indent=1)
    return 0


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
