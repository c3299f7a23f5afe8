"""Data preprocessor for multi-branch (labeled / weak / strong) batches."""
from typing import Any, Dict

import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS


@MODELS.register_module()
class SemiSegDataPreProcessor(SegDataPreProcessor):
    """:class:`SegDataPreProcessor` applied branch by branch.

    In training, a batch made by :class:`MultiBranch` is ``{'inputs':
    {branch: [Tensor|None]}, 'data_samples': {branch: [sample|None]}}``; each
    branch's holes (samples of the other dataset) are dropped and the rest is
    normalised, padded and stacked as mmseg does, and each sample's
    per-pixel fields are padded exactly like its image (``valid_mask`` with
    0, ``src_coords`` with -1: see ``PAD_VALUES``). Returns
    ``{'inputs': {branch: Tensor}, 'data_samples': {branch: list}}``. Outside
    training (validation, test) it is the plain mmseg preprocessor.

    Args: as :class:`mmseg.models.SegDataPreProcessor`.
    """
    PAD_VALUES = {'valid_mask': 0, 'src_coords': -1}

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        if not training or not isinstance(data['inputs'], dict):
            return super().forward(data, training)
        inputs, samples = {}, {}
        for branch, branch_inputs in data['inputs'].items():
            keep = [i for i, x in enumerate(branch_inputs) if x is not None]
            if not keep:
                continue
            batch = super().forward(
                dict(inputs=[branch_inputs[i] for i in keep],
                     data_samples=[data['data_samples'][branch][i] for i in keep]),
                training=True)
            for sample in batch['data_samples']:
                for field, pad_value in self.PAD_VALUES.items():
                    if field in sample:
                        value = sample.get(field).data.to(batch['inputs'].device)
                        sample.set_field(PixelData(data=F.pad(
                            value, tuple(sample.metainfo['padding_size']),
                            value=pad_value)), field)
            inputs[branch] = batch['inputs']
            samples[branch] = batch['data_samples']
        return dict(inputs=inputs, data_samples=samples)
