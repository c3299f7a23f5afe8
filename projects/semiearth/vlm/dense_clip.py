"""Training-free dense class evidence from a frozen open_clip ViT.

MaskCLIP / SCLIP / ClearCLIP / SegEarth-OV in one module: the last
transformer block is replaced by a self-self attention with no residual and
no FFN, patch tokens go through ``ln_post`` and the visual projection, and
their cosine similarity to class text embeddings gives per-pixel class
probabilities. Nothing is trained.
"""
import hashlib
import inspect
import json
import math
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor, nn

from .class_names import ClassNames, resolve_class_names
from .open_clip_loader import build_open_clip, clip_normalization, encode_text

# q-q, k-k, v-v self-attention terms of each variant (SPEC section 4)
ATTENTION_TERMS: Dict[str, Tuple[str, ...]] = {
    'maskclip': (),                 # identity attention: v only
    'sclip': ('q', 'k'),            # softmax(qq^T) + softmax(kk^T)
    'clearclip': ('q',),            # softmax(qq^T)
    'segearth': ('q', 'k', 'v'),    # softmax(qq^T) + softmax(kk^T) + softmax(vv^T)
}

REMOTE_SENSING_TEMPLATES = (
    'a satellite image of {}.', 'an aerial image of {}.', 'a remote sensing image of {}.',
    'a satellite photo of the {}.', 'an aerial view of {}.', 'there is {} in the scene.',
)


def _templates(templates: Union[str, Sequence[str]]) -> List[Callable[[str], str]]:
    if isinstance(templates, str):
        from open_clip import zero_shot_metadata as zsm
        named = {'openai_imagenet': zsm.OPENAI_IMAGENET_TEMPLATES,
                 'simple': zsm.SIMPLE_IMAGENET_TEMPLATES,
                 'remote_sensing': [t.format for t in REMOTE_SENSING_TEMPLATES]}
        if templates not in named:
            raise KeyError(f'unknown template set {templates!r}; use one of '
                           f'{sorted(named)} or a list of strings with "{{}}"')
        return list(named[templates])
    bad = [t for t in templates if '{}' not in t]
    if bad or not templates:
        raise ValueError(f'prompt templates need a "{{}}" for the class name: {bad}')
    return [t.format for t in templates]


