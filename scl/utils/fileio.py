"""Files that a kill or a second process never leaves half-written: atomic replacement and an advisory lock."""
import contextlib
import fcntl
import json
import math
import os
import os.path as osp
import tempfile


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same folder and an atomic rename: a reader (or a
    kill in the middle) sees the old file or the new one, never a part."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def finite_json(obj):
    """``obj`` with every NaN or infinite float (numpy's included) replaced by None, recursively through dicts,
    lists and tuples: what strict JSON readers (jq, JavaScript, ``json.loads(..., parse_constant=...)``) accept."""
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):  # numpy's float64 is a float
        return None
    return obj


def atomic_write_json(path, obj, finite=False, **kwargs):
    """:func:`atomic_write_text` of ``json.dumps(obj, **kwargs)``. ``finite=True`` writes strict JSON, NaN and
    infinities as ``null`` (:func:`finite_json`), for the records people publish and parse with other tools."""
    if finite:
        obj, kwargs = finite_json(obj), dict(kwargs, allow_nan=False)
    atomic_write_text(path, json.dumps(obj, **kwargs))


@contextlib.contextmanager
def locked(path):
    """An exclusive advisory lock on ``<path>.lock`` for a read-modify-write of ``path`` by cooperating processes
    (released when the block ends, or when the process dies)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(f'{path}.lock', 'a') as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
