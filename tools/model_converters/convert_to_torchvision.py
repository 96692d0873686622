"""Convert an SCL / MoCo v2 checkpoint (or an extracted backbone) to a torchvision ResNet state dict.

    python tools/model_converters/convert_to_torchvision.py <checkpoint> resnet50_scl.pth
    # then: torchvision.models.resnet50().load_state_dict(torch.load('resnet50_scl.pth'), strict=False)  # fc is new

Prints every key rename, loads the result into torchvision's ResNet of the inferred depth, and checks that the only
keys it lacks are the new classifier's (fc.weight, fc.bias).
"""
import sys

import torch

from scl.utils.checkpoint_convert import (ConversionError, check_shapes, converter_main, resnet_depth,
                                         to_torchvision)


def convert(state, prefix):
    import torchvision
    state, renames = to_torchvision(state, prefix)
    depth = resnet_depth(state)
    model = getattr(torchvision.models, f'resnet{depth}')()
    check_shapes(state, model.state_dict())
    result = model.load_state_dict(state, strict=False)
    if sorted(result.missing_keys) != ['fc.bias', 'fc.weight'] or result.unexpected_keys:
        raise ConversionError(f'torchvision resnet{depth} does not take this state dict: missing '
                              f'{result.missing_keys}, unexpected {result.unexpected_keys}')
    return state, renames


def save(state, out, args, renames):
    torch.save(state, out)
    return (f'{out}: torchvision resnet{resnet_depth(state)}, {len(renames)} tensors; checked: only fc.weight / '
            'fc.bias are new')


if __name__ == '__main__':
    sys.exit(converter_main(__doc__, convert, save))
