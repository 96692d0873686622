"""Draw sample scenes and classification images of every background mode, one picture per mode.

    python tools/dataset_converters/plot_scene_samples.py --out docs/benchmarks/scene/data_v2

Writes ``sample_scenes_<mode>.png`` (top rows: scenes as the builder writes them; next row: the same scenes with the
annotated object masks outlined, so anything on the background that looks like an object but is not outlined is a
background object; bottom row: object-centric classification images). The images are drawn in memory with the
builder's own functions and streams (``SceneConfig`` defaults unless overridden), so the same seed shows the same
garments in every mode.
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np


def parse_args(argv=None):
    from scl.datasets.scene_builder import BACKGROUND_MODES, SceneConfig
    d = SceneConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='output directory')
    p.add_argument('--modes', nargs='+', choices=BACKGROUND_MODES, default=list(BACKGROUND_MODES))
    p.add_argument('--num', type=int, default=8, help='scenes per row')
    p.add_argument('--rows', type=int, default=2, help='rows of scenes')
    p.add_argument('--canvas', type=int, default=d.canvas)
    p.add_argument('--min-object-size', type=int, default=d.min_object_size)
    p.add_argument('--max-object-size', type=int, default=d.max_object_size)
    p.add_argument('--cls-size', type=int, default=d.cls_size)
    p.add_argument('--seed', type=int, default=d.seed)
    p.add_argument('--fmnist-dir', default=None, help='directory with the four Fashion-MNIST IDX .gz files')
    return p.parse_args(argv)


def sample_mode(cfg, num_scenes, num_cls, fmnist_dir=None):
    """Scenes (image, masks, labels) and classification images of ``cfg.background``, from the builder's streams."""
    from scl.datasets.scene_builder import (SPLITS, BackgroundSource, find_background_photos, find_textures,
                                            load_fashion_mnist, make_object_image, make_scene)
    fm = load_fashion_mnist(fmnist_dir)
    backgrounds = BackgroundSource(cfg.background, find_background_photos(cfg.extra_backgrounds), find_textures(),
                                   cfg.max_patch_fraction)
    streams = [s.spawn(2) for s in np.random.SeedSequence(cfg.seed).spawn(len(SPLITS))]
    obj_rng, bg_rng = (np.random.default_rng(s) for s in streams[0])  # scenes/train
    scenes = [make_scene(obj_rng, backgrounds, fm['train_images'], fm['train_labels'], cfg, bg_rng=bg_rng)
              for _ in range(num_scenes)]
    obj_rng, bg_rng = (np.random.default_rng(s) for s in streams[2])  # cls/train (source order differs from the
    idx = obj_rng.choice(len(fm['train_images']), num_cls, replace=False)  # builder's balanced draw; same look)
    cls = [make_object_image(obj_rng, backgrounds, fm['train_images'][i], cfg.cls_size, bg_rng=bg_rng)[0] for i in idx]
    return scenes, cls, [int(fm['train_labels'][i]) for i in idx]


def outline(img, masks):
    """``img`` with the boundary of every mask drawn in white (1 px)."""
    import cv2
    out = img.copy()
    for m in masks:
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    return out


def plot_mode(path, cfg, scenes, cls, cls_labels, num):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from scl.datasets.scene_builder import FASHION_MNIST_CLASSES
    rows = len(scenes) // num
    fig, axes = plt.subplots(rows + 2, num, figsize=(1.9 * num, 1.95 * (rows + 2)), squeeze=False)
    for k, (img, objects, recipe) in enumerate(scenes[:rows * num]):
        ax = axes[k // num][k % num]
        ax.imshow(img)
        ax.set_title(f'{recipe["kind"]}' + (f' p={recipe["patch"]}' if 'patch' in recipe else ''), fontsize=7)
    for k, (img, objects, _) in enumerate(scenes[:num]):
        ax = axes[rows][k]
        ax.imshow(outline(img, [m for _, m in objects]))
        ax.set_title(f'{len(objects)} objects (outlined)', fontsize=7)
    for k, (img, label) in enumerate(zip(cls, cls_labels)):
        ax = axes[rows + 1][k]
        ax.imshow(img, interpolation='nearest')
        ax.set_title(f'cls: {FASHION_MNIST_CLASSES[label]}', fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f'background mode "{cfg.background}": {cfg.canvas} px scenes, garments {cfg.min_object_size}-'
                 f'{cfg.max_object_size} px; bottom: {cfg.cls_size} px classification images', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=64)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    from scl.datasets.scene_builder import SceneConfig, check_config
    os.makedirs(args.out, exist_ok=True)
    for mode in args.modes:
        cfg = SceneConfig(canvas=args.canvas, min_object_size=args.min_object_size,
                          max_object_size=args.max_object_size, cls_size=args.cls_size, seed=args.seed,
                          background=mode)
        check_config(cfg)
        scenes, cls, labels = sample_mode(cfg, args.num * args.rows, args.num, args.fmnist_dir)
        path = osp.join(args.out, f'sample_scenes_{mode}.png')
        plot_mode(path, cfg, scenes, cls, labels, args.num)
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
