"""DWL's class-wise confidence weighting (decoupled weighting learning, Huang
et al., remote-sensing S4; zhu-xlab/RS-DWL ``train.py`` method 'DWL' and
``utils/util.py``).

Instead of one hard threshold, every unlabeled pixel gets a weight in
[0, 1) from where its confidence falls among the confidences its class had
in the last ``memory_batches`` batches:

1. memory (``update_cls_memory``): the pseudo-labels and confidences are
   nearest-downsampled to 64 x 64; for each class present in the batch, the
   confidences of its pixels are appended as one entry of that class's
   memory, the oldest entry dropped once the class holds ``memory_batches``
   entries. Each class starts with one entry of value 1.0 (the anchor seeds
   every memory with ``torch.ones(1, C)``);
2. bins (``sample_cls_bins``): each class's remembered confidences, sorted,
   read at ``num_bins`` evenly spaced ranks (the ``round(linspace(0, n - 1,
   num_bins + 1))[1:]``-th);
3. weight (``calc_wgt_bins``): ``r`` = the share of its class's bins a
   pixel's confidence strictly exceeds, then ``2 * sigmoid(k * r) - 1`` with
   ``k = 20 * iters / total_iters + 2`` (the curve sharpens over training);
4. no unsupervised loss while ``iters <= warmup_iters`` (the anchor: ``iters
   > memory_n_batches``, so batches 0 to 50 are skipped).

The purifier enters through the inputs: :meth:`DWLWeighting.forward` takes
``(label, conf)`` from whatever produced them, the teacher's argmax / max
softmax or the purifier's output, so the memory, the bins and the weights all
see the purified confidences.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather
from mmseg.registry import MODELS
from torch import Tensor, nn


def downsample_nearest(label: Tensor, conf: Tensor, valid: Tensor,
                       size: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
    """Pseudo-labels and confidences ``(B, H, W)`` nearest-resized to
    ``size`` and flattened; invalid pixels get label -1. ``F.interpolate``'s
    nearest mode picks the same source pixel for every channel, so this equals
    resizing the anchor's ``(B, C, H, W)`` softmax and reading the label's
    channel."""
    stacked = torch.stack([label.float(), conf.float(), valid.float()], dim=1)
    small = F.interpolate(stacked, size=size, mode='nearest')
    lab, cnf, val = small[:, 0].reshape(-1), small[:, 1].reshape(-1), small[:, 2].reshape(-1)
    return lab.long().masked_fill(val < 0.5, -1), cnf


def sample_bins(sorted_values: Tensor, num_bins: int) -> Tensor:
    """``num_bins`` values of an ascending 1-D tensor at evenly spaced ranks,
    the anchor's ``sorted[linspace(0, n - 1, num_bins + 1).round()[1:]]``."""
    ranks = torch.linspace(0, len(sorted_values) - 1, num_bins + 1).round().long()
    return sorted_values[ranks[1:].to(sorted_values.device)]


def bin_weights(bins: Tensor, conf: Tensor, label: Tensor, iters: int,
                total_iters: int) -> Tensor:
    """Per-pixel weights from class bins (the anchor's ``calc_wgt_bins``).

    Args:
        bins: ``(C, num_bins)``, ascending per class.
        conf: confidences, any shape.
        label: class of each pixel, same shape, in ``[0, C)``.
        iters: 0-based training iteration.
        total_iters: length of the schedule.

    Returns:
        ``2 * sigmoid(k * r) - 1``, ``r`` = share of the class's bins the
        confidence exceeds (strictly), ``k = 20 * iters / total_iters + 2``.
    """
    num_bins = bins.shape[1]
    above = torch.zeros(conf.shape, dtype=torch.long, device=conf.device)
    # per class, a binary search instead of the anchor's (N, num_bins)
    # comparison: the same counts without an N x num_bins temporary
    for c in label.unique().tolist():
        at = label == c
        above[at] = torch.searchsorted(bins[c].contiguous(), conf[at].contiguous(),
                                       right=False)
    ratio = above / num_bins
    k = iters / total_iters * 20 + 2
    return 1 / (1 + torch.exp(-k * ratio)) * 2 - 1


