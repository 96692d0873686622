"""Write class-balanced, seeded 1% / 10% label subsets for semi-supervised fine-tuning.

    python tools/dataset_converters/make_semi_subsets.py data/imagenet/meta/train.txt --percents 1 10 --seed 0
    # -> data/imagenet/meta/train_1percent.txt, train_10percent.txt

With the standard SimCLR lists (one file name per line), the exact subsets are converted instead:

    python tools/dataset_converters/make_semi_subsets.py data/imagenet/meta/train.txt \
        --simclr-list 1percent.txt --simclr-list 10percent.txt --percents 1 10
"""
import argparse
import sys

from scl.datasets.semi_subsets import (balanced_subset, from_simclr_list, read_ann_file, subset_path,
                                       write_ann_file)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('ann_file', help='the full training annotation file ("<path> <label>" per line)')
    p.add_argument('--percents', type=float, nargs='+', default=[1, 10])
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--simclr-list', action='append', default=[],
                   help='SimCLR subset list(s), one per percent, in the order of --percents')
    args = p.parse_args(argv)
    if args.simclr_list and len(args.simclr_list) != len(args.percents):
        print('error: give one --simclr-list per --percents value', file=sys.stderr)
        return 2
    try:
        items = read_ann_file(args.ann_file)
        for i, pct in enumerate(args.percents):
            if args.simclr_list:
                with open(args.simclr_list[i]) as f:
                    subset = from_simclr_list(items, f)
            else:
                subset = balanced_subset(items, pct, args.seed)
            out = write_ann_file(subset_path(args.ann_file, pct), subset)
            n_cls = len({label for _, label in subset})
            print(f'{out}: {len(subset)} of {len(items)} samples ({pct:g}%), {n_cls} classes')
    except (OSError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
