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


def load_model(cfg, checkpoint=None, seed=0):
    """The model of a config (a path or a Config) in eval mode: from ``checkpoint`` (a path, or a checkpoint the caller
    already read with ``torch.load``), loaded *strictly*, so a
    checkpoint of another method or width fails with torch's list of the keys that differ; without one,
    mmengine's ``init_weights`` under ``seed`` (the random-initialisation anchor of the benchmarks)."""
    import os.path as osp

    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    if isinstance(checkpoint, str) and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    init_default_scope('mmpretrain')
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    if checkpoint is None:
        model.init_weights()
    else:
        state = torch.load(checkpoint, map_location='cpu') if isinstance(checkpoint, str) else checkpoint
        model.load_state_dict(state.get('state_dict', state), strict=True)
    return model.eval()
