"""Convert an SCL / MoCo v2 checkpoint (or an extracted backbone) to a torchvision ResNet state dict.

    python tools/model_converters/convert_to_torchvision.py <checkpoint> resnet50_scl.pth
    # then: torchvision.models.resnet50().load_state_dict(torch.load('resnet50_scl.pth'), strict=False)  # fc is new

Prints every key rename, then loads the result into torchvision's ResNet of the inferred depth and checks that the only
keys it lacks are the new classifier's (fc.weight, fc.bias).
"""
import argparse
import sys

import torch

from scl.utils.checkpoint_convert import (ConversionError, check_shapes, load_state_dict, resnet_depth,
                                         to_torchvision)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint')
    p.add_argument('out')
    p.add_argument('--prefix', default='backbone.')
    p.add_argument('--quiet', action='store_true', help='do not print each rename')
    args = p.parse_args(argv)
    import torchvision
    try:
        state, renames = to_torchvision(load_state_dict(args.checkpoint), args.prefix)
        depth = resnet_depth(state)
        model = getattr(torchvision.models, f'resnet{depth}')()
        check_shapes(state, model.state_dict())
    except (OSError, ConversionError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if not args.quiet:
        for old, new in renames:
            print(f'{old} -> {new}')
    result = model.load_state_dict(state, strict=False)
    if sorted(result.missing_keys) != ['fc.bias', 'fc.weight'] or result.unexpected_keys:
        print(f'error: torchvision resnet{depth} does not take this state dict: missing {result.missing_keys}, '
              f'unexpected {result.unexpected_keys}', file=sys.stderr)
        return 2
    torch.save(state, args.out)
    print(f'{args.out}: torchvision resnet{depth}, {len(renames)} tensors; checked: only fc.weight / fc.bias are new')
    return 0


if __name__ == '__main__':
    sys.exit(main())
