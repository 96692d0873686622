"""SCL: Saliency Guided Contrastive Learning on scene images, on mmengine / mmcv / mmpretrain / mmdet.

Importing ``scl`` checks the installed stack (mmcv-lite or the full mmcv; reaching ``mmcv.ops`` without its compiled
operators is one clear error), makes mmengine checkpoints loadable under torch's ``weights_only`` default, and
registers SCL's components into mmpretrain's registries (MODELS, TRANSFORMS, HOOKS, DATASETS).
"""
from .version import __version__
from .utils.mmcv_ops import install_ops_hook
from .utils.version_check import check_versions

check_versions()
install_ops_hook()  # on mmcv-lite, reaching mmcv.ops says what is missing and how to install it

from .utils.checkpoint import allow_mmengine_checkpoints, route_mmengine_local_checkpoints  # noqa: E402

allow_mmengine_checkpoints()
route_mmengine_local_checkpoints()  # a file that is not a checkpoint: one clear error

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__', 'check_versions']
