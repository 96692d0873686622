from .saliency_contrastive_head import SaliencyContrastiveHead, saliency_weights

__all__ = ['SaliencyContrastiveHead', 'saliency_weights']
