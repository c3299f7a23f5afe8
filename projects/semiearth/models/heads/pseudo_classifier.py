"""DWL's pseudo-label classifier on any mmseg decode head (zhu-xlab/RS-DWL,
``models/deeplab_v3plus.py`` ``pseudo_classifier``, ``train.py`` l.150 and
l.246-258).

DWL decouples the classifier: the labeled images train the main classifier,
the strong view is trained through a second classifier of the same shape on
the same features, and every epoch the main classifier becomes ``alpha *
pseudo + (1 - alpha) * main``. Every mmseg decode head ends in
``cls_seg`` -> ``conv_seg`` (a 1x1 ``nn.Conv2d``), so the second classifier
lives inside ``conv_seg``: :class:`DualConvSeg` is an ``nn.Conv2d`` with the
main weights under the same names (``conv_seg.weight``, ``conv_seg.bias``:
plain mmseg checkpoints load unchanged) and the second classifier as its child
``conv_seg.pseudo``. Outside :func:`forward_dual` it is the plain classifier.
"""
import contextlib
from typing import Dict, Iterator, List, Tuple

import torch
from torch import Tensor, nn

PSEUDO_KEY = 'conv_seg.pseudo.'


class DualConvSeg(nn.Conv2d):
    """A decode head's ``conv_seg`` with a pseudo-label classifier beside it.

    It reuses the original ``conv_seg``'s parameters (same objects, same
    state-dict names); ``pseudo`` is a new ``nn.Conv2d`` of the same shape.
    In dual mode (see :func:`forward_dual`) the output is both classifiers'
    logits concatenated on the channel axis; otherwise only the main one.

    The pseudo classifier is drawn as mmseg initialises ``conv_seg``
    (normal, std 0.01, bias 0), independently of the main one, as the anchor
    builds two independent classifiers. mmseg's ``init_weights`` (its
    ``Normal`` override of ``conv_seg``) redraws both the same way, and a
    plain checkpoint loaded afterwards sets the main one only.

    Args:
        conv: the head's ``conv_seg``.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        if type(conv) is not nn.Conv2d:
            raise TypeError(f'DualConvSeg wraps a plain nn.Conv2d conv_seg, got '
                            f'{type(conv).__name__} (already wrapped?)')
        kwargs = dict(in_channels=conv.in_channels, out_channels=conv.out_channels,
                      kernel_size=conv.kernel_size, stride=conv.stride,
                      padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                      bias=conv.bias is not None, padding_mode=conv.padding_mode,
                      device=conv.weight.device, dtype=conv.weight.dtype)
        super().__init__(**kwargs)
        self.weight = conv.weight
        self.bias = conv.bias
        self.pseudo = nn.Conv2d(**kwargs)
        nn.init.normal_(self.pseudo.weight, 0, 0.01)
        if self.pseudo.bias is not None:
            nn.init.zeros_(self.pseudo.bias)
        self.dual = False
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        main = super().forward(x)
        if not self.dual:
            return main
        self.calls += 1
        return torch.cat([main, self.pseudo(x)], dim=1)

    @torch.no_grad()
    def merge(self, alpha: float) -> None:
        """main := alpha * pseudo + (1 - alpha) * main (the anchor's order of
        terms, ``train.py`` l.249/252/255); the pseudo classifier is kept."""
        if not 0 <= alpha <= 1:
            raise ValueError(f'merge alpha must be in [0, 1], got {alpha}')
        for main, pseudo in zip(self._main_params(), self.pseudo.parameters()):
            main.copy_(pseudo * alpha + main * (1 - alpha))

    def _main_params(self) -> List[nn.Parameter]:
        return [p for p in (self.weight, self.bias) if p is not None]

    def plain(self) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` holding the main classifier (same tensors)."""
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size,
                         self.stride, self.padding, self.dilation, self.groups,
                         self.bias is not None, self.padding_mode,
                         device=self.weight.device, dtype=self.weight.dtype)
        conv.weight = self.weight
        conv.bias = self.bias
        return conv


def attach_pseudo_classifier(head: nn.Module) -> DualConvSeg:
    """Give an mmseg decode head a pseudo-label classifier, in place.

    Wrap the teacher's head too when the method has an EMA teacher: the
    teacher and the student must keep the same parameter list for the EMA.
    """
    conv = getattr(head, 'conv_seg', None)
    if isinstance(conv, DualConvSeg):
        raise ValueError(f'{type(head).__name__} already has a pseudo classifier')
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(
            f'{type(head).__name__} has no nn.Conv2d conv_seg (got {type(conv).__name__}): '
            'the pseudo classifier needs a head that classifies through cls_seg / '
            'conv_seg, as mmseg\'s BaseDecodeHead subclasses do.')
    head.conv_seg = DualConvSeg(conv)
    return head.conv_seg


def dual_classifiers(module: nn.Module) -> Iterator[DualConvSeg]:
    """Every :class:`DualConvSeg` in ``module``."""
    return (m for m in module.modules() if isinstance(m, DualConvSeg))


@contextlib.contextmanager
def _dual_mode(conv: DualConvSeg):
    conv.dual, conv.calls = True, 0
    try:
        yield
    finally:
        conv.dual = False


def forward_dual(head: nn.Module, feats) -> Tuple[Tensor, Tensor]:
    """``(main_logits, pseudo_logits)`` of one forward of ``head`` on
    ``feats``: the same features through both classifiers (the anchor's
    ``model(x, return_pseudo_pred=True)``). Raises if the head did not
    classify through its ``conv_seg`` exactly once."""
    conv = getattr(head, 'conv_seg', None)
    if not isinstance(conv, DualConvSeg):
        raise TypeError(f'{type(head).__name__} has no pseudo classifier; call '
                        'attach_pseudo_classifier(head) first.')
    with _dual_mode(conv):
        logits = head(feats)
    if conv.calls != 1:
        raise RuntimeError(
            f'{type(head).__name__}.forward used conv_seg {conv.calls} times; the pseudo '
            'classifier needs a head whose output is one conv_seg(...) call.')
    return logits.split(conv.out_channels, dim=1)


def merge_pseudo_classifiers(module: nn.Module, alpha: float) -> int:
    """Merge every pseudo classifier in ``module`` into its main classifier
    (:meth:`DualConvSeg.merge`); returns how many were merged. Applying it to
    the student and its EMA teacher alike keeps the teacher the EMA of the
    merged student (the merge is affine)."""
    convs = list(dual_classifiers(module))
    for conv in convs:
        conv.merge(alpha)
    return len(convs)


def strip_pseudo_classifiers(module: nn.Module) -> int:
    """Replace every :class:`DualConvSeg` in ``module`` by a plain
    ``nn.Conv2d`` with its main classifier, in place (for export: the result
    is a plain mmseg model). Returns how many were replaced."""
    replaced = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, DualConvSeg):
                setattr(parent, name, child.plain())
                replaced += 1
    return replaced


def drop_pseudo_classifier_keys(
        state_dict: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], List[str]]:
    """A state dict without the pseudo classifiers' entries (``...conv_seg.
    pseudo.*``), and the dropped keys: what an exported plain mmseg model
    holds once the last merge is done."""
    dropped = [k for k in state_dict if k.startswith(PSEUDO_KEY) or f'.{PSEUDO_KEY}' in k]
    drop = set(dropped)
    kept = type(state_dict)((k, v) for k, v in state_dict.items() if k not in drop)
    return kept, dropped
