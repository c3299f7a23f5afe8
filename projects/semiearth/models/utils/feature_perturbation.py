"""Perturbations of a backbone's feature list, for any mmseg backbone.

mmseg backbones return a list of levels; a level is a tensor ``(B, C, ...)``
(ResNet, MobileNetV2, MiT: ``(B, C, H, W)``) or a tuple of tensors that belong
together (DINOv2 with ``output_cls_token``: ``(map (B, C, h, w), cls (B, C))``).
Both perturbations below act per sample and per channel, so they apply to
every tensor of a level alike, whatever its spatial shape.
"""
from typing import Callable, Dict, Optional

import torch
from torch import Tensor


def map_features(feats, fn: Callable[[Tensor], Tensor]):
    """``fn`` applied to every tensor of a (nested) list / tuple of
    features, keeping the nesting."""
    if torch.is_tensor(feats):
        return fn(feats)
    return type(feats)(map_features(f, fn) for f in feats)


def _channels(t: Tensor) -> int:
    return t.shape[1]


def _scale(t: Tensor, mask: Tensor) -> Tensor:
    """``t`` (B, C, ...) times ``mask`` (B, C) broadcast over the rest."""
    return t * mask.to(t.dtype).view(*mask.shape, *([1] * (t.dim() - 2)))


def complementary_channel_dropout(feats, offset: int, num_pairs: int,
                                  kept_ratio: float = 0.5,
                                  generator: Optional[torch.Generator] = None):
    """UniMatch-V2's complementary channel dropout (``comp_drop``).

    Rows ``offset .. offset + num_pairs`` of the batch are the first strong
    view, the next ``num_pairs`` rows the second view of the same images.
    Each pair draws a channel mask ``m`` of Bernoulli(0.5) x 2; the first
    view is multiplied by ``m``, the second by its complement ``2 - m``, so
    the two views see disjoint halves of the channels, each scaled to keep
    its expectation. ``int(num_pairs * kept_ratio)`` pairs, chosen at random,
    keep every channel (mask 1) as in the anchor; rows outside the views
    (the labeled images) are untouched.

    One mask per channel count: levels with the same width share it (the
    anchor's four DINOv2 levels share one mask); a level of another width
    (ResNet / MobileNetV2 / MiT stages) draws its own. The kept pairs are
    the same for every level.

    Returns the perturbed features (same nesting).
    """
    kept = torch.randperm(num_pairs, generator=generator)[:int(num_pairs * kept_ratio)]
    masks: Dict[int, Tensor] = {}

    def mask_for(t: Tensor) -> Tensor:
        c = _channels(t)
        if c not in masks:
            m1 = torch.bernoulli(torch.full((num_pairs, c), 0.5), generator=generator) * 2.0
            m1[kept] = 1.0
            full = torch.ones(t.shape[0], c)
            full[offset:offset + num_pairs] = m1
            full[offset + num_pairs:offset + 2 * num_pairs] = 2.0 - m1
            masks[c] = full.to(t.device)
        return masks[c]

    return map_features(feats, lambda t: _scale(t, mask_for(t)))


def channel_dropout(feats, p: float = 0.5,
                    generator: Optional[torch.Generator] = None):
    """``nn.Dropout2d(p)`` in training mode on every level (UniMatch's
    feature perturbation): whole channels of a sample zeroed with
    probability ``p``, the rest scaled by ``1 / (1 - p)``. Each level draws
    its own mask (the anchor calls Dropout2d once per level); the tensors of
    one level (DINOv2's map and class token) share it."""
    if not 0 <= p < 1:
        raise ValueError(f'channel dropout p must be in [0, 1), got {p}')

    def level(f):
        ref = f if torch.is_tensor(f) else f[0]
        keep = torch.bernoulli(torch.full((ref.shape[0], _channels(ref)), 1 - p),
                               generator=generator).to(ref.device) / (1 - p)
        return map_features(f, lambda t: _scale(t, keep))

    if torch.is_tensor(feats):
        return level(feats)
    return type(feats)(level(f) for f in feats)


def cat_features(a, b):
    """Two feature lists of the same nesting joined along the batch."""
    if torch.is_tensor(a):
        return torch.cat([a, b])
    return type(a)(cat_features(x, y) for x, y in zip(a, b))


def take_batch(feats, n: int):
    """The first ``n`` samples of every tensor in a (nested) feature list,
    e.g. DINOv2's ``[(map, cls_token), ...]`` pairs (the first ``n``
    samples, not the first ``n`` list items)."""
    return map_features(feats, lambda t: t[:n])
