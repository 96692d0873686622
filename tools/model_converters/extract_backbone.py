"""Keep only the backbone of an SCL / MoCo v2 pretraining checkpoint (keys keep their 'backbone.' prefix, so the
evaluation configs load full and extracted checkpoints alike).

    python tools/model_converters/extract_backbone.py work_dirs/scl_.../iter_300.pth scl_backbone.pth
"""
import sys

import torch

from scl.utils.checkpoint_convert import converter_main, extract_backbone


def save(state, out, args, renames):
    torch.save(dict(state_dict=state, meta=dict(source=args.checkpoint)), out)
    return f'{out}: kept {len(renames)} backbone tensors of {args.checkpoint} (prefix {args.prefix!r} kept)'


if __name__ == '__main__':
    sys.exit(converter_main(__doc__, extract_backbone, save, quiet_option=False))
