"""Teacher-student semi-supervised wrapper around any mmseg EncoderDecoder."""
import copy
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather_object, get_world_size
from mmseg.models.segmentors import BaseSegmentor, EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor, nn

from ...utils import step_generator
from ..utils import (SelfAdaptiveThreshold, cutmix, pseudo_label_stats, random_cutmix_boxes,
                     take_batch)

# Every key of semi_train_cfg, with its default. The configs spell them out
# in configs/_base_/models/semi_fixmatch.py (tests keep the two equal).
DEFAULT_TRAIN_CFG = dict(
    sup_weight=0.5,          # UniMatch-V2: (L_sup + L_unsup) / 2
    unsup_weight=0.5,        # weight of the whole unsupervised part (a method
                             # splits it over its terms); 0 switches it off
    conf_thresh=0.95,        # keep pseudo-labels with max softmax >= this, in [0, 1)
    adaptive_thresh=None,    # dict(decay=...): class-wise self-adaptive
                             # thresholds (FreeMatch) instead of conf_thresh
    cutmix_prob=0.5,         # per unlabeled image (and per strong view)
    cutmix_area=(0.02, 0.4),
    cutmix_ratio=(0.3, 1 / 0.3),
)


@dataclass
class PseudoLabels:
    """The targets a method's unsupervised losses use, before CutMix.

    ``label``/``conf`` are what the purifier returned (the argmax / max
    probability when there is none); ``before`` holds the unpurified pair
    when a purifier ran; ``log`` the purifier's own diagnostics."""
    label: Tensor
    conf: Tensor
    valid: Tensor
    before: Optional[Tuple[Tensor, Tensor]] = None
    log: Dict[str, Tensor] = field(default_factory=dict)

    def take(self, start: int, stop: int) -> 'PseudoLabels':
        """Samples ``start:stop`` (the purifier's log stays whole)."""
        before = None if self.before is None else \
            tuple(t[start:stop] for t in self.before)
        return PseudoLabels(self.label[start:stop], self.conf[start:stop],
                            self.valid[start:stop], before, self.log)


