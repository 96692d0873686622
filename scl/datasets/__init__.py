from .image_check import CorruptImageError, image_problem
from .scene_dataset import SceneImageDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['SceneImageDataset', 'CorruptImageError', 'image_problem']
