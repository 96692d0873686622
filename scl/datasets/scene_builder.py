"""Build multi-object scene data sets from real, installable data.

Objects are real Fashion-MNIST garment photos (Debian ``dataset-fashion-mnist``, MIT licence). Each scene pastes 2-6
tinted garments of varied size (28-64 px on the 128 px canvas by default), without overlap, onto a background, and
records exact COCO annotations: the box and the instance mask are the pixels that were pasted. An object-centric
classification set (one garment on a background of the same mode) is written for linear evaluation and
semi-supervised fine-tuning.

Background modes (``SceneConfig.background``, ``--background``):

- ``textures`` (default, data v2): every image gets its own background, drawn from a seeded stream, that contains no
  object of its own: a low-pass random colour field under shuffled small patches of a real photo (no two source
  neighbours stay joined, so nothing larger than one patch of the photo survives), a crop of scikit-image's brick /
  grass / gravel textures, or a finer colour field. The background therefore does not identify the scene.
- ``photos`` (v1, the stress variant): random crops of ~20 real photographs (scikit-image's bundled samples,
  Debian ``darknet``'s and ``opencv-doc``'s sample photos when present), which carry their own unannotated objects
  (an astronaut, a cat, an eagle, ...) and are shared by all scenes.

Layout written under ``out_dir``::

    scenes/train/000000.png ...            unlabeled pretraining scenes (Fashion-MNIST *train* objects)
    scenes/val/000000.png ...              held-out scenes (Fashion-MNIST *test* objects)
    scenes/annotations/instances_train.json, instances_val.json   COCO format, boxes + RLE masks
    cls/train/000000.png ..., cls/train.txt     "train/000000.png <label>" lines (mmpretrain CustomDataset)
    cls/train_1percent.txt, train_10percent.txt class-balanced seeded label subsets (semi-supervised protocols)
    cls/test/000000.png ...,  cls/test.txt
    meta.json                               the arguments, the sources used, and counts
"""
import glob
import gzip
import json
import os
import os.path as osp
import struct
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from scl.utils.errors import DataError
from scl.utils.fileio import atomic_write_json

FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'
FASHION_MNIST_FILES = {
    'train_images': 'train-images-idx3-ubyte.gz',
    'train_labels': 'train-labels-idx1-ubyte.gz',
    'test_images': 't10k-images-idx3-ubyte.gz',
    'test_labels': 't10k-labels-idx1-ubyte.gz',
}
FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
                         'Ankle boot')
# Natural photographs bundled inside the scikit-image wheel (never the ones it downloads on demand).
SKIMAGE_PHOTOS = ('astronaut.png', 'brick.png', 'camera.png', 'chelsea.png', 'coffee.png', 'coins.png', 'grass.png',
                  'gravel.png', 'hubble_deep_field.jpg', 'ihc.png', 'moon.png', 'motorcycle_left.png', 'retina.jpg',
                  'rocket.jpg')
SYSTEM_PHOTO_GLOBS = ('/usr/share/darknet/data/*.jpg', '/usr/share/doc/opencv-doc/examples/data/*.jpg')
# A garment pixel belongs to the object when its Fashion-MNIST intensity exceeds this (the photos have a black,
# near-zero background).
OBJECT_THRESHOLD = 16


# The version of what build_scene_dataset writes: bumped whenever the same arguments would give other pixels or
# annotations, so that meta.json tells two builds apart even where their arguments agree.
BUILDER_VERSION = 1
SKIMAGE_HINT = 'install scikit-image (pip install scikit-image; tools/install.sh installs it)'


class DataSourceError(DataError):
    """Raised when Fashion-MNIST or the background photos cannot be found."""


def _read_idx(path):
    try:
        with gzip.open(path, 'rb') as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataSourceError(f'cannot read Fashion-MNIST file {path}: {e}') from e
    magic = struct.unpack('>I', data[:4])[0]
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise DataSourceError(f'{path} is not an IDX uint8 file (magic {magic:#x})')
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DataSourceError(f'{path} is truncated: expected {int(np.prod(dims))} values, found {arr.size}')
    return arr.reshape(dims)


