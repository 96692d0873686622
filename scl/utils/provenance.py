"""What produced a record: the commit, the machine, the thread count and the library versions, in one place."""
import os
import os.path as osp
import platform
import subprocess
from typing import Dict, Optional

_REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


# The tracked folders whose uncommitted changes make a figure differ from its commit's (a report that a running
# benchmark rewrites under docs/ does not).
SOURCE_DIRS = ('scl', 'configs', 'tools')


def git_commit(path: str = _REPO) -> str:
    """The short commit of the source tree holding ``path``, with ``'+dirty'`` when tracked files under
    :data:`SOURCE_DIRS` differ from it (``'unknown'`` outside a git checkout)."""
    def git(*args):
        return subprocess.run(['git', *args], cwd=path, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        commit = git('rev-parse', '--short', 'HEAD')
        dirty = commit and git('status', '--porcelain', '--untracked-files=no', '--',
                               *(f':/{d}' for d in SOURCE_DIRS))
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return (commit + ('+dirty' if dirty else '')) if commit else 'unknown'


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask: a batch scheduler's or a container's share of the
    machine, which ``os.cpu_count()`` does not see), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity call on this platform
        return os.cpu_count() or 1


def _cpuinfo_field(name: str) -> str:
    if not osp.isfile('/proc/cpuinfo'):
        return ''
    with open('/proc/cpuinfo') as f:
        return next((line.split(':', 1)[1].strip() for line in f if line.startswith(name)), '')


def library_versions() -> Dict[str, str]:
    """The versions of the stack a figure depends on."""
    import mmcv
    import mmengine
    import mmpretrain
    import numpy
    import torch
    import torchvision

    import scl
    return dict(scl=scl.__version__, torch=torch.__version__, torchvision=torchvision.__version__,
                mmengine=mmengine.__version__, mmcv=mmcv.__version__, mmpretrain=mmpretrain.__version__,
                numpy=numpy.__version__)


def machine(threads: Optional[int] = None) -> dict:
    """The machine and configuration a figure was measured on: CPU model and count, whether it has avx512_bf16,
    torch threads (``threads``, default torch's current count), Python, torch, the GPU (or None) and the commit."""
    import torch
    return dict(cpu=_cpuinfo_field('model name') or platform.processor() or platform.machine(), cpus=usable_cpus(),
                threads=threads if threads is not None else torch.get_num_threads(),
                python=platform.python_version(), torch=torch.__version__, commit=git_commit(),
                avx512_bf16='avx512_bf16' in _cpuinfo_field('flags').split(),
                gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)


def machine_line(info: Optional[dict] = None) -> str:
    """:func:`machine` in one line, e.g. ``'AMD EPYC 7B13, 2 CPUs, 2 threads, Python 3.11.7, no GPU'``."""
    m = info or machine()
    return (f'{m["cpu"]}, {m["cpus"]} CPUs, {m["threads"]} threads, Python {m["python"]}, '
            + (m['gpu'] or 'no GPU'))
