"""SimFeatUp: SegEarth-OV's learned, image-guided 16x feature upsampler.

SegEarth-OV (``feature_up=True``) upsamples the projected CLIP patch tokens
of each window to the window's pixel resolution before the text similarity.
The upsampler is FeatUp's learned joint bilateral upsampler (JBU) retrained
on Million-AID: four 2x steps, each of which

1. average-pools the guidance image (the CLIP-normalised RGB window) to the
   step's output size ``(2h, 2w)``;
2. builds, for every output pixel, a ``d x d`` kernel (``d = 2 * radius + 1``)
   over its neighbourhood: a *range* term, the softmax over the neighbours of
   ``exp(range_temp) * <P(g_n), P(g_p)>`` with ``P`` a small 1x1-conv MLP on
   the guidance, times a fixed *spatial* Gaussian
   ``exp(-(u_i^2 + u_j^2) / (2 sigma_spatial^2))``, ``u = linspace(-1, 1, d)``;
   the product is normalised to sum 1 and corrected by
   ``0.1 * fixup_proj([kernel, guidance])`` (an MLP that sees the kernel's
   ``d^2`` channels first, then the guidance's);
3. bicubically resizes the features to ``(2h, 2w)``, reflect-pads them by
   ``radius`` and takes, per pixel, the kernel-weighted sum of its ``d x d``
   neighbourhood (``out[c, y, x] = sum_ij k[y, x, i, j] * f[c, y + i, x + j]``
   on the padded features).

After the four steps a residual 1x1 conv is added: ``out = x + 0.1 * conv(x)``.

Two layouts of the released checkpoints are supported:

* ``'jbu_one'`` (SegEarth-OV's default, ``xclip_jbu_one_million_aid.ckpt``):
  one step module ``up`` (radius 5, an 11 x 11 kernel) applied four times;
* ``'jbu_stack'`` (``clip_jbu_stack_cocostuff.ckpt``,
  ``maskclip_jbu_stack_cocostuff.ckpt``): four step modules ``up1``..``up4``
  (radius 3, 7 x 7 kernels).

The released files are PyTorch-Lightning checkpoints: a dict whose
``'state_dict'`` holds only the upsampler's tensors, every key prefixed with
``'upsampler.'`` (other entries: ``epoch``, ``global_step``, ``loops``,
``callbacks``, ``optimizer_states``, ...). :func:`load_sim_feat_up` reads such
a file from local disk and loads it with ``strict=True``; nothing is
downloaded.
"""
import os.path as osp
import pickle
from typing import Dict, List, Mapping, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RELEASE_PREFIX = 'upsampler.'
# variant -> (radius of every step, whether the four steps share one module)
VARIANTS: Dict[str, Dict[str, Union[int, bool]]] = {
    'jbu_one': dict(radius=5, shared=True),
    'jbu_stack': dict(radius=3, shared=False),
}
NUM_STEPS = 4            # four 2x steps: a 16x upsampling, i.e. one ViT-B/16 patch
DOWNLOAD_HINT = (
    "get SegEarth-OV's released upsampler (simfeatup_dev/weights/"
    "xclip_jbu_one_million_aid.ckpt, linked from the SegEarth-OV README) onto this "
    'machine and pass its local path')


