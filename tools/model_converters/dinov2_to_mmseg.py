"""Convert an official DINOv2 backbone file to SemiEarth's DINOv2ViT layout.

The input is a file released with DINOv2 (``dinov2_vits14_pretrain.pth``,
``..._vitb14_...``, ``..._vitl14_...``; register-free). The output holds
``state_dict`` (``backbone.*`` keys, mmpretrain layout, ``mask_token``
dropped) and ``meta``; it loads into ``DINOv2ViT`` through
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.

Usage::

    python tools/model_converters/dinov2_to_mmseg.py \
        dinov2_vits14_pretrain.pth checkpoints/dinov2_vits14_mmseg.pth
"""
import argparse
import os
import os.path as osp

import torch

from semiearth.models.weight_converters.dinov2 import (
    DROPPED_KEYS, DINOv2LayoutError, convert_dinov2, dinov2_arch_of)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('src', help='official DINOv2 file, e.g. dinov2_vits14_pretrain.pth')
    p.add_argument('dst', help='output, e.g. checkpoints/dinov2_vits14_mmseg.pth')
    args = p.parse_args(argv)
    if not osp.isfile(args.src):
        p.exit(2, f'error: {args.src} does not exist; download '
                  'dinov2_vits14_pretrain.pth from the DINOv2 release on a machine '
                  'with internet and copy it here.\n')
    state = torch.load(args.src, map_location='cpu', weights_only=True)
    if isinstance(state, dict) and isinstance(state.get('state_dict'), dict):
        state = state['state_dict']
    if not isinstance(state, dict):
        p.exit(2, f'error: {args.src} holds a {type(state).__name__}, not a state '
                  'dict; pass the backbone-only *_pretrain.pth file.\n')
    try:
        out = convert_dinov2(state, source=args.src)
    except DINOv2LayoutError as e:
        p.exit(2, f'error: {e}\n')
    embed, depth, grid = dinov2_arch_of(state)
    dropped = [k for k in DROPPED_KEYS if k in state]
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(dict(state_dict=out,
                    meta=dict(source=osp.basename(args.src), embed_dims=embed,
                              num_layers=depth, pos_grid=grid, dropped=dropped)),
               args.dst)
    print(f'{len(out)} tensors from {args.src} (embed_dims {embed}, {depth} blocks, '
          f'{grid}x{grid} position grid; dropped {dropped or "nothing"}) -> {args.dst}')


if __name__ == '__main__':
    main()
