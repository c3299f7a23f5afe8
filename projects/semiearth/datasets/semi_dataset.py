"""Labeled + unlabeled datasets as one, with named parts."""
from typing import Union

from mmengine.dataset import BaseDataset, ConcatDataset
from mmseg.registry import DATASETS


@DATASETS.register_module()
class SemiDataset(ConcatDataset):
    """``ConcatDataset([labeled, unlabeled])`` with the two parts named.

    Indices ``0 .. len(labeled) - 1`` are labeled, the rest unlabeled, which
    is what :class:`SemiSampler` expects. Naming the parts (rather than a list)
    lets a child config change one of them by key, e.g.
    ``train_dataloader = dict(dataset=dict(labeled=dict(ann_file=...)))``;
    MMEngine replaces lists wholesale when configs are merged.

    Args:
        labeled: config (or instance) of the labeled dataset.
        unlabeled: config (or instance) of the unlabeled dataset.
        **kwargs: as :class:`mmengine.dataset.ConcatDataset`.
    """

    def __init__(self, labeled: Union[dict, BaseDataset],
                 unlabeled: Union[dict, BaseDataset], **kwargs) -> None:
        super().__init__(datasets=[labeled, unlabeled], **kwargs)

    @property
    def labeled(self) -> BaseDataset:
        return self.datasets[0]

    @property
    def unlabeled(self) -> BaseDataset:
        return self.datasets[1]
