"""Check that the installed OpenMMLab stack is the one SCL is built and tested against."""
import warnings
from importlib import metadata

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from .errors import UserError

# package -> (specifier, why)
REQUIRED = {
    'torch': ('>=2.0', 'the pinned pair is torch 2.14.1 + torchvision 0.29.1'),
    'mmengine': ('>=0.10.0,<0.11.0', 'configs and the Runner are written for mmengine 0.10.x'),
    'mmcv': ('>=2.0.0,<2.2.0', 'mmdet 3.3.0 asserts mmcv < 2.2.0; mmcv-lite (no ops) suffices for pretraining, '
             'detection transfer needs the full build: bash tools/install.sh --with-ops'),
    'mmpretrain': ('>=1.2.0,<1.3.0', 'SCL extends mmpretrain 1.2 registries and MoCo'),
    'numpy': ('<2', "mmcv 2.1's adjust_hue overflows on numpy 2"),
}
# Needed only by what uses them: not installed is fine; installed at another version is a warning at import.
OPTIONAL = {
    'mmdet': ('>=3.3.0,<3.4.0', 'detection transfer configs inherit mmdet 3.3 configs; pip install -e .[det]'),
}

FIX = 'Fix: run `bash tools/install.sh` from the repository root (it creates .venv/ with the pinned stack).'


class VersionMismatchError(UserError, ImportError):
    """Raised when an installed package does not fit SCL's pinned stack."""


def _installed(name):
    # mmcv comes as the full `mmcv` distribution or as `mmcv-lite` (the same package without compiled ops).
    for dist in ((name, 'mmcv-lite') if name == 'mmcv' else (name, )):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return None


def check_versions(installed=None):
    """Raise one :class:`VersionMismatchError` listing every package that does not fit.

    Args:
        installed (dict, optional): ``{package: version}`` to check instead of the installed distributions
            (used by the tests). A value of ``None`` means "not installed".

    Raises:
        VersionMismatchError: what is installed, what is required and how to fix it.
    """
    problems = []
    for name, (spec, why) in REQUIRED.items():
        version = installed.get(name) if installed is not None else _installed(name)
        if version is None:
            problems.append(f'  - {name}: not installed; required {spec} ({why})')
        elif Version(version) not in SpecifierSet(spec):
            problems.append(f'  - {name}: installed {version}; required {spec} ({why})')
    for name, (spec, why) in OPTIONAL.items():
        version = installed.get(name) if installed is not None else _installed(name)
        if version is not None and Version(version) not in SpecifierSet(spec):
            warnings.warn(f'{name} {version} is installed but SCL needs {spec} for what uses it ({why}); '
                          'pretraining and classification work without it', stacklevel=2)
    if problems:
        raise VersionMismatchError('SCL cannot run with the installed packages:\n' + '\n'.join(problems) + '\n' + FIX)
