"""File names and header comments of the leaves the wrap tool writes."""
import os.path as osp
import re
import shlex
from typing import List, Optional, Sequence

from .methods import protocol_method

MMSEG_NAME = re.compile(r'^(?P<algo>[a-z0-9.]+)_(?P<backbone>[^_]+)_(?P<gpus>\d+)xb(?P<batch>\d+)'
                        r'-(?P<sched>[^_]+)_(?P<dataset>[^_-]+)-(?P<crop>\d+x\d+)$')
WIDTH = 88


def suggest_name(spec: str, method: str, tag: str, batch: int,
                 crop: Optional[Sequence[int]] = None) -> str:
    """The leaf's file name, in this repository's config naming:
    ``{method}_{algo}-{backbone}_{gpus}xb{batch}-{schedule}_mmseg-{dataset}-{ratio}-{crop}.py``
    for a zoo-named config (``crop``: another crop than the name's);
    ``{method}-{ratio}_{name}.py`` otherwise (``method``: the row's file
    token, e.g. ``unimatch-v2``)."""
    method = protocol_method(method).tag
    stem = osp.splitext(osp.basename(spec.split('::')[-1]))[0]
    m = MMSEG_NAME.match(stem)
    if not m:
        return f'{method}-{tag}_{stem}.py'
    size = f'{crop[0]}x{crop[1]}' if crop else m['crop']
    return (f"{method}_{m['algo']}-{m['backbone']}_{m['gpus']}xb{batch}-{m['sched']}_"
            f"mmseg-{m['dataset']}-{tag}-{size}.py")


def wrap_words(text: str, prefix: str, cont: str, width: int = WIDTH) -> List[str]:
    """``text`` over lines of at most ``width`` (a longer word stands alone),
    each line but the last ending in ``cont``."""
    lines, line = [], ''
    for word in text.split(' '):
        if line and len(prefix) + len(line) + 1 + len(word) + len(cont) > width:
            lines.append(line)
            line = word
        else:
            line = f'{line} {word}' if line else word
    lines.append(line)
    return [prefix + s + (cont if i < len(lines) - 1 else '') for i, s in enumerate(lines)]


def header(method: str, tag: str, spec: str, argv: Sequence[str]) -> List[str]:
    """The first lines of a leaf: what it is, what it wraps (the third
    line, which ``--fixmatch-base`` / ``--over`` check) and the command that
    wrote it (arguments as given: run from the repository root, paths
    relative to it, and the leaf is reproducible from its header)."""
    lines = [f'# {protocol_method(method).title}, {tag.replace("of", "/")} of the training images',
             '# labeled (mmseg protocol, docs/mmseg_zoo.md), wrapping', f'#   {spec}']
    if argv:
        lines += ['# Written by: python tools/misc/wrap_mmseg_config.py \\',
                  *wrap_words(' '.join(shlex.quote(a) for a in argv), '#   ', ' \\')]
    return lines


def split_command(ds: dict, defaults: dict, cls_name: str) -> List[str]:
    """Header lines with the command that writes the split lists of the
    wrapped config's data layout."""
    prefix = ds.get('data_prefix') or {}
    args = [ds.get('data_root') or 'DATA_ROOT']
    img, ann = prefix.get('img_path'), prefix.get('seg_map_path')
    if img and img != 'img_dir/train':
        args += ['--img-dir', img]
    if ann and ann != 'ann_dir/train':
        args += ['--ann-dir', ann]
    if defaults.get('img_suffix', '.png') != '.png':
        args += ['--img-suffix', defaults['img_suffix']]
    if defaults.get('seg_map_suffix', '.png') != '.png':
        args += ['--seg-map-suffix', defaults['seg_map_suffix']]
    if ds.get('ann_file'):
        args += ['--train-list', ds['ann_file']]
    command = 'python tools/dataset_converters/mmseg_splits.py ' + \
        ' '.join(shlex.quote(a) for a in args)
    return ['# Split lists (once per dataset, all ratios; data from mmseg\'s converter for '
            f'{cls_name}):', *wrap_words(command, '#   ', ' \\')]


def comment_lines(text: str) -> str:
    """``text`` (lines separated by newlines, each wrapped to the width) as
    comment lines."""
    return ''.join(f'{line}\n' for para in text.split('\n')
                   for line in wrap_words(para, '# ', ''))
