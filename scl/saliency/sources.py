"""The saliency sources: every way SCL gets a saliency map, registered once with what it reads and where it is used.

A source is one :class:`SaliencySource` in :data:`SOURCES`. Its properties say what the map is made from
(``reads``), whether and when the training step computes it (``training``: ``SCLAlgorithm(saliency_source=...)``
accepts exactly the sources that have one) and, for studies and pictures, how it is computed on whole images
(``whole_image``: :func:`model_saliency` accepts exactly the sources that have one).

Adding a source is one registered function (its whole-image map, decorated with :func:`saliency_source`) and one
test; a source the training step computes from the key encoder also passes ``key_map``.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from scl.utils.errors import ConfigError
from .maps import contracam, dense_contrast, reduce_feature_map, spectral_residual, whole_image_gradcam

# What a source's map is made from.
READS = ('backbone', 'moco', 'pixels', 'annotations', 'nothing')
# When the training step gets a source's map: 'key' in the loss step from the key encoder's pass (``key_map``),
# 'backward' from the gradient of the main backward, 'fixed' written into the store once before training and never
# updated, 'none' no map at all.
TRAINING_STAGES = ('key', 'backward', 'fixed', 'none')


@dataclass(frozen=True)
class SaliencySource:
    """One saliency source.

    Attributes:
        name (str): The name configs and tools use (``saliency_source``, ``--sources``).
        summary (str): One line on what the map is.
        reads (str): What it is made from: ``'backbone'`` (a backbone's feature map), ``'moco'`` (a MoCo-style
            model: key encoder, neck and queue), ``'pixels'`` (the view alone, model-free), ``'annotations'``
            (ground truth, benchmark only) or ``'nothing'``.
        training (str | None): When the training step gets the map (:data:`TRAINING_STAGES`); None: studies only.
        whole_image (callable | None): ``(model, x, **options) -> (B, h, w)`` maps in [0, 1] of normalised whole
            images ``x`` (B x 3 x H x W); None: not computable outside training.
        key_map (callable | None): ``training='key'`` only: ``(algorithm, img, feats, keys) -> (N, h, w)`` from the
            key view's pixels, the key backbone's outputs and the normalised keys (all in the key encoder's order).
    """
    name: str
    summary: str
    reads: str
    training: Optional[str] = None
    whole_image: Optional[Callable] = None
    key_map: Optional[Callable] = None

    def __post_init__(self):
        if self.reads not in READS:
            raise ValueError(f'source {self.name!r}: reads must be one of {READS}, got {self.reads!r}')
        if self.training is not None and self.training not in TRAINING_STAGES:
            raise ValueError(f'source {self.name!r}: training must be None or one of {TRAINING_STAGES}')
        if (self.key_map is not None) != (self.training == 'key'):
            raise ValueError(f"source {self.name!r}: a key_map goes with training='key', and only with it")

    @property
    def updates_store(self) -> bool:
        """Whether the training step writes this source's maps into the saliency store."""
        return self.training in ('key', 'backward')


SOURCES: Dict[str, SaliencySource] = {}


def add_source(source: SaliencySource) -> SaliencySource:
    """Register ``source`` (a name registers once)."""
    if source.name in SOURCES:
        raise ValueError(f'saliency source {source.name!r} is already registered')
    SOURCES[source.name] = source
    return source


def saliency_source(name: str, summary: str, reads: str, training: Optional[str] = None,
                    key_map: Optional[Callable] = None):
    """Decorator: register the decorated function as source ``name``'s whole-image map."""

    def register(fn):
        add_source(SaliencySource(name, summary, reads, training, fn, key_map))
        return fn

    return register


def source_names(training: Optional[bool] = None, study: Optional[bool] = None,
                 reads: Optional[Sequence[str]] = None) -> Tuple[str, ...]:
    """Names of the registered sources, in registration order, that the training step may use (``training=True``),
    that studies can compute on whole images (``study=True``) and / or that read one of ``reads``."""
    return tuple(s.name for s in SOURCES.values()
                 if (training is None or (s.training is not None) == training)
                 and (study is None or (s.whole_image is not None) == study)
                 and (reads is None or s.reads in reads))


def get_source(name: str, purpose: str = 'training') -> SaliencySource:
    """The source ``name``, checked usable for ``purpose`` (``'training'`` or ``'study'``).

    Raises:
        ConfigError: ``name`` is not registered or not usable for ``purpose``; the message lists the valid names.
    """
    valid = source_names(training=True) if purpose == 'training' else source_names(study=True)
    if name not in valid:
        what = 'saliency_source' if purpose == 'training' else 'source'
        raise ConfigError(f'{what} must be one of {valid}, got {name!r}')
    return SOURCES[name]


# The training step's sources, from the model itself.
@saliency_source('activation', "the key encoder's last feature map, reduced over channels", 'backbone', 'key',
                 key_map=lambda algo, img, feats, keys: reduce_feature_map(feats[-1], algo.saliency_reduce))
def _activation(model, x, encoder='key', reduce='mean_relu', **_):
    backbone = model.encoder_k.module[0] if (encoder == 'key' and hasattr(model, 'encoder_k')) else model.backbone
    with torch.no_grad():
        return reduce_feature_map(backbone(x)[-1], reduce)


@saliency_source('gradcam', "contrastive Grad-CAM of the InfoNCE loss on the query encoder's last feature map",
                 'moco', 'backward')
def _gradcam(model, x, **_):
    return whole_image_gradcam(model, x)


@saliency_source('dense_contrast', "the key neck at every location of the key encoder's map, log-softmax of the "
                 'view\'s key against the queue', 'moco', 'key',
                 key_map=lambda algo, img, feats, keys: algo.dense_contrast_map(feats[-1], keys))
def _dense_contrast(model, x, **_):
    with torch.no_grad():
        feats = model.encoder_k.module[0](x)
        neck_k = model.encoder_k.module[1]
        keys = F.normalize(neck_k(feats)[0], dim=1)
        return dense_contrast(feats[-1], keys, neck_k.mlp, model.queue, model.head.temperature)


# A control that reads only the pixels: what a map that localises does to SCL.
@saliency_source('spectral_residual', "the key view's spectral-residual saliency (Hou & Zhang 2007), model-free",
                 'pixels', 'key', key_map=lambda algo, img, feats, keys: spectral_residual(
                     img, algo.saliency_store.grid_size if algo.saliency_store is not None else 16))
def _spectral_residual(model, x, **_):
    return spectral_residual(x)


# Studies only: ContraCAM's published procedure needs several backward passes over a batch of whole images.
@saliency_source('contracam', 'ContraCAM (Mo et al. 2021) over the images passed together', 'moco')
def _contracam(model, x, contracam_iters=1, **_):
    return contracam(model, x, contracam_iters)


# Ground truth, for the scene benchmark only: the union of each training scene's object masks (from the scene
# builder's COCO annotations) as cover fractions on the store's grid, written once by SaliencyStoreHook. It tells
# whether a benchmark can reward saliency at all; on data without annotations it is an error.
add_source(SaliencySource('oracle', "the scene's true object cover, from its annotations (benchmark only)",
                          'annotations', 'fixed'))
# No map: the store is never written (with independent crops and beta = 0, SCL's pipeline is MoCo v2).
add_source(SaliencySource('none', 'no saliency at all', 'nothing', 'none'))


def model_saliency(model, images: Sequence[np.ndarray], size: int, grid_size: int, reduce: str = 'mean_relu',
                   encoder: str = 'key', source: str = 'activation', contracam_iters: int = 1) -> np.ndarray:
    """Saliency of whole images from a model (SCL and MoCo v2 checkpoints alike), each image its own view.

    Each image is resized to ``size x size`` and normalised as in training; the source's ``whole_image`` map
    (:data:`SOURCES`; e.g. ``'activation'`` of the key encoder, or of the query backbone with ``encoder='query'``,
    reduced with ``reduce``; ``'contracam'`` with ``contracam_iters`` rounds over the images passed together) is
    resampled to the grid. Weights are never changed.

    Returns:
        np.ndarray: ``len(images) x grid_size x grid_size`` in [0, 1].

    Raises:
        ConfigError: an unknown source, or one that needs a MoCo-style model (key encoder, neck, queue) given
            another model.
    """
    import mmcv

    src = get_source(source, 'study')
    if src.reads == 'moco' and not hasattr(model, 'queue'):
        raise ConfigError(f'source {source!r} needs a MoCo-style model (key encoder, neck and queue), got '
                          f'{type(model).__name__}')
    device = next(model.parameters()).device
    batch = np.stack([mmcv.imresize(img, (size, size)) for img in images])
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float()  # RGB, as the preprocessor's output order
    pre = model.data_preprocessor  # ImgDataPreprocessor buffers: C x 1 x 1
    x = ((x - pre.mean.view(1, -1, 1, 1).cpu()) / pre.std.view(1, -1, 1, 1).cpu()).to(device)
    was_training = model.training
    model.eval()
    try:
        maps = src.whole_image(model, x, encoder=encoder, reduce=reduce, contracam_iters=contracam_iters)
    finally:
        model.train(was_training)
    maps = F.interpolate(maps[:, None], size=(grid_size, grid_size), mode='bilinear', align_corners=False)
    return maps[:, 0].clamp(0, 1).detach().cpu().numpy()
