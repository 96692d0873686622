from .color import FusedColorJitter, FusedRandomFlip, FusedRandomGrayscale
from .loading import LoadImageFromFileCached
from .pipeline import find_transform, iter_transforms, transform_path, walk_pipeline
from .saliency_crop import SaliencyCropTransform
from .wrappers import MultiViewWithKeys

__all__ = [
    'SaliencyCropTransform', 'MultiViewWithKeys', 'FusedColorJitter', 'FusedRandomGrayscale', 'FusedRandomFlip',
    'LoadImageFromFileCached', 'iter_transforms',
    'walk_pipeline', 'find_transform', 'transform_path'
]
