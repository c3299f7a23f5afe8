"""Build a frozen open_clip model with its weights, failing clearly.

Weights come from exactly one of: an open_clip pretrained tag (open_clip
downloads it where the machine is online), a local checkpoint file in any
format open_clip reads (RemoteCLIP's plain state dict, GeoRSCLIP's dict
holding ``state_dict``, either with a ``module.`` prefix), or, for tests and
timing only, an explicit ``random_init=True``.
"""
import logging
import pickle
import os
import os.path as osp
import socket
from typing import Callable, Optional, Tuple
from urllib.parse import urlparse

import torch
from torch import nn

from .. import compat

compat.apply()  # torchvision must import on the CPU stack before open_clip
import open_clip  # noqa: E402

OFFLINE_HINT = ('give a local checkpoint instead: checkpoint=PATH in the VLM config, '
                '`--vlm-checkpoint PATH` for tools/quickstart.sh, or the '
                'SEMIEARTH_VLM_CKPT variable')


def build_open_clip(model_name: str,
                    pretrained: Optional[str] = None,
                    checkpoint: Optional[str] = None,
                    model_cfg: Optional[dict] = None,
                    image_size: Optional[int] = None,
                    random_init: bool = False) -> Tuple[nn.Module, Callable]:
    """Return ``(model, tokenizer)`` in eval mode with frozen parameters.

    Args:
        model_name: an open_clip architecture (``open_clip.list_models()``),
            e.g. ``'ViT-B-16'`` (OpenAI), ``'ViT-B-32'`` (RemoteCLIP,
            GeoRSCLIP), ``'ViT-L-14'``. Used in error messages when
            ``model_cfg`` is given.
        pretrained: an open_clip pretrained tag such as ``'openai'``.
        checkpoint: path of a local weights file; when set, it is loaded and
            ``pretrained`` is not used.
        model_cfg: an architecture open_clip does not know by name
            (``embed_dim``, ``vision_cfg``, ``text_cfg`` as in open_clip's
            JSON configs); built as ``open_clip.CLIP(**model_cfg)``.
        image_size: build the vision tower for this input size (position
            embeddings are interpolated when the weights load).
        random_init: allow a model with no weights (tests, timing).
    """
    if checkpoint:
        pretrained = None  # a local file, when given, is what gets loaded
    if not (pretrained or checkpoint) and not random_init:
        raise ValueError(
            f'VLM {model_name!r} has no weights: set checkpoint=PATH (a local '
            "RemoteCLIP / GeoRSCLIP / open_clip file) or pretrained=TAG (e.g. "
            "'openai', downloaded by open_clip where the machine is online). "
            'random_init=True is for tests and timing only.')
    if checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(f"VLM checkpoint '{checkpoint}' does not exist; "
                                f'fix the path ({OFFLINE_HINT})')

    if model_cfg is not None:
        if pretrained:
            raise ValueError(
                f'VLM {model_name!r} is built from model_cfg, which open_clip has no '
                f'pretrained tag for (got pretrained={pretrained!r}): give '
                'checkpoint=PATH, or drop model_cfg and name an open_clip architecture')
        cfg = dict(model_cfg)
        if image_size:
            cfg['vision_cfg'] = dict(cfg['vision_cfg'], image_size=image_size)
        model = open_clip.CLIP(**cfg)
        context = cfg.get('text_cfg', {}).get('context_length', 77)
        tokenizer = open_clip.SimpleTokenizer(context_length=context)
    else:
        if model_name not in open_clip.list_models():
            raise KeyError(f'open_clip has no architecture {model_name!r}; known: '
                           f'{", ".join(open_clip.list_models()[:40])}, ...')
        try:
            if pretrained:
                check_download_possible(model_name, pretrained)
            with _quiet_random_init():  # the local weights are loaded below
                model = open_clip.create_model(model_name, pretrained=pretrained,
                                               force_image_size=image_size)
        except Exception as e:  # network / hub / unknown-tag errors vary
            raise RuntimeError(
                f'open_clip could not provide weights {pretrained!r} for '
                f'{model_name!r} ({type(e).__name__}: {e}). On a machine '
                f'without internet, {OFFLINE_HINT}.') from e
        tokenizer = open_clip.get_tokenizer(model_name)

    if checkpoint:
        load_local_weights(model, model_name, checkpoint)
    model.eval().requires_grad_(False)
    return model, tokenizer


class UnsafeVLMCheckpointError(ValueError):
    """A VLM checkpoint holds objects a weights-only load refuses."""


