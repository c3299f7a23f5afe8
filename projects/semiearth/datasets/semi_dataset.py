"""Labeled + unlabeled datasets as one, with named parts."""
from typing import Union

from mmengine.dataset import BaseDataset, ConcatDataset
from mmseg.registry import DATASETS

from ..models.utils.step_rng import forked_rng


@DATASETS.register_module()
class SemiDataset(ConcatDataset):
    """``ConcatDataset([labeled, unlabeled])`` with the two parts named.

    Indices ``0 .. len(labeled) - 1`` are labeled, the rest unlabeled, which
    is what :class:`SemiSampler` expects. Naming the parts (rather than a list)
    lets a child config change one of them by key, e.g.
    ``train_dataloader = dict(dataset=dict(labeled=dict(ann_file=...)))``;
    MMEngine replaces lists wholesale when configs are merged.

    An index that carries a seed (:class:`SampleKey`, from
    :class:`SemiSampler`) runs its sample's pipeline under that seed, with the
    process's own generators left as they were: a sample's augmentations do
    not depend on the worker or on earlier samples (``step_rng``).

    Args:
        labeled: config (or instance) of the labeled dataset.
        unlabeled: config (or instance) of the unlabeled dataset.
        **kwargs: as :class:`mmengine.dataset.ConcatDataset`.
    """

    def __init__(self, labeled: Union[dict, BaseDataset],
                 unlabeled: Union[dict, BaseDataset], **kwargs) -> None:
        super().__init__(datasets=[labeled, unlabeled], **kwargs)

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
