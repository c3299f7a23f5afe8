"""CutMix between the unlabeled images of a batch (UniMatch's recipe)."""
import math
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor


def random_cutmix_boxes(batch_size: int, height: int, width: int,
                        prob: float = 0.5,
                        area_range: Tuple[float, float] = (0.02, 0.4),
                        ratio_range: Tuple[float, float] = (0.3, 1 / 0.3),
                        generator: Optional[torch.Generator] = None,
                        device=None) -> Tensor:
    """One random box per image, each present with probability ``prob``.

    Returns:
        Bool tensor ``(batch_size, height, width)``, True inside the box.
    """
    boxes = torch.zeros(batch_size, height, width, dtype=torch.bool)

    def uniform(lo, hi):
        return lo + (hi - lo) * torch.rand((), generator=generator).item()

    for i in range(batch_size):
        if torch.rand((), generator=generator).item() >= prob:
            continue
        area = uniform(*area_range) * height * width
        ratio = math.exp(uniform(math.log(ratio_range[0]), math.log(ratio_range[1])))
        h = min(height, max(1, int(round(math.sqrt(area * ratio)))))
        w = min(width, max(1, int(round(math.sqrt(area / ratio)))))
        y = int(torch.randint(0, height - h + 1, (), generator=generator))
        x = int(torch.randint(0, width - w + 1, (), generator=generator))
        boxes[i, y:y + h, x:x + w] = True
    return boxes if device is None else boxes.to(device)


def cutmix(boxes: Tensor, partner: Tensor, tensors: Sequence[Tensor],
           sources: Optional[Sequence[Tensor]] = None) -> Tuple[Tensor, ...]:
    """Paste, inside each image's box, the same pixels of its partner image.

    Images, pseudo-labels, confidences and masks are mixed with the same box,
    so every pasted pixel keeps its own target.

    Args:
        boxes: ``(B, H, W)`` bool, from :func:`random_cutmix_boxes`.
        partner: ``(B,)`` index of the image pasted into each image.
        tensors: tensors of shape ``(B, H, W)`` or ``(B, C, H, W)``.
        sources: where the pasted pixels come from, one per tensor (default:
            the tensors themselves). UniMatch pastes targets that another
            pass (the model in eval mode) predicted for the partner images.
    """
    out = []
    for t, src in zip(tensors, sources or tensors):
        m = boxes if t.dim() == 3 else boxes[:, None]
        out.append(torch.where(m, src[partner], t))
    return tuple(out)
