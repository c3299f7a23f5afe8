"""The documented GPU install (docs/install.md, "Install on a GPU machine"),
run as written in a fresh virtual environment, with the package installed
non-editable; then the installed package trains and wraps a config.

The CPU torch of this environment stands in for the CUDA torch of step 1
(the same pins; a CPU build is what this machine's pip takes). The rest are
the documented lines as they are, plus two flags that change how, not what,
pip installs: ``-q`` and ``--no-compile`` (byte-compiling torch's files would
double the install time; Python compiles what it imports). Nothing of the
repository but its files is used: the tools run from a directory where
``projects/`` is not on ``sys.path``, so the installed ``semiearth`` runs.
"""
import json
import os
import os.path as osp
import shlex
import shutil
import subprocess
import sys
import time
from importlib.metadata import version

import pytest

from conftest import ROOT, SUP_CONFIG, data_options

DOC = osp.join(ROOT, 'docs', 'install.md')
MARK = '<!-- gpu-install:'
SEGFORMER = 'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py'


def documented_gpu_commands() -> list:
    """The ``pip install`` lines of the block after :data:`MARK`, as argv."""
    text = open(DOC).read()
    assert MARK in text, f'{DOC}: the GPU install block lost its marker {MARK!r}'
    block = text.split(MARK, 1)[1].split('```bash', 1)[1].split('```', 1)[0]
    return [shlex.split(line.split('#', 1)[0]) for line in block.splitlines()
            if line.startswith('pip install')]


def _pins(path) -> dict:
    pins = {}
    for line in open(osp.join(ROOT, path)):
        name, sep, ver = line.split('#', 1)[0].strip().partition('==')
        if sep:
            pins[name] = ver
    return pins


def test_documented_gpu_commands_use_the_tested_pins():
    """The doc's torch, torchvision and mmcv-lite are requirements/cpu.txt's."""
    cmds = documented_gpu_commands()
    pins = _pins('requirements/cpu.txt')
    assert cmds[0][2:] == [f'torch=={pins["torch"]}', f'torchvision=={pins["torchvision"]}']
    assert f'mmcv-lite=={pins["mmcv-lite"]}' in cmds[1]
    assert cmds[-1] == ['pip', 'install', '.']  # non-editable


def _run(cmd, cwd, env, timeout=600):
    start = time.time()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{shlex.join(map(str, cmd))} (in {cwd}) exited {proc.returncode}\n'
                    f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc, time.time() - start


#: What a working copy holds besides the sources, at its top (setuptools'
#: build/ would put stale modules into the wheel) and anywhere
NOT_SOURCES_TOP = {'.git', '.venv', 'build', 'data', 'work_dirs', 'checkpoints'}


def _not_sources(folder, names):
    top = NOT_SOURCES_TOP if osp.samefile(folder, ROOT) else set()
    return [n for n in names if n in top or n == '__pycache__' or n.endswith('.egg-info')]


def _install(venv, src, env) -> dict:
    """The documented commands into ``venv`` (pip of this environment acting
    on the new interpreter: ``pip --python``), run in ``src``, a copy of the
    repository's sources (``pip install .`` writes build/ and *.egg-info
    where it runs); returns seconds per command."""
    shutil.copytree(ROOT, src, ignore=_not_sources)
    # a data file in a folder that is no Python package: setup.py ships it too
    probe = src / 'projects' / 'semiearth' / '_install_probe' / 'probe.json'
    probe.parent.mkdir()
    probe.write_text('{}')
    stand_in = f'torch=={version("torch")}'  # this environment's CPU build
    times = {}
    for cmd in documented_gpu_commands():
        args = [stand_in if a.startswith('torch==') else a for a in cmd[2:]]
        pip = [sys.executable, '-m', 'pip', '--python', str(venv / 'bin' / 'python'),
               'install', '-q', '--no-compile', '--disable-pip-version-check']
        times[shlex.join(cmd)] = round(_run(pip + args, src, env)[1], 1)
    return times


