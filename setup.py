"""Install the SCL toolbox: ``bash tools/install.sh`` (recommended) or ``pip install -e .``.

``install_requires`` holds compatible ranges (requirements/runtime.txt), so installing SCL into an existing CUDA
environment keeps its torch; the exact stack we test is requirements/pinned.txt (tools/install.sh). mmcv (full) must be
installed first, e.g. with ``mim install "mmcv>=2.0.0,<2.2.0"``; detection transfer needs ``pip install -e .[det]``.

Like mmpretrain, the package carries its configs, tools and model index for OpenMMLab's ``mim`` (``scl/.mim``):
``mim search scl``, ``mim train scl <config>``.
"""
import os
import os.path as osp
import re
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def parse_requirements(fname):
    """Read a requirements file, following ``-r`` includes, skipping comments."""
    reqs = []
    with open(osp.join(HERE, fname)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            if line.startswith('-r '):
                reqs += parse_requirements(osp.join(osp.dirname(fname), line[3:].strip()))
            else:
                reqs.append(line)
    return reqs


def get_version():
    with open(osp.join(HERE, 'scl', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def add_mim_extension():
    """Put configs, tools and model-index.yml into ``scl/.mim`` (what ``mim`` reads), as mmpretrain does.

    Editable installs link them (edits show at once); wheels and sdists copy them.
    """
    develop = any(cmd in sys.argv for cmd in ('develop', 'editable_wheel'))
    mode = 'symlink' if develop or 'egg_info' in sys.argv else 'copy'
    if not any(cmd in sys.argv for cmd in ('develop', 'editable_wheel', 'egg_info', 'build', 'build_py',
                                           'bdist_wheel', 'sdist', 'install')):
        return
    mim_dir = osp.join(HERE, 'scl', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(HERE, name), osp.join(mim_dir, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='scl',
        version=get_version(),
        description='Saliency Guided Contrastive Learning on scene images, on the OpenMMLab stack',
        long_description=open(osp.join(HERE, 'README.md')).read() if osp.exists(osp.join(HERE, 'README.md')) else '',
        long_description_content_type='text/markdown',
        keywords='self-supervised learning, contrastive learning, saliency, scene images, openmmlab',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
        include_package_data=True,
        package_data={'scl': ['.mim/**/*', '.mim/*']},
        python_requires='>=3.10',
        install_requires=parse_requirements('requirements/runtime.txt'),
        extras_require={
            'mim': parse_requirements('requirements/mminstall.txt'),
            'det': parse_requirements('requirements/det.txt'),
            'tests': parse_requirements('requirements/tests.txt'),
            'all': sum((parse_requirements(f'requirements/{n}.txt') for n in ('mminstall', 'det', 'tests')), []),
        },
        license='Apache-2.0',
        zip_safe=False,
    )