def load_fashion_mnist(root=None):
    """Load Fashion-MNIST from the four IDX .gz files.

    Args:
        root (str, optional): Directory holding the four files. Defaults to Debian's
            ``/usr/share/datasets/fashion-mnist``.

    Returns:
        dict: ``train_images`` (60000 x 28 x 28 uint8), ``train_labels``, ``test_images``, ``test_labels``.

    Raises:
        DataSourceError: The directory or one of the files is missing or unreadable; the message says how to
            install the data.
    """
    root = root or FASHION_MNIST_DIR
    missing = [name for name in FASHION_MNIST_FILES.values() if not osp.isfile(osp.join(root, name))]
    if missing:
        raise DataSourceError(
            f'Fashion-MNIST not found in {root} (missing: {", ".join(missing)}).\n'
            'Install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; files land in '
            f'{FASHION_MNIST_DIR}), or pass --fmnist-dir pointing at a directory with the four IDX .gz files '
            f'({", ".join(FASHION_MNIST_FILES.values())}).')
    out = {key: _read_idx(osp.join(root, name)) for key, name in FASHION_MNIST_FILES.items()}
    for split in ('train', 'test'):
        if len(out[f'{split}_images']) != len(out[f'{split}_labels']):
            raise DataSourceError(f'Fashion-MNIST {split} images and labels differ in length in {root}')
    return out


def _skimage_data_dir():
    """scikit-image's bundled data folder; without scikit-image the backgrounds would silently differ, so its absence
    is an error that says what to install."""
    try:
        import skimage
    except ImportError as e:
        raise DataSourceError(f'the scene backgrounds use the photos and textures bundled with scikit-image, which is '
                              f'not installed: {SKIMAGE_HINT}. Without it the builder would write other data under '
                              'the same name') from e
    return osp.join(osp.dirname(skimage.__file__), 'data')


def find_background_photos(extra_globs=()):
    """Return the sorted list of real photographs available as backgrounds.

    Raises:
        DataSourceError: scikit-image is not installed.
    """
    sk_dir = _skimage_data_dir()
    paths = [osp.join(sk_dir, name) for name in SKIMAGE_PHOTOS if osp.isfile(osp.join(sk_dir, name))]
    for pattern in tuple(SYSTEM_PHOTO_GLOBS) + tuple(extra_globs):
        paths += sorted(glob.glob(pattern))
    return sorted(set(paths))


def load_backgrounds(paths, min_side=64):
    """Read photos as RGB uint8 arrays (greyscale ones are expanded), skipping unreadable or tiny ones."""
    images = []
    for path in paths:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None or min(img.shape[:2]) < min_side:
            continue
        images.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    if not images:
        raise DataSourceError(
            'no background photos found: install scikit-image (pip) or Debian darknet / opencv-doc, '
            'or pass --backgrounds "<glob>"')
    return images


BACKGROUND_MODES = ('textures', 'photos')
# scikit-image's bundled texture photographs (no object in them): one of the three layers of the ``textures`` mode.
SKIMAGE_TEXTURES = ('brick.png', 'grass.png', 'gravel.png')
# The layers a ``textures`` background draws from (one per image, uniformly; ``texture`` only when scikit-image is
# installed): shuffled small patches of a photo, a greyscale texture crop, a finer low-pass field. Each is laid over a
# low-pass random colour field.
TEXTURE_KINDS = ('patches', 'texture', 'field')


@dataclass
class SceneConfig:
    """Arguments of :func:`build_scene_dataset` (stored in meta.json).

    The object sizes (garment side in pixels, drawn log-uniformly) default to 28-64 px on the 128 px canvas: 28 px is
    Fashion-MNIST's native resolution, and 64 px is half the scene, so a 64 px view of a whole scene still shows the
    smallest garment at 14 px and a 0.2-area crop (57 px, upsampled to 64) shows it at 31 px.

    ``background``: ``'textures'`` (the default) draws a fresh, object-free background for every image from a seeded
    stream: a low-pass random colour field under shuffled small patches of a photo (no source region larger than one
    patch survives; patch side ``max(2, canvas // 32)`` to ``max(2, round(canvas * max_patch_fraction))`` px), or
    under a crop of scikit-image's brick / grass / gravel textures, or under a finer field. ``'photos'`` pastes
    the garments onto random crops of the ~20 real photos (which contain their own objects: the stress variant).

    ``background_kinds``: the ``textures`` layers to draw from (empty, the default: all; e.g. ``('field', )`` for
    smooth, texture-free backgrounds).

    ``scene_background_pool``: 0 (the default) gives every scene a background of its own. ``N > 0`` makes the scenes
    of each split share ``N`` backgrounds of the mode, drawn once from the split's background stream (each scene takes
    one at random, flipped at random), so a scene's background does not tell it from the others: a study of whether
    instance discrimination then looks at the objects. The classification images keep fresh backgrounds (the probe
    data stays the same).
    """
    num_train: int = 300
    num_val: int = 100
    canvas: int = 128
    min_objects: int = 2
    max_objects: int = 6
    min_object_size: int = 28
    max_object_size: int = 64
    num_cls_train: int = 2000
    num_cls_test: int = 1000
    cls_size: int = 32
    seed: int = 0
    background: str = 'textures'
    max_patch_fraction: float = 1 / 16
    extra_backgrounds: tuple = field(default_factory=tuple)
    scene_background_pool: int = 0
    background_kinds: tuple = field(default_factory=tuple)


