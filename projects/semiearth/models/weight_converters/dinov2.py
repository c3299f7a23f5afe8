"""Official DINOv2 weights -> :class:`semiearth.models.DINOv2ViT` key layout.

Source: the backbone-only files released with DINOv2
(``dinov2_vit{s,b,l}14_pretrain.pth``, register-free, MLP feed-forward): keys
``cls_token``, ``pos_embed``, ``mask_token``, ``patch_embed.proj.*``,
``blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}``
and ``norm.*``. Result: an mmpretrain ``ImageClassifier`` state dict without
head (``backbone.*``, the layout of OpenMMLab's own converted DINOv2 files),
loaded by ``DINOv2ViT`` through ``init_cfg=dict(type='Pretrained',
checkpoint=..., prefix='backbone.')``.

Tensors are carried unchanged (no transposition or re-ordering: mmpretrain's
fused ``qkv`` and its ``LayerScale`` use DINOv2's shapes). ``mask_token``, the
iBOT masked-patch embedding used only in pretraining, is dropped. Anything
else (register tokens, SwiGLU ``w12``/``w3`` of ViT-g, heads, training
wrappers) is rejected with the offending keys named.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

#: Official keys that are deliberately not converted.
DROPPED_KEYS = ('mask_token',)

_GLOBAL = {
    'cls_token': 'cls_token',
    'pos_embed': 'pos_embed',
    'patch_embed.proj.weight': 'patch_embed.projection.weight',
    'patch_embed.proj.bias': 'patch_embed.projection.bias',
    'norm.weight': 'ln1.weight',
    'norm.bias': 'ln1.bias',
}
_BLOCK = {
    'norm1.weight': 'ln1.weight',
    'norm1.bias': 'ln1.bias',
    'attn.qkv.weight': 'attn.qkv.weight',
    'attn.qkv.bias': 'attn.qkv.bias',
    'attn.proj.weight': 'attn.proj.weight',
    'attn.proj.bias': 'attn.proj.bias',
    'ls1.gamma': 'attn.gamma1.weight',
    'norm2.weight': 'ln2.weight',
    'norm2.bias': 'ln2.bias',
    'mlp.fc1.weight': 'ffn.layers.0.0.weight',
    'mlp.fc1.bias': 'ffn.layers.0.0.bias',
    'mlp.fc2.weight': 'ffn.layers.1.weight',
    'mlp.fc2.bias': 'ffn.layers.1.bias',
    'ls2.gamma': 'ffn.gamma2.weight',
}
_BLOCK_KEY = re.compile(r'blocks\.(\d+)\.(.+)')


class DINOv2LayoutError(ValueError):
    """A state dict that is not an official register-free DINOv2 backbone."""


def _listing(keys: List[str], n: int = 10) -> str:
    more = f' ... ({len(keys)} in all)' if len(keys) > n else ''
    return '[' + ', '.join(keys[:n]) + more + ']'


def dinov2_key_map(state_dict: Dict[str, torch.Tensor],
                   source: str = '<state dict>') -> Dict[str, str]:
    """Official key -> converted key (with ``backbone.``) for every converted
    entry of ``state_dict``; raises :class:`DINOv2LayoutError` naming
    ``source`` and the unexpected and missing keys."""
    mapping, unexpected, depth = {}, [], 0
    for key in state_dict:
        if key in DROPPED_KEYS:
            continue
        if key in _GLOBAL:
            mapping[key] = 'backbone.' + _GLOBAL[key]
            continue
        m = _BLOCK_KEY.fullmatch(key)
        if m and m[2] in _BLOCK:
            mapping[key] = f'backbone.layers.{m[1]}.{_BLOCK[m[2]]}'
            depth = max(depth, int(m[1]) + 1)
            continue
        unexpected.append(key)
    required = list(_GLOBAL) + [f'blocks.{i}.{k}' for i in range(depth) for k in _BLOCK]
    missing = [k for k in required if k not in state_dict]
    if unexpected or missing or depth == 0:
        hint = ''
        if any(k.startswith('backbone.') for k in state_dict):
            hint = (' Keys starting with "backbone." look already converted: give the '
                    'file to the backbone\'s init_cfg directly.')
        elif any('register_tokens' in k or '.mlp.w12.' in k for k in state_dict):
            hint = (' Register tokens / SwiGLU (ViT-g) checkpoints are not supported: '
                    'use dinov2_vit{s,b,l}14_pretrain.pth.')
        raise DINOv2LayoutError(
            f'{source} is not an official register-free DINOv2 checkpoint '
            '(dinov2_vit{s,b,l}14_pretrain.pth layout): '
            f'unexpected keys {_listing(unexpected)}; '
            f'missing keys {_listing(missing)}.{hint}')
    return mapping


def convert_dinov2(state_dict: Dict[str, torch.Tensor],
                   source: str = '<state dict>') -> 'OrderedDict[str, torch.Tensor]':
    """Map every key of an official DINOv2 backbone state dict.

    Args:
        state_dict: the official file's state dict (e.g. 175 entries for
            ViT-S/14: 12 blocks x 14, 6 global, ``mask_token``).
        source: the file name, used in error messages.

    Returns:
        An ordered ``backbone.*`` state dict for ``DINOv2ViT`` (``mask_token``
        dropped, every other tensor cloned unchanged).

    Raises:
        DINOv2LayoutError: unexpected or missing keys, both listed with
            ``source``.
    """
    mapping = dinov2_key_map(state_dict, source)
    return OrderedDict((new, state_dict[old].clone()) for old, new in mapping.items())


def dinov2_arch_of(state_dict: Dict[str, torch.Tensor]) -> Tuple[int, int, int]:
    """``(embed_dims, num_layers, pos_grid)`` of an official DINOv2 state dict
    (heads are not recoverable from the weights)."""
    embed = state_dict['cls_token'].shape[-1]
    depth = 1 + max(int(m[1]) for k in state_dict
                    if (m := _BLOCK_KEY.fullmatch(k)) is not None)
    grid = int(round((state_dict['pos_embed'].shape[1] - 1) ** 0.5))
    return embed, depth, grid
