"""A per-pixel record of what the purifier decided, for a sample of images.

One compressed ``.npz`` per unlabeled view, written by :class:`VLMPurifyHead`
(``record=dict(...)``, off by default) and rendered by
``tools/analysis_tools/visualize_purification.py``. Arrays, all ``(H, W)``
in the weak view's pixels:

- ``teacher_label`` (uint8), ``teacher_conf`` (float16): the teacher's;
- ``evidence_label`` (uint8), ``evidence_prob`` (float16): the VLM's best
  class and its probability; ``has_evidence`` (bool): after the background
  gate (pixels without it are ``no evidence / gated``);
- ``decision`` (uint8): an index into ``DECISIONS``;
- ``label`` (uint8), ``conf`` (float16): the purified pseudo-label;
  ``thresh`` (float16): the threshold the segmentor passed for the teacher's
  label; ``accepted`` (bool): ``conf >= thresh``;
- ``src_coords`` (int16, ``(2, H, W)``, x then y; -1 on padding), when the
  pipeline has ``AddSourceCoords``: where each pixel comes from in the
  source image, so the ground truth and the nodata mask can be looked up
  afterwards (the purifier never sees either);

and scalars: ``img_path``, ``iteration``, ``rule``, ``classes``,
``decisions``, ``note`` (set where the evidence is not the VLM's, e.g.
simulated).
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import MessageHub, MMLogger
from torch import Tensor

from ...utils import atomic_save
from ...vlm.evidence_cache import cache_key

#: decision codes, in the order of their index in ``decision``
DECISIONS = ('kept', 'relabelled', 'confidence raised', 'confidence lowered',
             'no evidence / gated')
KEPT, RELABELLED, RAISED, LOWERED, NO_EVIDENCE = range(len(DECISIONS))


def decisions(teacher_label: Tensor, teacher_conf: Tensor, label: Tensor, conf: Tensor,
              has_evidence: Tensor) -> Tensor:
    """The rule's decision per pixel (uint8, ``DECISIONS``): no evidence
    (gated) first, then relabelled, then the confidence's direction;
    ``kept`` where the rule had evidence and changed nothing."""
    out = torch.full_like(label, KEPT, dtype=torch.uint8)
    out[conf > teacher_conf] = RAISED
    out[conf < teacher_conf] = LOWERED
    out[label != teacher_label] = RELABELLED
    out[~has_evidence] = NO_EVIDENCE
    return out


def build_records(probs: Tensor, evidence: Tensor, has_evidence: Tensor, thresh: Tensor,
                  label: Tensor, conf: Tensor, src_coords: Optional[Tensor] = None
                  ) -> List[Dict[str, np.ndarray]]:
    """The record arrays of every view of a batch (see the module doc)."""
    t_conf, t_label = probs.max(dim=1)
    e_prob, e_label = evidence.max(dim=1)
    decision = decisions(t_label, t_conf, label, conf, has_evidence)
    fields = dict(teacher_label=(t_label, np.uint8), teacher_conf=(t_conf, np.float16),
                  evidence_label=(e_label, np.uint8), evidence_prob=(e_prob, np.float16),
                  has_evidence=(has_evidence, bool), decision=(decision, np.uint8),
                  label=(label, np.uint8), conf=(conf, np.float16),
                  thresh=(thresh, np.float16), accepted=(conf >= thresh, bool))
    if src_coords is not None:
        fields['src_coords'] = (src_coords.round(), np.int16)
    arrays = {k: v.detach().cpu().numpy().astype(t) for k, (v, t) in fields.items()}
    return [{k: v[i] for k, v in arrays.items()} for i in range(label.shape[0])]


def save_record(path: str, arrays: Dict[str, np.ndarray], img_path: str, iteration: int,
                rule: str, classes: Sequence[str], note: str = '') -> None:
    """Write one record atomically (a crash never leaves half a file);
    ``note`` says where the evidence came from when it is not the VLM's."""
    meta = dict(img_path=np.array(img_path), iteration=np.array(iteration),
                rule=np.array(rule), classes=np.array(list(classes)),
                decisions=np.array(DECISIONS), note=np.array(note))
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    atomic_save(path, lambda f: np.savez_compressed(f, **arrays, **meta))


def load_record(path: str) -> dict:
    """A saved record as a dict of arrays (scalars as Python values)."""
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    for k in ('img_path', 'rule', 'note'):
        out[k] = str(out.get(k, ''))
    out['iteration'] = int(out['iteration'])
    out['classes'] = [str(c) for c in out['classes']]
    out['decisions'] = [str(d) for d in out['decisions']]
    missing = {'decision', 'label', 'teacher_label', 'accepted'} - set(out)
    if missing or tuple(out['decisions']) != DECISIONS:
        raise ValueError(f"'{path}' is not a purification record of this version "
                         f'(missing {sorted(missing)} or other decision codes)')
    return out


class DecisionRecorder:
    """When and where :class:`VLMPurifyHead` writes decision records.

    The sample: the images named in ``images`` (file names without
    extension), or else the first ``num_images`` distinct unlabeled images
    the purifier sees. Each of them is recorded at most once per window of
    ``interval`` training iterations (read from the run's message hub), the
    first time one of its views is purified in that window, into
    ``out_dir/iter_<iteration>/<image>.npz``. ``out_dir`` defaults to
    ``purify_records`` beside the run's log file.
    """

    def __init__(self, interval: int, num_images: int = 4,
                 images: Optional[Sequence[str]] = None, out_dir: Optional[str] = None) -> None:
        if interval < 1:
            raise ValueError(f'record.interval must be >= 1 iterations, got {interval}')
        self.interval, self.num_images = interval, num_images
        self.images = list(images) if images else []
        self.fixed = bool(images)
        self.out_dir = out_dir
        self._last_window: Dict[str, int] = {}

    @staticmethod
    def iteration() -> int:
        it = MessageHub.get_current_instance().get_info('iter')
        return 0 if it is None else int(it)

    def due(self, img_paths: Sequence[str]) -> List[int]:
        """Indices of the views to record now (and marks them recorded)."""
        window = self.iteration() // self.interval
        picked = []
        for i, path in enumerate(img_paths):
            name = cache_key(path)
            if name not in self.images and not self.fixed and \
                    len(self.images) < self.num_images:
                self.images.append(name)
            if name in self.images and self._last_window.get(name) != window:
                self._last_window[name] = window
                picked.append(i)
        return picked

    def directory(self) -> str:
        if self.out_dir is None:
            log_file = getattr(MMLogger.get_current_instance(), 'log_file', None)
            if not log_file:
                raise RuntimeError('VLMPurifyHead(record=...) has no out_dir and the run has '
                                   'no log file to write beside: set record.out_dir')
            self.out_dir = osp.join(osp.dirname(log_file), 'purify_records')
        return self.out_dir

    def path(self, img_path: str, iteration: int) -> str:
        return osp.join(self.directory(), f'iter_{iteration:07d}', cache_key(img_path) + '.npz')
