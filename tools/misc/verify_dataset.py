"""List the images of a config's data set that cannot be read, before a long run trips over them.

    python tools/misc/verify_dataset.py <config> [--split train] [--out-path bad_images.txt] [--workers 2]

Every image is read as the training pipeline reads it (mmengine's file backends, mmcv's cv2 decoder). The unreadable
ones are printed (and written to ``--out-path``, one per line); the exit status is 1 if there is any, 0 otherwise.
mmpretrain ships the same tool for its classification configs; this one works on any SCL config (pretraining scenes,
classification, detection).
"""
import argparse
import sys
from multiprocessing import Pool

from mmengine.config import Config, DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='the config whose data set is checked')
    p.add_argument('--split', choices=['train', 'val', 'test'], default='train', help='which dataloader\'s data set')
    p.add_argument('--out-path', help='also write the unreadable files here, one per line')
    p.add_argument('--workers', type=int, default=2, help='reader processes')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return p.parse_args(argv)


def image_paths(cfg, split):
    """The image paths of the ``split`` dataloader's data set, built without its pipeline."""
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    key = f'{split}_dataloader'
    if cfg.get(key) is None:
        raise SystemExit(f'error: {cfg.filename} has no {key}')
    dataset_cfg = cfg[key].dataset.copy()
    dataset_cfg['pipeline'] = []
    dataset = DATASETS.build(dataset_cfg)
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    return [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]


def check(path):
    from scl.datasets.image_check import image_problem
    return path, image_problem(path)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    import scl  # noqa: F401
    from tqdm import tqdm
    paths = image_paths(cfg, args.split)
    bad = []
    with Pool(max(1, args.workers)) as pool:
        for path, problem in tqdm(pool.imap(check, paths, chunksize=16), total=len(paths), desc='reading images',
                                  unit='img'):
            if problem is not None:
                bad.append(path)
                tqdm.write(f'unreadable: {path}: {problem}')
    if args.out_path:
        with open(args.out_path, 'w') as f:
            f.writelines(p + '\n' for p in bad)
    print(f'{len(bad)} of {len(paths)} images cannot be read' + (f' (listed in {args.out_path})' if args.out_path
                                                                  and bad else ''))
    return 1 if bad else 0


if __name__ == '__main__':
    from scl.utils.errors import run_main
    sys.exit(run_main(main))
