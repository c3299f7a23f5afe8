"""Export the teacher (or student) of a SemiEarth checkpoint as a plain mmseg
``EncoderDecoder``: a checkpoint and a config that mmseg's own tools
(``mmseg.apis.init_model`` / ``inference_model``, ``tools/test.py``) run.

The model is :func:`~.plain_model.load_plain_model`'s (the one scene
inference predicts with); the data and runtime sections are
:mod:`.export_data`'s; the imports for SemiEarth components without an
mmseg counterpart are :mod:`.export_modules`'s (standalone modules copied
beside the config). ``docs/export.md`` describes every section.

The checkpoint holds ``state_dict`` (the chosen model's weights, prefix
removed) and ``meta`` with ``dataset_meta`` (classes, palette: what
``init_model`` gives ``model.dataset_meta``) and where it came from, all
tensors and plain Python values, so it loads with
``torch.load(weights_only=True)`` (torch >= 2.6's default).
"""
import os
import os.path as osp
from typing import Any, Dict, List, NamedTuple, Optional, Union

import torch
from mmengine.config import Config

from ..utils import atomic_save, atomic_write_text, config_text
from ..utils.config_text import comment
from .export_data import plain_data_cfg, plain_runtime_cfg
from .export_modules import ConfigImports, config_imports, semiearth_types
from .plain_model import (SINGLE, PlainModel, PlainModelError, load_config,
                          load_plain_model, to_plain)

MODELS = ('teacher', 'student')
DATA_KEYS = ('test_pipeline', 'test_dataloader', 'test_evaluator',
             'val_dataloader', 'val_evaluator')
RUNTIME_KEYS = ('test_cfg', 'val_cfg', 'default_hooks', 'visualizer', 'env_cfg',
                'log_processor', 'log_level')


class ExportError(ValueError):
    """The config or checkpoint cannot be exported; the message says why."""


class ExportResult(NamedTuple):
    """What :func:`export_segmentor` wrote: the config, the checkpoint, the
    model exported, the config's ``custom_imports``, notes on what was
    changed, the standalone module copies written beside the config, and
    the modules that need SemiEarth installed (empty: mmseg alone runs the
    pair)."""
    config: str
    checkpoint: str
    model: str
    custom_imports: List[str]
    notes: List[str]
    copies: List[str]
    needs_semiearth: List[str]


def _check_config(cfg: Config, cfg_name: str, model: Optional[str]) -> None:
    if cfg.get('model', {}).get('type') != 'SemiEarthSegmentor':
        raise ExportError(
            f"'{cfg_name}': model.type is {cfg.get('model', {}).get('type')!r}, not "
            "'SemiEarthSegmentor'. This tool exports the teacher or student of a "
            'SemiEarth/FixMatch config (configs/semiearth, configs/fixmatch); a plain '
            'mmseg config and its checkpoint need no export.')
    if model not in (None, ) + MODELS:
        raise ExportError(f"model must be 'teacher' or 'student', got {model!r}")


def _load(config: Union[str, Config], checkpoint: str, model: Optional[str],
          cfg_options: Optional[dict]) -> PlainModel:
    """The plain model, every failure as :class:`ExportError`."""
    cfg = load_config(config, cfg_options)
    cfg_name = config if isinstance(config, str) else (cfg.filename or '<Config>')
    _check_config(cfg, cfg_name, model)
    try:
        plain = load_plain_model(cfg, checkpoint, which=model)
    except (PlainModelError, FileNotFoundError) as e:
        raise ExportError(str(e)) from None
    if plain.which == SINGLE:
        sample = ', '.join(list(plain.state_dict)[:3])
        raise ExportError(
            f"'{checkpoint}' is not a SemiEarth teacher-student checkpoint: no 'teacher.*' "
            f"or 'student.*' weights (its keys start: {sample}). A plain mmseg checkpoint "
            'needs no export: run it with its own config.')
    return plain