class JBUStep(nn.Module):
    """One learned joint bilateral 2x step (FeatUp's ``JBULearnedRange``).

    Parameter names and shapes match the release: ``range_temp`` (scalar),
    ``range_proj.{0,3}`` (1x1 convs ``guidance_dim -> key_dim -> key_dim``),
    ``fixup_proj.{0,3}`` (1x1 convs ``d^2 + guidance_dim -> d^2 -> d^2``) and
    ``sigma_spatial`` (scalar); ``d = 2 * radius + 1``.

    ``forward(source (B, C, h, w), guidance (B, guidance_dim, H, W))`` returns
    ``(B, C, H, W)``: the source resized (bicubic) to the guidance's size and
    filtered with the per-pixel kernels of :meth:`kernel`. ``H`` and ``W``
    must exceed ``radius`` (reflect padding).
    """

    def __init__(self, guidance_dim: int = 3, key_dim: int = 32, radius: int = 3) -> None:
        super().__init__()
        self.guidance_dim = guidance_dim
        self.key_dim = key_dim
        self.radius = radius
        self.diameter = 2 * radius + 1
        taps = self.diameter ** 2
        self.range_temp = nn.Parameter(torch.tensor(0.0))
        self.range_proj = nn.Sequential(
            nn.Conv2d(guidance_dim, key_dim, 1), nn.GELU(), nn.Dropout2d(0.1),
            nn.Conv2d(key_dim, key_dim, 1))
        self.fixup_proj = nn.Sequential(
            nn.Conv2d(taps + guidance_dim, taps, 1), nn.GELU(), nn.Dropout2d(0.1),
            nn.Conv2d(taps, taps, 1))
        self.sigma_spatial = nn.Parameter(torch.tensor(1.0))

    def _shifts(self, padded: Tensor, height: int, width: int):
        """The ``d^2`` shifted views of a padded map, tap ``i * d + j`` = offset (i, j)."""
        for i in range(self.diameter):
            for j in range(self.diameter):
                yield padded[..., i:i + height, j:j + width]

    def spatial_kernel(self) -> Tensor:
        """``(d^2,)`` unnormalised Gaussian over the taps, row-major."""
        u = torch.linspace(-1.0, 1.0, self.diameter, device=self.sigma_spatial.device,
                           dtype=self.sigma_spatial.dtype)
        dist2 = u.view(-1, 1).square() + u.view(1, -1).square()
        return torch.exp(-dist2 / (2 * self.sigma_spatial ** 2)).flatten()

    def range_kernel(self, guidance: Tensor) -> Tensor:
        """``(B, d^2, H, W)``: softmax over taps of scaled key similarities."""
        height, width = guidance.shape[-2:]
        keys = self.range_proj(guidance)                                  # (B, K, H, W)
        padded = F.pad(keys, [self.radius] * 4, mode='reflect')
        sims = torch.stack([(shifted * keys).sum(1)
                            for shifted in self._shifts(padded, height, width)], dim=1)
        temp = self.range_temp.exp().clamp(1e-4, 1e4)
        return F.softmax(temp * sims, dim=1)

    def kernel(self, guidance: Tensor) -> Tensor:
        """``(B, d^2, H, W)`` per-pixel filter taps (range x spatial, normalised, fixed up)."""
        combined = self.range_kernel(guidance) * self.spatial_kernel().view(1, -1, 1, 1)
        combined = combined / combined.sum(1, keepdim=True).clamp(min=1e-7)
        return combined + 0.1 * self.fixup_proj(torch.cat([combined, guidance], dim=1))

    def forward(self, source: Tensor, guidance: Tensor) -> Tensor:
        height, width = guidance.shape[-2:]
        param = self.range_temp
        taps = self.kernel(guidance.to(param.dtype)).to(source.dtype)
        hr = F.interpolate(source, size=(height, width), mode='bicubic', align_corners=False)
        padded = F.pad(hr, [self.radius] * 4, mode='reflect')
        out = torch.zeros_like(hr)
        for t, shifted in enumerate(self._shifts(padded, height, width)):
            out.addcmul_(taps[:, t:t + 1], shifted)
        return out


