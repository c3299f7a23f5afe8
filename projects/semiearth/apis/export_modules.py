"""What an exported config imports: the SemiEarth components it uses that
have no mmseg counterpart (e.g. ``MultiBandMobileNetV2`` with 6 bands, which
mmseg's 3-band ``MobileNetV2`` cannot hold).

A module that stands alone, i.e. declares ``STANDALONE = True`` and imports
nothing of SemiEarth (checked here on its source), is copied beside the
exported config as ``plain_<file name>``; the config puts its own folder on
``sys.path`` and imports the copy, so mmseg runs the pair where SemiEarth is
not installed. Such a module registers its classes with ``force=True``: a
process may import both the copy and SemiEarth's original (same code). Any
other module is imported from the installed ``semiearth`` package.
"""
import ast
import os.path as osp
import sys
from typing import Dict, List, NamedTuple

from mmseg import registry as mmseg_registry

from ..utils import atomic_write_text
from .export_data import types_in

COPY_PREFIX = 'plain_'


class ConfigImports(NamedTuple):
    """``types``: module -> SemiEarth type names the config uses from it;
    ``imports``: the ``custom_imports`` module names; ``copies``: the module
    files written beside the config; ``installed``: the modules that need
    SemiEarth installed."""
    types: Dict[str, List[str]]
    imports: List[str]
    copies: List[str]
    installed: List[str]


def _origin(name: str, copy_module: str) -> str:
    """The SemiEarth module a standalone copy (already imported) was made from."""
    stem = copy_module[len(COPY_PREFIX):]
    for mod_name, mod in list(sys.modules.items()):
        if mod_name.split('.')[0] == 'semiearth' and mod_name.rsplit('.', 1)[-1] == stem \
                and isinstance(getattr(mod, name, None), type):
            return mod_name
    return copy_module


def semiearth_types() -> Dict[str, str]:
    """Registered type name -> defining module, for SemiEarth's classes in
    mmseg's registries (also where a standalone copy re-registered the name;
    names some other package also registers are left out: an exported config
    could not tell them apart)."""
    ours: Dict[str, str] = {}
    theirs = set()
    for attr in dir(mmseg_registry):
        registry = getattr(mmseg_registry, attr)
        for name, cls in getattr(registry, 'module_dict', {}).items():
            module = getattr(cls, '__module__', '') or ''
            if module.split('.')[0] == 'semiearth':
                ours[name] = module
            elif module.startswith(COPY_PREFIX):
                ours[name] = _origin(name, module)
            else:
                theirs.add(name)
    return {name: module for name, module in ours.items() if name not in theirs}


def _imports_semiearth(path: str) -> bool:
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (
                node.level or (node.module or '').split('.')[0] == 'semiearth'):
            return True
        if isinstance(node, ast.Import) and any(
                a.name.split('.')[0] == 'semiearth' for a in node.names):
            return True
    return False


def standalone_file(module: str) -> str:
    """The source file of ``module`` if it stands alone, else ''."""
    mod = sys.modules.get(module)
    path = getattr(mod, '__file__', None) or ''
    if not getattr(mod, 'STANDALONE', False) or not path.endswith('.py'):
        return ''
    if _imports_semiearth(path):
        raise ValueError(f'{path} declares STANDALONE = True but imports SemiEarth; an '
                         'exported config could not import its copy without SemiEarth. '
                         'Fix: drop the declaration or the import.')
    return path


def config_imports(sections: dict, out_dir: str) -> ConfigImports:
    """The modules the exported ``sections`` need; standalone ones copied
    into ``out_dir`` (atomically; the same file for every export there)."""
    ours = semiearth_types()
    types: Dict[str, List[str]] = {}
    for t in types_in(sections):
        if t in ours and t not in types.setdefault(ours[t], []):
            types[ours[t]].append(t)
    imports, copies, installed = [], [], []
    for module in sorted(types):
        source = standalone_file(module)
        if source:
            copy = osp.join(out_dir, COPY_PREFIX + osp.basename(source))
            with open(source) as f:
                atomic_write_text(copy, f.read())
            copies.append(copy)
            imports.append(COPY_PREFIX + osp.splitext(osp.basename(source))[0])
        else:
            installed.append(module)
            imports.append(module)
    return ConfigImports(types, imports, copies, installed)
