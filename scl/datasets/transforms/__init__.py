from .saliency_crop import MultiViewWithKeys, SaliencyCropTransform

__all__ = ['SaliencyCropTransform', 'MultiViewWithKeys']
