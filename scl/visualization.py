"""Pictures of what the model finds salient: images, their saliency maps and sampled crop pairs.

This module only reads images and draws; the maps come from :mod:`scl.saliency`.
"""
import os
import os.path as osp
from typing import List, Optional, Sequence

import mmcv
import numpy as np

PAIR_COLOURS = ('#ff3b30', '#34c759', '#0a84ff', '#ffcc00', '#af52de', '#ff9500')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')


def list_images(paths: Sequence[str]) -> List[str]:
    """Expand files and folders into a list of image files (a folder gives its images, sorted, not recursive).

    Args:
        paths (Sequence[str]): Image files and / or folders.

    Returns:
        List[str]: The files, in the given order (each folder's images sorted by name), without duplicates.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: no path given, or a folder holds no file with an image extension (``IMAGE_EXTENSIONS``).
    """
    if not paths:
        raise ValueError('no image given: pass one or more image files or folders')
    files = []
    for path in paths:
        if osp.isdir(path):
            found = sorted(osp.join(path, f) for f in os.listdir(path)
                           if f.lower().endswith(IMAGE_EXTENSIONS) and osp.isfile(osp.join(path, f)))
            if not found:
                raise ValueError(f'folder {path} holds no image ({", ".join(IMAGE_EXTENSIONS)}); pass image files or '
                                 'a folder of images')
            files += found
        elif osp.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(f'image path {path} does not exist')
    return list(dict.fromkeys(files))


def fit_for_display(img: np.ndarray, max_side: int = 512) -> np.ndarray:
    """Downscale ``img`` so that its longer side is at most ``max_side`` pixels (keeps the aspect ratio)."""
    h, w = img.shape[:2]
    if max(h, w) <= max_side:
        return img
    return mmcv.imrescale(img, max_side / max(h, w))


def load_rgb(path: str) -> np.ndarray:
    """Read an image as RGB uint8; one clear error naming the file when it is missing or corrupt."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'image file {path} does not exist')
    try:
        img = mmcv.imread(path)  # BGR; None when OpenCV cannot decode it (mmcv's RGB path fails inside cvtColor)
    except Exception as e:  # e.g. Pillow / tifffile backends raising on a corrupt file
        raise ValueError(f'image file {path} is corrupt or not an image ({e})') from e
    if img is None:
        raise ValueError(f'image file {path} is corrupt or not an image')
    return mmcv.bgr2rgb(img)


def sample_crop_pairs(transform, img: np.ndarray, saliency: np.ndarray, num_pairs: int, guided: bool = True):
    """Sample ``num_pairs`` crop pairs of ``img`` with a SaliencyCropTransform's sampler (without resizing), as the
    transform draws them in training: around a shared anchor once guided (salient or, with ``anchor='uniform'``,
    uniform), independent crops during the warm-up (``guided=False``) and with ``anchor='independent'``.

    Returns a list of ``num_views x 4`` pixel boxes.
    """
    h, w = img.shape[:2]
    shared = guided and transform.anchor != 'independent'
    cdf = transform.anchor_cdf(saliency) if (shared and transform.anchor == 'saliency') else None
    return [transform.sample_boxes(h, w, cdf, saliency.shape[0], shared)[2] for _ in range(num_pairs)]


def render_saliency_figure(images: Sequence[np.ndarray],
                           maps: Sequence[np.ndarray],
                           out_path: str,
                           crop_pairs: Optional[Sequence[List[np.ndarray]]] = None,
                           titles: Optional[Sequence[str]] = None,
                           suptitle: Optional[str] = None) -> str:
    """One row per image: the image, its saliency map over it, and (optionally) sampled crop pairs.

    Returns the path written.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = len(images)
    cols = 3 if crop_pairs is not None else 2
    fig, axes = plt.subplots(n, cols, figsize=(2.6 * cols, 2.6 * n), squeeze=False)
    for i, (img, sal) in enumerate(zip(images, maps)):
        h, w = img.shape[:2]
        ax = axes[i][0]
        ax.imshow(img)
        ax.set_title(titles[i] if titles else f'image {i}', fontsize=8)
        ax = axes[i][1]
        ax.imshow(img)
        ax.imshow(sal, cmap='jet', alpha=0.5, extent=(0, w, h, 0), interpolation='bilinear', vmin=0, vmax=1)
        ax.set_title(f'saliency (min {sal.min():.2f}, max {sal.max():.2f})', fontsize=8)
        if crop_pairs is not None:
            ax = axes[i][2]
            ax.imshow(img)
            for j, boxes in enumerate(crop_pairs[i]):
                colour = PAIR_COLOURS[j % len(PAIR_COLOURS)]
                for v, (x1, y1, x2, y2) in enumerate(boxes):
                    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.5,
                                           linestyle='-' if v == 0 else '--'))
            ax.set_title('sampled crop pairs (solid / dashed)', fontsize=8)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path
