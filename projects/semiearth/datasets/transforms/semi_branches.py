"""Multi-branch transforms: one loaded sample -> several packed views."""
import copy
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS

# the default branch list; methods with two strong views (UniMatch,
# UniMatch V2) add 'unsup_strong2' (configs/_base_/datasets/*_semi-2strong*.py),
# a second run of the strong pipeline with its own draws
BRANCHES = ('sup', 'unsup_weak', 'unsup_strong')


@TRANSFORMS.register_module()
class AddValidMask(BaseTransform):
    """Mark the pixels an unlabeled image really has, without any label.

    Adds ``valid_mask`` (uint8, 1 = real image pixel) to ``seg_fields`` so that
    mmseg's geometric transforms (Resize, RandomCrop, RandomFlip...) move it
    with the image. Pixels where every band equals ``nodata_value`` are 0;
    padding added later by the data preprocessor is 0 as well. The
    unsupervised loss is normalised by, and restricted to, these pixels: it
    comes from the image alone, never from a label file.

    Args:
        nodata_value: band value that marks nodata (0 for the NC Landsat
            tiles); None if every pixel is real.
    """

    def __init__(self, nodata_value: Optional[float] = None) -> None:
        self.nodata_value = nodata_value

    def transform(self, results: dict) -> dict:
        img = results['img']
        if self.nodata_value is None:
            mask = np.ones(img.shape[:2], np.uint8)
        else:
            img3 = img if img.ndim == 3 else img[..., None]
            mask = np.any(img3 != self.nodata_value, axis=-1).astype(np.uint8)
        results['valid_mask'] = mask
        results.setdefault('seg_fields', []).append('valid_mask')
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(nodata_value={self.nodata_value})'


# per-pixel fields packed beside the image (name -> dtype); the data
# preprocessor pads them with SemiSegDataPreProcessor.PAD_VALUES
PIXEL_FIELDS = {'valid_mask': torch.uint8, 'src_coords': torch.float32}


@TRANSFORMS.register_module()
class PackSemiSegInputs(PackSegInputs):
    """:class:`PackSegInputs` that also packs the per-pixel fields
    ``valid_mask`` (see :class:`AddValidMask`) and ``src_coords`` (see
    :class:`AddSourceCoords`) as ``data_sample.<field>`` (C, H, W)."""

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        for field, dtype in PIXEL_FIELDS.items():
            if field in results:
                value = results[field]
                value = value[None] if value.ndim == 2 else value.transpose(2, 0, 1)
                data = torch.from_numpy(np.ascontiguousarray(value)).to(dtype)
                packed['data_samples'].set_field(PixelData(data=data), field)
        return packed


@TRANSFORMS.register_module()
class MultiBranch(BaseTransform):
    """Run one pipeline per branch on copies of the same loaded sample.

    Everything before this transform (loading, and for unlabeled data the
    geometric augmentation) is shared, so the views of one image have the
    same geometry pixel for pixel; each branch then adds its own steps
    (e.g. photometric changes for the strong view) and packs, in the order
    given, so two branches with the same random pipeline (two strong views)
    draw one after the other from the sample's generators: independent
    views, the same on every rerun. Branches in
    ``branch_field`` that this dataset does not produce are None, so labeled
    and unlabeled samples collate into one batch and the data preprocessor
    drops the holes.

    Output: ``{'inputs': {branch: Tensor|None}, 'data_samples':
    {branch: SegDataSample|None}}``.

    Args:
        branch_field: every branch name of the batch (same list for labeled
            and unlabeled datasets).
        **branch_pipelines: ``name=[transforms...]`` for the branches this
            dataset produces.
    """

    def __init__(self, branch_field: Sequence[str] = BRANCHES,
                 **branch_pipelines: Union[dict, List[dict]]) -> None:
        self.branch_field = list(branch_field)
        unknown = set(branch_pipelines) - set(self.branch_field)
        if unknown:
            raise ValueError(f'MultiBranch: branches {sorted(unknown)} are not in '
                             f'branch_field {self.branch_field}')
        if not branch_pipelines:
            raise ValueError('MultiBranch needs at least one branch pipeline')
        self.branch_pipelines: Dict[str, Compose] = {
            name: Compose(p if isinstance(p, list) else [p])
            for name, p in branch_pipelines.items()}

    def transform(self, results: dict) -> Optional[dict]:
        out = {'inputs': {}, 'data_samples': {}}
        for name in self.branch_field:
            out['inputs'][name] = None
            out['data_samples'][name] = None
        for name, pipeline in self.branch_pipelines.items():
            packed = pipeline(copy.deepcopy(results))
            if packed is None:
                return None
            out['inputs'][name] = packed['inputs']
            out['data_samples'][name] = packed['data_samples']
        return out

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(branch_field={self.branch_field}, '
                f'branches={list(self.branch_pipelines)})')
