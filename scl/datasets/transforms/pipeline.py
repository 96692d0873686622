"""One walker for data pipelines, built (transform objects) or configured (dicts and lists)."""
from typing import Iterator, Optional, Sequence, Tuple

# Where wrappers keep their inner transforms: mmcv's Compose ``transforms``, mmpretrain's MultiView ``transforms``
# (a list of per-view lists) and ``pipelines``, our MultiViewWithKeys ``pipeline``.
_CHILDREN = ('transforms', 'pipelines', 'pipeline')


def walk_pipeline(pipeline, path: str = '') -> Iterator[Tuple[str, object]]:
    """Yield ``(path, transform)`` for every transform of a pipeline, depth first in pipeline order, wrappers before
    what they wrap.

    Works on built pipelines (transform objects: Compose, MultiView, MultiViewWithKeys nested) and on pipeline configs
    (lists of dicts, a wrapper's dict holding ``transforms`` lists of lists). ``path`` is the dotted address of the
    transform inside ``pipeline`` as mmengine's ``--cfg-options`` spells it (``'1'``, ``'1.transforms.0.0'``).
    """
    if pipeline is None:
        return
    if isinstance(pipeline, (list, tuple)):
        for i, item in enumerate(pipeline):
            yield from walk_pipeline(item, f'{path}.{i}' if path else str(i))
        return
    yield path, pipeline
    for attr in _CHILDREN:
        sub = pipeline.get(attr) if isinstance(pipeline, dict) else getattr(pipeline, attr, None)
        if sub is None or sub is pipeline or isinstance(sub, (str, bytes)):
            continue
        yield from walk_pipeline(sub, f'{path}.{attr}' if path else attr)


def _type_name(transform) -> str:
    if isinstance(transform, dict):
        t = transform.get('type')
        return t if isinstance(t, str) else getattr(t, '__name__', str(t))
    return type(transform).__name__


def iter_transforms(pipeline) -> Iterator[object]:
    """Every transform of a (possibly nested) pipeline: :func:`walk_pipeline` without the paths."""
    for _, t in walk_pipeline(pipeline):
        yield t


def find_transform(pipeline, types: Sequence) -> Optional[object]:
    """The first transform of a pipeline (built or configured) whose type is one of ``types`` (names or classes),
    or None."""
    names = {t if isinstance(t, str) else t.__name__ for t in types}
    for _, t in walk_pipeline(pipeline):
        if _type_name(t) in names:
            return t
    return None


def transform_path(pipeline, type_name: str) -> str:
    """The dotted address (:func:`walk_pipeline`) of the first ``type_name`` transform of a pipeline config.

    Raises:
        ValueError: the pipeline has no such transform.
    """
    for path, t in walk_pipeline(pipeline):
        if _type_name(t) == type_name:
            return path
    raise ValueError(f'the pipeline has no {type_name}')