def load_local_weights(model: nn.Module, model_name: str, checkpoint: str) -> None:
    """Load a local checkpoint strictly; say whether a failure is a damaged
    file or another architecture (naming the file's, inferred from its
    shapes)."""
    import zipfile
    if zipfile.is_zipfile(checkpoint):
        try:
            with zipfile.ZipFile(checkpoint) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            bad = str(e)
        if bad:
            raise ValueError(f"VLM checkpoint '{checkpoint}' is corrupt or incomplete (a "
                             f'truncated download?): {bad}. Fix: download it again.')
    try:
        state = open_clip.factory.load_state_dict(checkpoint, device='cpu', weights_only=True)
    except Exception as e:  # truncated / not a checkpoint: many error types
        if isinstance(e, pickle.UnpicklingError) and 'Weights only load failed' in str(e):
            raise UnsafeVLMCheckpointError(
                f"VLM checkpoint '{checkpoint}' refused: unsafe content (it pickles objects "
                'other than tensors, whose unpickling could run code; it was not loaded). '
                'Fix: use a state-dict file of tensors (open_clip / RemoteCLIP / GeoRSCLIP '
                'release one), or convert this file where you trust it.') from None
        if 'TorchScript' in str(e):
            raise ValueError(f"VLM checkpoint '{checkpoint}' is a TorchScript archive "
                             "(OpenAI's original release): use pretrained='openai', or a "
                             'state-dict file (open_clip / RemoteCLIP / GeoRSCLIP).') from e
        raise ValueError(f"VLM checkpoint '{checkpoint}' cannot be read as weights: it is "
                         f'corrupt, incomplete or not a checkpoint ({type(e).__name__}: '
                         f'{_short(e)}). Fix: download it again.') from e
    try:
        open_clip.load_checkpoint(model, checkpoint, strict=True)
    except (RuntimeError, KeyError, ValueError) as e:
        found = infer_architectures(state)
        said = (f'the file holds {" / ".join(repr(n) for n in found)}' if found else
                "the file's architecture is none of open_clip's named ones")
        raise ValueError(
            f"VLM checkpoint '{checkpoint}' does not fit the open_clip architecture "
            f'{model_name!r}; {said}. Fix: set model_name to the architecture the file was '
            "trained with (RemoteCLIP and GeoRSCLIP name it in the file name, e.g. "
            f"'ViT-B-32'). ({_short(e, 300)})") from e


def _vision_signature(state: dict) -> Optional[Tuple[int, int, int, int, int]]:
    """(width, patch, layers, grid, embed_dim) of a ViT state dict."""
    prefix = 'visual.'
    if prefix + 'conv1.weight' not in state:
        return None
    width, _, patch, _ = state[prefix + 'conv1.weight'].shape
    layers = len({k.split('.')[3] for k in state
                  if k.startswith(prefix + 'transformer.resblocks.')})
    grid = int(round((state[prefix + 'positional_embedding'].shape[0] - 1) ** 0.5))
    proj = state.get(prefix + 'proj')
    return width, patch, layers, grid, int(proj.shape[1]) if proj is not None else 0


def infer_architectures(state: dict) -> list:
    """open_clip architecture names whose vision tower has the shapes of
    ``state`` (width, patch size, depth, grid, embedding size)."""
    state = {k[7:] if k.startswith('module.') else k: v
             for k, v in (state.get('state_dict', state)).items()}
    sig = _vision_signature(state)
    if sig is None:
        return []
    found = []
    for name in open_clip.list_models():
        cfg = open_clip.get_model_config(name) or {}
        v = cfg.get('vision_cfg', {})
        if not isinstance(v.get('layers'), int) or v.get('timm_model_name'):
            continue
        size = v.get('image_size', 224)
        size = size[0] if isinstance(size, (list, tuple)) else size
        patch = v.get('patch_size', 16)
        if (v.get('width'), patch, v.get('layers'), size // patch, cfg.get('embed_dim')) == sig:
            found.append(name)
    return sorted(found, key=lambda n: (len(n), n))[:4]


class _quiet_random_init:
    """Drop open_clip's "No pretrained weights loaded ... initialized
    randomly" warning: here the local weights are loaded right after."""

    def filter(self, record) -> bool:
        return not str(record.getMessage()).startswith('No pretrained weights loaded')

    def __enter__(self):
        logging.getLogger().addFilter(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger().removeFilter(self)


def _reachable(host: str, timeout: float) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def check_download_possible(model_name: str, pretrained: str, timeout: float = 3.0) -> None:
    """Fail in seconds when open_clip would have to download the weights of
    ``pretrained`` and cannot: not in the local caches, and the host not
    reachable (or ``HF_HUB_OFFLINE=1``). open_clip itself retries for about a
    minute before giving up."""
    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not cfg or cfg.get('file'):
        return  # an unknown tag (open_clip says so) or a local file
    hub = cfg.get('hf_hub', '')
    if hub:
        from huggingface_hub import try_to_load_from_cache
        model_id, filename = os.path.split(hub)
        names = [filename] if filename else ['open_clip_model.safetensors',
                                             'open_clip_pytorch_model.bin']
        if any(isinstance(try_to_load_from_cache(model_id, n), str) for n in names):
            return
        host = 'huggingface.co'
    else:
        url = cfg.get('url', '')
        if osp.isfile(osp.join(osp.expanduser('~/.cache/clip'), osp.basename(url))):
            return
        host = urlparse(url).hostname or url
    if os.environ.get('HF_HUB_OFFLINE') == '1' and hub:
        raise RuntimeError(f'weights not in the local cache and HF_HUB_OFFLINE=1 ({hub})')
    if not _reachable(host, timeout):
        raise RuntimeError(f'weights not in the local cache and {host} cannot be reached '
                           f'within {timeout:g} s (no network)')


def _short(err: Exception, limit: int = 600) -> str:
    text = ' '.join(str(err).split())
    return text if len(text) <= limit else text[:limit] + ' ...'


def clip_normalization(model: nn.Module) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """(mean, std) the model was trained with, in 0..1 pixel units."""
    cfg = open_clip.get_model_preprocess_cfg(model)
    mean = cfg.get('mean') or open_clip.OPENAI_DATASET_MEAN
    std = cfg.get('std') or open_clip.OPENAI_DATASET_STD
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def encode_text(model: nn.Module, tokenizer: Callable, texts, batch: int = 256) -> torch.Tensor:
    """L2-normalised text embeddings, computed in chunks."""
    out = []
    device = next(model.parameters()).device
    for i in range(0, len(texts), batch):
        tokens = tokenizer(texts[i:i + batch]).to(device)
        out.append(nn.functional.normalize(model.encode_text(tokens).float(), dim=-1))
    return torch.cat(out)
