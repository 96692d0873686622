from .saliency_crop import SaliencyCropTransform
from .wrappers import MultiViewWithKeys, iter_transforms

__all__ = ['SaliencyCropTransform', 'MultiViewWithKeys', 'iter_transforms']