def _header(cfg_name: str, checkpoint: str, which: str, iteration: Optional[int],
            ckpt_name: str) -> List[str]:
    at = f' (iteration {iteration})' if iteration is not None else ''
    return [
        'Exported by SemiEarth (tools/model_converters/export_segmentor.py) from',
        f'  config:     {cfg_name}',
        f'  checkpoint: {checkpoint}',
        f'  model:      the {which}{at}',
        'as a plain mmseg model: no teacher-student wrapper, no purifier, no',
        'semi-supervised data. Weights and dataset_meta (classes, palette) are in',
        f'{ckpt_name}.',
        '',
        'Inference (CONFIG = this file, CHECKPOINT = the .pth beside it):',
        '  from mmseg.apis import init_model, inference_model',
        "  model = init_model(CONFIG, CHECKPOINT, device='cpu')",
        '  result = inference_model(model, image_path_or_array)',
        "Evaluation, with mmseg's tools/test.py (data_root is relative to the working",
        'directory, as in the SemiEarth config; or pass --cfg-options',
        'test_dataloader.dataset.data_root=DIR):',
        '  python <mmseg>/tools/test.py CONFIG CHECKPOINT',
    ]


def _imports_text(imports: ConfigImports) -> str:
    """The ``custom_imports`` block (with ``sys.path`` set for copies), commented."""
    if not imports.imports:
        return comment('Every component is an mmseg/mmcv/mmengine one: no custom_imports, '
                       'mmseg alone runs this config.')
    names = '; '.join(f"{', '.join(sorted(v))} ({k})" for k, v in sorted(imports.types.items()))
    text = comment('SemiEarth components without an mmseg counterpart: ' + names + '.')
    if imports.copies:
        copies = ', '.join(osp.basename(c) for c in imports.copies)
        text += comment(
            f'{copies}, beside this file, is a copy of the module defining them that '
            'imports only torch, mmcv and mmseg, never SemiEarth: the next lines put this '
            "file's folder on sys.path so that custom_imports finds it.")
        text += ("import sys\n\nif '{{ fileDirname }}' not in sys.path:\n"
                 "    sys.path.append('{{ fileDirname }}')\n")
    if imports.installed:
        text += comment(
            f"{', '.join(imports.installed)}: imported from SemiEarth. Python runs the "
            "`semiearth` package's __init__ first, which also registers SemiEarth's other "
            'components and applies its CPU-stack shims (no-ops on a full CUDA install), '
            'so SemiEarth must be installed (pip install -e <SemiEarth repository>).')
    return text + config_text(dict(custom_imports=dict(imports=imports.imports,
                                                       allow_failed_imports=False)))


def export_text(sections: dict, header: List[str], imports: ConfigImports,
                data_notes: List[str], model_doc: str) -> str:
    """The exported config file, written with the package's one config writer."""
    text = ''.join('# ' + line + '\n' if line else '#\n' for line in header) + '\n'
    text += _imports_text(imports)
    text += "default_scope = 'mmseg'\n\n" + comment(model_doc)
    text += config_text(dict(model=sections['model'])) + '\n'
    if data_notes:
        text += comment('Data, as the SemiEarth config evaluated it, in mmseg terms: '
                        + '; '.join(data_notes) + '.')
    text += comment('inference_model runs test_pipeline (it replaces the first transform '
                    'by LoadImageFromNDArray for arrays and drops LoadAnnotations).')
    text += config_text({k: sections[k] for k in DATA_KEYS if k in sections}) + '\n'
    text += comment("Runtime for mmseg's tools/test.py (test and val loops only).")
    return text + config_text({k: sections[k] for k in RUNTIME_KEYS})


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    return value


def _write_config(path: str, text: str, sections: dict) -> None:
    """Write atomically, then check that the file loads (custom_imports run)
    and says exactly what was meant."""
    atomic_write_text(path, text)
    back = Config.fromfile(path)
    for key, value in sections.items():
        if _normalise(to_plain(back.get(key))) != _normalise(value):
            raise ExportError(f'internal: {path} does not reproduce {key}; please report')


