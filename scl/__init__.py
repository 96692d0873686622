"""SCL: Saliency Guided Contrastive Learning on scene images, on mmengine / mmcv / mmpretrain / mmdet.

Importing ``scl`` checks the installed stack, makes mmengine checkpoints loadable under torch's ``weights_only``
default, and registers SCL's components into mmpretrain's registries (MODELS, TRANSFORMS, HOOKS, DATASETS).
"""
from .version import __version__
from .utils.version_check import check_versions

check_versions()

from .utils.checkpoint import allow_mmengine_checkpoints  # noqa: E402

allow_mmengine_checkpoints()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__', 'check_versions']