#: Run by the new environment's python, outside the repository: what start-up
#: did, where semiearth comes from, the shims that act, then the wrap tool
#: (argv[1:]) and the config it wrote (argv[-1]) parsed -- one interpreter,
#: so the heavy imports are paid once.
CHECK = """
import json, os, runpy, sys, sysconfig
site = sysconfig.get_paths()['purelib']
start = dict(hook=os.path.isfile(os.path.join(site, 'semiearth_startup.pth')),
             finder=any(getattr(f, '_semiearth_cpu_stack', 0) for f in sys.meta_path),
             startup='semiearth_startup' in sys.modules)
import semiearth, semiearth_startup
applied = semiearth_startup.check()
tool, out = sys.argv[1], sys.argv[-1]
sys.argv = sys.argv[1:]
runpy.run_path(tool, run_name='__main__')
from mmengine.config import Config
cfg = Config.fromfile(out)
print(json.dumps(dict(start=start, site=site, package=semiearth.__file__, applied=applied,
                      wrapped=[cfg.model.type, cfg.model.segmentor.backbone.type,
                               cfg.train_dataloader.dataset.type])))
"""


def _package_data_shipped(site, src) -> None:
    """Every file of the package's sources is installed."""
    src = osp.join(src, 'projects', 'semiearth')
    for root, dirs, names in os.walk(src):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        for name in names:
            if name.endswith('.pyc'):
                continue
            rel = osp.relpath(osp.join(root, name), src)
            assert osp.isfile(osp.join(site, 'semiearth', rel)), f'not installed: {rel}'


@pytest.mark.timeout(900)
def test_documented_gpu_install_non_editable_trains_and_wraps(tmp_path, nc_data):
    t0 = time.time()
    venv, work = tmp_path / 'venv', tmp_path / 'elsewhere'
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    env.update(PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    _run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], ROOT, env)
    times = _install(venv, tmp_path / 'src', env)
    python = str(venv / 'bin' / 'python')

    # two iterations of the NC Landsat supervised config with the installed
    # package, and meanwhile (the other core) the checks and the wrap tool
    wd = tmp_path / 'wd'
    opts = data_options(nc_data) + [
        'model.backbone.init_cfg=None', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
        'train_dataloader.batch_size=2', 'val_dataloader.batch_size=8']
    t_run = time.time()
    train = subprocess.Popen(
        [python, osp.join(ROOT, 'tools', 'train.py'), SUP_CONFIG, '--work-dir', str(wd),
         '--cfg-options', *opts], cwd=work, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    # a copy of the wrap tool outside the repository, so that nothing of the
    # repository's projects/ can be on its path
    tool = work / 'tools' / 'misc' / 'wrap_mmseg_config.py'
    tool.parent.mkdir(parents=True)
    shutil.copy(osp.join(ROOT, 'tools', 'misc', 'wrap_mmseg_config.py'), tool)
    out = tmp_path / 'wrapped.py'
    try:
        check = _run([python, '-c', CHECK, str(tool), SEGFORMER, '--method', 'fixmatch',
                      '--ratio', '1/8', '--out', str(out)], work, env)[0]
    finally:
        train_out, train_err = train.communicate(timeout=600)
    t_run = time.time() - t_run
    assert train.returncode == 0, f'tools/train.py failed:\n{train_err[-5000:]}'
    report = json.loads(check.stdout.strip().splitlines()[-1])

    # installed, not the repository's files; no start-up hook; the shims
    # that act are those the stand-in pair needs (CPU torch beside a CUDA
    # torchvision, mmcv-lite); on a real GPU install only the mmcv.ops one
    assert report['start'] == dict(hook=False, finder=False, startup=False)
    assert report['package'].startswith(report['site']), report
    assert not report['package'].startswith(ROOT)
    import semiearth_startup
    assert semiearth_startup.MMCV_OPS_SHIM in report['applied']
    _package_data_shipped(report['site'], tmp_path / 'src')

    assert osp.isfile(wd / 'iter_2.pth')
    log = open(sorted(wd.glob('*/*.log'))[-1]).read()
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log

    # the wrap tool on the installed package: the leaf it wrote parses there
    assert report['wrapped'] == ['SemiEarthSegmentor', 'MixVisionTransformer', 'SemiDataset']
    text = open(out).read()
    assert osp.join(ROOT, 'configs') not in text, (
        'the wrapped config reads the repository\'s configs/ folder, which a user of the '
        f'installed package does not have:\n{text[:2000]}')
    total = time.time() - t0
    print(f'\ninstall {times}; train 2 iters || checks + wrap + parse {t_run:.1f} s; '
          f'total {total:.1f} s')
