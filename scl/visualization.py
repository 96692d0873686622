"""Pictures of what the model finds salient: images, their saliency maps and sampled crop pairs."""
import os
import os.path as osp
from typing import List, Optional, Sequence

import mmcv
import numpy as np
import torch

from scl.utils.saliency_geometry import (MODEL_FREE_SOURCES, SALIENCY_SOURCES, contrastive_gradcam, dense_contrast,
                                         reduce_feature_map, spectral_residual)

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


SOURCES = SALIENCY_SOURCES
# Sources a study can score: the training step's (the model's and the model-free ones) and, for studies only (not
# computable inside the training step), ContraCAM's published procedure.
STUDY_SOURCES = SOURCES + MODEL_FREE_SOURCES + ('contracam', )


def model_saliency(model, images: Sequence[np.ndarray], size: int, grid_size: int, reduce: str = 'mean_relu',
                   encoder: str = 'key', source: str = 'activation', contracam_iters: int = 1) -> np.ndarray:
    """Saliency of whole images from a model's own networks (works for SCL and MoCo v2 checkpoints alike).

    Each image is resized to ``size x size`` and normalised as in training; the map is resampled to the grid. The
    sources are SCL's (``SCLAlgorithm.saliency_source``), computed on the whole image as their own view:

    - ``'activation'``: the key (momentum) encoder's last feature map (the query backbone with
      ``encoder='query'``) reduced over channels with ``reduce``;
    - ``'gradcam'``: contrastive Grad-CAM of the InfoNCE loss of the image's query against its own key and the queue,
      on the query backbone's last feature map (one backward per batch, weights untouched);
    - ``'dense_contrast'``: the key neck at every location of the key encoder's map, log-softmax of the image's key
      against the queue;
    - ``'spectral_residual'``: the image's pixels alone (model-free, :func:`spectral_residual`);
    - ``'contracam'`` (studies only): ContraCAM's procedure (Mo et al. 2021) over the images passed together, see
      :func:`contracam`, with ``contracam_iters`` rounds.

    Returns:
        np.ndarray: ``len(images) x grid_size x grid_size`` in [0, 1].
    """
    if source not in STUDY_SOURCES:
        raise ValueError(f'source must be one of {STUDY_SOURCES}, got {source!r}')
    if source not in ('activation', ) + MODEL_FREE_SOURCES and not hasattr(model, 'queue'):
        raise ValueError(f"source {source!r} needs a MoCo-style model (key encoder, neck and queue), got "
                         f'{type(model).__name__}')
    key_backbone = model.encoder_k.module[0] if hasattr(model, 'encoder_k') else model.backbone
    backbone = key_backbone if (encoder == 'key' or source == 'dense_contrast') else model.backbone
    device = next(model.parameters()).device
    batch = np.stack([mmcv.imresize(img, (size, size)) for img in images])
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float()  # RGB, as the preprocessor's output order
    pre = model.data_preprocessor  # ImgDataPreprocessor buffers: C x 1 x 1
    x = ((x - pre.mean.view(1, -1, 1, 1).cpu()) / pre.std.view(1, -1, 1, 1).cpu()).to(device)
    was_training = model.training
    model.eval()
    try:
        if source == 'gradcam':
            maps = _eval_gradcam(model, x)
        elif source == 'contracam':
            maps = contracam(model, x, contracam_iters)
        elif source == 'spectral_residual':
            maps = spectral_residual(x)
        else:
            with torch.no_grad():
                feats = backbone(x)
                if source == 'activation':
                    maps = reduce_feature_map(feats[-1], reduce)
                else:
                    neck_k = model.encoder_k.module[1]
                    keys = torch.nn.functional.normalize(neck_k(feats)[0], dim=1)
                    maps = dense_contrast(feats[-1], keys, neck_k.mlp, model.queue, model.head.temperature)
    finally:
        model.train(was_training)
    maps = torch.nn.functional.interpolate(maps[:, None], size=(grid_size, grid_size), mode='bilinear',
                                           align_corners=False)
    return maps[:, 0].clamp(0, 1).detach().cpu().numpy()


def _eval_gradcam(model, x):
    """Contrastive Grad-CAM of each image's InfoNCE loss (its query against its own key and the queue)."""
    with torch.no_grad():
        keys = torch.nn.functional.normalize(model.encoder_k.module[1](model.encoder_k.module[0](x))[0], dim=1)
    with torch.enable_grad():
        feats = model.backbone(x)
        act = feats[-1]
        q = torch.nn.functional.normalize(model.neck(feats)[0], dim=1)
        logits = torch.cat([(q * keys).sum(1, keepdim=True), q @ model.queue.detach()], dim=1)
        loss = torch.nn.functional.cross_entropy(logits / model.head.temperature,
                                                 torch.zeros(len(x), dtype=torch.long, device=x.device),
                                                 reduction='sum')  # per-image gradients, independent of the batch
        grad, = torch.autograd.grad(loss, act)
    return contrastive_gradcam(act.detach(), grad)


def contracam(model, x, iters=1):
    """ContraCAM (Mo et al. 2021) of a batch of normalised images on the query backbone's last feature map.

    Each round scores every image's projection ``q`` by ``q . k - logsumexp_j(q . n_j)`` (temperature 1, as ContraCAM),
    with ``k`` the projection of the unedited image and ``n_j`` the projections of the *other* images of the batch in
    every round so far, and takes its contrastive Grad-CAM (:func:`~scl.utils.saliency_geometry.contrastive_gradcam`),
    upsampled to the input. After each round the union (element-wise max) of the maps so far is painted over the
    image with the batch's mean colour, so the next round looks for what else identifies it. Weights are untouched.

    Returns:
        torch.Tensor: ``B x H x W`` union in [0, 1] at the input's resolution.
    """
    if len(x) < 2:
        raise ValueError('contracam scores each image against the other images of the batch: pass at least 2')
    if iters < 1:
        raise ValueError(f'contracam needs at least one round, got iters={iters}')

    def project(inp):
        feats = model.backbone(inp)
        return feats[-1], torch.nn.functional.normalize(model.neck(feats)[0], dim=1)

    with torch.no_grad():
        _, key = project(x)
    colour = x.mean(dim=(0, 2, 3), keepdim=True)
    own = torch.eye(len(x), dtype=torch.bool, device=x.device)
    seen, union, inp = [], None, x
    for _ in range(iters):
        with torch.enable_grad():
            act, q = project(inp)
            seen.append(q.detach())
            neg = torch.cat([(q @ n.T).masked_fill(own, float('-inf')) for n in seen], dim=1)
            score = (q * key).sum(1) - torch.logsumexp(neg, dim=1)
            grad, = torch.autograd.grad(-score.sum(), act)  # the gradient of the loss -score
        cam = contrastive_gradcam(act.detach(), grad)
        cam = torch.nn.functional.interpolate(cam[:, None], size=x.shape[-2:], mode='bilinear', align_corners=False)
        union = cam[:, 0] if union is None else torch.maximum(union, cam[:, 0])
        inp = x * (1 - union[:, None]) + colour * union[:, None]
    return union.clamp(0, 1)
