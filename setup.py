"""SemiEarth: semi-supervised RS segmentation for MMSegmentation 1.x.

The package lives in ``projects/semiearth`` (mmseg's projects layout) and is
installed as ``semiearth``. Dependencies are pinned in ``requirements/`` and
installed by ``tools/setup_env.sh``; ``pip install -e .`` only maps the package.
"""
from setuptools import find_packages, setup

setup(
    name='semiearth',
    version='0.1.0',
    description='Semi-supervised semantic segmentation of remote-sensing images, '
    'purified by a vision-language model (MMSegmentation extension)',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    package_dir={'semiearth': 'projects/semiearth'},
    packages=['semiearth'] + [
        'semiearth.' + p for p in find_packages('projects/semiearth')
    ],
    zip_safe=False,
)