def dwl_unsup_loss(logits: Tensor, label: Tensor, weight: Tensor,
                   valid: Tensor) -> Tensor:
    """Weighted CE of the strong view: ``sum(CE * weight) / valid pixels``.

    The anchor (``train.py`` l.173-174) takes ``(CE * weight).mean()`` over all
    pixels; it has no padding mask. Here padded / nodata pixels count neither
    in the sum nor in the divisor, as in the project's FixMatch step (the same
    number when every pixel is valid).

    Args:
        logits: ``(B, C, H, W)`` student logits at the label's size.
        label, weight, valid: ``(B, H, W)``.
    """
    ce = F.cross_entropy(logits, label.masked_fill(~valid, 0), reduction='none')
    return (ce * weight * valid).sum() / valid.sum().clamp(min=1)


@MODELS.register_module()
class DWLWeighting(nn.Module):
    """Class-wise confidence memories and the per-pixel weights DWL puts in
    place of the confidence threshold.

    Call it once per training step, on every rank::

        weight = dwl(label, conf, valid, iters, total_iters)  # (B, H, W)
        loss_u = dwl_unsup_loss(logits_strong, label, weight, valid)

    It pushes this step's (downsampled) confidences into the memories, then
    returns the weights of all ``(B, H, W)`` pixels from the updated bins (as
    the anchor: the current batch is already in the memory it is weighed
    against), zero on invalid pixels and zero during the warm-up (the anchor
    multiplies the loss by 0, which keeps the graph; so does a zero weight).

    **State.** The memories are buffers (``memory_values``: every class's
    remembered confidences, class by class, oldest entry first;
    ``memory_counts``: ``(C, memory_batches)`` pixel count of each entry,
    left-aligned, 0 = unused), so they go into checkpoints and a resumed run
    continues bit-exactly; loading resizes ``memory_values`` to the stored
    length. Only the label's channel of each remembered softmax is kept: it
    is all ``sample_cls_bins`` reads.

    **DDP.** The anchor runs in one process. Here each step's downsampled
    pixels are all-gathered, so every rank holds the same memory: the memory
    of the global batch (on one GPU, exactly the anchor's). Per-rank
    memories could not be resumed: MMEngine saves rank 0's state dict only
    and every rank loads it. Every rank must therefore call this each step,
    with the same per-rank batch shape (the fixed batches of ``SemiSampler``).

    Args:
        num_classes: number of classes.
        memory_batches: entries kept per class (the anchor's
            ``memory_n_batches = 50``).
        memory_size: size the confidences are nearest-resized to before
            entering the memory (the anchor: 64 x 64).
        num_bins: bins per class (the anchor: 20).
        warmup_iters: no unsupervised loss while ``iters <= warmup_iters``;
            None ties it to ``memory_batches`` as the anchor does.
    """

    def __init__(self, num_classes: int, memory_batches: int = 50,
                 memory_size: Tuple[int, int] = (64, 64), num_bins: int = 20,
                 warmup_iters: Optional[int] = None) -> None:
        super().__init__()
        for name, value in (('num_classes', num_classes),
                            ('memory_batches', memory_batches), ('num_bins', num_bins)):
            if int(value) != value or value < 1:
                raise ValueError(f'DWLWeighting {name} must be a positive integer, got {value!r}')
        self.num_classes = num_classes
        self.memory_batches = memory_batches
        self.memory_size = tuple(memory_size)
        self.num_bins = num_bins
        self.warmup_iters = memory_batches if warmup_iters is None else warmup_iters
        # the anchor's seed entry: one pixel of confidence 1.0 per class
        self.register_buffer('memory_values', torch.ones(num_classes))
        counts = torch.zeros(num_classes, memory_batches, dtype=torch.long)
        counts[:, 0] = 1
        self.register_buffer('memory_counts', counts)
        self._bins: Optional[Tensor] = None  # cache, a function of the buffers

    # ------------------------------------------------------------ memory
    def class_values(self, c: int) -> Tensor:
        """The confidences class ``c`` remembers, oldest entry first."""
        totals = self.memory_counts.sum(dim=1)
        start = int(totals[:c].sum())
        return self.memory_values[start:start + int(totals[c])]

    @torch.no_grad()
    def update(self, label: Tensor, conf: Tensor, valid: Optional[Tensor] = None) -> None:
        """Push one batch (``(B, H, W)`` pseudo-labels and confidences; all
        ranks' pixels under DDP) into the class memories
        (``update_cls_memory``)."""
        if valid is None:
            valid = torch.ones_like(label, dtype=torch.bool)
        lab, cnf = downsample_nearest(label, conf, valid, self.memory_size)
        lab = torch.cat(all_gather(lab))
        cnf = torch.cat(all_gather(cnf)).to(self.memory_values.dtype)
        values, counts = [], self.memory_counts.clone()
        for c in range(self.num_classes):
            old = self.class_values(c)
            new = cnf[lab == c]
            if len(new):
                used = int((counts[c] > 0).sum())
                if used == self.memory_batches:  # full: drop the oldest entry
                    old = old[int(counts[c, 0]):]
                    counts[c] = torch.roll(counts[c], -1)
                    used -= 1
                counts[c, used] = len(new)
                old = torch.cat([old, new])
            values.append(old)
        self.memory_values = torch.cat(values)
        self.memory_counts.copy_(counts)
        self._bins = None

    def bins(self) -> Tensor:
        """``(C, num_bins)`` class bins from the memories
        (``sample_cls_bins``)."""
        if self._bins is None or self._bins.device != self.memory_values.device:
            self._bins = torch.stack([
                sample_bins(self.class_values(c).sort().values, self.num_bins)
                for c in range(self.num_classes)])
        return self._bins

    # ----------------------------------------------------------- weights
    def active(self, iters: int) -> bool:
        """Whether the unsupervised loss counts at 0-based iteration ``iters``."""
        return iters > self.warmup_iters

    def weights(self, label: Tensor, conf: Tensor, valid: Tensor, iters: int,
                total_iters: int) -> Tensor:
        """Per-pixel weights ``(B, H, W)`` from the current bins; 0 on invalid
        pixels and during the warm-up."""
        safe = label.masked_fill(~valid, 0)
        weight = bin_weights(self.bins(), conf.to(self.memory_values.dtype), safe,
                             iters, total_iters) * valid
        return weight if self.active(iters) else weight * 0

    def forward(self, label: Tensor, conf: Tensor, valid: Optional[Tensor],
                iters: int, total_iters: int) -> Tensor:
        """One training step: :meth:`update`, then :meth:`weights`."""
        if total_iters < 1:
            raise ValueError(f'DWLWeighting: total_iters must be >= 1, got {total_iters} '
                             '(pass the runner\'s max_iters)')
        if valid is None:
            valid = torch.ones_like(label, dtype=torch.bool)
        self.update(label, conf, valid)
        return self.weights(label, conf, valid, iters, total_iters)

    # ------------------------------------------------------- checkpoints
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        """Resize ``memory_values`` to the stored length before loading."""
        values = state_dict.get(prefix + 'memory_values')
        counts = state_dict.get(prefix + 'memory_counts')
        if counts is not None and tuple(counts.shape) != tuple(self.memory_counts.shape):
            raise ValueError(
                f'DWLWeighting: the checkpoint\'s memory is {tuple(counts.shape)} '
                f'(classes, memory_batches), this model\'s {tuple(self.memory_counts.shape)}: '
                'set num_classes and memory_batches as in the run that saved it.')
        if values is not None:
            if counts is not None and int(counts.sum()) != values.numel():
                raise ValueError(
                    f'DWLWeighting: corrupt memory in the checkpoint ({values.numel()} '
                    f'values for {int(counts.sum())} counted).')
            self.memory_values = self.memory_values.new_empty(values.shape)
        self._bins = None
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, memory_batches={self.memory_batches}, '
                f'memory_size={self.memory_size}, num_bins={self.num_bins}, '
                f'warmup_iters={self.warmup_iters}')
