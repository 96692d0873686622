"""Saliency: the one home of how SCL's maps are made, kept and placed.

- :mod:`scl.saliency.sources`: the registry of every source (what it reads, whether training uses it, how a study
  computes it on whole images) and :func:`model_saliency`;
- :mod:`scl.saliency.maps`: the map computations (channel reduction, contrastive Grad-CAM, dense contrast, spectral
  residual, ContraCAM);
- :mod:`scl.saliency.store`: the per-sample saliency store shared with dataloader workers;
- :mod:`scl.saliency.geometry`: boxes, crop scores and the warp of view maps back to image grids.
"""
from .geometry import box_score, box_scores, cell_centres, normalise_boxes, warp_to_image_grid
from .maps import (REDUCTIONS, contracam, contrastive_gradcam, dense_contrast, normalise_maps, reduce_feature_map,
                   spectral_residual, valid_maps, whole_image_gradcam)
from .sources import SOURCES, SaliencySource, add_source, get_source, model_saliency, saliency_source, source_names
from .store import SaliencyStore, SaliencyStoreLink

__all__ = [
    'SOURCES', 'SaliencySource', 'add_source', 'get_source', 'saliency_source', 'source_names', 'model_saliency',
    'REDUCTIONS', 'reduce_feature_map', 'normalise_maps', 'valid_maps', 'contrastive_gradcam', 'spectral_residual',
    'dense_contrast', 'contracam', 'whole_image_gradcam', 'SaliencyStore', 'SaliencyStoreLink', 'box_score',
    'box_scores', 'cell_centres', 'normalise_boxes', 'warp_to_image_grid'
]
