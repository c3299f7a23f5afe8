"""Self-adaptive class-wise confidence thresholds (FreeMatch, Wang et al.,
ICLR 2023), per pixel."""
import torch
from mmengine.dist import all_reduce
from torch import Tensor, nn


class SelfAdaptiveThreshold(nn.Module):
    """Thresholds that follow the teacher's own confidence.

    A fixed 0.95 accepts almost no pixel while the teacher is unsure (early
    training, short schedules, rare classes) and then too many of the easy
    classes. Here the global threshold is the EMA of the mean max-probability
    over valid unlabeled pixels, and each class's threshold is that value
    scaled by the class's EMA mean probability over its maximum, so classes
    the teacher is less sure of get lower thresholds. State is kept in
    buffers, so it is checkpointed and resumed with the model.

    Args:
        num_classes: number of classes.
        decay: weight of the old statistics in each EMA update
            (``new = decay * old + (1 - decay) * batch``; FreeMatch's
            lambda, 0.999 there).
    """

    def __init__(self, num_classes: int, decay: float = 0.99) -> None:
        super().__init__()
        if not 0 <= decay < 1:
            raise ValueError(f'adaptive_thresh decay must be in [0, 1) (the weight of '
                             f'the old statistics), got {decay}')
        self.decay = decay
        self.register_buffer('global_conf', torch.tensor(1.0 / num_classes))
        self.register_buffer('class_prob', torch.full((num_classes,), 1.0 / num_classes))

    @torch.no_grad()
    def update(self, probs: Tensor, valid: Tensor) -> None:
        """Update the statistics with teacher ``probs`` (B, C, H, W) on the
        ``valid`` (B, H, W) pixels.

        Under DDP the means are taken over the valid pixels of all ranks
        (one all-reduce of ``C + 2`` numbers), so every rank keeps the same
        thresholds, as with one large batch; every rank must therefore call
        this each step, also with no valid pixel. Not distributed, the
        all-reduce does nothing."""
        p = probs.permute(0, 2, 3, 1)[valid].float()  # (N, C)
        # [pixel count, sum of max-probabilities, per-class probability sums]
        sums = torch.cat([p.new_tensor([p.shape[0], p.max(dim=1).values.sum()]),
                          p.sum(dim=0)])
        all_reduce(sums, op='sum')
        count = sums[0]
        if count == 0:
            return
        m = self.decay
        self.global_conf.mul_(m).add_(sums[1] / count, alpha=1 - m)
        self.class_prob.mul_(m).add_(sums[2:] / count, alpha=1 - m)

    def thresholds(self) -> Tensor:
        """Current threshold of each class, (C,)."""
        return self.class_prob / self.class_prob.max() * self.global_conf

    def forward(self, label: Tensor) -> Tensor:
        """Per-pixel threshold for pseudo-labels ``label`` (B, H, W)."""
        return self.thresholds()[label]
