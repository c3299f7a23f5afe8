"""What a semi-supervised method is to :class:`SemiEarthSegmentor`."""
from typing import Dict, Tuple

from torch import Tensor


class BaseSemiMethod:
    """One semi-supervised training step, chosen by ``model.semi_method``.

    A method holds no weights: the segmentor holds the student, the teacher
    and the purifier, and the parts every method shares (pseudo-labels
    through the purifier, CutMix, the supervised and masked unsupervised
    losses, diagnostics). A method's :meth:`loss` reads top to bottom and
    must

    - call ``seg.pseudo_labels`` exactly once per step, on the weak-view
      probabilities it labels from (the purifier's one call);
    - compute every unsupervised term with ``seg.unsup_loss`` on exactly
      those labels and confidences (CutMixed with ``seg.mix`` for a strong
      view);
    - return mmseg's loss dict (keys with ``loss`` are summed).

    ``tests/test_semi_methods.py`` checks this contract for every
    registered method with a spy purifier.

    Attributes:
        branches: the batch branches the step needs.
    """
    branches: Tuple[str, ...] = ('sup', 'unsup_weak', 'unsup_strong')

    def loss(self, seg, inputs: Dict[str, Tensor], data_samples: dict) -> Dict[str, Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'