@MODELS.register_module()
class SemiEarthSegmentor(BaseSegmentor):
    """Teacher-student semi-supervised segmentor with one pseudo-label
    purifier slot for every semi-supervised method.

    ``semi_method`` chooses the training step (a registered method:
    ``FixMatch`` with an EMA teacher as in UniMatch-V2, the default;
    ``UniMatchV2``; ``UniMatch``; ``DWL``; ``MeanTeacher``; see
    ``semiearth.models.semi_methods``). A method's stateful modules (DWL's
    memories) live in ``method_modules`` (see ``BaseSemiMethod.setup``).
    This class holds what every method shares, written once: the models,
    the teacher's / online model's probabilities, the valid mask, the
    threshold, the purifier call (:meth:`pseudo_labels`), CutMix of a strong
    view and its targets (:meth:`mix`), the supervised and the masked
    unsupervised loss (:meth:`sup_loss`, :meth:`unsup_loss`), diagnostics
    and rank-mean logging. SemiEarth is any method with ``purifier`` set.

    ``student`` and ``teacher`` are two copies of the wrapped segmentor (any
    :class:`mmseg.models.EncoderDecoder` config). Only the student is
    optimised; the teacher follows it by EMA (:class:`EMATeacherHook`), runs
    in eval mode, and never receives a gradient.

    Training batches come from :class:`SemiSegDataPreProcessor` as branches
    ``sup`` (labeled), ``unsup_weak`` and ``unsup_strong`` (views of the
    same unlabeled images with identical geometry; ``unsup_strong2`` too
    for methods with two strong views). See the method's ``loss``.

    A plain mmseg checkpoint (``backbone.*``, ``decode_head.*``) given as
    ``load_from`` loads into both student and teacher; SemiEarth checkpoints
    hold both (``student.*``, ``teacher.*``).

    Args:
        segmentor: config of the wrapped mmseg segmentor.
        semi_method: config of the training step, e.g.
            ``dict(type='UniMatchV2')``; None is ``dict(type='FixMatch')``.
        semi_train_cfg: ``sup_weight``, ``unsup_weight``, ``conf_thresh``,
            ``adaptive_thresh``, ``cutmix_prob``, ``cutmix_area``,
            ``cutmix_ratio`` (defaults and meaning in ``DEFAULT_TRAIN_CFG``,
            spelled out in ``configs/_base_/models/semi_fixmatch.py``).
        semi_test_cfg: ``predict_on``: ``'teacher'`` (default) or ``'student'``.
        purifier: config of a pseudo-label purifier (:class:`VLMPurifyHead`),
            or None (FixMatch). It is called as ``purifier(probs, inputs,
            img_metas, src_coords, thresh)`` with the teacher's softmax
            ``(B, C, H, W)`` on the weak view ``inputs``, the views' meta
            dicts, their source coordinates (or None) and the threshold each
            pseudo-label must pass (``(B, H, W)``, from
            :meth:`thresholds`), and returns ``(label, confidence,
            log_dict)``. It never sees ground truth.
        data_preprocessor: a :class:`SemiSegDataPreProcessor` config. None
            takes the wrapped segmentor's ``data_preprocessor`` (its mean,
            std, sizes and pad values) as a ``SemiSegDataPreProcessor``, so a
            model config that carries its preprocessor (as mmseg's do) wraps
            unchanged.
        pretrained, train_cfg, test_cfg: as for mmseg segmentors; when set,
            they are passed on to the wrapped segmentor.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 semi_method: OptConfigType = None,
                 semi_train_cfg: OptConfigType = None,
                 semi_test_cfg: OptConfigType = None,
                 purifier: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None) -> None:
        if data_preprocessor is None and isinstance(segmentor, dict) and \
                segmentor.get('data_preprocessor'):
            data_preprocessor = dict(segmentor['data_preprocessor'],
                                     type='SemiSegDataPreProcessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        # mmseg's segmentor keywords (mmseg.apis.init_model sets them) go to
        # the wrapped segmentor
        segmentor = copy.deepcopy(segmentor)
        for key, value in (('pretrained', pretrained), ('train_cfg', train_cfg),
                           ('test_cfg', test_cfg)):
            if value is not None and isinstance(segmentor, dict):
                segmentor[key] = value
        seg_type = segmentor.get('type') if isinstance(segmentor, dict) else None
        seg_cls = MODELS.get(seg_type) if isinstance(seg_type, str) else None
        if seg_cls is None or not issubclass(seg_cls, EncoderDecoder):
            raise TypeError(
                f'SemiEarthSegmentor wraps an mmseg EncoderDecoder (any '
                f'backbone/head); model.segmentor.type is {seg_type!r}. Put the '
                'config of a segmentor such as dict(type="EncoderDecoder", ...) '
                'in `segmentor`.')
        self.student: EncoderDecoder = MODELS.build(copy.deepcopy(segmentor))
        self.teacher: EncoderDecoder = MODELS.build(copy.deepcopy(segmentor))
        self.teacher.requires_grad_(False)
        self.purifier = MODELS.build(purifier) if purifier else None
        self.semi_method = MODELS.build(semi_method or dict(type='FixMatch'))
        if hasattr(self.purifier, 'check_input_normalization') and \
                hasattr(self.data_preprocessor, 'mean') and self.data_preprocessor.mean is not None:
            self.purifier.check_input_normalization(
                self.data_preprocessor.mean.flatten().tolist(),
                self.data_preprocessor.std.flatten().tolist())
        unknown = set(semi_train_cfg or {}) - set(DEFAULT_TRAIN_CFG)
        if unknown:
            raise ValueError(f'unknown semi_train_cfg keys {sorted(unknown)}; '
                             f'known: {sorted(DEFAULT_TRAIN_CFG)}')
        self.semi_train_cfg = {**DEFAULT_TRAIN_CFG, **(semi_train_cfg or {})}
        thresh = self.semi_train_cfg['conf_thresh']
        if not 0 <= thresh < 1:
            raise ValueError(
                f'semi_train_cfg.conf_thresh must be in [0, 1), got {thresh}: a float32 '
                'softmax reaches exactly 1.0, so 1.0 would still accept pixels. To switch '
                'the unsupervised loss off, set semi_train_cfg.unsup_weight=0.')
        self.semi_test_cfg = {'predict_on': 'teacher', **(semi_test_cfg or {})}
        adaptive = self.semi_train_cfg['adaptive_thresh']
        self.adaptive_thresh = SelfAdaptiveThreshold(
            self.student.decode_head.num_classes, **adaptive) if adaptive else None
        self.ignore_index = self.student.decode_head.ignore_index
        self.align_corners = self.student.decode_head.align_corners
        # the method's own stateful modules (DWL's memories), checkpointed
        # with the model; a method that adds layers adds them to the teacher
        # too, which must stay gradient-free
        self.method_modules = nn.ModuleDict(self.semi_method.setup(self))
        self.teacher.requires_grad_(False)

    # ------------------------------------------------------------------ train
    def loss(self, inputs: Dict[str, Tensor],
             data_samples: Dict[str, SampleList]) -> Dict[str, Tensor]:
        """One training step of the configured method (``semi_method``)."""
        self._check_branches(inputs, self.semi_method.branches)
        return self.semi_method.loss(self, inputs, data_samples)

    # -- the parts every method shares (called by the methods' ``loss``)
    def pseudo_labels(self, probs: Tensor, x_weak: Tensor,
                      weak_samples: SampleList) -> PseudoLabels:
        """Pseudo-labels from ``probs`` (softmax on the weak view, no
        gradient), through the purifier when there is one.

        ``probs`` may hold k stacked predictions of the same ``B`` weak
        images (``(k * B, C, H, W)``, UniMatch: train- and eval-mode); the
        purifier is still called once, with the images and their meta
        repeated. It sees the model's output, the images, their meta and
        the threshold each pixel must pass, never a label."""
        repeat = probs.shape[0] // x_weak.shape[0]
        valid = self._valid_mask(weak_samples, x_weak).repeat(repeat, 1, 1)
        if self.adaptive_thresh is not None:
            self.adaptive_thresh.update(probs, valid)
        conf, label = probs.max(dim=1)
        if self.purifier is None:
            return PseudoLabels(label, conf, valid)
        coords = self._pixel_field(weak_samples, 'src_coords')
        purified, purified_conf, log = self.purifier(
            probs, x_weak.repeat(repeat, 1, 1, 1),
            [s.metainfo for s in weak_samples] * repeat,
            None if coords is None else coords.repeat(repeat, 1, 1, 1),
            self.thresholds(label))
        return PseudoLabels(purified, purified_conf, valid, (label, conf), log)

    def mix(self, x_strong: Tensor, targets: PseudoLabels, purpose: str = 'cutmix',
            pasted: Optional[PseudoLabels] = None,
            also: Sequence[Tensor] = ()) -> Tuple[Tensor, ...]:
        """CutMix of a strong view and its targets with one box per sample
        (drawn from ``step_generator(purpose)``: a function of seed, rank,
        iteration and purpose, so each strong view has its own boxes).
        Inside image i's box the image and its label, confidence and valid
        mask all come from its partner (the batch rolled by one); from
        ``pasted`` (the partner's targets of another pass) when given.
        Tensors in ``also`` (Mean Teacher: the teacher's probabilities) are
        mixed with the same boxes. Returns ``(x_mixed, label, conf, valid,
        *also_mixed)``."""
        cfg = self.semi_train_cfg
        b, _, h, w = x_strong.shape
        boxes = random_cutmix_boxes(b, h, w, cfg['cutmix_prob'], cfg['cutmix_area'],
                                    cfg['cutmix_ratio'], generator=step_generator(purpose),
                                    device=x_strong.device)
        partner = torch.roll(torch.arange(b, device=x_strong.device), 1)
        src = pasted or targets
        return cutmix(boxes, partner,
                      (x_strong, targets.label, targets.conf, targets.valid, *also),
                      (x_strong, src.label, src.conf, src.valid, *also))

    def sup_loss(self, feats, logits_sup: Tensor, samples: SampleList) -> Dict[str, Tensor]:
        """The supervised loss as the wrapped segmentor computes it (decode
        head, and auxiliary head on the labeled part of ``feats``), times
        ``sup_weight``; keys ``sup.*``."""
        n = logits_sup.shape[0]
        sup = self.student.decode_head.loss_by_feat(logits_sup, samples)
        if self.student.with_auxiliary_head:
            sup.update(self.student._auxiliary_head_forward_train(
                take_batch(feats, n), samples))
        return self._scaled('sup.', sup, self.semi_train_cfg['sup_weight'])

    def unsup_loss(self, logits: Tensor, label: Tensor, conf: Tensor,
                   valid: Tensor) -> Tensor:
        """UniMatch-V2's masked CE: summed over accepted pixels (valid and
        ``conf >= threshold``), divided by the valid pixels. Unweighted."""
        logits = resize(logits, size=label.shape[-2:], mode='bilinear',
                        align_corners=self.align_corners)
        ce = F.cross_entropy(logits, label, reduction='none')
        return (ce * self.accept(label, conf, valid)).sum() / valid.sum().clamp(min=1)

    def diagnostics(self, targets: PseudoLabels, samples: SampleList) -> Dict[str, Tensor]:
        """Logged, never part of a loss: share of accepted pixels,
        pseudo-label accuracy (where the unlabeled images have ground
        truth), the purifier's log, and before/after purification."""
        log = dict(targets.log)
        label, conf, valid = targets.label, targets.conf, targets.valid
        log.update(self._diagnostics(label, conf, valid, samples))
        if targets.before is not None:
            label_before, conf_before = targets.before
            log.update(self._diagnostics(label_before, conf_before, valid,
                                         samples, prefix='pseudo_before.'))
            log.update(self._purify_changes(label_before, conf_before, label,
                                            conf, valid))
        return log

    def online_probs(self, x: Tensor) -> Tensor:
        """The student's softmax on ``x`` in eval mode, no gradient (UniMatch
        labels its CutMix partners this way); the student's mode is put
        back afterwards."""
        was_training = self.student.training
        self.student.eval()
        try:
            with torch.no_grad():
                return self.probs(self.student, x)
        finally:
            self.student.train(was_training)

    def probs(self, model: EncoderDecoder, x: Tensor, logits: Optional[Tensor] = None) -> Tensor:
        """Softmax of ``model``'s logits on ``x`` (computed unless given),
        resized to the input size."""
        if logits is None:
            logits = model.decode_head(model.extract_feat(x))
        logits = resize(logits, size=x.shape[2:], mode='bilinear',
                        align_corners=self.align_corners)
        return logits.softmax(dim=1)

    def thresholds(self, label: Tensor) -> Tensor:
        """The confidence each pseudo-label ``label`` (B, H, W) needs to
        supervise the student: ``conf_thresh``, or its class's self-adaptive
        threshold. The one place the threshold is decided."""
        if self.adaptive_thresh is None:
            return torch.full(label.shape, self.semi_train_cfg['conf_thresh'],
                              device=label.device)
        return self.adaptive_thresh(label)

    def accept(self, label: Tensor, conf: Tensor, valid: Tensor) -> Tensor:
        """Pixels whose pseudo-label supervises the student: valid, and
        ``conf >= threshold`` (the threshold itself passes, as UniMatch-V2)."""
        return (conf >= self.thresholds(label)) & valid

    def _teacher_probs(self, x: Tensor) -> Tensor:
        """The EMA teacher's softmax on ``x`` (call under ``no_grad``)."""
        return self.probs(self.teacher, x)

    @staticmethod
    def _pixel_field(samples: SampleList, field: str) -> Optional[Tensor]:
        """A per-pixel field of every sample stacked (B, C, H, W), or None."""
        if samples and all(field in s for s in samples):
            return torch.stack([s.get(field).data for s in samples])
        return None

    def _valid_mask(self, samples: SampleList, x: Tensor) -> Tensor:
        """Real pixels of each unlabeled view (padding and nodata excluded)."""
        mask = self._pixel_field(samples, 'valid_mask')
        if mask is not None:
            return mask[:, 0].bool()
        # no AddValidMask in the pipeline: every non-padded pixel counts
        mask = torch.zeros(x.shape[0], *x.shape[2:], dtype=torch.bool, device=x.device)
        for i, s in enumerate(samples):
            h, w = s.metainfo['img_shape'][:2]
            mask[i, :h, :w] = True
        return mask

    def _purify_changes(self, label_before: Tensor, conf_before: Tensor,
                        label: Tensor, conf: Tensor, valid: Tensor) -> Dict[str, Tensor]:
        """Share of valid pixels whose label / acceptance the purifier changed."""
        accept_before = self.accept(label_before, conf_before, valid)
        accept = self.accept(label, conf, valid)
        n = valid.sum().clamp(min=1)
        return {
            'vlm.changed_label_ratio': ((label != label_before) & valid).sum() / n,
            'vlm.changed_accept_ratio': (accept != accept_before).sum() / n,
        }

    def _diagnostics(self, label: Tensor, conf: Tensor, valid: Tensor,
                     samples: SampleList, prefix: str = 'pseudo.') -> Dict[str, Tensor]:
        accept = self.accept(label, conf, valid)
        log = {f'{prefix}mask_ratio': accept.sum() / valid.sum().clamp(min=1)}
        if all('gt_sem_seg' in s for s in samples):
            gt = torch.stack([s.gt_sem_seg.data[0] for s in samples]).to(label.device)
            log.update(pseudo_label_stats(label, accept, valid, gt,
                                          self.ignore_index, prefix))
        return log

    def parse_losses(self, losses: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """MMEngine's, with the logged values averaged over DDP ranks (the
        loss that is back-propagated stays this rank's; DDP averages the
        gradients). A value some rank lacks (a diagnostic with no pixel to
        count there) is the mean over the ranks that have it."""
        loss, log_vars = super().parse_losses(losses)
        if get_world_size() == 1:
            return loss, log_vars
        local = {k: float(v) for k, v in log_vars.items()}
        gathered = all_gather_object(local)
        for key in log_vars:
            values = [g[key] for g in gathered if key in g]
            log_vars[key] = loss.new_tensor(sum(values) / len(values))
        return loss, log_vars

    @staticmethod
    def _scaled(prefix: str, losses: dict, weight: float) -> dict:
        return {prefix + k: (v * weight if 'loss' in k else v) for k, v in losses.items()}

    def _check_branches(self, inputs, branches: Sequence[str]) -> None:
        missing = [b for b in branches if not isinstance(inputs, dict) or b not in inputs]
        if missing:
            two = ' Two strong views (unsup_strong2) come from the *_semi-2strong dataset ' \
                'configs.' if 'unsup_strong2' in missing else ''
            raise ValueError(
                f'training batch lacks branches {missing} that {type(self.semi_method).__name__} '
                'needs: every batch needs labeled and unlabeled samples. Use '
                "sampler=dict(type='SemiSampler', batch_size=B, num_labeled=L) with the "
                "dataloader's batch_size = B, MultiBranch pipelines and "
                'SemiSegDataPreProcessor.' + two)

    def train(self, mode: bool = True) -> 'SemiEarthSegmentor':
        super().train(mode)
        # the teacher predicts pseudo-labels with its EMA BN statistics
        self.teacher.eval()
        if self.purifier is not None:
            self.purifier.eval()
        return self

    def init_weights(self) -> None:
        super().init_weights()
        # the teacher starts as an exact copy of the student (UniMatch-V2)
        self.teacher.load_state_dict(self.student.state_dict())

    # ------------------------------------------------------------ inference
    @property
    def _predictor(self) -> EncoderDecoder:
        on = self.semi_test_cfg['predict_on']
        if on not in ('teacher', 'student'):
            raise ValueError(f"semi_test_cfg.predict_on must be 'teacher' or "
                             f"'student', got {on!r}")
        return self.teacher if on == 'teacher' else self.student

    def predict(self, inputs: Tensor, data_samples: OptConfigType = None) -> SampleList:
        return self._predictor.predict(inputs, data_samples)

    def _forward(self, inputs: Tensor, data_samples: OptConfigType = None) -> Tensor:
        return self._predictor._forward(inputs, data_samples)

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        return self._predictor.extract_feat(inputs)

    def encode_decode(self, inputs: Tensor, batch_data_samples: SampleList) -> Tensor:
        return self._predictor.encode_decode(inputs, batch_data_samples)

    # ---------------------------------------------------------- checkpoints
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        """Load a plain segmentor checkpoint into both student and teacher."""
        own = (prefix + 'student.', prefix + 'teacher.')
        if not any(k.startswith(own) for k in state_dict):
            plain = [k for k in list(state_dict) if k.startswith(prefix)]
            for k in plain:
                value = state_dict.pop(k)
                rest = k[len(prefix):]
                state_dict[f'{prefix}student.{rest}'] = value
                state_dict[f'{prefix}teacher.{rest}'] = value.clone() \
                    if torch.is_tensor(value) else value
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)
