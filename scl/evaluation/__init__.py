from .knn import KNNAccuracy, weighted_knn_predict
from .localisation import cell_mask_fraction, localisation_ratio, scene_masks

__all__ = ['localisation_ratio', 'cell_mask_fraction', 'scene_masks', 'KNNAccuracy', 'weighted_knn_predict']
