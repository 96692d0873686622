"""Make mmengine 0.10 checkpoints loadable under torch >= 2.6's ``torch.load(weights_only=True)`` default.

mmengine saves its MessageHub (``HistoryBuffer`` objects holding numpy arrays, whose statistics methods pickle as
``getattr(HistoryBuffer, 'min')``) in every checkpoint; torch's safe unpickler rejects those globals, so ``--resume``
and ``init_cfg=dict(type='Pretrained')`` fail with "Weights only load failed". Instead of turning the safe loader off,
we allow-list exactly what mmengine writes. ``builtins.getattr`` in particular is *not* allowed: a restricted stand-in
is registered under its name that resolves nothing but HistoryBuffer's statistics methods. Called once, when ``scl`` is
imported.
"""
import pickle

import numpy as np
import torch


def _numpy_globals():
    from numpy.core import multiarray  # numpy < 2 (pinned): pickles name numpy.core.multiarray
    dtypes = [type(np.dtype(t)) for t in ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
                                           'uint64', 'float16', 'float32', 'float64')]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype] + dtypes


def _history_buffer_getattr(obj, name):
    """``getattr`` as mmengine's checkpoints use it: HistoryBuffer's statistics methods, nothing else."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and not name.startswith('_') and callable(vars(HistoryBuffer).get(name)):
        return getattr(obj, name)  # a plain function of HistoryBuffer (min, max, mean, current, ...)
    raise pickle.UnpicklingError(f'checkpoint asks for getattr({obj!r}, {name!r}), which SCL does not allow under '
                                 "torch.load(weights_only=True)")


def allow_mmengine_checkpoints():
    """Allow-list the classes that mmengine puts into checkpoints (idempotent)."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 has no weights_only default to satisfy
        return
    from mmengine.logging.history_buffer import HistoryBuffer
    add([HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] + _numpy_globals())


def read_checkpoint(path, map_location='cpu'):
    """``torch.load`` of a checkpoint file (torch's safe ``weights_only`` loader, with what mmengine writes allowed);
    a file that is not a checkpoint is one :class:`~scl.utils.errors.NotACheckpointError` that says what it is,
    never torch's suggestion to turn the safe loader off.

    Raises:
        FileNotFoundError: No such file.
        NotACheckpointError: The file is not a torch checkpoint (or not one the safe loader may read).
    """
    import os.path as osp

    from .errors import NotACheckpointError
    path = osp.expanduser(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    try:
        return torch.load(path, map_location=map_location)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as e:
        # torch's own message is kept as the cause (SCL_DEBUG=1): it suggests turning the safe loader off
        raise NotACheckpointError(f'not a checkpoint: {path} ({_what_file(path)}; torch.load raised '
                                  f'{type(e).__name__})') from e


def _what_file(path):
    with open(path, 'rb') as f:
        head = f.read(8)
    if head.startswith(b'\x93NUMPY'):
        return 'a NumPy .npy array; checkpoints are the .pth files in the run\'s work dir'
    if head.startswith(b'PK'):
        return 'a zip archive that torch cannot read as a checkpoint (truncated or another format)'
    if not head:
        return 'an empty file (a run killed while saving?)'
    return 'not a torch file'


def _load_from_local(filename, map_location):
    """mmengine's loader of local checkpoint files (``--resume``, ``load_from``, ``init_cfg=Pretrained``), through
    :func:`read_checkpoint`."""
    return read_checkpoint(filename, map_location)


def route_mmengine_local_checkpoints():
    """Make mmengine read local checkpoint files through :func:`read_checkpoint` (idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local, force=True)


def load_model(cfg, checkpoint=None, seed=0):
    """The model of a config (a path or a Config) in eval mode: from ``checkpoint`` (a path, or a checkpoint the caller
    already read with ``torch.load``), loaded *strictly*, so a
    checkpoint of another method or width fails with torch's list of the keys that differ; without one,
    mmengine's ``init_weights`` under ``seed`` (the random-initialisation anchor of the benchmarks)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    init_default_scope('mmpretrain')
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    if checkpoint is None:
        model.init_weights()
    else:
        state = read_checkpoint(checkpoint) if isinstance(checkpoint, str) else checkpoint
        model.load_state_dict(state.get('state_dict', state), strict=True)
    return model.eval()