class SimFeatUp(nn.Module):
    """SegEarth-OV's SimFeatUp: 16x guided upsampling of dense CLIP features.

    Args:
        feat_dim: channels of the features, i.e. the CLIP embedding width
            *after* the visual projection (512 for ViT-B/16, the released
            ``xclip_jbu_one_million_aid.ckpt``).
        variant: ``'jbu_one'`` (one shared radius-5 step, the SegEarth-OV
            default) or ``'jbu_stack'`` (four radius-3 steps).
        guidance_dim, key_dim: guidance channels (RGB) and range-key width;
            3 and 32 in every release.

    ``forward(source, guidance)``:
        source: ``(B, feat_dim, h, w)`` projected, *un-normalised* patch
            tokens on the patch grid (class token excluded).
        guidance: ``(B, guidance_dim, H, W)`` the image the tokens came from,
            normalised as the CLIP input (SegEarth-OV passes the CLIP input
            itself, so ``H = 16 h`` for a patch-16 ViT).
        returns ``(B, feat_dim, 16 h, 16 w)`` in ``source``'s dtype. The
        guidance is average-pooled to each step's size, so any ``H, W`` works;
        ``min(h, w)`` must be at least ``radius // 2 + 1`` (3 for ``jbu_one``).

    State-dict keys equal the release's after stripping ``'upsampler.'``:
    ``up.*`` (or ``up1.*``..``up4.*``, see :class:`JBUStep`) and
    ``fixup_proj.1.{weight,bias}`` (a ``feat_dim x feat_dim`` 1x1 conv).
    """

    scale_factor = 2 ** NUM_STEPS

    def __init__(self, feat_dim: int = 512, variant: str = 'jbu_one',
                 guidance_dim: int = 3, key_dim: int = 32) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f'unknown SimFeatUp variant {variant!r}; '
                             f'choose one of {sorted(VARIANTS)}')
        self.feat_dim = feat_dim
        self.variant = variant
        self.guidance_dim = guidance_dim
        spec = VARIANTS[variant]
        self.radius = int(spec['radius'])
        if spec['shared']:
            self.up = JBUStep(guidance_dim, key_dim, self.radius)
        else:
            for n in range(1, NUM_STEPS + 1):
                self.add_module(f'up{n}', JBUStep(guidance_dim, key_dim, self.radius))
        self.fixup_proj = nn.Sequential(nn.Dropout2d(0.2), nn.Conv2d(feat_dim, feat_dim, 1))

    def steps(self) -> List[JBUStep]:
        """The four 2x steps in order (the same module four times for ``jbu_one``)."""
        if self.variant == 'jbu_one':
            return [self.up] * NUM_STEPS
        return [getattr(self, f'up{n}') for n in range(1, NUM_STEPS + 1)]

    def forward(self, source: Tensor, guidance: Tensor) -> Tensor:
        if source.dim() != 4 or guidance.dim() != 4:
            raise ValueError('SimFeatUp takes 4-D (B, C, h, w) features and (B, 3, H, W) '
                             f'guidance, got {tuple(source.shape)} and {tuple(guidance.shape)}')
        if source.shape[1] != self.feat_dim:
            raise ValueError(f'SimFeatUp was built for {self.feat_dim}-channel features, '
                             f'got {source.shape[1]} channels')
        if guidance.shape[0] != source.shape[0] or guidance.shape[1] != self.guidance_dim:
            raise ValueError(f'guidance {tuple(guidance.shape)} does not fit features '
                             f'{tuple(source.shape)}: it needs the same batch size and '
                             f'{self.guidance_dim} channels')
        if 2 * min(source.shape[-2:]) <= self.radius:
            raise ValueError(f'a {tuple(source.shape[-2:])} feature grid is too small for '
                             f'SimFeatUp ({self.variant}, radius {self.radius}): each side '
                             f'needs at least {self.radius // 2 + 1} patches')
        x = source
        for step in self.steps():
            h, w = x.shape[-2:]
            x = step(x, F.adaptive_avg_pool2d(guidance, (2 * h, 2 * w)))
        return x + 0.1 * self.fixup_proj(x)


def _release_state_dict(ckpt: object, path: str) -> Dict[str, Tensor]:
    """The upsampler's tensors from a loaded file, ``'upsampler.'`` stripped."""
    if isinstance(ckpt, Mapping) and isinstance(ckpt.get('state_dict'), Mapping):
        ckpt = ckpt['state_dict']        # the Lightning wrapper of the release
    if not isinstance(ckpt, Mapping) or not ckpt or \
            not all(isinstance(v, Tensor) for v in ckpt.values()):
        raise ValueError(f'{path} holds no state dict of tensors; a SimFeatUp checkpoint is '
                         "a Lightning file whose 'state_dict' has 'upsampler.*' keys: "
                         f'{DOWNLOAD_HINT}')
    return {k[len(RELEASE_PREFIX):] if k.startswith(RELEASE_PREFIX) else k: v
            for k, v in ckpt.items()}


