"""The scene benchmark's data: build_scene_dataset output for a preset and a background mode, built once."""
import json
import os.path as osp

from scl.utils.errors import ConfigError

BACKGROUNDS = ('textures', 'photos')  # data v2 (default) and the photo stress variant


def data_dir(out, background):
    return osp.join(out, 'data' if background == 'textures' else f'data_{background}')


def ensure_data(path, preset, background='textures'):
    """Build the scene data at ``path`` unless it is there; check that what is there matches the preset.

    Returns the data's meta.json (dict).
    """
    from scl.datasets.scene_builder import SceneConfig, build_scene_dataset
    if background not in BACKGROUNDS:
        raise ValueError(f'background must be one of {BACKGROUNDS}, got {background!r}')
    meta_file = osp.join(path, 'meta.json')
    want = dict(num_train=preset['num_train'], num_val=preset['num_val'], num_cls_train=preset['num_cls_train'],
                num_cls_test=preset['num_cls_test'], background=background)
    if not osp.isfile(meta_file):
        build_scene_dataset(path, SceneConfig(seed=0, **want))
    with open(meta_file) as f:
        meta = json.load(f)
    have = {k: meta['config'].get(k) for k in want}
    if have != want:
        raise ConfigError(f'{path} holds scene data built with {have}, but this run needs {want}: pass another --out '
                          '(or --data) or delete that directory')
    if 'fingerprint' not in meta:  # built before the builder recorded one: computed once, from the files
        from scl.datasets.scene_builder import data_fingerprint
        from scl.utils.fileio import atomic_write_json
        meta['fingerprint'] = data_fingerprint(path)
        atomic_write_json(meta_file, meta, indent=2)
    return meta
