"""SemiEarth: semi-supervised RS segmentation for MMSegmentation 1.x.

The package lives in ``projects/semiearth`` (mmseg's projects layout) and is
installed as ``semiearth``. Dependencies are pinned in ``requirements/`` and
installed by ``tools/setup_env.sh``; ``pip install -e .`` maps the package,
the top-level module ``semiearth_startup`` (``projects/semiearth_startup.py``)
and installs the start-up hook ``semiearth_startup.pth`` (see below).
"""
import os.path as osp

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

#: The start-up hook, installed as ``semiearth_startup.pth`` in site-packages.
#: site.py executes ``.pth`` lines that start with ``import`` in every
#: interpreter of the environment; this one only puts a meta path finder in
#: place (no torch import), which applies the CPU-stack shims just before
#: torchvision / mmcv.ops are first imported, whichever module the user
#: imports first (projects/semiearth/compat.py explains). Its text lives here
#: rather than in a file because the repository ignores ``*.pth`` files, and
#: so that a change to it changes setup.py's hash, which makes
#: tools/setup_env.sh reinstall.
STARTUP_PTH_NAME = 'semiearth_startup.pth'
STARTUP_PTH = 'import semiearth_startup; semiearth_startup.install()\n'


class BuildPyWithStartupHook(build_py):
    """Regular wheels: the hook goes to the root of ``build_lib``, which
    becomes site-packages (how setuptools ships its own
    ``distutils-precedence.pth``)."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            with open(osp.join(self.build_lib, STARTUP_PTH_NAME), 'w') as f:
                f.write(STARTUP_PTH)

    def get_outputs(self, include_bytecode: bool = True) -> list:
        outputs = super().get_outputs(include_bytecode)
        if not self.editable_mode:
            outputs.append(osp.join(self.build_lib, STARTUP_PTH_NAME))
        return outputs


class _StrategyWithStartupHook:
    """An editable-install strategy of setuptools plus the hook at the root
    of the editable wheel (setuptools' strategies write only their own
    finder/``.pth`` there and ignore build outputs such as the one above)."""

    def __init__(self, strategy, command: 'EditableWheelWithStartupHook') -> None:
        self.strategy = strategy
        self.command = command

    def __call__(self, wheel, files, mapping) -> None:
        self.strategy(wheel, files, mapping)
        wheel.writestr(STARTUP_PTH_NAME, STARTUP_PTH)
        self.command.startup_hook_written = True

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.strategy.__exit__(*exc)


class EditableWheelWithStartupHook(editable_wheel):
    """``pip install -e .`` (tools/setup_env.sh): the editable wheel also
    installs the start-up hook. ``_select_strategy`` is setuptools' internal
    (setuptools 64 to 80.9, the version requirements/cpu.txt pins for the CPU
    stack); should a setuptools stop calling it, the install fails instead of
    leaving the CPU stack without its hook."""

    startup_hook_written = False

    def _select_strategy(self, name, tag, build_lib):
        return _StrategyWithStartupHook(
            super()._select_strategy(name, tag, build_lib), self)

    def run(self) -> None:
        super().run()
        if not self.startup_hook_written:
            raise RuntimeError(
                f'setup.py: this setuptools did not let SemiEarth add {STARTUP_PTH_NAME} '
                'to the editable wheel (EditableWheelWithStartupHook._select_strategy '
                'was not called). Install with the pinned setuptools: pip install '
                'setuptools==80.9.0 && pip install --no-deps --no-build-isolation -e .')


setup(
    name='semiearth',
    version='0.1.0',
    description='Semi-supervised semantic segmentation of remote-sensing images, '
    'purified by a vision-language model (MMSegmentation extension)',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    package_dir={'semiearth': 'projects/semiearth', '': 'projects'},
    packages=['semiearth'] + [
        'semiearth.' + p for p in find_packages('projects/semiearth')
    ],
    py_modules=['semiearth_startup'],
    cmdclass={'build_py': BuildPyWithStartupHook,
              'editable_wheel': EditableWheelWithStartupHook},
    zip_safe=False,
)
