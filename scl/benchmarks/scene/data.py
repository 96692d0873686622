"""The scene benchmark's data: build_scene_dataset output for a preset and a background mode, built once."""
import json
import os.path as osp

from scl.utils.errors import ConfigError

BACKGROUNDS = ('textures', 'photos')  # data v2 (default) and the photo stress variant


def data_dir(out, background):
    return osp.join(out, 'data' if background == 'textures' else f'data_{background}')


def ensure_built(path, cfg, keys=None, variant=None):
    """Build the scenes of ``cfg`` (a ``SceneConfig``) at ``path`` unless they are there; what is there must have been
    built with the same values of ``keys`` (default: every setting). Records the data's content fingerprint (once,
    for data built before the builder wrote one) and, with ``variant``, the data version by name (not part of the
    fingerprint). Returns the data's meta.json (dict)."""
    from dataclasses import asdict

    from scl.datasets.scene_builder import build_scene_dataset, data_fingerprint
    from scl.utils.fileio import atomic_write_json
    meta_file = osp.join(path, 'meta.json')
    if not osp.isfile(meta_file):
        build_scene_dataset(path, cfg)
    with open(meta_file) as f:
        meta = json.load(f)
    want = json.loads(json.dumps(asdict(cfg)))
    diff = sorted(k for k in (want if keys is None else keys) if meta['config'].get(k) != want[k])
    if diff:
        raise ConfigError(f'{path} holds scene data built with other settings than this run needs ('
                          + ', '.join(f'{k}: {meta["config"].get(k)!r}, needed {want[k]!r}' for k in diff)
                          + '): pass another --out (or --data) or delete that directory')
    changed = 'fingerprint' not in meta or (variant is not None and meta.get('variant') != variant)
    if 'fingerprint' not in meta:
        meta['fingerprint'] = data_fingerprint(path)
    if variant is not None:
        meta['variant'] = variant
    if changed:
        atomic_write_json(meta_file, meta, indent=2)
    return meta


def ensure_data(path, preset, background='textures'):
    """The benchmark's default scenes (data v2) at ``path`` for ``preset``: :func:`ensure_built` with the preset's
    sizes and ``background``. Returns the data's meta.json (dict)."""
    from scl.datasets.scene_builder import SceneConfig
    if background not in BACKGROUNDS:
        raise ValueError(f'background must be one of {BACKGROUNDS}, got {background!r}')
    want = dict(num_train=preset['num_train'], num_val=preset['num_val'], num_cls_train=preset['num_cls_train'],
                num_cls_test=preset['num_cls_test'], background=background)
    return ensure_built(path, SceneConfig(seed=0, **want), keys=want)
