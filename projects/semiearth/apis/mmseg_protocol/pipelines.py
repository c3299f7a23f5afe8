"""The labeled and unlabeled training pipelines of a wrapped config, derived
from its own training pipeline.

How each transform serves the unlabeled views: shared steps run once before
the views split, so the weak and strong views keep one geometry (and
SemiEarth's source coordinates follow it): loading, deterministic
preprocessing (also applied at test time) and geometry. Random appearance
changes and label-driven steps stay with the labeled view only; the strong
view has its own (UniMatch-V2's). A method with two strong views (UniMatch,
UniMatch V2) gets a second one, the same transforms with their own draws."""
from typing import Iterable, List, Optional, Sequence

BRANCHES = ['sup', 'unsup_weak', 'unsup_strong']
IMAGE_LOADERS = {'LoadImageFromFile', 'LoadRSImageFromFile', 'LoadImageFromNDArray',
                 'LoadBiomedicalImageFromFile'}
LABEL_LOADERS = {'LoadAnnotations', 'CheckSegLabels'}
SHARED = {'Resize', 'RandomResize', 'RandomChoiceResize', 'ResizeShortestEdge',
          'ResizeToMultiple', 'RandomCrop', 'RandomFlip', 'CLAHE', 'AdjustGamma',
          'RGB2Gray'}
LABELED_ONLY = {'PhotoMetricDistortion', 'RandomCutOut', 'GenerateEdge'}
PACK = 'PackSegInputs'


def _steps(train_pipeline: Sequence[dict], where: str) -> List[dict]:
    """Copies of the pipeline's steps; it must end with PackSegInputs, which
    the branches replace."""
    steps = [dict(t) for t in train_pipeline]
    if not steps or steps[-1].get('type') != PACK:
        last = steps[-1].get('type') if steps else 'nothing'
        raise ValueError(
            f'{where}: the training pipeline ends with {last!r}, not {PACK}; the wrap '
            f'tool replaces that last step by the branches. Fix: end the pipeline with {PACK}.')
    return steps


def semi_pack(pack: dict) -> dict:
    """The config's PackSegInputs (its meta_keys kept) as PackSemiSegInputs,
    which also packs the per-pixel fields (source coordinates)."""
    return dict(pack, type='PackSemiSegInputs')


def labeled_pipeline(train_pipeline: Sequence[dict], where: str = 'config',
                     branches: Optional[Sequence[str]] = None) -> List[dict]:
    """The training pipeline as it is, packed into the ``sup`` branch of
    ``branches`` (the method's; default :data:`BRANCHES`)."""
    steps = _steps(train_pipeline, where)
    return [*steps[:-1], dict(type='MultiBranch', branch_field=list(branches or BRANCHES),
                              sup=[semi_pack(steps[-1])])]


def _shared_step(step: dict, i: int, shared: set, where: str) -> dict:
    """A step both unlabeled views share; RandomCrop without its
    label-driven options (an unlabeled image's label must not steer
    training)."""
    kind = step.get('type')
    if kind not in shared:
        raise ValueError(
            f'{where}: training pipeline step {i} is {kind!r}, and it is not known '
            'whether it belongs to both unlabeled views (loading, deterministic '
            'preprocessing, geometry: the views must share it) or to the labeled '
            'view only (random appearance changes, label-driven steps). Fix: pass '
            f'--shared {kind} or --labeled-only {kind}.')
    if kind == 'RandomCrop':
        step.pop('cat_max_ratio', None)
        step.pop('ignore_index', None)
    return step


def unlabeled_pipeline(train_pipeline: Sequence[dict], strong_view: Sequence[dict],
                       with_labels: bool = True, shared: Iterable[str] = (),
                       labeled_only: Iterable[str] = (), where: str = 'config',
                       branches: Optional[Sequence[str]] = None) -> List[dict]:
    """The unlabeled pipeline derived from a training pipeline: its loading,
    preprocessing and geometry once, then a weak view (as is) and each
    strong view of ``branches`` (default :data:`BRANCHES`: one,
    ``unsup_strong``): ``strong_view``, then the pack.

    With ``with_labels`` the label map is still loaded, for the
    ``pseudo.acc`` diagnostics only (no loss reads it). ``shared`` and
    ``labeled_only`` classify transforms this module does not know."""
    shared, labeled_only = set(SHARED) | set(shared), set(LABELED_ONLY) | set(labeled_only)
    steps = _steps(train_pipeline, where)
    out, coords_added = [], False
    for i, step in enumerate(steps[:-1]):
        kind = step.get('type')
        if kind in IMAGE_LOADERS or kind in LABEL_LOADERS:
            if kind in IMAGE_LOADERS or with_labels:
                out.append(step)
            continue
        if not coords_added:
            # source pixel coordinates, recorded before any geometry, follow the
            # views (SemiEarth looks its cached VLM evidence up with them)
            out.append(dict(type='AddSourceCoords'))
            coords_added = True
        if kind not in labeled_only:
            out.append(_shared_step(step, i, shared, where))
    if not coords_added:
        out.append(dict(type='AddSourceCoords'))
    pack = semi_pack(steps[-1])
    branches = list(branches or BRANCHES)
    strong = {b: [*[dict(t) for t in strong_view], dict(pack)]
              for b in branches if b.startswith('unsup_strong')}
    out.append(dict(type='MultiBranch', branch_field=branches, unsup_weak=[dict(pack)],
                    **strong))
    return out
