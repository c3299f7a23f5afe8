"""Teacher-student semi-supervised wrapper around any mmseg EncoderDecoder."""
import copy
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather_object, get_world_size
from mmseg.models.segmentors import BaseSegmentor, EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import Tensor

from ...utils import step_generator
from ..utils import SelfAdaptiveThreshold, cutmix, pseudo_label_stats, random_cutmix_boxes

DEFAULT_TRAIN_CFG = dict(
    sup_weight=0.5,          # UniMatch-V2: (L_sup + L_unsup) / 2
    unsup_weight=0.5,        # 0 switches the unsupervised loss off
    conf_thresh=0.95,        # keep pseudo-labels with max softmax >= this, in [0, 1)
    adaptive_thresh=None,    # dict(decay=...): class-wise self-adaptive
                             # thresholds (FreeMatch) instead of conf_thresh
    cutmix_prob=0.5,         # per unlabeled image
    cutmix_area=(0.02, 0.4),
    cutmix_ratio=(0.3, 1 / 0.3),
)


def take_batch(feats, n: int):
    """The first ``n`` samples of every tensor in a (nested) list / tuple of
    backbone features, e.g. DINOv2's ``[(map, cls_token), ...]`` pairs."""
    if torch.is_tensor(feats):
        return feats[:n]
    return type(feats)(take_batch(f, n) for f in feats)


@MODELS.register_module()
class SemiEarthSegmentor(BaseSegmentor):
    """FixMatch with an EMA teacher (UniMatch-V2), with a pseudo-label
    purifier slot: SemiEarth when ``purifier`` is set, FixMatch when None.

    ``student`` and ``teacher`` are two copies of the wrapped segmentor (any
    :class:`mmseg.models.EncoderDecoder` config). Only the student is
    optimised; the teacher follows it by EMA (:class:`EMATeacherHook`), runs
    in eval mode, and never receives a gradient.

    Training batches come from :class:`SemiSegDataPreProcessor` as branches
    ``sup`` (labeled), ``unsup_weak`` and ``unsup_strong`` (two views of the
    same unlabeled images with identical geometry). See :meth:`loss`.

    A plain mmseg checkpoint (``backbone.*``, ``decode_head.*``) given as
    ``load_from`` loads into both student and teacher; SemiEarth checkpoints
    hold both (``student.*``, ``teacher.*``).

    Args:
        segmentor: config of the wrapped mmseg segmentor.
        semi_train_cfg: ``sup_weight``, ``unsup_weight``, ``conf_thresh``,
            ``adaptive_thresh``, ``cutmix_prob``, ``cutmix_area``,
            ``cutmix_ratio`` (defaults and meaning in ``DEFAULT_TRAIN_CFG``).
        semi_test_cfg: ``predict_on``: ``'teacher'`` (default) or ``'student'``.
        purifier: config of a pseudo-label purifier (:class:`VLMPurifyHead`),
            or None (FixMatch). It is called as ``purifier(probs, inputs,
            img_metas, src_coords, thresh)`` with the teacher's softmax
            ``(B, C, H, W)`` on the weak view ``inputs``, the views' meta
            dicts, their source coordinates (or None) and the threshold each
            teacher pseudo-label must pass (``(B, H, W)``, from
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

    # ------------------------------------------------------------------ train
    def loss(self, inputs: Dict[str, Tensor],
             data_samples: Dict[str, SampleList]) -> Dict[str, Tensor]:
        """The SemiEarth / FixMatch training step, top to bottom."""
        cfg = self.semi_train_cfg
        self._check_branches(inputs)
        x_sup, x_weak, x_strong = inputs['sup'], inputs['unsup_weak'], inputs['unsup_strong']
        weak_samples = data_samples['unsup_weak']
        losses = {}

        # 1. Teacher pseudo-labels on the weak view (eval mode, no gradient).
        with torch.no_grad():
            probs = self._teacher_probs(x_weak)
            conf, label = probs.max(dim=1)
        valid = self._valid_mask(weak_samples, x_weak)
        if self.adaptive_thresh is not None:
            self.adaptive_thresh.update(probs, valid)

        # 2. Purifier: VLM evidence corrects labels / confidences (SemiEarth).
        #    It sees the teacher's output, the images, their meta and the
        #    threshold each pixel must pass, never a label.
        if self.purifier is not None:
            label_before, conf_before = label, conf
            label, conf, purify_log = self.purifier(
                probs, x_weak, [s.metainfo for s in weak_samples],
                self._pixel_field(weak_samples, 'src_coords'), self.thresholds(label))
            losses.update(purify_log)

        # 3. CutMix the strong views, and their targets with the same boxes
        #    (a box per sample and rank, see step_rng).
        b, _, h, w = x_strong.shape
        boxes = random_cutmix_boxes(b, h, w, cfg['cutmix_prob'], cfg['cutmix_area'],
                                    cfg['cutmix_ratio'], generator=step_generator('cutmix'),
                                    device=x_strong.device)
        partner = torch.roll(torch.arange(b, device=x_strong.device), 1)
        x_strong, label_mix, conf_mix, valid_mix = cutmix(
            boxes, partner, (x_strong, label, conf, valid))

        # 4. Confidence threshold (fixed, or class-wise self-adaptive).
        accept = self.accept(label_mix, conf_mix, valid_mix)

        # 5. Student forward on labeled + strong views together (shared BN).
        feats = self.student.extract_feat(torch.cat([x_sup, x_strong]))
        logits = self.student.decode_head(feats)
        n = x_sup.shape[0]
        logits_sup, logits_strong = logits[:n], logits[n:]

        # 6. Supervised loss, as the wrapped segmentor computes it.
        sup = self.student.decode_head.loss_by_feat(logits_sup, data_samples['sup'])
        if self.student.with_auxiliary_head:
            sup.update(self.student._auxiliary_head_forward_train(
                take_batch(feats, n), data_samples['sup']))
        losses.update(self._scaled('sup.', sup, cfg['sup_weight']))

        # 7. Unsupervised loss: CE on accepted pixels / all valid pixels.
        logits_strong = resize(logits_strong, size=(h, w), mode='bilinear',
                               align_corners=self.align_corners)
        ce = F.cross_entropy(logits_strong, label_mix, reduction='none')
        loss_u = (ce * accept).sum() / valid_mix.sum().clamp(min=1)
        losses['unsup.loss_ce'] = loss_u * cfg['unsup_weight']

        # 8. Diagnostics (logged, never part of a loss).
        losses.update(self._diagnostics(label, conf, valid, weak_samples))
        if self.purifier is not None:
            losses.update(self._diagnostics(label_before, conf_before, valid,
                                            weak_samples, prefix='pseudo_before.'))
            losses.update(self._purify_changes(label_before, conf_before, label,
                                               conf, valid))
        return losses

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
        logits = self.teacher.decode_head(self.teacher.extract_feat(x))
        logits = resize(logits, size=x.shape[2:], mode='bilinear',
                        align_corners=self.align_corners)
        return logits.softmax(dim=1)

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

    @staticmethod
    def _check_branches(inputs) -> None:
        missing = [b for b in ('sup', 'unsup_weak', 'unsup_strong')
                   if not isinstance(inputs, dict) or b not in inputs]
        if missing:
            raise ValueError(
                f'training batch lacks branches {missing}: every batch needs '
                'labeled and unlabeled samples. Use sampler=dict(type='
                "'SemiSampler', batch_size=B, num_labeled=L) with the dataloader's "
                'batch_size = B, MultiBranch pipelines and SemiSegDataPreProcessor.')

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
