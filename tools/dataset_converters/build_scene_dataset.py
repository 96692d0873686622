"""Build the scene benchmark / demo data from real installable data (Fashion-MNIST objects on object-free
backgrounds by default; on real photos with ``--background photos``).

    python tools/dataset_converters/build_scene_dataset.py data/demo                # the embedded demo (seconds)
    python tools/dataset_converters/build_scene_dataset.py data/scenes --num-train 20000 --num-val 2000 \
        --num-cls-train 60000 --num-cls-test 10000
    python tools/dataset_converters/build_scene_dataset.py data/demo_photos --background photos   # stress variant

See scl/datasets/scene_builder.py for the layout written.
"""
import argparse
import sys
import time

from scl.datasets.scene_builder import BACKGROUND_MODES, DataSourceError, SceneConfig, build_scene_dataset


def parse_args(argv=None):
    d = SceneConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('out_dir', help='output directory')
    p.add_argument('--num-train', type=int, default=d.num_train, help='unlabeled pretraining scenes')
    p.add_argument('--num-val', type=int, default=d.num_val, help='held-out scenes with boxes and masks')
    p.add_argument('--canvas', type=int, default=d.canvas, help='scene side in pixels')
    p.add_argument('--min-objects', type=int, default=d.min_objects)
    p.add_argument('--max-objects', type=int, default=d.max_objects)
    p.add_argument('--min-object-size', type=int, default=d.min_object_size)
    p.add_argument('--max-object-size', type=int, default=d.max_object_size)
    p.add_argument('--num-cls-train', type=int, default=d.num_cls_train, help='object-centric train images')
    p.add_argument('--num-cls-test', type=int, default=d.num_cls_test, help='object-centric test images')
    p.add_argument('--cls-size', type=int, default=d.cls_size, help='object-centric image side')
    p.add_argument('--seed', type=int, default=d.seed)
    p.add_argument('--background', choices=BACKGROUND_MODES, default=d.background,
                   help='textures (default): a fresh object-free background per image (shuffled photo patches, '
                   'skimage textures, low-pass colour fields); photos: random crops of ~20 real photos that carry '
                   'objects of their own (the v1 data, a stress variant)')
    p.add_argument('--max-patch-fraction', type=float, default=d.max_patch_fraction,
                   help='textures: largest shuffled-patch side as a fraction of the image side')
    p.add_argument('--background-kinds', nargs='+', default=list(d.background_kinds),
                   choices=['patches', 'texture', 'field'], help='the textures layers to draw from (default: all; '
                   'field alone gives smooth backgrounds without texture)')
    p.add_argument('--scene-background-pool', type=int, default=d.scene_background_pool,
                   help='0 (default): every scene has a background of its own; N: the scenes of each split share N '
                   'backgrounds (a study of background as the cue of instance discrimination)')
    p.add_argument('--fmnist-dir', default=None,
                   help='directory with the four Fashion-MNIST IDX .gz files '
                   '(default: /usr/share/datasets/fashion-mnist from Debian dataset-fashion-mnist)')
    p.add_argument('--backgrounds', action='append', default=[], help='extra glob of background photos')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = SceneConfig(
        num_train=args.num_train, num_val=args.num_val, canvas=args.canvas, min_objects=args.min_objects,
        max_objects=args.max_objects, min_object_size=args.min_object_size, max_object_size=args.max_object_size,
        num_cls_train=args.num_cls_train, num_cls_test=args.num_cls_test, cls_size=args.cls_size, seed=args.seed,
        background=args.background, max_patch_fraction=args.max_patch_fraction,
        extra_backgrounds=tuple(args.backgrounds), scene_background_pool=args.scene_background_pool,
        background_kinds=tuple(args.background_kinds))
    t0 = time.time()
    try:
        meta = build_scene_dataset(args.out_dir, cfg, fmnist_dir=args.fmnist_dir)
    except (DataSourceError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    c = meta['counts']
    print(f'wrote {args.out_dir} in {time.time() - t0:.1f}s: {c["scenes_train"]} train scenes '
          f'({c["objects_train"]} objects), {c["scenes_val"]} val scenes ({c["objects_val"]} objects), '
          f'{c["cls_train"]}/{c["cls_test"]} classification images, background mode {meta["background_mode"]} '
          f'({len(meta["backgrounds"])} source files)')
    return 0


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
