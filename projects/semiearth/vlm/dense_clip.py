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
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor, nn

from .class_names import ClassNames, resolve_class_names
from .open_clip_loader import build_open_clip, clip_normalization, encode_text
from .file_digest import file_digest
from .sim_feat_up import SimFeatUp, load_sim_feat_up

# the self-self attention terms of each training-free dense CLIP variant
ATTENTION_TERMS: Dict[str, Tuple[str, ...]] = {
    'maskclip': (),                 # identity attention: v only
    'sclip': ('q', 'k'),            # softmax(qq^T) + softmax(kk^T)
    'clearclip': ('q',),            # softmax(qq^T)
    'segearth': ('q', 'k', 'v'),    # softmax(qq^T) + softmax(kk^T) + softmax(vv^T)
}

# Bumped whenever the evidence a given set of settings produces changes, so
# that caches written by older code are recomputed (part of the fingerprint).
# 2: SegEarth-OV's class-token bias, synonym pooling, resize and padding.
EVIDENCE_VERSION = 2

# How a class's synonyms become one class probability
SYNONYM_POOLS = (
    'prob',    # SegEarth-OV: softmax over all synonym queries, class = best synonym's
               # probability (class probabilities need not sum to 1)
    'logit',   # class = best synonym's logit, then a softmax over classes (sums to 1)
)

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


