"""DINOv2 ViT backbone for mmseg: intermediate blocks as feature maps.

UniMatch-V2 (and so SemiEarth) segments with a DINOv2 ViT whose four
intermediate blocks feed a DPT head. :class:`DINOv2ViT` is mmpretrain's
:class:`~mmpretrain.models.backbones.VisionTransformer` (patch embedding,
pre-norm blocks with layer scale, ``frozen_stages``, ``get_layer_depth``)
with the forward DINOv2's ``get_intermediate_layers(x, idx, norm=True)``
computes:

* every returned block output goes through the *final* LayerNorm (mmpretrain
  normalises the last block only);
* position embeddings are resized to the input grid the way the released
  DINOv2 code (as vendored by UniMatch-V2) does it: bicubic with
  ``scale_factor=(grid + 0.1) / pretrained_grid``, no antialiasing, and used
  unchanged at the pretrained grid (518 px -> 37 x 37 for the released
  weights).

The parameter names are mmpretrain's; ``tools/model_converters/
dinov2_to_mmseg.py`` writes the official weights under these names with a
``backbone.`` prefix (an mmpretrain ``ImageClassifier`` without head), the
layout OpenMMLab's own converted DINOv2 files for mmpretrain's
``VisionTransformer`` should also have (not tried: no network here).

The head is mmseg's own ``DPTHead`` (``configs/_base_/models/dpt_dinov2-s.py``):
with ``output_cls_token=True`` this backbone returns the ``[map, cls_token]``
pairs it expects, and with ``readout_type='ignore'``, ``norm_cfg=None`` and
no dropout it has UniMatch-V2's layers (the config lists the small
differences), so SemiEarth adds no head of its own.

This module stands alone: it imports torch, mmpretrain and mmseg only, never
SemiEarth, so export copies it beside an exported config and plain mmseg
builds the backbone without SemiEarth installed. Keep it so.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmpretrain.models.backbones import VisionTransformer
from mmseg.registry import MODELS
from torch import Tensor

#: The released (register-free, MLP) DINOv2 ViTs.
DINOV2_ARCHS: Dict[str, dict] = {
    's': dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536),
    'b': dict(embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072),
    'l': dict(embed_dims=1024, num_layers=24, num_heads=16, feedforward_channels=4096),
}
_ALIASES = {'small': 's', 'base': 'b', 'large': 'l'}
#: Blocks UniMatch-V2's DPT reads (``intermediate_layer_idx`` in its dpt.py).
DINOV2_OUT_INDICES: Dict[str, Tuple[int, ...]] = {
    's': (2, 5, 8, 11), 'b': (2, 5, 8, 11), 'l': (4, 11, 17, 23)}

Feature = Union[Tensor, List[Tensor]]


#: Export may copy this file beside an exported config (see the docstring).
STANDALONE = True


# force: a process may import both this module and its exported copy (the
# same code under another module name); the second registration replaces the
# first instead of failing
@MODELS.register_module(force=True)
class DINOv2ViT(VisionTransformer):
    """DINOv2 ViT returning normalised intermediate blocks as maps.

    Contract: input ``(B, in_channels, H, W)`` with ``H`` and ``W`` multiples
    of ``patch_size`` (else ``ValueError``); output a tuple with one entry per
    ``out_indices`` block, in that order. Each entry is the block's tokens
    after the final LayerNorm, patch tokens reshaped to a
    ``(B, embed_dims, H / patch_size, W / patch_size)`` map; with
    ``output_cls_token=True`` the entry is ``[map, cls_token]`` with
    ``cls_token`` of shape ``(B, embed_dims)``, the input format of mmseg's
    ``DPTHead`` (and of mmseg's own ViT with ``output_cls_token``). Blocks
    after the last of ``out_indices`` are not run.

    Learning rates are the optimizer config's business (e.g.
    ``paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=40.)})``
    for UniMatch-V2's x40 head); ``get_layer_depth`` (from mmpretrain) serves
    layer-wise decay constructors.

    Args:
        arch: ``'s'``, ``'b'`` or ``'l'`` (or ``'small'`` ...), the released
            DINOv2 ViT-S/14, B/14, L/14; or a dict with ``embed_dims``,
            ``num_layers``, ``num_heads`` and optional ``feedforward_channels``
            (default ``4 * embed_dims``), e.g. a tiny model for tests.
        img_size: image size of the pretrained position embeddings (518 for
            the released weights, a 37 x 37 grid). A checkpoint with another
            grid is resized on load by mmpretrain's hook.
        patch_size: patch size (14 for DINOv2).
        in_channels: input channels.
        out_indices: blocks to return (0-based). Default for a named arch:
            UniMatch-V2's, ``(2, 5, 8, 11)`` for S/B and ``(4, 11, 17, 23)``
            for L; required for a dict arch.
        output_cls_token: return ``[map, cls_token]`` pairs (needed by
            mmseg's ``DPTHead``) instead of maps.
        drop_path_rate: stochastic depth, linearly increasing over blocks.
        layer_scale_init_value: initial layer-scale value (> 0; DINOv2 always
            has layer scale; overwritten by pretrained weights).
        interpolate_offset: DINOv2's offset added to the target grid when
            computing the position-embedding scale factor (0.1 as released).
        frozen_stages: -1 freezes nothing; 0 the patch embedding, class token
            and position embedding; k >= 1 also blocks 0..k-1; ``num_layers``
            also the final norm. Frozen parts stay in eval mode.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH,
            prefix='backbone.')`` loads a local file converted by
            ``tools/model_converters/dinov2_to_mmseg.py`` strictly (every
            parameter must be present, nothing extra under ``prefix``); other
            init configs are handled by mmengine.
    """

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 img_size: int = 518,
                 patch_size: int = 14,
                 in_channels: int = 3,
                 out_indices: Optional[Sequence[int]] = None,
                 output_cls_token: bool = False,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-5,
                 interpolate_offset: float = 0.1,
                 frozen_stages: int = -1,
                 init_cfg: Optional[dict] = None) -> None:
        settings, default_out = self._arch_settings(arch)
        if out_indices is None:
            if default_out is None:
                raise ValueError(
                    f'DINOv2ViT: arch={arch!r} is a custom dict, so out_indices '
                    'must be given (e.g. out_indices=(0, 1, 2, 3)).')
            out_indices = default_out
        out_indices = [int(i) for i in out_indices]
        n = settings['num_layers']
        if not out_indices or any(not 0 <= i < n for i in out_indices) \
                or sorted(set(out_indices)) != out_indices:
            raise ValueError(
                f'DINOv2ViT: out_indices={tuple(out_indices)} must be increasing '
                f'block indices in [0, {n - 1}] for {n} blocks.')
        if layer_scale_init_value <= 0:
            raise ValueError(
                f'DINOv2ViT: layer_scale_init_value={layer_scale_init_value}; '
                'DINOv2 blocks have layer scale, use a positive value (1e-5).')
        if not -1 <= frozen_stages <= n:
            raise ValueError(f'DINOv2ViT: frozen_stages={frozen_stages} must be '
                             f'in [-1, {n}].')
        if init_cfg is not None and not isinstance(init_cfg, dict):
            raise TypeError(f'DINOv2ViT: init_cfg must be a dict or None, got '
                            f'{init_cfg!r}.')
        super().__init__(
            arch=settings,
            img_size=img_size,
            patch_size=patch_size,
            in_channels=in_channels,
            out_indices=list(out_indices),
            drop_rate=0.,
            drop_path_rate=drop_path_rate,
            qkv_bias=True,
            norm_cfg=dict(type='LN', eps=1e-6),
            final_norm=True,
            out_type='featmap',
            with_cls_token=True,
            frozen_stages=-1,
            interpolate_mode='bicubic',
            layer_scale_init_value=layer_scale_init_value,
            init_cfg=init_cfg)
        self.patch_size = patch_size
        self.output_cls_token = output_cls_token
        self.interpolate_offset = interpolate_offset
        self.frozen_stages = frozen_stages
        if frozen_stages >= 0:
            self._freeze_stages()

    @staticmethod
    def _arch_settings(arch: Union[str, dict]) -> Tuple[dict, Optional[Tuple[int, ...]]]:
        if isinstance(arch, str):
            key = _ALIASES.get(arch.lower(), arch.lower())
            if key not in DINOV2_ARCHS:
                raise ValueError(
                    f"DINOv2ViT: unknown arch {arch!r}; use 's', 'b' or 'l' (the "
                    'released register-free DINOv2 ViT-S/B/L/14) or a dict with '
                    'embed_dims, num_layers, num_heads.')
            return dict(DINOV2_ARCHS[key]), DINOV2_OUT_INDICES[key]
        if isinstance(arch, dict):
            need = {'embed_dims', 'num_layers', 'num_heads'}
            extra = set(arch) - need - {'feedforward_channels'}
            if not need <= set(arch) or extra:
                raise ValueError(
                    f'DINOv2ViT: arch dict {arch!r} needs exactly the keys '
                    f'{sorted(need)} (+ optional feedforward_channels).')
            if arch['embed_dims'] % arch['num_heads']:
                raise ValueError(f'DINOv2ViT: embed_dims={arch["embed_dims"]} is not '
                                 f'divisible by num_heads={arch["num_heads"]}.')
            settings = dict(arch)
            settings.setdefault('feedforward_channels', 4 * arch['embed_dims'])
            return settings, None
        raise TypeError(f'DINOv2ViT: arch must be a str or dict, got {arch!r}.')

    def train(self, mode: bool = True) -> 'DINOv2ViT':
        """Set train/eval mode; frozen parts stay in eval mode."""
        super().train(mode)
        if mode and self.frozen_stages >= 0:
            self._freeze_stages()
        return self

    def interpolate_pos_embed(self, grid_h: int, grid_w: int) -> Tensor:
        """Position embeddings (class token first) for a ``grid_h x grid_w``
        patch grid: ``(1, 1 + grid_h * grid_w, embed_dims)``. Unchanged at the
        pretrained grid, else resized as the released DINOv2 code does."""
        pos = self.pos_embed
        gh, gw = self.patch_resolution
        if (grid_h, grid_w) == (gh, gw):
            return pos
        dim = pos.shape[-1]
        patch_pos = pos[:, 1:].float().reshape(1, gh, gw, dim).permute(0, 3, 1, 2)
        off = self.interpolate_offset
        patch_pos = F.interpolate(
            patch_pos, scale_factor=((grid_h + off) / gh, (grid_w + off) / gw),
            mode='bicubic', align_corners=False, antialias=False)
        if patch_pos.shape[-2:] != (grid_h, grid_w):
            raise RuntimeError(
                f'DINOv2ViT: resizing the {gh}x{gw} position grid gave '
                f'{tuple(patch_pos.shape[-2:])}, not {grid_h}x{grid_w}; '
                f'interpolate_offset={off} must be in [0, 1).')
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim)
        return torch.cat([pos[:, :1], patch_pos.to(pos.dtype)], dim=1)

    def forward(self, x: Tensor) -> Tuple[Feature, ...]:
        """``(B, C, H, W)`` -> one ``(B, D, H/p, W/p)`` map (or ``[map, cls]``)
        per ``out_indices`` block; see the class docstring."""
        if x.dim() != 4:
            raise ValueError(f'DINOv2ViT: expected a (B, C, H, W) input, got shape '
                             f'{tuple(x.shape)}.')
        b, _, h, w = x.shape
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(
                f'DINOv2ViT: input size {h}x{w} is not a multiple of the patch size '
                f'{p}. Pad or crop to multiples of {p}: e.g. data_preprocessor '
                f'size=(518, 518) for training and test_cfg=dict(size_divisor={p}) '
                'for whole/slide inference.')
        tokens, (gh, gw) = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)
        tokens = self.drop_after_pos(tokens + self.interpolate_pos_embed(gh, gw))
        outs: List[Feature] = []
        last = self.out_indices[-1]
        for i, layer in enumerate(self.layers):
            tokens = layer(tokens)
            if i in self.out_indices:
                normed = self.ln1(tokens)
                fmap = normed[:, 1:].reshape(b, gh, gw, -1).permute(0, 3, 1, 2)
                fmap = fmap.contiguous()
                outs.append([fmap, normed[:, 0]] if self.output_cls_token else fmap)
            if i == last:
                break
        return tuple(outs)

    def init_weights(self) -> None:
        """Random init (mmengine/mmpretrain), or a strict load of the
        converted file named by ``init_cfg=dict(type='Pretrained', ...)``."""
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        path = cfg.get('checkpoint')
        prefix = cfg.get('prefix', 'backbone.')
        self.load_state_dict(self._read_converted(path, prefix), strict=True)
        self._is_init = True

    def _read_converted(self, path: Optional[str], prefix: str) -> Dict[str, Tensor]:
        """The backbone's entries of a converted checkpoint, ``prefix``
        stripped, after checking the key set matches this backbone."""
        fix = ('convert the official DINOv2 file with `python tools/model_converters/'
               'dinov2_to_mmseg.py dinov2_vits14_pretrain.pth '
               'checkpoints/dinov2_vits14_mmseg.pth`')
        if not isinstance(path, str) or not osp.isfile(path):
            raise FileNotFoundError(
                f'DINOv2ViT: init_cfg checkpoint {path!r} is not a local file; {fix} '
                'and point init_cfg.checkpoint at the result (or set init_cfg=None '
                'for random weights).')
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise ValueError(f'DINOv2ViT: {path} holds no state dict; {fix}.')
        if 'blocks.0.norm1.weight' in state or 'patch_embed.proj.weight' in state:
            raise ValueError(
                f'DINOv2ViT: {path} is in the official DINOv2 key layout '
                f'(blocks.N.*, patch_embed.proj.*); {fix}.')
        own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        model_state = self.state_dict()
        missing = sorted(set(model_state) - set(own))
        unexpected = sorted(set(own) - set(model_state))
        if missing or unexpected:
            raise ValueError(
                f'DINOv2ViT: {path} (prefix {prefix!r}) does not fit this backbone '
                f'(embed_dims={self.embed_dims}, num_layers={self.num_layers}): '
                f'missing {_few(missing)}, unexpected {_few(unexpected)}. Use the '
                f'arch the file was converted from, the right init_cfg.prefix, or {fix}.')
        # pos_embed of another grid is resized by mmpretrain's load hook
        mismatched = [f'{k} {tuple(v.shape)} vs {tuple(model_state[k].shape)}'
                      for k, v in own.items()
                      if k != 'pos_embed' and v.shape != model_state[k].shape]
        if mismatched:
            raise ValueError(
                f'DINOv2ViT: {path} has tensors of other shapes than this backbone '
                f'(file vs model): {_few(mismatched)}; choose the arch it was '
                'converted from.')
        return own


def _few(items: Sequence[str], n: int = 8) -> str:
    if not items:
        return 'none'
    more = f' ... ({len(items)} in all)' if len(items) > n else ''
    return '[' + ', '.join(items[:n]) + more + ']'