def find_textures():
    """Return the sorted list of scikit-image's bundled texture photographs.

    Raises:
        DataSourceError: scikit-image is not installed, or ships none of the textures.
    """
    sk_dir = _skimage_data_dir()
    found = [osp.join(sk_dir, name) for name in SKIMAGE_TEXTURES if osp.isfile(osp.join(sk_dir, name))]
    if not found:
        raise DataSourceError(f'scikit-image at {sk_dir} ships none of {SKIMAGE_TEXTURES}: {SKIMAGE_HINT}')
    return found


def shuffle_patches(img, patch, rng, max_rounds=100):
    """Cut ``img`` into ``patch`` x ``patch`` tiles and shuffle them so that no two tiles stay neighbours.

    After a random permutation, every tile that sits right of (or below) the tile that was its left (upper)
    neighbour in ``img`` is swapped with a random tile, until no such pair is left: the largest region of ``img``
    that survives intact is one tile.

    Args:
        img (np.ndarray): H x W x C image; H and W must be multiples of ``patch``, with at least 4 tiles a side.
        patch (int): Tile side in pixels.
        rng (np.random.Generator): Random stream.
        max_rounds (int): Repair rounds before giving up. Defaults to 100.

    Returns:
        tuple[np.ndarray, np.ndarray]: The shuffled image (same shape) and, per output tile, the index of its
        source tile (``row * tiles_per_row + col``; H/patch x W/patch).

    Raises:
        ValueError: The image is not a whole number of tiles, or fewer than 4 tiles a side.
    """
    h, w, c = img.shape
    gh, gw = h // patch, w // patch
    if patch < 1 or gh * patch != h or gw * patch != w or min(gh, gw) < 4:
        raise ValueError(f'shuffle_patches needs an image of at least 4 x 4 whole tiles; got {h} x {w} px with '
                         f'{patch} px tiles: pick a smaller patch or pad the image to a multiple of it')
    perm = rng.permutation(gh * gw).reshape(gh, gw)
    for _ in range(max_rounds):
        bad = source_neighbours(perm, gw)
        if not bad.any():
            break
        for i in np.flatnonzero(bad):  # a handful at most
            j = int(rng.integers(gh * gw))
            perm.flat[i], perm.flat[j] = perm.flat[j], perm.flat[i]
    else:
        raise RuntimeError(f'could not separate all {gh} x {gw} tiles in {max_rounds} rounds')
    tiles = img.reshape(gh, patch, gw, patch, c).transpose(0, 2, 1, 3, 4).reshape(gh * gw, patch, patch, c)
    out = tiles[perm.ravel()].reshape(gh, gw, patch, patch, c).transpose(0, 2, 1, 3, 4).reshape(h, w, c)
    return out, perm


def source_neighbours(perm, tiles_per_row):
    """Mark output tiles that sit next to their source neighbour in the same relative position.

    Args:
        perm (np.ndarray): Source tile index of each output tile (rows x cols), as :func:`shuffle_patches` returns.
        tiles_per_row (int): Tiles per row of the source image.

    Returns:
        np.ndarray: bool, same shape: True where the tile's left (upper) output neighbour is its left (upper) source
        neighbour, i.e. where two tiles of the source stay joined.
    """
    r, c = np.divmod(perm, tiles_per_row)
    bad = np.zeros(perm.shape, dtype=bool)
    bad[:, 1:] |= (r[:, 1:] == r[:, :-1]) & (c[:, 1:] == c[:, :-1] + 1)
    bad[1:] |= (c[1:] == c[:-1]) & (r[1:] == r[:-1] + 1)
    return bad


