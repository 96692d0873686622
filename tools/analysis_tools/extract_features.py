"""Embed your own images with a pretrained backbone and save the features as .npy.

    python tools/analysis_tools/extract_features.py <config> <checkpoint> <images or folders ...> --out feats.npy
        [--batch-size 32] [--device cpu|cuda]

Works with SCL and MoCo v2 pretraining configs (and any mmpretrain config with a test pipeline): the model is built
with mmpretrain's ``get_model(config, pretrained=checkpoint)`` and run by its ``FeatureExtractor`` with the config's
test pipeline (whole image resized to the view size); each image's feature is the globally average-pooled last stage
of the backbone (``--stage`` picks another). Writes ``feats.npy`` (N x C float32) and, next to it, ``feats.txt`` with
the image path of each row.
"""
import argparse
import os.path as osp
import sys

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='the pretraining config')
    p.add_argument('checkpoint', help='a checkpoint of that config')
    p.add_argument('images', nargs='+', help='image files and / or folders of images (not recursive)')
    p.add_argument('--out', required=True, help='the .npy file to write (N x C float32)')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--device', default=None, help="'cpu', 'cuda', 'cuda:1', ... (default: a GPU if there is one)")
    p.add_argument('--stage', type=int, default=-1, help='which backbone output to pool (default: the last)')
    return p.parse_args(argv)


def pooled(feats, stage):
    """The globally average-pooled ``stage`` output of one image's backbone features (C x h x w -> C)."""
    x = feats[stage] if isinstance(feats, (list, tuple)) else feats
    return x.float().mean(dim=(-2, -1)) if x.ndim == 3 else x.float()


def main(argv=None):
    args = parse_args(argv)
    if not args.out.endswith('.npy'):
        print(f'error: --out must name a .npy file, got {args.out}', file=sys.stderr)
        return 2
    if args.batch_size < 1:
        print(f'error: --batch-size must be positive, got {args.batch_size}', file=sys.stderr)
        return 2
    import torch
    from mmengine.config import Config
    from mmpretrain import FeatureExtractor, get_model
    from tqdm import tqdm

    import scl  # noqa: F401  (registers SCL's components; checkpoints load under torch's weights_only default)
    from scl.visualization import list_images
    try:
        paths = list_images(args.images)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if not osp.isfile(args.checkpoint):
        print(f'error: checkpoint {args.checkpoint} does not exist', file=sys.stderr)
        return 2
    cfg = Config.fromfile(args.config)
    if cfg.get('test_dataloader') is None:
        print(f'error: {args.config} has no test_dataloader, so no test pipeline to embed images with; SCL and MoCo '
              'v2 configs inherit one from configs/_base_/datasets/', file=sys.stderr)
        return 2
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model = get_model(cfg, pretrained=args.checkpoint, device=device)
    extractor = FeatureExtractor(model, device=device)
    rows = []
    with tqdm(total=len(paths), desc='embedding', unit='img') as bar:
        for start in range(0, len(paths), args.batch_size):
            chunk = paths[start:start + args.batch_size]
            try:
                feats = extractor(chunk, batch_size=args.batch_size)
            except ValueError as e:  # FeatureExtractor: "Failed to read image ..."
                print(f'error: {e}', file=sys.stderr)
                return 1
            rows += [pooled(f, args.stage).cpu().numpy() for f in feats]
            bar.update(len(chunk))
    out = np.stack(rows).astype(np.float32)
    np.save(args.out, out)
    index = osp.splitext(args.out)[0] + '.txt'
    with open(index, 'w') as f:
        f.writelines(p + '\n' for p in paths)
    print(f'wrote {args.out} ({out.shape[0]} x {out.shape[1]} float32) and {index} (the image of each row)')
    return 0


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
