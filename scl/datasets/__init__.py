from .scene_dataset import SceneImageDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['SceneImageDataset']
