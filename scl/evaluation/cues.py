"""Which cue identifies a scene for a network: its objects or its background?

Instance discrimination (MoCo v2, SCL) rewards whatever tells one scene from the others. When every scene has its own
background, the background can do that alone, and a network that learns it also puts its saliency there. This module
measures it by retrieval among held-out scenes: for every scene ``i`` two edited copies are made with a *fresh*
background drawn from the data's own background source (so both stay in the training distribution):

- ``objects``: scene ``i``'s objects (its mask) pasted on a fresh background;
- ``background``: scene ``i`` with its object pixels replaced by another fresh background's pixels.

Each copy is a query against the gallery of the unedited scenes (cosine similarity of the network's features); the
cue's score is the share of queries whose nearest scene is their own (top-1 retrieval; chance is ``1 / N``). A network
that identifies scenes by their objects scores high on ``objects``, one that uses the background on ``background``.
"""
import numpy as np
import torch


def cue_images(images, masks, fresh_objects, fresh_background):
    """The two edited copies of each scene (see the module docstring).

    Args:
        images (np.ndarray): N x H x W x 3 uint8 scenes.
        masks (np.ndarray): N x H x W bool union of each scene's object masks.
        fresh_objects, fresh_background (np.ndarray): N x H x W x 3 uint8 backgrounds the scene never had: the new
            ground under the objects, and the fill of the object pixels.

    Returns:
        dict[str, np.ndarray]: ``{'objects': N x H x W x 3, 'background': N x H x W x 3}`` uint8.
    """
    images, masks = np.asarray(images), np.asarray(masks, bool)
    if images.ndim != 4 or masks.shape != images.shape[:3]:
        raise ValueError(f'images must be N x H x W x 3 and masks N x H x W, got {images.shape} and {masks.shape}')
    for name, fresh in (('fresh_objects', fresh_objects), ('fresh_background', fresh_background)):
        if np.shape(fresh) != images.shape:
            raise ValueError(f'{name} must match the images ({images.shape}), got {np.shape(fresh)}')
    m = masks[..., None]
    return dict(objects=np.where(m, images, fresh_objects).astype(np.uint8),
                background=np.where(m, fresh_background, images).astype(np.uint8))


def retrieval_top1(queries, gallery):
    """Share of queries whose most cosine-similar gallery row is the row with their own index."""
    q = torch.nn.functional.normalize(torch.as_tensor(queries, dtype=torch.float32), dim=1)
    g = torch.nn.functional.normalize(torch.as_tensor(gallery, dtype=torch.float32), dim=1)
    if q.shape != g.shape:
        raise ValueError(f'queries {tuple(q.shape)} and gallery {tuple(g.shape)} must have one row per scene')
    return float(((q @ g.T).argmax(dim=1) == torch.arange(len(q))).float().mean())


def cue_retrieval(features, images, masks, fresh_objects, fresh_background):
    """Top-1 retrieval of each cue (see the module docstring).

    Args:
        features (callable): N x H x W x 3 uint8 images -> N x D features (e.g. the pooled backbone map).
        images, masks, fresh_objects, fresh_background: As in :func:`cue_images`.

    Returns:
        dict: ``objects``, ``background`` (top-1 in [0, 1]) and ``chance`` (``1 / N``).
    """
    gallery = features(np.asarray(images))
    edited = cue_images(images, masks, fresh_objects, fresh_background)
    out = {cue: retrieval_top1(features(imgs), gallery) for cue, imgs in edited.items()}
    out['chance'] = 1.0 / len(gallery)
    return out


def fresh_backgrounds(data, num, size, seed=0):
    """``num`` backgrounds drawn like the scene data's own (its meta.json background mode and sources), from a stream
    of their own (``seed``), as an ``num x size x size x 3`` uint8 array."""
    import json
    import os.path as osp

    from scl.datasets.scene_builder import BackgroundSource, find_background_photos, find_textures
    meta_file = osp.join(data, 'meta.json')
    if not osp.isfile(meta_file):
        raise FileNotFoundError(f'{meta_file} does not exist: build scene data with '
                                'tools/dataset_converters/build_scene_dataset.py')
    with open(meta_file) as f:
        meta = json.load(f)
    bg = meta.get('background', {})
    mode = bg.get('mode', meta.get('background_mode', 'photos'))
    photos = [p for p in bg.get('photos', []) if osp.isfile(p)] or find_background_photos()
    textures = [p for p in bg.get('textures', []) if osp.isfile(p)] or find_textures()
    source = BackgroundSource(mode, photos, textures, bg.get('max_patch_fraction', 1 / 16))
    rng = np.random.default_rng(seed)
    return np.stack([source(rng, size)[0] for _ in range(num)])
