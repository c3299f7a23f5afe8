"""Base class of SemiEarth's remote-sensing datasets: mmseg's BaseSegDataset
plus up-front checks that turn a missing conversion into a clear message."""
import os.path as osp
from typing import List

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .dataset_check import read_split_lines


@DATASETS.register_module()
class RSSegDataset(BaseSegDataset):
    """A segmentation dataset read from a split file, checked before use.

    Behaves as :class:`mmseg.datasets.BaseSegDataset` with ``ann_file`` set to
    a split file (one tile name a line, no suffix). Before the data list is
    built it checks that the data root, the split file and every tile the split
    file names exist, and raises ``FileNotFoundError`` naming the path and the
    converter to run otherwise, instead of failing at the first batch.

    Each sample also carries ``num_classes`` (the length of ``classes``), so
    ``CheckSegLabels()`` in a shared pipeline checks against this dataset's
    class count.

    Subclasses set ``CONVERTER`` to the command that prepares their data.
    """

    CONVERTER = 'the dataset converter in tools/dataset_converters/'

    def _fix_hint(self) -> str:
        return (f'Fix: run `{self.CONVERTER}` to prepare the data, or point '
                '`data_root` in the config at converted data.')

    def load_data_list(self) -> List[dict]:
        name = type(self).__name__
        if self.data_root is not None and not osp.isdir(self.data_root):
            raise FileNotFoundError(
                f"{name}: data root '{self.data_root}' does not exist. "
                + self._fix_hint())
        if not self.ann_file:
            raise ValueError(
                f'{name} needs `ann_file` (a split file such as splits/train.txt '
                f"under '{self.data_root}').")
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f"{name}: split file '{self.ann_file}' does not exist. "
                + self._fix_hint())
        read_split_lines(self.ann_file)  # a file that is not UTF-8 is named
        # blank lines of a split file (a trailing empty line, an editor's
        # blank line) name no tile: mmseg would make '<img_dir>/<suffix>' of them
        data_list = [d for d in super().load_data_list()
                     if osp.basename(d['img_path']) != self.img_suffix]
        if not data_list:
            raise ValueError(f"{name}: split file '{self.ann_file}' names no tile.")
        for info in data_list:
            for key in ('img_path', 'seg_map_path'):
                path = info.get(key)
                if path is not None and not osp.isfile(path):
                    raise FileNotFoundError(
                        f"{name}: split file '{self.ann_file}' names a tile whose "
                        f"{'image' if key == 'img_path' else 'label'} '{path}' "
                        'is missing. ' + self._fix_hint()
                        + ' Or remove the tile from the split file.')
        return data_list

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['num_classes'] = len(self.metainfo['classes'])
        return info
