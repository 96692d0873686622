"""Build multi-object scene data sets from real, installable data.

Objects are real Fashion-MNIST garment photos (Debian ``dataset-fashion-mnist``, MIT licence); backgrounds are real
photographs (scikit-image's bundled samples, Debian ``darknet``'s and ``opencv-doc``'s sample photos when present).
Each scene pastes 2-6 tinted garments, without overlap, onto a random crop of a random background, and records exact
COCO annotations: the box and the instance mask are the pixels that were pasted. An object-centric classification set
(one garment on a background patch) is written for linear evaluation and semi-supervised fine-tuning.

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


class DataSourceError(FileNotFoundError):
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


def find_background_photos(extra_globs=()):
    """Return the sorted list of real photographs available as backgrounds."""
    paths = []
    try:
        import skimage
        sk_dir = osp.join(osp.dirname(skimage.__file__), 'data')
        paths += [osp.join(sk_dir, name) for name in SKIMAGE_PHOTOS if osp.isfile(osp.join(sk_dir, name))]
    except ImportError:
        pass
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


@dataclass
class SceneConfig:
    """Arguments of :func:`build_scene_dataset` (stored in meta.json)."""
    num_train: int = 300
    num_val: int = 100
    canvas: int = 128
    min_objects: int = 2
    max_objects: int = 6
    min_object_size: int = 24
    max_object_size: int = 48
    num_cls_train: int = 2000
    num_cls_test: int = 1000
    cls_size: int = 32
    seed: int = 0
    extra_backgrounds: tuple = field(default_factory=tuple)


def _random_background(rng, backgrounds, size):
    bg = backgrounds[rng.integers(len(backgrounds))]
    h, w = bg.shape[:2]
    side = int(rng.integers(min(h, w) // 3, min(h, w) + 1))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    patch = cv2.resize(bg[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return np.ascontiguousarray(patch)


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


def make_scene(rng, backgrounds, garments, labels, cfg):
    """Compose one scene. Returns (image, list of (label, full mask))."""
    canvas = _random_background(rng, backgrounds, cfg.canvas)
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    placed, objects = [], []
    for _ in range(n):
        for _attempt in range(50):
            size = int(rng.integers(cfg.min_object_size, cfg.max_object_size + 1))
            x = int(rng.integers(0, cfg.canvas - size + 1))
            y = int(rng.integers(0, cfg.canvas - size + 1))
            if not any(_boxes_overlap((x, y, size, size), p) for p in placed):
                break
        else:
            continue  # no room left for this object
        idx = int(rng.integers(len(garments)))
        rgb, mask = _render_object(rng, garments[idx], size)
        if mask.sum() < 8:
            continue
        placed.append((x, y, size, size))
        objects.append((int(labels[idx]), paste(canvas, rgb, mask, x, y)))
    return canvas, objects


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


def write_scene_split(out_dir, split, num, rng, backgrounds, garments, labels, cfg):
    img_dir = osp.join(out_dir, 'scenes', split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    for i in _progress(range(num), num, f'scenes/{split}'):
        img, objects = make_scene(rng, backgrounds, garments, labels, cfg)
        name = f'{i:06d}.png'
        _write_png(osp.join(img_dir, name), img)
        images.append(dict(id=i, file_name=name, height=cfg.canvas, width=cfg.canvas))
        for label, mask in objects:
            ann = mask_to_annotation(mask)
            ann.update(id=len(annotations) + 1, image_id=i, category_id=label + 1)
            annotations.append(ann)
    coco = dict(
        info=dict(description=f'SCL demo scenes ({split}): Fashion-MNIST objects on real photos'),
        images=images,
        annotations=annotations,
        categories=[dict(id=i + 1, name=name, supercategory='garment') for i, name in enumerate(FASHION_MNIST_CLASSES)])
    os.makedirs(osp.join(out_dir, 'scenes', 'annotations'), exist_ok=True)
    with open(osp.join(out_dir, 'scenes', 'annotations', f'instances_{split}.json'), 'w') as f:
        json.dump(coco, f)
    return len(images), len(annotations)


def make_object_image(rng, backgrounds, garment, size):
    """An object-centric image: one garment filling most of a background patch."""
    canvas = _random_background(rng, backgrounds, size)
    obj = int(round(size * 0.875))
    rgb, mask = _render_object(rng, garment, obj)
    off = (size - obj) // 2
    paste(canvas, rgb, mask, off, off)
    return canvas


def write_cls_split(out_dir, split, num, rng, backgrounds, images, labels, cfg):
    img_dir = osp.join(out_dir, 'cls', split)
    os.makedirs(img_dir, exist_ok=True)
    # Class-balanced, seeded choice of source images.
    per_class = [np.flatnonzero(labels == c) for c in range(len(FASHION_MNIST_CLASSES))]
    order = []
    for c, idx in enumerate(per_class):
        k = num // len(per_class) + (1 if c < num % len(per_class) else 0)
        order += list(rng.choice(idx, size=k, replace=False))
    order = np.array(order)[rng.permutation(len(order))]
    lines = []
    for i, src in enumerate(_progress(order, len(order), f'cls/{split}')):
        name = f'{i:06d}.png'
        _write_png(osp.join(img_dir, name), make_object_image(rng, backgrounds, images[src], cfg.cls_size))
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
    return len(lines)


def build_scene_dataset(out_dir, cfg=None, fmnist_dir=None):
    """Build the scene + classification data set. Deterministic for a given ``cfg`` (seed included).

    Args:
        out_dir (str): Output directory (created).
        cfg (SceneConfig, optional): Sizes and seed. Defaults to the embedded demo's sizes.
        fmnist_dir (str, optional): Directory with the four Fashion-MNIST IDX .gz files.

    Returns:
        dict: The content of ``meta.json``.

    Raises:
        DataSourceError: Fashion-MNIST or the background photos are missing.
        ValueError: Inconsistent sizes.
    """
    cfg = cfg or SceneConfig()
    if not (1 <= cfg.min_objects <= cfg.max_objects):
        raise ValueError(f'need 1 <= min_objects <= max_objects, got {cfg.min_objects}, {cfg.max_objects}')
    if not (8 <= cfg.min_object_size <= cfg.max_object_size <= cfg.canvas):
        raise ValueError(f'need 8 <= min_object_size <= max_object_size <= canvas, got '
                         f'{cfg.min_object_size}, {cfg.max_object_size}, {cfg.canvas}')
    fm = load_fashion_mnist(fmnist_dir)
    bg_paths = find_background_photos(cfg.extra_backgrounds)
    backgrounds = load_backgrounds(bg_paths)
    # Independent streams per split so that changing one size does not change the other splits.
    seeds = np.random.SeedSequence(cfg.seed).spawn(4)
    n_train, a_train = write_scene_split(out_dir, 'train', cfg.num_train, np.random.default_rng(seeds[0]),
                                         backgrounds, fm['train_images'], fm['train_labels'], cfg)
    n_val, a_val = write_scene_split(out_dir, 'val', cfg.num_val, np.random.default_rng(seeds[1]), backgrounds,
                                     fm['test_images'], fm['test_labels'], cfg)
    c_train = write_cls_split(out_dir, 'train', cfg.num_cls_train, np.random.default_rng(seeds[2]), backgrounds,
                              fm['train_images'], fm['train_labels'], cfg)
    c_test = write_cls_split(out_dir, 'test', cfg.num_cls_test, np.random.default_rng(seeds[3]), backgrounds,
                             fm['test_images'], fm['test_labels'], cfg)
    meta = dict(
        config=asdict(cfg),
        fashion_mnist=osp.abspath(fmnist_dir or FASHION_MNIST_DIR),
        backgrounds=bg_paths,
        counts=dict(scenes_train=n_train, objects_train=a_train, scenes_val=n_val, objects_val=a_val,
                    cls_train=c_train, cls_test=c_test),
        classes=list(FASHION_MNIST_CLASSES))
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=2)
    return meta
