"""Install the SCL toolbox: ``bash tools/install.sh`` (recommended) or ``pip install -e .``.

mmcv 2.1.0 (full) has no prebuilt wheel for torch 2.14; tools/install.sh builds and caches it. ``pip install -e .``
alone expects mmcv to be installed already (see README "Install").
"""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


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


setup(
    name='scl',
    version=get_version(),
    description='Saliency Guided Contrastive Learning on scene images, on the OpenMMLab stack',
    long_description=open(osp.join(HERE, 'README.md')).read() if osp.exists(osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    python_requires='>=3.10',
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={
        'mim': parse_requirements('requirements/mminstall.txt'),
        'tests': parse_requirements('requirements/tests.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
