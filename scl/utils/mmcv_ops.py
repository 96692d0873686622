"""mmcv-lite or full mmcv: one clear message when something reaches ``mmcv.ops`` on an install without them.

The quick start installs mmcv-lite (mmcv without compiled operators: nothing to build). Pretraining, classification
and every tool of this repository's pretraining path never import ``mmcv.ops``; detection transfer (mmdet's RoIAlign,
NMS, ...) does. On a lite install mmcv fails deep inside mmdet with ``No module named 'mmcv._ext'``; importing
``scl`` makes mmcv's extension loader (``mmcv.utils.ext_loader.load_ext``, through which every ``mmcv.ops`` module
loads the compiled library) raise :class:`MMCVOpsMissingError` instead, whose message says what is missing and the
command that installs it. Probes that only ask whether the operators exist (mmengine's ``mmcv_full_available``) still
get their plain answer.
"""
import importlib.util

from .errors import UserError

FULL_BUILD = 'bash tools/install.sh --with-ops'
MESSAGE = ("this needs mmcv's compiled operators (mmcv.ops: RoIAlign, NMS, ... for detection transfer), but the "
           'installed mmcv has none (mmcv-lite, the quick-start install). Install the full build with '
           f'`{FULL_BUILD}` (compiles mmcv 2.1.0 once, about 7 minutes on 2 cores, then cached)')


class MMCVOpsMissingError(UserError, ModuleNotFoundError):
    """Raised when ``mmcv.ops`` is reached on an mmcv without compiled operators (mmcv-lite)."""


def has_ops():
    """Whether the installed mmcv has its compiled operators (without importing them)."""
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except ImportError:
        return False


def _missing_ops(name, funcs):
    raise MMCVOpsMissingError(MESSAGE, name=f'mmcv.{name}')


def install_ops_hook():
    """On an mmcv without compiled operators, make its extension loader raise :class:`MMCVOpsMissingError`."""
    if has_ops():
        return
    import warnings
    # mmcv's own notice at the import of its transformer bricks (by mmpretrain), on every run of a lite install: the
    # error above says the same where it matters.
    warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    from mmcv.utils import ext_loader
    ext_loader.load_ext = _missing_ops
