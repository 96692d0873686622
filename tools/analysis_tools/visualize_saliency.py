"""Draw images with their saliency maps and sampled crop pairs.

    python tools/analysis_tools/visualize_saliency.py <config> <checkpoint> [--out saliency.png]
    python tools/analysis_tools/visualize_saliency.py <config> <checkpoint> --img photo.jpg photos/ [--out x.png]

Without --img it draws training images of the config's data set. Maps come from the checkpoint's saliency store (SCL
runs). ``--source model`` (the default for checkpoints without a store, e.g. MoCo v2) computes them instead from the
checkpoint's momentum encoder on whole images, with the same feature-map reduction SCL uses.

With --img it draws any photos (files or folders, any size; the config's data need not exist): each whole image is
resized to the config's view size (or --img-size), passed through the momentum encoder, its last feature map reduced
over channels as in training, and crop pairs are sampled from that map as SaliencyCropTransform would.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='the pretraining config')
    p.add_argument('checkpoint', help='a checkpoint of that config')
    p.add_argument('--out', help='PNG to write (default: <checkpoint dir>/saliency/<checkpoint name>.png)')
    p.add_argument('--source', choices=['auto', 'store', 'model'], default='auto',
                   help="'store': the checkpoint's saliency store; 'model': recompute from the momentum encoder")
    p.add_argument('--num-images', type=int, default=6)
    p.add_argument('--num-pairs', type=int, default=3, help='crop pairs drawn per image (0: none)')
    p.add_argument('--grid-size', type=int, default=16, help="grid for --source model")
    p.add_argument('--img', nargs='+', metavar='PATH',
                   help='draw these images (files or folders of images) instead of the training set')
    p.add_argument('--img-size', type=int,
                   help="with --img: the side the whole image is resized to (default: the config's view size)")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import scl  # noqa: F401
    from scl.utils.checkpoint import read_checkpoint
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS, MODELS

    from scl.engine.hooks.saliency_visualization_hook import (evenly_spaced, find_crop_transform,
                                                               render_store_figure)
    from scl.engine.hooks.saliency_store_hook import CHECKPOINT_KEY

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    if not osp.isfile(args.checkpoint):
        print(f'error: checkpoint {args.checkpoint} does not exist', file=sys.stderr)
        return 2
    ckpt = read_checkpoint(args.checkpoint)
    if args.img:
        return draw_images(args, cfg, ckpt)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    crop = find_crop_transform(dataset)
    if crop is None and args.num_pairs:
        from mmpretrain.registry import TRANSFORMS
        crop = TRANSFORMS.build(dict(type='SaliencyCropTransform', size=64))  # draws pairs only, never resizes

    source = args.source
    if source == 'auto':
        source = 'store' if CHECKPOINT_KEY in ckpt else 'model'
    if source == 'store':
        if CHECKPOINT_KEY not in ckpt:
            print(f'error: {args.checkpoint} has no saliency store (not an SCL run); use --source model',
                  file=sys.stderr)
            return 2
        maps = ckpt[CHECKPOINT_KEY]['maps'].float().numpy()
        if len(maps) != len(dataset):
            print(f'error: the checkpoint has maps for {len(maps)} images but the config\'s dataset has '
                  f'{len(dataset)}', file=sys.stderr)
            return 2
        title = f'saliency store of {osp.basename(args.checkpoint)}'
    else:
        import numpy as np

        from scl.saliency import model_saliency
        from scl.visualization import load_rgb
        model = MODELS.build(cfg.model)
        model.load_state_dict(ckpt['state_dict'], strict=False)
        n = len(dataset)
        idx = evenly_spaced(n, args.num_images)
        size = crop.size[0] if crop is not None else 224
        imgs = [load_rgb(dataset.get_data_info(int(i))['img_path']) for i in idx]
        maps = np.ones((n, args.grid_size, args.grid_size), np.float32)
        maps[idx] = model_saliency(model, imgs, size, args.grid_size, getattr(model, 'saliency_reduce', 'mean_relu'))
        title = f'momentum-encoder saliency of {osp.basename(args.checkpoint)}'
    out = args.out or osp.join(
        osp.dirname(osp.abspath(args.checkpoint)), 'saliency', osp.splitext(osp.basename(args.checkpoint))[0] + '.png')
    render_store_figure(dataset, maps, out, args.num_images, args.num_pairs, crop if args.num_pairs else None,
                        seed=args.seed, suptitle=title)
    print(f'wrote {out}')
    return 0


def view_size(cfg, default=224):
    """The side of the training views: SaliencyCropTransform's ``size`` or RandomResizedCrop's ``scale``."""
    from scl.datasets.transforms import find_transform
    t = find_transform(cfg.get('train_dataloader', {}).get('dataset', {}).get('pipeline', []),
                       ('SaliencyCropTransform', 'RandomResizedCrop'))
    if t is None:
        return default
    size = t.get('size', t.get('scale'))
    return int(size if isinstance(size, int) else max(size))


def draw_images(args, cfg, ckpt):
    """--img: the momentum encoder's saliency of arbitrary photos, with crop pairs sampled from it."""
    import copy

    import numpy as np
    from mmpretrain.registry import MODELS, TRANSFORMS

    from scl.saliency import model_saliency
    from scl.visualization import fit_for_display, list_images, load_rgb, render_saliency_figure, sample_crop_pairs
    if args.source == 'store':
        print('error: the saliency store only holds maps of the training images; --img computes maps from the '
              'model (drop --source store)', file=sys.stderr)
        return 2
    if args.img_size is not None and args.img_size < 8:
        print(f'error: --img-size must be at least 8 pixels, got {args.img_size}', file=sys.stderr)
        return 2
    try:
        files = list_images(args.img)
        images = [load_rgb(f) for f in files]
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    model = MODELS.build(cfg.model)
    missing = model.load_state_dict(ckpt['state_dict'], strict=False).missing_keys
    if any(k.startswith(('backbone.', 'encoder_k.')) for k in missing):
        print(f'error: {args.checkpoint} does not hold the weights of this config\'s encoders (missing e.g. '
              f'{missing[0]}); pass the config it was trained with', file=sys.stderr)
        return 2
    size = args.img_size or view_size(cfg)
    maps = model_saliency(model, images, size, args.grid_size, getattr(model, 'saliency_reduce', 'mean_relu'))
    shown = [fit_for_display(img) for img in images]
    pairs = None
    if args.num_pairs:
        from scl.datasets.transforms import find_transform
        crop_cfg = find_transform(cfg.train_dataloader.dataset.pipeline, ('SaliencyCropTransform', ))
        crop = TRANSFORMS.build(copy.deepcopy(crop_cfg) if crop_cfg is not None else dict(
            type='SaliencyCropTransform', size=size))  # draws pairs only, never resizes
        state = np.random.get_state()
        np.random.seed(args.seed)
        pairs = [sample_crop_pairs(crop, img, m, args.num_pairs) for img, m in zip(shown, maps)]
        np.random.set_state(state)
    titles = [f'{osp.basename(f)} ({img.shape[1]}x{img.shape[0]})' for f, img in zip(files, images)]
    out = args.out or osp.join(osp.dirname(osp.abspath(args.checkpoint)), 'saliency',
                               osp.splitext(osp.basename(args.checkpoint))[0] + '_img.png')
    render_saliency_figure(shown, list(maps), out, crop_pairs=pairs, titles=titles,
                           suptitle=f'momentum-encoder saliency of {osp.basename(args.checkpoint)} '
                           f'({size} px input, {args.grid_size}x{args.grid_size} grid)')
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
