"""Keep only the backbone of an SCL / MoCo v2 pretraining checkpoint (keys keep their 'backbone.' prefix, so the
evaluation configs load full and extracted checkpoints alike).

    python tools/model_converters/extract_backbone.py work_dirs/scl_.../iter_300.pth scl_backbone.pth
"""
import argparse
import sys

import torch

from scl.utils.checkpoint_convert import ConversionError, extract_backbone, load_state_dict


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint')
    p.add_argument('out')
    p.add_argument('--prefix', default='backbone.', help="the query backbone's prefix (default: backbone.)")
    args = p.parse_args(argv)
    try:
        state, renames = extract_backbone(load_state_dict(args.checkpoint), args.prefix)
    except (OSError, ConversionError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    torch.save(dict(state_dict=state, meta=dict(source=args.checkpoint)), args.out)
    print(f'{args.out}: kept {len(renames)} backbone tensors of {args.checkpoint} (prefix {args.prefix!r} kept)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