def _low_pass_field(rng, size, cells, spread, base=None):
    """A smooth random colour field: a ``cells`` x ``cells`` grid of colours, bicubic-upsampled. float32."""
    base = rng.uniform(40, 215, size=3) if base is None else base
    grid = (base + rng.normal(0, spread, size=(cells, cells, 3))).astype(np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


def _random_crop(rng, img, min_frac=1 / 3):
    h, w = img.shape[:2]
    side = int(rng.integers(int(min(h, w) * min_frac), min(h, w) + 1))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    return img[y:y + side, x:x + side], side


class BackgroundSource:
    """Draws one background per image for a named background mode (see :class:`SceneConfig`).

    Args:
        mode (str): ``'textures'`` or ``'photos'``.
        photo_paths (list[str]): Photos: cropped whole (``photos``) or cut into shuffled patches (``textures``).
        texture_paths (list[str]): Texture photos for the ``texture`` layer of ``textures`` (may be empty).
        max_patch_fraction (float): Largest patch side as a fraction of the image side. Defaults to 1/16.
        kinds (tuple[str], optional): The ``textures`` layers to draw from (a subset of ``TEXTURE_KINDS``); defaults
            to all of them (``texture`` only with scikit-image's texture photos).

    Raises:
        ValueError: Unknown mode or a patch fraction outside (0, 1/4].
        DataSourceError: No readable photo.
    """

    def __init__(self, mode, photo_paths, texture_paths=(), max_patch_fraction=1 / 16, kinds=None):
        if mode not in BACKGROUND_MODES:
            raise ValueError(f'unknown background mode {mode!r}: choose one of {", ".join(BACKGROUND_MODES)} '
                             "('textures', the default, draws a fresh object-free background for every image; "
                             "'photos' is the stress variant on real photos)")
        if not 0 < max_patch_fraction <= 0.25:
            raise ValueError(f'max_patch_fraction must be in (0, 1/4] (at least 4 patches a side), '
                             f'got {max_patch_fraction}')
        self.mode = mode
        self.max_patch_fraction = max_patch_fraction
        self.photo_paths = list(photo_paths)
        self.photos = load_backgrounds(self.photo_paths)
        self.texture_paths = list(texture_paths) if mode == 'textures' else []
        self.textures = [cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in self.texture_paths]
        keep = [i for i, t in enumerate(self.textures) if t is not None and min(t.shape) >= 64]
        self.texture_paths = [self.texture_paths[i] for i in keep]
        self.textures = [self.textures[i].astype(np.float32) for i in keep]
        self.kinds = [k for k in TEXTURE_KINDS if k != 'texture' or self.textures] if mode == 'textures' else ['photo']
        if kinds and mode == 'textures':
            unknown = set(kinds) - set(self.kinds)
            if unknown:
                raise ValueError(f'background kinds {sorted(unknown)} are not available: choose from {self.kinds}')
            self.kinds = [k for k in self.kinds if k in kinds]

    def patch_sizes(self, size):
        """The patch sides (px) the ``patches`` layer draws from for an image of side ``size``."""
        lo = max(2, size // 32)
        hi = max(lo, int(round(size * self.max_patch_fraction)))
        while hi > lo and size // hi < 4:
            hi -= 1
        return lo, hi

    def __call__(self, rng, size):
        """One background.

        Args:
            rng (np.random.Generator): Random stream (the only source of randomness).
            size (int): Side in pixels.

        Returns:
            tuple[np.ndarray, dict]: ``size`` x ``size`` x 3 uint8 RGB image, and its recipe (kind, source file,
            patch side) for the records.
        """
        if self.mode == 'photos':
            i = int(rng.integers(len(self.photos)))
            crop, _ = _random_crop(rng, self.photos[i])
            img = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            if rng.random() < 0.5:
                img = img[:, ::-1]
            return np.ascontiguousarray(img), dict(kind='photo', source=osp.basename(self.photo_paths[i]))
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        bg = _low_pass_field(rng, size, int(rng.integers(2, 6)), 45.0)
        recipe = dict(kind=kind)
        if kind == 'patches':
            i = int(rng.integers(len(self.photos)))
            lo, hi = self.patch_sizes(size)
            p = int(rng.integers(lo, hi + 1))
            n = -(-size // p)  # tiles a side (the last row / column is cropped)
            crop, _ = _random_crop(rng, self.photos[i], min_frac=1 / 4)
            tiles = cv2.resize(crop, (n * p, n * p), interpolation=cv2.INTER_AREA)
            shuffled, _ = shuffle_patches(tiles, p, rng)
            alpha = rng.uniform(0.35, 0.75)
            bg = (1 - alpha) * bg + alpha * shuffled[:size, :size].astype(np.float32)
            recipe.update(source=osp.basename(self.photo_paths[i]), patch=p)
        elif kind == 'texture':
            i = int(rng.integers(len(self.textures)))
            crop, _ = _random_crop(rng, self.textures[i], min_frac=1 / 8)
            tex = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            tex = (tex - tex.mean()) / (tex.std() + 1e-6)
            bg = bg + rng.uniform(20, 45) * tex[..., None]
            recipe.update(source=osp.basename(self.texture_paths[i]))
        else:
            bg = bg + _low_pass_field(rng, size, int(rng.integers(8, 17)), 25.0, base=np.zeros(3))
        return bg.clip(0, 255).astype(np.uint8), recipe

    def describe(self):
        """The sources and parameters, for meta.json."""
        out = dict(mode=self.mode, photos=self.photo_paths)
        if self.mode == 'textures':
            out.update(textures=self.texture_paths, kinds=self.kinds, max_patch_fraction=self.max_patch_fraction,
                       layers='each image: a low-pass colour field (2-5 cells a side, colour 40-215, spread 45) '
                       'under one layer drawn uniformly from kinds: patches = a photo crop (1/4 to all of its '
                       'shorter side) cut into shuffled patches (no two source neighbours stay joined), alpha '
                       '0.35-0.75; texture = a normalised greyscale texture crop times 20-45; field = a finer '
                       'field (8-16 cells, spread 25)')
        return out


class PooledBackgrounds:
    """``pool`` backgrounds of ``source`` drawn once (side ``size``) and shared: each call returns one of them at
    random, flipped left-right at random (see ``SceneConfig.scene_background_pool``)."""

    def __init__(self, source, pool, rng, size):
        if pool < 1:
            raise ValueError(f'a background pool needs at least one background, got {pool}')
        self.size = size
        self.pool = [source(rng, size) for _ in range(pool)]

    def __call__(self, rng, size):
        if size != self.size:
            raise ValueError(f'this pool holds {self.size} px backgrounds, asked for {size} px')
        i = int(rng.integers(len(self.pool)))
        img, recipe = self.pool[i]
        flip = bool(rng.random() < 0.5)
        # a copy: the scene is drawn on it, the pool stays clean
        return (img[:, ::-1] if flip else img).copy(), dict(recipe, pool_index=i, flipped=flip)


class _Tally:
    """Counts of background kinds, ``kind:source file`` pairs and patch sides for meta.json."""

    def __init__(self):
        self.kinds, self.sources, self.patches = {}, {}, {}

    def add(self, recipe):
        source = f'{recipe["kind"]}:{recipe["source"]}' if 'source' in recipe else None
        for table, key in ((self.kinds, recipe['kind']), (self.sources, source), (self.patches, recipe.get('patch'))):
            if key is not None:
                table[str(key)] = table.get(str(key), 0) + 1

    def as_dict(self):
        return dict(kinds=self.kinds, sources=self.sources, patch_sizes=self.patches)


def _render_object(rng, garment, size):
    """Resize a 28x28 garment to ``size`` and tint it. Returns (rgb uint8 size x size x 3, mask bool)."""
    g = cv2.resize(garment, (size, size), interpolation=cv2.INTER_LINEAR)
    mask = g > OBJECT_THRESHOLD
    # A saturated random colour, brightness modulated by the garment's own texture.
    tint = rng.uniform(0.25, 1.0, size=3)
    tint[rng.integers(3)] = 1.0
    rgb = (g[..., None].astype(np.float32) * tint[None, None]).clip(0, 255).astype(np.uint8)
    return rgb, mask


def paste(canvas, rgb, mask, x, y):
    """Paste ``rgb`` where ``mask`` is set, top-left at (x, y). Returns the full-canvas mask."""
    h, w = mask.shape
    region = canvas[y:y + h, x:x + w]
    region[mask] = rgb[mask]
    full = np.zeros(canvas.shape[:2], dtype=bool)
    full[y:y + h, x:x + w] = mask
    return full


def _boxes_overlap(a, b, margin=1):
    return not (a[0] + a[2] + margin <= b[0] or b[0] + b[2] + margin <= a[0] or a[1] + a[3] + margin <= b[1]
                or b[1] + b[3] + margin <= a[1])


def _place_boxes(rng, cfg):
    """Non-overlapping square boxes ``(x, y, size, size)``, sizes log-uniform, largest placed first.

    A box that finds no free spot in 15 tries shrinks by 20 % (not below ``min_object_size``), up to 60 tries.
    """
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    sizes = np.exp(rng.uniform(np.log(cfg.min_object_size), np.log(cfg.max_object_size + 1), size=n))
    placed = []
    for size in sorted(sizes.astype(int).clip(cfg.min_object_size, cfg.max_object_size), reverse=True):
        size = int(size)
        for attempt in range(60):
            if attempt and attempt % 15 == 0:
                size = max(cfg.min_object_size, int(size * 0.8))
            x = int(rng.integers(0, cfg.canvas - size + 1))
            y = int(rng.integers(0, cfg.canvas - size + 1))
            if not any(_boxes_overlap((x, y, size, size), p) for p in placed):
                placed.append((x, y, size, size))
                break
    return placed


def make_scene(rng, backgrounds, garments, labels, cfg, bg_rng=None):
    """Compose one scene.

    Args:
        rng (np.random.Generator): Stream for the objects (which, where, how large, tint).
        backgrounds (BackgroundSource): Background drawer.
        garments (np.ndarray): N x 28 x 28 Fashion-MNIST images.
        labels (np.ndarray): Their labels.
        cfg (SceneConfig): Sizes.
        bg_rng (np.random.Generator, optional): Stream for the background; defaults to ``rng``. A separate stream
            makes the objects the same whatever the background mode.

    Returns:
        tuple: (image, list of (label, full mask), background recipe dict).
    """
    canvas, recipe = backgrounds(rng if bg_rng is None else bg_rng, cfg.canvas)
    objects = []
    placed = _place_boxes(rng, cfg)
    for x, y, size, _ in placed:
        idx = int(rng.integers(len(garments)))
        rgb, mask = _render_object(rng, garments[idx], size)
        if mask.sum() < 8:
            continue
        objects.append((int(labels[idx]), paste(canvas, rgb, mask, x, y)))
    return canvas, objects, recipe


def mask_to_annotation(mask):
    """COCO bbox [x, y, w, h] (tight around the mask), area and compressed RLE of a boolean mask."""
    from pycocotools import mask as mask_utils
    ys, xs = np.nonzero(mask)
    x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return dict(bbox=[x1, y1, x2 - x1, y2 - y1], area=int(mask.sum()), segmentation=rle, iscrowd=0)


def _progress(iterable, total, desc):
    try:
        from tqdm import tqdm
        return tqdm(iterable, total=total, desc=desc, unit='img', leave=False, disable=None)  # off without a TTY
    except ImportError:
        return iterable


def _write_png(path, rgb):
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write {path}')


def write_scene_split(out_dir, split, num, rng, backgrounds, garments, labels, cfg, bg_rng=None):
    """Write ``scenes/<split>/*.png`` and its COCO annotation file; returns (images, objects, background tally)."""
    img_dir = osp.join(out_dir, 'scenes', split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations, tally = [], [], _Tally()
    for i in _progress(range(num), num, f'scenes/{split}'):
        img, objects, recipe = make_scene(rng, backgrounds, garments, labels, cfg, bg_rng=bg_rng)
        tally.add(recipe)
        name = f'{i:06d}.png'
        _write_png(osp.join(img_dir, name), img)
        images.append(dict(id=i, file_name=name, height=cfg.canvas, width=cfg.canvas, background=recipe))
        for label, mask in objects:
            ann = mask_to_annotation(mask)
            ann.update(id=len(annotations) + 1, image_id=i, category_id=label + 1)
            annotations.append(ann)
    coco = dict(
        info=dict(description=f'SCL scenes ({split}): Fashion-MNIST objects on {cfg.background} backgrounds',
                  background_mode=cfg.background),
        images=images,
        annotations=annotations,
        categories=[dict(id=i + 1, name=name, supercategory='garment') for i, name in enumerate(FASHION_MNIST_CLASSES)])
    os.makedirs(osp.join(out_dir, 'scenes', 'annotations'), exist_ok=True)
    with open(osp.join(out_dir, 'scenes', 'annotations', f'instances_{split}.json'), 'w') as f:
        json.dump(coco, f)
    return len(images), len(annotations), tally


def make_object_image(rng, backgrounds, garment, size, bg_rng=None):
    """An object-centric image: one garment filling most of a background of the same mode as the scenes.

    Returns:
        tuple: (size x size x 3 uint8 image, background recipe dict).
    """
    canvas, recipe = backgrounds(rng if bg_rng is None else bg_rng, size)
    obj = int(round(size * 0.875))
    rgb, mask = _render_object(rng, garment, obj)
    off = (size - obj) // 2
    paste(canvas, rgb, mask, off, off)
    return canvas, recipe


def write_cls_split(out_dir, split, num, rng, backgrounds, images, labels, cfg, bg_rng=None):
    """Write ``cls/<split>/*.png`` and ``cls/<split>.txt`` (+ label subsets); returns (images, background tally)."""
    img_dir = osp.join(out_dir, 'cls', split)
    os.makedirs(img_dir, exist_ok=True)
    # Class-balanced, seeded choice of source images.
    per_class = [np.flatnonzero(labels == c) for c in range(len(FASHION_MNIST_CLASSES))]
    order = []
    for c, idx in enumerate(per_class):
        k = num // len(per_class) + (1 if c < num % len(per_class) else 0)
        order += list(rng.choice(idx, size=k, replace=False))
    order = np.array(order)[rng.permutation(len(order))]
    lines, tally = [], _Tally()
    for i, src in enumerate(_progress(order, len(order), f'cls/{split}')):
        name = f'{i:06d}.png'
        img, recipe = make_object_image(rng, backgrounds, images[src], cfg.cls_size, bg_rng=bg_rng)
        tally.add(recipe)
        _write_png(osp.join(img_dir, name), img)
        lines.append(f'{split}/{name} {int(labels[src])}')
    ann_file = osp.join(out_dir, 'cls', f'{split}.txt')
    with open(ann_file, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    if split == 'train':  # the semi-supervised protocols' label subsets
        from .semi_subsets import balanced_subset, read_ann_file, subset_path, write_ann_file
        items = read_ann_file(ann_file)
        for pct in (1, 10):
            write_ann_file(subset_path(ann_file, pct), balanced_subset(items, pct, seed=cfg.seed))
    with open(osp.join(out_dir, 'cls', 'classes.txt'), 'w') as f:
        f.write('\n'.join(FASHION_MNIST_CLASSES) + '\n')
    return len(lines), tally


def check_config(cfg):
    """Raise ValueError naming the problem and the fix when ``cfg`` cannot be built."""
    if cfg.background not in BACKGROUND_MODES:
        raise ValueError(f'unknown background mode {cfg.background!r}: choose one of {", ".join(BACKGROUND_MODES)} '
                         "(--background textures, the default: a fresh object-free background per image; "
                         "--background photos: the stress variant on real photos)")
    if not (1 <= cfg.min_objects <= cfg.max_objects):
        raise ValueError(f'need 1 <= min_objects <= max_objects, got {cfg.min_objects}, {cfg.max_objects}')
    if not (8 <= cfg.min_object_size <= cfg.max_object_size <= cfg.canvas):
        raise ValueError(f'need 8 <= min_object_size <= max_object_size <= canvas, got '
                         f'{cfg.min_object_size}, {cfg.max_object_size}, {cfg.canvas}')
    if cfg.background == 'textures' and min(cfg.canvas, cfg.cls_size) < 8:
        raise ValueError(f'textures backgrounds need images of at least 8 px (4 patches of 2 px a side), got '
                         f'canvas {cfg.canvas}, cls_size {cfg.cls_size}')
    if not 0 < cfg.max_patch_fraction <= 0.25:
        raise ValueError(f'max_patch_fraction must be in (0, 1/4] (at least 4 patches a side), '
                         f'got {cfg.max_patch_fraction}')
    if cfg.scene_background_pool < 0:
        raise ValueError(f'scene_background_pool must be 0 (a background per scene) or the number of backgrounds '
                         f'the scenes share, got {cfg.scene_background_pool}')


# The random streams: SeedSequence(seed).spawn(4) gives one per split, in this order; each split's sequence spawns
# (objects, backgrounds), so the objects of a split are the same whatever the background mode and sizes of the others.
SPLITS = ('scenes/train', 'scenes/val', 'cls/train', 'cls/test')


def build_scene_dataset(out_dir, cfg=None, fmnist_dir=None):
    """Build the scene + classification data set. Deterministic for a given ``cfg`` (seed included).

    Args:
        out_dir (str): Output directory (created).
        cfg (SceneConfig, optional): Sizes, background mode and seed. Defaults to the embedded demo's sizes on
            ``textures`` backgrounds.
        fmnist_dir (str, optional): Directory with the four Fashion-MNIST IDX .gz files.

    Returns:
        dict: The content of ``meta.json``: the config, the background mode with every source file and parameter,
        per split the random stream and the tally of background kinds / sources / patch sides, and the counts.

    Raises:
        DataSourceError: Fashion-MNIST or the background photos are missing.
        ValueError: Unknown background mode or inconsistent sizes.
    """
    cfg = cfg or SceneConfig()
    check_config(cfg)
    fm = load_fashion_mnist(fmnist_dir)
    backgrounds = BackgroundSource(cfg.background, find_background_photos(cfg.extra_backgrounds), find_textures(),
                                   cfg.max_patch_fraction, kinds=tuple(cfg.background_kinds))
    streams = [s.spawn(2) for s in np.random.SeedSequence(cfg.seed).spawn(len(SPLITS))]
    rngs = [(np.random.default_rng(o), np.random.default_rng(b)) for o, b in streams]
    scene_bgs = [PooledBackgrounds(backgrounds, cfg.scene_background_pool, rngs[i][1], cfg.canvas)
                 if cfg.scene_background_pool else backgrounds for i in (0, 1)]
    n_train, a_train, t_train = write_scene_split(out_dir, 'train', cfg.num_train, rngs[0][0], scene_bgs[0],
                                                  fm['train_images'], fm['train_labels'], cfg, bg_rng=rngs[0][1])
    n_val, a_val, t_val = write_scene_split(out_dir, 'val', cfg.num_val, rngs[1][0], scene_bgs[1],
                                            fm['test_images'], fm['test_labels'], cfg, bg_rng=rngs[1][1])
    c_train, t_ctrain = write_cls_split(out_dir, 'train', cfg.num_cls_train, rngs[2][0], backgrounds,
                                        fm['train_images'], fm['train_labels'], cfg, bg_rng=rngs[2][1])
    c_test, t_ctest = write_cls_split(out_dir, 'test', cfg.num_cls_test, rngs[3][0], backgrounds,
                                      fm['test_images'], fm['test_labels'], cfg, bg_rng=rngs[3][1])
    tallies = (t_train, t_val, t_ctrain, t_ctest)
    meta = dict(
        config=asdict(cfg),
        fashion_mnist=osp.abspath(fmnist_dir or FASHION_MNIST_DIR),
        background_mode=cfg.background,
        background=dict(
            backgrounds.describe(),
            scene_pool=cfg.scene_background_pool,
            streams={split: dict(seed=cfg.seed, spawn_key=[list(o.spawn_key), list(b.spawn_key)],
                                 used=tally.as_dict())
                     for split, (o, b), tally in zip(SPLITS, streams, tallies)},
            stream_note='numpy SeedSequence(seed).spawn(4)[split].spawn(2) = (objects, backgrounds) streams'),
        backgrounds=backgrounds.photo_paths + backgrounds.texture_paths,  # every source file (v1 key)
        counts=dict(scenes_train=n_train, objects_train=a_train, scenes_val=n_val, objects_val=a_val,
                    cls_train=c_train, cls_test=c_test),
        classes=list(FASHION_MNIST_CLASSES))
    meta.update(builder_version=BUILDER_VERSION, fingerprint=data_fingerprint(out_dir))
    atomic_write_json(osp.join(out_dir, 'meta.json'), meta, indent=2)
    return meta


def data_fingerprint(out_dir):
    """SHA-256 over the relative path and bytes of every file the builder wrote under ``scenes/`` and ``cls/``, in
    sorted order: two directories with the same fingerprint hold the same data, whatever machine built them."""
    import hashlib
    h = hashlib.sha256()
    for sub in ('scenes', 'cls'):
        for root, dirs, files in os.walk(osp.join(out_dir, sub)):
            dirs.sort()
            for name in sorted(files):
                path = osp.join(root, name)
                h.update(osp.relpath(path, out_dir).encode() + b'\0')
                with open(path, 'rb') as f:
                    h.update(f.read())
    return h.hexdigest()
