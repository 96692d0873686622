from .image_check import CorruptImageError, image_problem
from .samplers import KeyedInfiniteSampler, seed_streams
from .scene_dataset import SceneImageDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['SceneImageDataset', 'KeyedInfiniteSampler', 'seed_streams', 'CorruptImageError', 'image_problem']