def dense_attention(x: Tensor, attn: nn.MultiheadAttention, variant: str) -> Tensor:
    """Self-self attention of one block on normalised tokens ``x`` (N, L, D).

    Uses the block's own q/k/v and output projections; returns (N, L, D)
    without residual or FFN.
    """
    if variant not in ATTENTION_TERMS:
        raise KeyError(f'attention {variant!r}: use one of {sorted(ATTENTION_TERMS)}')
    n, length, dim = x.shape
    heads = attn.num_heads
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = (t.reshape(n, length, heads, dim // heads).transpose(1, 2)
               for t in qkv.chunk(3, dim=-1))
    terms = {'q': q, 'k': k, 'v': v}
    scale = (dim // heads) ** -0.5
    if ATTENTION_TERMS[variant]:
        weights = sum(torch.softmax(terms[t] @ terms[t].transpose(-2, -1) * scale, dim=-1)
                      for t in ATTENTION_TERMS[variant])
        out = weights @ v
    else:
        out = v
    out = out.transpose(1, 2).reshape(n, length, dim)
    return attn.out_proj(out)


@MODELS.register_module()
class DenseCLIP(nn.Module):
    """Per-pixel class probabilities from a frozen open_clip ViT.

    Input: a batch as the segmentor sees it, ``(B, bands, H, W)`` normalised
    with the segmentor's ``input_mean`` / ``input_std`` (0..255 pixel units,
    as mmseg's data preprocessor). The RGB bands are picked (``rgb_bands``),
    un-normalised, and normalised again with CLIP's own statistics.
    Output: ``(B, num_classes, H, W)`` probabilities at the input's size.

    Args:
        class_names: a ready list name (``'potsdam'``...), a dict
            ``{class: [synonyms]}`` or a list (see :mod:`.class_names`). A
            class scores the max over its synonyms' logits.
        model_name, pretrained, checkpoint, model_cfg, random_init: the
            open_clip model and its weights (:func:`build_open_clip`).
        attention: last-block variant, ``'maskclip'``, ``'sclip'``,
            ``'clearclip'`` or ``'segearth'``.
        cls_lambda: global-bias alleviation (SegEarth-OV): logits are
            ``patch.text - cls_lambda * cls.text``, with ``cls`` the image
            embedding (the unmodified last block's class token); 0 disables.
        logit_scale: multiplies cosine similarities before the softmax.
        templates: ``'openai_imagenet'`` (80), ``'simple'``,
            ``'remote_sensing'`` or a list of strings with ``{}``.
        input_size: the short side the image is resized to before the ViT.
        window, stride: sliding window on the resized image (None: the whole
            image at once, position embeddings interpolated to its grid).
        rgb_bands: indices of the red, green, blue bands in the input.
        input_mean, input_std: the segmentor's per-band normalisation.
        bg_thresh, bg_class: where the max probability is below
            ``bg_thresh``, the evidence becomes one-hot on class index
            ``bg_class`` (SegEarth-OV's background rule); None disables.
        image_size: build the ViT for this size (weights' position
            embeddings interpolated on load).
    """

    def __init__(self,
                 class_names: ClassNames,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = None,
                 checkpoint: Optional[str] = None,
                 model_cfg: Optional[dict] = None,
                 random_init: bool = False,
                 attention: str = 'segearth',
                 cls_lambda: float = 0.3,
                 logit_scale: float = 50.0,
                 templates: Union[str, Sequence[str]] = 'openai_imagenet',
                 input_size: int = 448,
                 window: Optional[int] = 224,
                 stride: int = 112,
                 rgb_bands: Sequence[int] = (0, 1, 2),
                 input_mean: Sequence[float] = (123.675, 116.28, 103.53),
                 input_std: Sequence[float] = (58.395, 57.12, 57.375),
                 bg_thresh: Optional[float] = None,
                 bg_class: Optional[int] = None,
                 image_size: Optional[int] = None) -> None:
        super().__init__()
        if attention not in ATTENTION_TERMS:
            raise KeyError(f'attention {attention!r}: use one of {sorted(ATTENTION_TERMS)}')
        if len(rgb_bands) != 3:
            raise ValueError(f'rgb_bands must name 3 input bands (R, G, B), got {rgb_bands}')
        if len(input_mean) != len(input_std):
            raise ValueError('input_mean and input_std need one value per input band')
        if max(rgb_bands) >= len(input_mean):
            raise ValueError(f'rgb_bands {tuple(rgb_bands)} outside the '
                             f'{len(input_mean)} bands of input_mean/input_std')
        if window is not None and not 0 < stride <= window:
            raise ValueError(f'sliding window: stride must be in 1..window ({window}), '
                             f'got {stride} (a larger stride leaves pixels uncovered)')
        if (bg_thresh is None) != (bg_class is None):
            raise ValueError('bg_thresh and bg_class go together')
        self.class_keys, self.synonyms = resolve_class_names(class_names)
        if bg_class is not None and not 0 <= bg_class < len(self.class_keys):
            raise ValueError(f'bg_class {bg_class} is not a class index')
        self.attention, self.cls_lambda, self.logit_scale = attention, cls_lambda, logit_scale
        self.input_size, self.window, self.stride = input_size, window, stride
        self.bg_thresh, self.bg_class = bg_thresh, bg_class
        self.rgb_bands = list(rgb_bands)

        self.clip, tokenizer = build_open_clip(model_name, pretrained, checkpoint, model_cfg,
                                               image_size, random_init)
        visual = self.clip.visual
        blocks = getattr(getattr(visual, 'transformer', None), 'resblocks', None)
        if blocks is None or getattr(visual, 'attn_pool', None) is not None or \
                not isinstance(getattr(blocks[-1], 'attn', None), nn.MultiheadAttention):
            raise NotImplementedError(
                f'{model_name!r}: dense evidence needs an open_clip ViT with standard '
                'attention blocks and class-token pooling (ResNet, attention-pool and '
                'custom-attention towers are not supported)')
        self.patch_size = visual.conv1.kernel_size[0]

        clip_mean, clip_std = clip_normalization(self.clip)
        mean = torch.tensor([input_mean[b] for b in rgb_bands], dtype=torch.float32)
        std = torch.tensor([input_std[b] for b in rgb_bands], dtype=torch.float32)
        # x_clip = (x * std + mean) / 255 - clip_mean) / clip_std, as one affine map
        cm, cs = torch.tensor(clip_mean), torch.tensor(clip_std)
        self.register_buffer('in_scale', (std / 255 / cs).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('in_shift', ((mean / 255 - cm) / cs).view(1, 3, 1, 1),
                             persistent=False)

        # text embeddings: computed once here, then reused by every forward
        fns = _templates(templates)
        self.num_templates = len(fns)
        self.register_buffer('text_embeds', self._text_embeddings(tokenizer, fns),
                             persistent=False)
        owner = [i for i, syn in enumerate(self.synonyms) for _ in syn]
        self.register_buffer('synonym_owner', torch.tensor(owner), persistent=False)
        self.train(False)
        self.fingerprint = self.settings_fingerprint(
            class_names=class_names, model_name=model_name, pretrained=pretrained,
            checkpoint=checkpoint, model_cfg=model_cfg, random_init=random_init,
            attention=attention, cls_lambda=cls_lambda, logit_scale=logit_scale,
            templates=templates, input_size=input_size, window=window, stride=stride,
            rgb_bands=rgb_bands, input_mean=input_mean, input_std=input_std,
            bg_thresh=bg_thresh, bg_class=bg_class, image_size=image_size)

    @property
    def num_classes(self) -> int:
        return len(self.class_keys)

    def _text_embeddings(self, tokenizer, fns) -> Tensor:
        """One embedding per synonym: template-averaged, L2-normalised."""
        prompts = [fn(name) for syn in self.synonyms for name in syn for fn in fns]
        with torch.no_grad():
            emb = encode_text(self.clip, tokenizer, prompts)
        emb = emb.view(-1, len(fns), emb.shape[-1]).mean(dim=1)
        return F.normalize(emb, dim=-1)

    @classmethod
    def settings_fingerprint(cls, **settings) -> str:
        """A short hash of every setting that shapes the evidence (defaults
        filled in), computed without building the model: the key under which
        cached evidence is valid. A checkpoint counts by file name and size,
        so moving the file keeps the cache valid."""
        settings.pop('type', None)
        bound = inspect.signature(cls.__init__).bind(None, **settings)
        bound.apply_defaults()
        values = dict(bound.arguments)
        values.pop('self')
        values['class_names'] = resolve_class_names(values['class_names'])
        ckpt = values.get('checkpoint')
        if ckpt:
            size = osp.getsize(ckpt) if osp.isfile(ckpt) else None
            values['checkpoint'] = (osp.basename(ckpt), size)
            values['pretrained'] = None
        text = json.dumps(values, sort_keys=True, default=list)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def train(self, mode: bool = True) -> 'DenseCLIP':
        # frozen and training-free: always in eval mode
        return super().train(False)

    # ------------------------------------------------------------ forward
    @torch.no_grad()
    def forward(self, inputs: Tensor) -> Tensor:
        """``(B, bands, H, W)`` segmentor input -> ``(B, C, H, W)`` probabilities."""
        h, w = inputs.shape[-2:]
        x = inputs[:, self.rgb_bands].float() * self.in_scale + self.in_shift
        short = min(h, w)
        size = (max(round(h * self.input_size / short), 1),
                max(round(w * self.input_size / short), 1))
        x = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
        logits = self._slide(x) if self.window else self._whole(x)
        logits = F.interpolate(logits, size=(h, w), mode='bilinear', align_corners=False)
        probs = logits.softmax(dim=1)
        if self.bg_thresh is not None:
            low = probs.max(dim=1, keepdim=True).values < self.bg_thresh
            onehot = F.one_hot(torch.full_like(low[:, 0], self.bg_class, dtype=torch.long),
                               self.num_classes).permute(0, 3, 1, 2).to(probs.dtype)
            probs = torch.where(low, onehot, probs)
        return probs

    def _whole(self, x: Tensor) -> Tensor:
        p = self.patch_size
        h, w = x.shape[-2:]
        padded = F.pad(x, (0, (-w) % p, 0, (-h) % p))
        logits = self.dense_logits(padded)
        logits = F.interpolate(logits, size=padded.shape[-2:], mode='bilinear',
                               align_corners=False)
        return logits[..., :h, :w]

    def _slide(self, x: Tensor) -> Tensor:
        """Windows of ``window`` px every ``stride`` px, logits averaged."""
        b, _, h, w = x.shape
        win, stride = self.window, self.stride
        rows = max(math.ceil((h - win) / stride), 0) + 1
        cols = max(math.ceil((w - win) / stride), 0) + 1
        total = x.new_zeros(b, self.num_classes, h, w)
        count = x.new_zeros(1, 1, h, w)
        for r in range(rows):
            for c in range(cols):
                y1, x1 = min(r * stride, max(h - win, 0)), min(c * stride, max(w - win, 0))
                y2, x2 = min(y1 + win, h), min(x1 + win, w)
                total[..., y1:y2, x1:x2] += self._whole(x[..., y1:y2, x1:x2])
                count[..., y1:y2, x1:x2] += 1
        return total / count

    def dense_logits(self, x: Tensor) -> Tensor:
        """Class logits on the patch grid of a CLIP-normalised batch."""
        patch, cls = self.dense_features(x)
        gh, gw = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        sims = F.normalize(patch, dim=-1) @ self.text_embeds.t()      # (N, L, S)
        if self.cls_lambda:
            sims = sims - self.cls_lambda * (F.normalize(cls, dim=-1) @ self.text_embeds.t())[:, None]
        sims = sims * self.logit_scale
        # a class scores its best synonym
        per_class = sims.new_full((*sims.shape[:2], self.num_classes), float('-inf'))
        index = self.synonym_owner.view(1, 1, -1).expand_as(sims)
        per_class = per_class.scatter_reduce(-1, index, sims, reduce='amax')
        return per_class.transpose(1, 2).reshape(x.shape[0], self.num_classes, gh, gw)

    def dense_features(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Projected patch tokens (N, L, E) and image embedding (N, E)."""
        visual = self.clip.visual
        tokens = visual.conv1(x)
        gh, gw = tokens.shape[-2:]
        tokens = tokens.flatten(2).transpose(1, 2)
        cls_tok = visual.class_embedding.to(tokens.dtype).expand(tokens.shape[0], 1, -1)
        tokens = torch.cat([cls_tok, tokens], dim=1) + self._pos_embed(gh, gw).to(tokens.dtype)
        tokens = visual.ln_pre(visual.patch_dropout(tokens))
        blocks = visual.transformer.resblocks
        batch_first = getattr(visual.transformer, 'batch_first', True)
        if not batch_first:
            tokens = tokens.transpose(0, 1)
        for block in blocks[:-1]:
            tokens = block(tokens)
        last = blocks[-1]
        if not batch_first:
            tokens = tokens.transpose(0, 1)
        dense = last.ls_1(dense_attention(last.ln_1(tokens), last.attn, self.attention))
        dense = visual.ln_post(dense[:, 1:]) @ visual.proj
        cls = tokens[:, :1]
        if self.cls_lambda:
            # the image embedding: the unmodified last block on the class token
            y = last.ln_1(tokens)
            cls = cls + last.ls_1(last.attn(y[:, :1], y, y, need_weights=False)[0])
            cls = cls + last.ls_2(last.mlp(last.ln_2(cls)))
        cls = visual.ln_post(cls[:, 0]) @ visual.proj
        return dense, cls

    def _pos_embed(self, gh: int, gw: int) -> Tensor:
        """Position embeddings interpolated (bicubic) to a gh x gw grid."""
        pos = self.clip.visual.positional_embedding
        old = int(math.sqrt(pos.shape[0] - 1))
        if (gh, gw) == (old, old):
            return pos
        grid = pos[1:].reshape(1, old, old, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid.float(), size=(gh, gw), mode='bicubic', align_corners=False)
        return torch.cat([pos[:1], grid.permute(0, 2, 3, 1).reshape(gh * gw, -1).to(pos.dtype)])
