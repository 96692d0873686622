"""Checkpoint conversions: SCL / MoCo checkpoint -> backbone, torchvision ResNet, detectron2 ResNet.

Every function returns the new state dict and the list of ``(old key, new key)`` renames, so that the tools print
and check each one.
"""
import re
from collections import OrderedDict

import torch

RESNET_DEPTHS = {(2, 2, 2, 2, False): 18, (3, 4, 6, 3, False): 34, (3, 4, 6, 3, True): 50, (3, 4, 23, 3, True): 101,
                 (3, 8, 36, 3, True): 152}


class ConversionError(ValueError):
    """The checkpoint cannot be converted as asked."""


def load_state_dict(path):
    """The state dict of a checkpoint file (``checkpoint['state_dict']`` when present)."""
    import scl  # noqa: F401  (allows mmengine checkpoints under torch's weights_only default)
    from .checkpoint import read_checkpoint
    ckpt = read_checkpoint(path)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f'{path} holds no state dict of tensors')
    return state


def extract_backbone(state, prefix='backbone.'):
    """Keep the query backbone (keys under ``prefix``, prefix kept) of a self-supervised checkpoint.

    Raises:
        ConversionError: no key starts with ``prefix``.
    """
    out = OrderedDict((k, v) for k, v in state.items() if k.startswith(prefix))
    if not out:
        tops = sorted({k.split('.', 1)[0] for k in state})[:8]
        raise ConversionError(f'no key starts with {prefix!r} (keys start with {tops}); not a SCL / MoCo checkpoint?')
    return out, [(k, k) for k in out]


def strip_prefix(state, prefix):
    if prefix and not any(k.startswith(prefix) for k in state):
        raise ConversionError(f'no key starts with {prefix!r}')
    return OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))


def resnet_depth(backbone):
    """Infer the ResNet depth from (prefix-free) backbone keys."""
    blocks = []
    for layer in range(1, 5):
        ids = {int(m.group(1)) for k in backbone for m in [re.match(rf'layer{layer}\.(\d+)\.', k)] if m}
        blocks.append(len(ids))
    bottleneck = any(re.match(r'layer1\.0\.conv3\.', k) for k in backbone)
    depth = RESNET_DEPTHS.get(tuple(blocks) + (bottleneck, ))
    if depth is None:
        raise ConversionError(f'not a standard ResNet: blocks per stage {blocks}, bottleneck={bottleneck}')
    return depth


def to_torchvision(state, prefix='backbone.'):
    """mmpretrain ResNet keys -> torchvision ``resnet{depth}`` keys (no ``fc``). Names already agree."""
    backbone = strip_prefix(state, prefix)
    renames = [(prefix + k, k) for k in backbone]
    bad = [k for k in backbone if not re.match(r'^(conv1|bn1|layer[1-4]\.\d+\.(conv[1-3]|bn[1-3]|downsample\.[01]))\.',
                                               k)]
    if bad:
        raise ConversionError(f'keys with no torchvision counterpart (deep stem or another backbone?): {bad[:5]}')
    return backbone, renames


def check_shapes(state, reference):
    """Raise ConversionError when a tensor's shape differs from the reference model's (e.g. a narrowed ResNet)."""
    bad = [f'{k}: {tuple(v.shape)} vs {tuple(reference[k].shape)}' for k, v in state.items()
           if k in reference and tuple(v.shape) != tuple(reference[k].shape)]
    if bad:
        raise ConversionError(f'{len(bad)} tensors do not have the shapes of the target model, e.g. {bad[:3]}: a '
                              'backbone of another width has no torchvision counterpart')


def to_detectron2(state, prefix='backbone.'):
    """mmpretrain ResNet keys -> detectron2 ResNet keys (as MoCo's convert-pretrain-to-detectron2.py)."""
    backbone = strip_prefix(state, prefix)
    out, renames = OrderedDict(), []
    for k, v in backbone.items():
        new = k
        if not new.startswith('layer'):
            new = 'stem.' + new
        for t in range(1, 5):
            new = new.replace(f'layer{t}.', f'res{t + 1}.')
        for t in range(1, 4):
            new = new.replace(f'bn{t}.', f'conv{t}.norm.')
        new = new.replace('downsample.0.', 'shortcut.').replace('downsample.1.', 'shortcut.norm.')
        if new.endswith('num_batches_tracked'):
            continue  # detectron2's FrozenBN / SyncBN have no such buffer
        out[new] = v.numpy()
        renames.append((prefix + k, new))
    return out, renames


def converter_main(doc, convert, save, argv=None, quiet_option=True):
    """The shared command line of tools/model_converters: ``<checkpoint> <out> [--prefix P] [--quiet]``.

    ``convert(state, prefix)`` returns ``(new state, renames)`` or raises ConversionError / OSError;
    ``save(new state, out, args)`` writes it and returns a one-line summary. Every rename is printed unless
    ``--quiet``. Returns the exit code: 0, or 2 with one ``error:`` line on stderr (nothing written).
    """
    import argparse
    import sys
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint')
    p.add_argument('out')
    p.add_argument('--prefix', default='backbone.', help="the query backbone's prefix (default: backbone.)")
    if quiet_option:
        p.add_argument('--quiet', action='store_true', help='do not print each rename')
    args = p.parse_args(argv)
    try:
        state, renames = convert(load_state_dict(args.checkpoint), args.prefix)
    except (OSError, ConversionError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if quiet_option and not args.quiet:
        for old, new in renames:
            print(f'{old} -> {new}')
    print(save(state, args.out, args, renames))
    return 0
