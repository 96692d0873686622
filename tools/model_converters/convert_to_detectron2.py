"""Convert an SCL / MoCo v2 checkpoint to detectron2's ResNet format (a .pkl for MODEL.WEIGHTS), as MoCo's
convert-pretrain-to-detectron2.py does. Use with MODEL.PIXEL_MEAN / PIXEL_STD of torchvision and INPUT.FORMAT "RGB".

    python tools/model_converters/convert_to_detectron2.py <checkpoint> scl_r50.pkl
"""
import pickle as pkl
import sys

from scl.utils.checkpoint_convert import ConversionError, converter_main, to_detectron2


def convert(state, prefix):
    state, renames = to_detectron2(state, prefix)
    if len({new for _, new in renames}) != len(renames):
        raise ConversionError('two keys map to the same detectron2 name')
    return state, renames


def save(state, out, args, renames):
    with open(out, 'wb') as f:
        pkl.dump(dict(model=state, __author__='SCL', matching_heuristics=True), f)
    return f'{out}: {len(renames)} tensors in detectron2 naming'


if __name__ == '__main__':
    sys.exit(converter_main(__doc__, convert, save))
