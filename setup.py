"""SemiEarth: semi-supervised RS segmentation for MMSegmentation 1.x.

The package lives in ``projects/semiearth`` (mmseg's projects layout) and is
installed as ``semiearth``, with the top-level module ``semiearth_startup``
(``projects/semiearth_startup.py``). Every file under ``projects/semiearth/``
that is not Python source ships as package data, so a regular (non-editable)
``pip install .`` holds all the package reads at run time.

Dependencies are pinned in ``requirements/`` (docs/install.md). Installing
the package installs no start-up code: the CPU stack's start-up hook is
written by ``tools/setup_env.sh`` (``python -m semiearth_startup
install-hook``), not by pip.
"""
import os
import os.path as osp

from setuptools import find_packages, setup

PACKAGE_DIR = osp.join('projects', 'semiearth')


def package_data_files() -> list:
    """Every non-Python file under projects/semiearth/, relative to it
    (compiled caches and build leftovers excluded)."""
    files = []
    for root, dirs, names in os.walk(PACKAGE_DIR):
        dirs[:] = [d for d in dirs if d != '__pycache__' and not d.endswith('.egg-info')]
        files += [osp.relpath(osp.join(root, n), PACKAGE_DIR) for n in names
                  if not n.endswith(('.py', '.pyc', '.pyo'))]
    return sorted(files)


setup(
    name='semiearth',
    version='0.1.0',
    description='Semi-supervised semantic segmentation of remote-sensing images, '
    'purified by a vision-language model (MMSegmentation extension)',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    package_dir={'semiearth': PACKAGE_DIR, '': 'projects'},
    packages=['semiearth'] + [
        'semiearth.' + p for p in find_packages(PACKAGE_DIR)
    ],
    package_data={'semiearth': package_data_files()},
    py_modules=['semiearth_startup'],
    zip_safe=False,
)
