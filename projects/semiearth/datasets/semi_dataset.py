"""Labeled + unlabeled datasets as one, with named parts."""
import os.path as osp
from typing import List, Union

from mmcv.transforms import LoadAnnotations
from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.fileio import LocalBackend, get_file_backend
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..utils.step_rng import forked_rng
from .dataset_check import decode_split_of

SPLITS_FIX = ('write the lists for this data (for data converted by mmseg\'s own '
              'converters: python tools/dataset_converters/mmseg_splits.py DATA_ROOT), '
              'or point data_root / data_prefix at the images the list names')


@DATASETS.register_module()
class SemiDataset(ConcatDataset):
    """``ConcatDataset([labeled, unlabeled])`` with the two parts named.

    Indices ``0 .. len(labeled) - 1`` are labeled, the rest unlabeled, which
    is what :class:`SemiSampler` expects. Naming the parts (rather than a list)
    lets a child config change one of them by key, e.g.
    ``train_dataloader = dict(dataset=dict(labeled=dict(ann_file=...)))``;
    MMEngine replaces lists wholesale when configs are merged.

    The parts may be any mmseg dataset: SemiEarth's converted benchmarks, or
    mmseg's own classes (``PotsdamDataset``, ``ISPRSDataset``,
    ``LoveDADataset``, ...) over the layout of mmseg's converters, each with
    a split list as ``ann_file`` (one image name a line, no suffix, relative
    to ``data_prefix.img_path``), so the data is used where it lies.

    When the parts are built, the split lists are checked against the data
    (local files; remote storage is read only when a sample is loaded):
    every image a list names exists, a part whose pipeline loads labels
    (``LoadAnnotations``) has every label file, the labeled part loads
    labels, and no image is both labeled and unlabeled (``allow_overlap``).
    Each error names the list, the file and the fix.

    Unlabeled images and their labels: mmseg's dataset classes give every
    sample a ``seg_map_path`` when ``data_prefix`` names a label folder. The
    path is only a string until a pipeline step reads it: with
    ``LoadAnnotations`` in the unlabeled pipeline the label is loaded for the
    ``pseudo.acc`` diagnostics only (:class:`SemiEarthSegmentor` never puts
    it into a loss, and the mmseg-protocol pipelines drop ``RandomCrop``'s
    label-driven ``cat_max_ratio`` there); for images without labels, drop
    ``seg_map_path`` from the unlabeled ``data_prefix`` and
    ``LoadAnnotations`` from its pipeline.

    An index that carries a seed (:class:`SampleKey`, from
    :class:`SemiSampler`) runs its sample's pipeline under that seed, with the
    process's own generators left as they were: a sample's augmentations do
    not depend on the worker or on earlier samples (``step_rng``).

    Args:
        labeled: config (or instance) of the labeled dataset.
        unlabeled: config (or instance) of the unlabeled dataset.
        allow_overlap: accept images that are in both parts (a protocol
            that also feeds its labeled images through the unlabeled
            branch); by default that is a split error.
        **kwargs: as :class:`mmengine.dataset.ConcatDataset`.
    """

    def __init__(self, labeled: Union[dict, BaseDataset],
                 unlabeled: Union[dict, BaseDataset], allow_overlap: bool = False,
                 **kwargs) -> None:
        self.allow_overlap = allow_overlap
        for part in (labeled, unlabeled):
            decode_split_of(part)  # MMEngine's reader would not name the file
        super().__init__(datasets=[labeled, unlabeled], **kwargs)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        super().full_init()
        self._check_parts()

    def __getitem__(self, idx: int) -> dict:
        seed = getattr(idx, 'seed', None)
        if seed is None:
            return super().__getitem__(idx)
        with forked_rng(seed):
            return super().__getitem__(int(idx))

    @property
    def labeled(self) -> BaseDataset:
        return self.datasets[0]

    @property
    def unlabeled(self) -> BaseDataset:
        return self.datasets[1]

    # ----------------------------------------------------------- checks
    def _check_parts(self) -> None:
        """The split checks of the class docstring, part by part, then the
        overlap of the two parts."""
        images = {}
        for role, part in (('labeled', self.labeled), ('unlabeled', self.unlabeled)):
            if not isinstance(part, BaseSegDataset):
                continue  # another kind of dataset: nothing to read paths from
            infos = [part.get_data_info(i) for i in range(len(part))]
            images[role] = [info['img_path'] for info in infos]
            where = _where(role, part)
            loads_labels = _loads_labels(part)
            if role == 'labeled' and not loads_labels:
                raise ValueError(
                    f'{where}: its pipeline has no LoadAnnotations, so labeled images would '
                    'train without their labels. Fix: add dict(type=\'LoadAnnotations\') '
                    'after the image loader of the labeled pipeline.')
            self._check_files(where, part, images[role], 'image')
            if loads_labels:
                no_path = [info['img_path'] for info in infos if not info.get('seg_map_path')]
                if no_path:
                    raise ValueError(
                        f"{where}: its pipeline loads labels (LoadAnnotations) but "
                        f"{len(no_path)} sample(s) have no label path, e.g. '{no_path[0]}' "
                        "(data_prefix has no seg_map_path). Fix: set data_prefix.seg_map_path "
                        'to the label folder, or, for unlabeled images without labels, '
                        'drop LoadAnnotations from the pipeline.')
                self._check_files(where, part, [info['seg_map_path'] for info in infos],
                                  'label')
        if self.allow_overlap or len(images) < 2:
            return
        both = sorted(set(map(osp.abspath, images['labeled']))
                      & set(map(osp.abspath, images['unlabeled'])))
        if both:
            raise ValueError(
                f'SemiDataset: {len(both)} image(s) are in both the labeled list '
                f"'{self.labeled.ann_file}' and the unlabeled list "
                f"'{self.unlabeled.ann_file}', e.g. '{both[0]}'. Fix: make the unlabeled "
                'list the rest of train (tools/dataset_converters/mmseg_splits.py writes '
                'such pairs), or set allow_overlap=True if the protocol means it.')

    @staticmethod
    def _check_files(where: str, part: BaseSegDataset, paths: List[str], kind: str) -> None:
        if not paths or not _is_local(paths[0], part):
            return
        missing = [p for p in paths if not osp.isfile(p)]
        if not missing:
            return
        listed = f"the split list '{part.ann_file}'" if part.ann_file else \
            f"the folder '{part.data_prefix.get('img_path')}'"
        fix = SPLITS_FIX if kind == 'image' else \
            "re-run mmseg's converter (every listed image needs its label), or fix " \
            'data_prefix.seg_map_path / seg_map_suffix'
        raise FileNotFoundError(
            f"{where}: {listed} names {len(missing)} {kind}(s) of {len(paths)} that do "
            f"not exist, e.g. '{missing[0]}'. Fix: {fix}.")


def _where(role: str, part: BaseDataset) -> str:
    return f'SemiDataset {role} part ({type(part).__name__})'


def _loads_labels(part: BaseDataset) -> bool:
    """Whether the part's pipeline reads label maps (mmcv's LoadAnnotations
    and its subclasses, or another label loader such as mmseg's
    LoadBiomedicalAnnotation)."""
    transforms = getattr(getattr(part, 'pipeline', None), 'transforms', [])
    return any(isinstance(t, LoadAnnotations) or 'Annotation' in type(t).__name__
               for t in transforms)


def _is_local(path: str, part: BaseDataset) -> bool:
    """Whether ``path`` is read from the local file system (only those are
    checked up front; remote storage would cost a request per file)."""
    backend = get_file_backend(path, backend_args=getattr(part, 'backend_args', None))
    return isinstance(backend, LocalBackend)
