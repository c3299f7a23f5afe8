"""What a semi-supervised method is to :class:`SemiEarthSegmentor`."""
from typing import Dict, Tuple

from torch import Tensor, nn


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

    def setup(self, seg) -> Dict[str, nn.Module]:
        """Called once by the segmentor, after it has built the student, the
        teacher and its ``semi_train_cfg``, before ``init_weights``. A method
        may change the student's and teacher's modules in place (the same
        way for both: the EMA pairs their parameters in order) and returns
        the modules with state of its own; the segmentor registers them as
        ``seg.method_modules[name]``, so they move with the model, are
        checkpointed and resumed. Default: none."""
        return {}

    def loss(self, seg, inputs: Dict[str, Tensor], data_samples: dict) -> Dict[str, Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'