def _check_settings(attention: str, rgb_bands: Sequence[int], input_mean: Sequence[float],
                    input_std: Sequence[float], window: Optional[int], stride: int,
                    synonym_pool: str, bg_thresh: Optional[float],
                    bg_class: Optional[int]) -> None:
    """Refuse inconsistent :class:`DenseCLIP` settings before any model is
    built, naming the setting."""
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
    if synonym_pool not in SYNONYM_POOLS:
        raise ValueError(f'synonym_pool must be one of {SYNONYM_POOLS}, got {synonym_pool!r}')
    if (bg_thresh is None) != (bg_class is None):
        raise ValueError('bg_thresh and bg_class go together')


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
            ``{class: [synonyms]}`` or a list (see :mod:`.class_names`).
        model_name, pretrained, checkpoint, model_cfg, random_init: the
            open_clip model and its weights (:func:`build_open_clip`).
        attention: last-block variant, ``'maskclip'``, ``'sclip'``,
            ``'clearclip'`` or ``'segearth'``.
        cls_lambda: global-bias alleviation (SegEarth-OV): logits are
            ``patch.text - cls_lambda * cls.text``, with ``cls`` the class
            token of the modified last block (its self-self attention output
            at token 0, then ``ln_post`` and the projection), as SegEarth-OV;
            0 disables.
        logit_scale: multiplies cosine similarities before the softmax.
        synonym_pool: ``'prob'`` (SegEarth-OV): a softmax over all synonym
            queries, then each class takes its best synonym's probability
            (class probabilities need not sum to 1); ``'logit'``: each class
            takes its best synonym's logit, then a softmax over classes.
        templates: ``'openai_imagenet'`` (80), ``'simple'``,
            ``'remote_sensing'`` or a list of strings with ``{}``.
        input_size: the image's long side is resized to this before the
            ViT (SegEarth-OV: ``Resize(scale=(448, 448), keep_ratio=True)``).
        window, stride: sliding window on the resized image (None: the whole
            image at once, position embeddings interpolated to its grid).
        rgb_bands: indices of the red, green, blue bands in the input.
        input_mean, input_std: the segmentor's per-band normalisation.
        bg_thresh, bg_class: SegEarth-OV's background rule: where the best
            class probability is below ``bg_thresh`` the VLM is unsure;
            :meth:`predict` labels such pixels ``bg_class``, and
            :class:`VLMPurifyHead` treats them as having no evidence. The
            probabilities of :meth:`forward` are never changed by it (they
            stay probabilities). None disables.
        image_size: build the ViT for this size (weights' position
            embeddings interpolated on load).
        feature_up: path of SegEarth-OV's released SimFeatUp checkpoint
            (e.g. ``xclip_jbu_one_million_aid.ckpt``, a local file; loaded
            with ``strict=True``): the projected patch tokens of each window
            are upsampled x16 to pixels, guided by the window itself, before
            the text similarity (SegEarth-OV's ``feature_up=True``, which its
            published numbers use). Needs a patch-16 ViT whose embedding
            width is the upsampler's (ViT-B/16: 512). None: off.
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
                 synonym_pool: str = 'prob',
                 templates: Union[str, Sequence[str]] = 'openai_imagenet',
                 input_size: int = 448,
                 window: Optional[int] = 224,
                 stride: int = 112,
                 rgb_bands: Sequence[int] = (0, 1, 2),
                 input_mean: Sequence[float] = (123.675, 116.28, 103.53),
                 input_std: Sequence[float] = (58.395, 57.12, 57.375),
                 bg_thresh: Optional[float] = None,
                 bg_class: Optional[int] = None,
                 image_size: Optional[int] = None,
                 feature_up: Optional[str] = None) -> None:
        super().__init__()
        _check_settings(attention, rgb_bands, input_mean, input_std, window, stride,
                        synonym_pool, bg_thresh, bg_class)
        self.class_keys, self.synonyms = resolve_class_names(class_names)
        if bg_class is not None and not 0 <= bg_class < len(self.class_keys):
            raise ValueError(f'bg_class {bg_class} is not a class index')
        self.attention, self.cls_lambda, self.logit_scale = attention, cls_lambda, logit_scale
        self.synonym_pool = synonym_pool
        self.input_size, self.window, self.stride = input_size, window, stride
        self.bg_thresh, self.bg_class = bg_thresh, bg_class
        self.rgb_bands = list(rgb_bands)

        self.clip, tokenizer = build_open_clip(model_name, pretrained, checkpoint, model_cfg,
                                               image_size, random_init)
        self._check_visual(model_name)
        self.patch_size = self.clip.visual.conv1.kernel_size[0]
        self.upsampler = self._feature_upsampler(feature_up, model_name)
        self._register_input_map(rgb_bands, input_mean, input_std)

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
            synonym_pool=synonym_pool, templates=templates, input_size=input_size, window=window, stride=stride,
            rgb_bands=rgb_bands, input_mean=input_mean, input_std=input_std,
            bg_thresh=bg_thresh, bg_class=bg_class, image_size=image_size,
            feature_up=feature_up)

    def _check_visual(self, model_name: str) -> None:
        """Dense evidence needs a ViT tower of standard attention blocks."""
        visual = self.clip.visual
        blocks = getattr(getattr(visual, 'transformer', None), 'resblocks', None)
        if blocks is None or getattr(visual, 'attn_pool', None) is not None or \
                not isinstance(getattr(blocks[-1], 'attn', None), nn.MultiheadAttention):
            raise NotImplementedError(
                f'{model_name!r}: dense evidence needs an open_clip ViT with standard '
                'attention blocks and class-token pooling (ResNet, attention-pool and '
                'custom-attention towers are not supported)')

    def _feature_upsampler(self, feature_up: Optional[str],
                           model_name: str) -> Optional[SimFeatUp]:
        """SimFeatUp from ``feature_up`` (a patch-16 ViT only), or None."""
        if not feature_up:
            return None
        if self.patch_size != SimFeatUp.scale_factor:
            raise ValueError(
                f'feature_up: SimFeatUp upsamples x{SimFeatUp.scale_factor}, one patch of '
                f'a patch-{SimFeatUp.scale_factor} ViT; {model_name!r} has '
                f'{self.patch_size}-px patches. Use a ViT-B/16-type model or '
                'feature_up=None.')
        return load_sim_feat_up(feature_up, feat_dim=self.clip.visual.output_dim)

    def _register_input_map(self, rgb_bands: Sequence[int], input_mean: Sequence[float],
                            input_std: Sequence[float]) -> None:
        """The model's normalised input bands -> CLIP's normalised RGB."""
        clip_mean, clip_std = clip_normalization(self.clip)
        mean = torch.tensor([input_mean[b] for b in rgb_bands], dtype=torch.float32)
        std = torch.tensor([input_std[b] for b in rgb_bands], dtype=torch.float32)
        # x_clip = (x * std + mean) / 255 - clip_mean) / clip_std, as one affine map
        cm, cs = torch.tensor(clip_mean), torch.tensor(clip_std)
        self.register_buffer('in_scale', (std / 255 / cs).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('in_shift', ((mean / 255 - cm) / cs).view(1, 3, 1, 1),
                             persistent=False)

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
        cached evidence is valid. A checkpoint counts by its content
        (:func:`file_digest`): moving or renaming the file keeps the cache
        valid, other weights under the same name and size do not. The background rule does
        not shape the probabilities, so it is not part of the key."""
        settings.pop('type', None)
        bound = inspect.signature(cls.__init__).bind(None, **settings)
        bound.apply_defaults()
        values = dict(bound.arguments)
        for key in ('self', 'bg_thresh', 'bg_class'):
            values.pop(key)
        values['evidence_version'] = EVIDENCE_VERSION
        values['class_names'] = resolve_class_names(values['class_names'])
        for key in ('checkpoint', 'feature_up'):
            path = values.get(key)
            if path:  # by content: the same weights anywhere, other weights never
                values[key] = file_digest(path)
        if values.get('checkpoint'):
            values['pretrained'] = None
        text = json.dumps(values, sort_keys=True, default=list)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def train(self, mode: bool = True) -> 'DenseCLIP':
        # frozen and training-free: always in eval mode
        return super().train(False)

    # ------------------------------------------------------------ forward
    @torch.no_grad()
    def forward(self, inputs: Tensor) -> Tensor:
        """``(B, bands, H, W)`` segmentor input -> ``(B, C, H, W)`` class
        probabilities (see ``synonym_pool``)."""
        h, w = inputs.shape[-2:]
        x = inputs[:, self.rgb_bands].float() * self.in_scale + self.in_shift
        # SegEarth-OV: Resize(scale=(S, S), keep_ratio=True), i.e. the long
        # side becomes S, sizes rounded half up as mmcv does
        scale = self.input_size / max(h, w)
        size = (max(int(h * scale + 0.5), 1), max(int(w * scale + 0.5), 1))
        x = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
        # per synonym query, averaged over windows, then at the input's size
        sims = self._slide(x) if self.window else self._whole(x)
        sims = F.interpolate(sims, size=(h, w), mode='bilinear', align_corners=False)
        return self.class_probs(sims * self.logit_scale)

    @torch.no_grad()
    def predict(self, inputs: Tensor) -> Tensor:
        """``(B, H, W)`` class indices as SegEarth-OV predicts them: the best
        class, or ``bg_class`` where its probability is under ``bg_thresh``."""
        conf, label = self(inputs).max(dim=1)
        if self.bg_thresh is not None:
            label[conf < self.bg_thresh] = self.bg_class
        return label

    def class_probs(self, logits: Tensor) -> Tensor:
        """Per-query logits ``(B, S, H, W)`` -> class probabilities ``(B, C, H, W)``."""
        index = self.synonym_owner.view(1, -1, 1, 1).expand_as(logits)
        pool = logits.new_full((logits.shape[0], self.num_classes, *logits.shape[2:]),
                               float('-inf'))
        if self.synonym_pool == 'prob':
            return pool.scatter_reduce(1, index, logits.softmax(dim=1), reduce='amax')
        return pool.scatter_reduce(1, index, logits, reduce='amax').softmax(dim=1)

    def _whole(self, x: Tensor) -> Tensor:
        """Similarities at the size of ``x``: zero-padded (evenly on both
        sides, as SegEarth-OV) to a multiple of the patch size, upsampled
        bilinearly to the padded size, padding cut off."""
        p = self.patch_size
        h, w = x.shape[-2:]
        left, top = ((-w) % p) // 2, ((-h) % p) // 2
        padded = F.pad(x, (left, (-w) % p - left, top, (-h) % p - top))
        sims = self.dense_sims(padded)
        sims = F.interpolate(sims, size=padded.shape[-2:], mode='bilinear',
                             align_corners=False)
        return sims[..., top:top + h, left:left + w]

    def _slide(self, x: Tensor) -> Tensor:
        """Windows of ``window`` px every ``stride`` px, similarities averaged."""
        b, _, h, w = x.shape
        win, stride = self.window, self.stride
        rows = max(math.ceil((h - win) / stride), 0) + 1
        cols = max(math.ceil((w - win) / stride), 0) + 1
        total = x.new_zeros(b, self.text_embeds.shape[0], h, w)
        count = x.new_zeros(1, 1, h, w)
        for r in range(rows):
            for c in range(cols):
                y1, x1 = min(r * stride, max(h - win, 0)), min(c * stride, max(w - win, 0))
                y2, x2 = min(y1 + win, h), min(x1 + win, w)
                total[..., y1:y2, x1:x2] += self._whole(x[..., y1:y2, x1:x2])
                count[..., y1:y2, x1:x2] += 1
        return total / count

    def dense_sims(self, x: Tensor) -> Tensor:
        """Bias-corrected cosine similarity of each patch (each pixel with
        ``feature_up``) to each synonym query, ``(N, S, gh, gw)`` (``(N, S,
        H, W)``), for a CLIP-normalised batch whose sides are multiples of
        the patch size."""
        patch, cls = self.dense_features(x)
        n = x.shape[0]
        gh, gw = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        if self.upsampler is not None:
            grid = patch.transpose(1, 2).reshape(n, -1, gh, gw)
            patch = self.upsampler(grid, x).flatten(2).transpose(1, 2)
            gh, gw = x.shape[-2:]
        sims = F.normalize(patch, dim=-1) @ self.text_embeds.t()      # (N, L, S)
        if self.cls_lambda:
            sims = sims - self.cls_lambda * (F.normalize(cls, dim=-1) @ self.text_embeds.t())[:, None]
        return sims.transpose(1, 2).reshape(n, -1, gh, gw)

    def dense_features(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Projected patch tokens (N, L, E) and class token (N, E), both from
        the modified last block (self-self attention, no residual, no FFN)."""
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
        out = last.ls_1(dense_attention(last.ln_1(tokens), last.attn, self.attention))
        out = visual.ln_post(out) @ visual.proj
        return out[:, 1:], out[:, 0]

    def _pos_embed(self, gh: int, gw: int) -> Tensor:
        """Position embeddings for a gh x gw grid: the native ones, or a
        bicubic resize with SegEarth-OV's scale factors ``(g + 0.1) / g0``
        (the 0.1 keeps the output size at g; the sampling positions follow
        the factor, not the size ratio)."""
        pos = self.clip.visual.positional_embedding
        old = int(math.sqrt(pos.shape[0] - 1))
        if (gh, gw) == (old, old):
            return pos
        grid = pos[1:].reshape(1, old, old, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid.float(), scale_factor=((gh + 0.1) / old, (gw + 0.1) / old),
                             mode='bicubic', align_corners=False)
        assert grid.shape[-2:] == (gh, gw), grid.shape
        return torch.cat([pos[:1], grid.permute(0, 2, 3, 1).reshape(gh * gw, -1).to(pos.dtype)])
