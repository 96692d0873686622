"""Convert an SCL / MoCo v2 checkpoint to detectron2's ResNet format (a .pkl for MODEL.WEIGHTS), as MoCo's
convert-pretrain-to-detectron2.py does. Use with MODEL.PIXEL_MEAN / PIXEL_STD of torchvision and INPUT.FORMAT "RGB".

    python tools/model_converters/convert_to_detectron2.py <checkpoint> scl_r50.pkl
"""
import argparse
import pickle as pkl
import sys

from scl.utils.checkpoint_convert import ConversionError, load_state_dict, to_detectron2


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint')
    p.add_argument('out')
    p.add_argument('--prefix', default='backbone.')
    p.add_argument('--quiet', action='store_true', help='do not print each rename')
    args = p.parse_args(argv)
    try:
        state, renames = to_detectron2(load_state_dict(args.checkpoint), args.prefix)
    except (OSError, ConversionError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if not args.quiet:
        for old, new in renames:
            print(f'{old} -> {new}')
    if len({new for _, new in renames}) != len(renames):
        print('error: two keys map to the same detectron2 name', file=sys.stderr)
        return 2
    with open(args.out, 'wb') as f:
        pkl.dump(dict(model=state, __author__='SCL', matching_heuristics=True), f)
    print(f'{args.out}: {len(renames)} tensors in detectron2 naming')
    return 0


if __name__ == '__main__':
    sys.exit(main())
