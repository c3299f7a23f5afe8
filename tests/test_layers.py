"""The package's layers hold: no module imports from a layer above its own.

Floors, top to bottom (as in OpenMMLab code bases):
apis > engine > models = evaluation > vlm > datasets = samplers > utils = compat.
The tools sit above everything and are not part of the package. The package
root (``semiearth/__init__.py``) imports every layer to register them."""
import ast
import os
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGE = osp.join(ROOT, 'projects', 'semiearth')

LAYERS = {
    'apis': 6,
    'engine': 5,
    'models': 4, 'evaluation': 4,
    'vlm': 3,
    'datasets': 2, 'samplers': 2,
    'utils': 1, 'compat': 1,
}


def _module_name(path: str, package_dir: str) -> str:
    rel = osp.relpath(path, osp.dirname(package_dir))[:-3].replace(os.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def _imports(path: str, package_dir: str):
    """(line, imported module) for every import of a semiearth module in
    ``path``, at any depth (function-level imports count too)."""
    module = _module_name(path, package_dir)
    package = module if path.endswith('__init__.py') else module.rsplit('.', 1)[0]
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split('.')
                parts = parts[:len(parts) - (node.level - 1)]
                base = '.'.join(parts + ([node.module] if node.module else []))
            elif node.module and node.module.split('.')[0] == 'semiearth':
                base = node.module
            else:
                continue
            if node.module is None or base == 'semiearth':
                # ``from . import x`` / ``from semiearth import x``: each name is a module
                for alias in node.names:
                    yield node.lineno, f'{base}.{alias.name}'
            else:
                yield node.lineno, base
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == 'semiearth':
                    yield node.lineno, alias.name


def _layer(module: str):
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else None


def upward_imports(package_dir: str = PACKAGE):
    """Every import that points to a higher layer, as 'file:line: a -> b'."""
    found = []
    for dirpath, _, files in os.walk(package_dir):
        for name in sorted(files):
            if not name.endswith('.py'):
                continue
            path = osp.join(dirpath, name)
            module = _module_name(path, package_dir)
            own = _layer(module)
            if own is None:  # the package root registers everything
                continue
            for line, target in _imports(path, package_dir):
                other = _layer(target)
                if other is None or other == own:
                    continue
                if other not in LAYERS or own not in LAYERS:
                    found.append(f'{osp.relpath(path, osp.dirname(package_dir))}:{line}: {module} -> {target} '
                                 f'(a package {other or own!r} with no layer: add it to LAYERS)')
                elif LAYERS[other] > LAYERS[own]:
                    found.append(f'{osp.relpath(path, osp.dirname(package_dir))}:{line}: {module} ({own}) -> '
                                 f'{target} ({other}, a higher layer)')
    return found


def test_no_module_imports_a_higher_layer():
    found = upward_imports()
    assert not found, 'upward imports:\n' + '\n'.join(found)


def test_every_subpackage_has_a_layer():
    subpackages = {n[:-3] if n.endswith('.py') else n for n in os.listdir(PACKAGE)
                   if not n.startswith(('_', '.')) and (
                       n.endswith('.py') or osp.isfile(osp.join(PACKAGE, n, '__init__.py')))}
    assert subpackages <= set(LAYERS), sorted(subpackages - set(LAYERS))


def test_an_upward_import_is_found_and_named(tmp_path):
    """The checker itself: a copy of the package with one added upward
    import (datasets -> models) is refused, naming the file and line."""
    import shutil
    copy = tmp_path / 'semiearth'
    shutil.copytree(PACKAGE, copy)
    target = copy / 'datasets' / 'semi_dataset.py'
    target.write_text(target.read_text() + '\nfrom ..models import SemiEarthSegmentor\n')
    found = upward_imports(str(copy))
    assert len(found) == 1 and 'semi_dataset.py' in found[0] and \
        'semiearth.models (models, a higher layer)' in found[0], found
