from .cues import cue_images, cue_retrieval, fresh_backgrounds, retrieval_top1
from .knn import KNNAccuracy, weighted_knn_predict
from .localisation import (cell_mask_fraction, centre_prior, held_out_scenes, localisation_ratio, mean_localisation,
                           pooled_mask_map, scene_masks, scene_union_masks, source_maps, store_localisation)

__all__ = [
    'cue_images', 'cue_retrieval', 'fresh_backgrounds', 'retrieval_top1', 'localisation_ratio', 'cell_mask_fraction', 'scene_masks', 'centre_prior', 'mean_localisation', 'held_out_scenes',
    'source_maps', 'store_localisation', 'scene_union_masks', 'pooled_mask_map', 'KNNAccuracy', 'weighted_knn_predict'
]