def _write_checkpoint(path: str, plain: PlainModel, cfg_name: str, checkpoint: str) -> dict:
    src = plain.source_meta
    meta = dict(dataset_meta=plain.dataset_meta,
                semiearth_export=dict(
                    source_config=osp.abspath(plain.cfg.filename) if plain.cfg.filename
                    else cfg_name,
                    source_checkpoint=osp.abspath(checkpoint), model=plain.which,
                    iter=int(src['iter']) if 'iter' in src else None))
    atomic_save(path, lambda f: torch.save(dict(meta=meta, state_dict=plain.state_dict), f))
    # what plain mmseg does on torch >= 2.6: weights_only=True
    torch.load(path, map_location='cpu', weights_only=True)
    return meta


def _model_doc(plain: PlainModel) -> str:
    dp = plain.model_cfg.get('data_preprocessor') or {}
    bands = len(dp['mean']) if dp.get('mean') is not None else None
    return (f'The {plain.which} of the SemiEarth model as a plain mmseg '
            f"{plain.model_cfg.get('type')}. data_preprocessor: the normalisation it was "
            'trained and validated with'
            + (f' ({bands} input bands, per-band mean/std)' if bands else '') + '.')


def export_segmentor(config: Union[str, Config], checkpoint: str, out_dir: str,
                     model: Optional[str] = None,
                     cfg_options: Optional[dict] = None) -> ExportResult:
    """Write ``OUT_DIR/<config name>_<model>.{py,pth}``: a plain mmseg
    ``EncoderDecoder`` config and checkpoint of a SemiEarth model (and, for a
    component without an mmseg counterpart whose module stands alone, a copy
    of that module beside them).

    Args:
        config: the SemiEarth (or FixMatch) config the checkpoint was trained
            with, a path or a :class:`Config`.
        checkpoint: a checkpoint of that training run (``teacher.*`` and
            ``student.*`` weights).
        out_dir: where to write; created if missing.
        model: ``'teacher'`` or ``'student'``; None takes the one the config
            predicts with (``model.semi_test_cfg.predict_on``, the teacher
            unless set), i.e. the model SemiEarth validated and tested.
        cfg_options: overrides for the config, as ``--cfg-options``.

    Returns:
        An :class:`ExportResult`.

    Raises:
        ExportError: the config is not a SemiEarth teacher-student config,
            the checkpoint holds no such weights (or not the requested
            model's), or they do not fit the config's model.
    """
    cfg_name = config if isinstance(config, str) else (config.filename or '<Config>')
    plain = _load(config, checkpoint, model, cfg_options)
    ours = semiearth_types()
    try:
        data, data_notes = plain_data_cfg(plain.cfg, ours)
    except ValueError as e:
        raise ExportError(str(e)) from None
    sections: Dict[str, Any] = dict(model=plain.model_cfg, **data,
                                    **plain_runtime_cfg(plain.cfg, ours))
    os.makedirs(out_dir, exist_ok=True)
    imports = config_imports(sections, out_dir)
    stem = osp.splitext(osp.basename(plain.cfg.filename))[0] if plain.cfg.filename \
        else 'semiearth_export'
    out_cfg = osp.join(out_dir, f'{stem}_{plain.which}.py')
    out_ckpt = osp.join(out_dir, f'{stem}_{plain.which}.pth')
    meta = _write_checkpoint(out_ckpt, plain, cfg_name, checkpoint)
    header = _header(cfg_name, checkpoint, plain.which, meta['semiearth_export']['iter'],
                     osp.basename(out_ckpt))
    _write_config(out_cfg, export_text(sections, header, imports, data_notes,
                                       _model_doc(plain)), sections)
    return ExportResult(out_cfg, out_ckpt, plain.which, imports.imports,
                        plain.notes + data_notes, imports.copies, imports.installed)