def _infer_variant(state: Mapping[str, Tensor], path: str) -> str:
    if any(k.startswith('up.') for k in state):
        return 'jbu_one'
    if any(k.startswith('up1.') for k in state):
        return 'jbu_stack'
    raise ValueError(f"{path} is not a SimFeatUp checkpoint: no 'upsampler.up.*' or "
                     f"'upsampler.up1.*' keys (found e.g. {sorted(state)[:5]}); "
                     f'{DOWNLOAD_HINT}')


def load_sim_feat_up(path: str, feat_dim: Optional[int] = None,
                     variant: Optional[str] = None, map_location: Union[str, torch.device] = 'cpu',
                     weights_only: bool = True) -> SimFeatUp:
    """Build :class:`SimFeatUp` from a local released checkpoint, strictly.

    Args:
        path: a SegEarth-OV upsampler file, e.g.
            ``simfeatup_dev/weights/xclip_jbu_one_million_aid.ckpt``: a
            Lightning checkpoint whose ``'state_dict'`` has ``'upsampler.'``
            keys (a bare state dict, with or without that prefix, also works).
        feat_dim: the feature width the caller will feed (the CLIP projected
            embedding width); checked against the file. ``None``: taken from
            the file.
        variant: ``'jbu_one'`` / ``'jbu_stack'``; ``None``: taken from the keys.
        map_location: where the tensors are loaded.
        weights_only: passed to :func:`torch.load`; keep ``True`` unless the
            file is trusted and cannot be read otherwise.

    Returns:
        the module in eval mode with frozen float32 parameters.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: the file is unreadable, not in the release's format, or
            its keys/shapes do not match ``SimFeatUp(feat_dim, variant)``.
    """
    path = osp.expanduser(str(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'SimFeatUp checkpoint not found: {path}; {DOWNLOAD_HINT}')
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=weights_only)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        raise ValueError(f'cannot read SimFeatUp checkpoint {path} ({err}); is it a complete '
                         f'download? {DOWNLOAD_HINT}') from err
    state = _release_state_dict(ckpt, path)
    found = _infer_variant(state, path)
    if variant is not None and variant != found:
        raise ValueError(f'{path} holds a {found!r} SimFeatUp but variant={variant!r} was asked '
                         f'for; pass variant={found!r} (or None) or use a {variant!r} file')
    fixup = state.get('fixup_proj.1.weight')
    file_dim = int(fixup.shape[0]) if fixup is not None else None
    if feat_dim is not None and file_dim is not None and feat_dim != file_dim:
        raise ValueError(f'{path} upsamples {file_dim}-channel features but the CLIP gives '
                         f'{feat_dim}-channel projected tokens; use an upsampler trained for '
                         f'this CLIP (the release is for ViT-B/16, 512 channels) or disable '
                         f'feature upsampling')
    model = SimFeatUp(feat_dim=feat_dim or file_dim or 512, variant=found)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f'{k}: file {tuple(state[k].shape)} vs module {tuple(expected[k].shape)}'
             for k in sorted(set(expected) & set(state)) if state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        problems = []
        if missing:
            problems.append(f'missing keys {missing}')
        if unexpected:
            problems.append(f'unexpected keys {unexpected}')
        if wrong:
            problems.append(f'shape mismatches {wrong}')
        raise ValueError(f'{path} does not match SimFeatUp(feat_dim={model.feat_dim}, '
                         f"variant={found!r}) (keys shown without 'upsampler.'): "
                         + '; '.join(problems) + f'. The file is truncated or not a SegEarth-OV '
                         f'release; {DOWNLOAD_HINT}')
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    model.eval().requires_grad_(False)
    return model
