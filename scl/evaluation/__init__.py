from .knn import KNNAccuracy, weighted_knn_predict
from .localisation import cell_mask_fraction, centre_prior, localisation_ratio, mean_localisation, scene_masks

__all__ = ['localisation_ratio', 'cell_mask_fraction', 'scene_masks', 'centre_prior', 'mean_localisation', 'KNNAccuracy', 'weighted_knn_predict']
