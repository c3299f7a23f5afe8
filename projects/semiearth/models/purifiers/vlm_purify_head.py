"""VLM-PP: the purifier slot of SemiEarthSegmentor, fed by dense CLIP."""
import inspect
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmseg.registry import MODELS
from torch import Tensor, nn

from ...vlm import DenseCLIP, resolve_class_names
from ...vlm.evidence_cache import EvidenceCache, load_calibration, prepare_cache, write_map
from .decision_record import DecisionRecorder, build_records, save_record

EVIDENCE_SOURCES = ('auto', 'cached', 'online')
#: ``image_source(img_path)``: the whole image, normalised as the segmentor
#: normalises it, ``(1, C, H, W)`` (see :class:`VLMEvidenceHook`).
ImageSource = Callable[[str], Tensor]


class PurifyResult(NamedTuple):
    label: Tensor                 # (B, H, W) purified pseudo-labels
    conf: Tensor                  # (B, H, W) purified confidences
    log: Dict[str, Tensor]        # scalars to log (never part of a loss)


@MODELS.register_module()
class VLMPurifyHead(nn.Module):
    """Purify the teacher's pseudo-labels with frozen VLM class evidence.

    Called by :class:`SemiEarthSegmentor` between the teacher's prediction on
    the weak view and the confidence threshold. It receives the teacher's
    probabilities, the weak view, each view's image meta (path, size) and
    source coordinates, never a label; it returns labels and confidences
    made by ``rule`` (:class:`PaperPurifyRule`, :class:`PoEPurifyRule`, or
    any registered rule with the same call). It has no trainable parameter
    and runs without gradient.

    Evidence is a probability everywhere: where the VLM's best class
    probability is under ``vlm.bg_thresh`` (SegEarth-OV's background rule,
    which as a predictor labels such pixels ``bg_class``), the VLM is unsure
    and the pixel has no evidence, so no rule reads it as certainty.

    Evidence comes from one of three places, one config switch apart:

    - ``evidence='auto'`` (default): a write-through cache. A view whose
      image has no map in ``cache_dir`` yet gets one: the VLM runs once on
      the whole image (read by ``image_source``, which
      :class:`VLMEvidenceHook` binds before training) and the map is stored
      atomically; every later view of that image reads it. The first epoch
      pays the VLM once per image, the rest costs what ``'cached'`` costs.
      ``tools/precompute_vlm.py`` is optional (it pays the cost up front).
    - ``evidence='cached'``: only maps already written (by
      ``tools/precompute_vlm.py``); a missing one is an error, and the VLM is
      never built: no weights needed.
    - ``evidence='online'``: the VLM runs on the weak view every step.

    Cached maps are read by image name and sampled at the view's source
    coordinates (the unlabeled pipeline needs :class:`AddSourceCoords`).

    Args:
        vlm: a :class:`DenseCLIP` config (its class names must be the
            dataset's classes, in order).
        rule: config of the purification rule.
        evidence: ``'auto'``, ``'cached'`` or ``'online'``.
        cache_dir: the cache directory (``'auto'`` and ``'cached'``; also
            where ``tools/precompute_vlm.py`` writes).
        downsample: the cache stores maps downsampled by this factor.
        record: off (None, default), or the arguments of
            :class:`DecisionRecorder` (``interval``, ``num_images``,
            ``images``, ``out_dir``): every ``interval`` iterations, one
            ``.npz`` per sampled image with each pixel's teacher label and
            confidence, evidence, the rule's decision and the final label
            (:mod:`.decision_record`).
    """

    def __init__(self, vlm: dict, rule: dict = dict(type='PoEPurifyRule'),
                 evidence: str = 'auto', cache_dir: Optional[str] = None,
                 downsample: int = 1, record: Optional[dict] = None) -> None:
        super().__init__()
        if evidence not in EVIDENCE_SOURCES:
            raise ValueError(f'evidence must be one of {EVIDENCE_SOURCES}, got {evidence!r}')
        if evidence != 'online' and not cache_dir:
            raise ValueError(f"evidence={evidence!r} needs model.purifier.cache_dir (where "
                             "the maps are stored), or set evidence='online'")
        self.vlm_cfg = dict(vlm)
        self.class_keys, _ = resolve_class_names(self.vlm_cfg['class_names'])
        self.fingerprint = DenseCLIP.settings_fingerprint(**self.vlm_cfg)
        self.rule_cfg = dict(rule)
        self.rule = MODELS.build(rule)
        self.recorder = DecisionRecorder(**record) if record else None
        self.evidence, self.cache_dir, self.downsample = evidence, cache_dir, downsample
        # Kept out of the module tree: the frozen VLM is not part of the
        # segmentor's state (checkpoints, EMA, optimizer, DDP), and cached
        # training never builds it.
        self._vlm: List[DenseCLIP] = []
        self._cache: List[EvidenceCache] = []
        self.image_source: Optional[ImageSource] = None

    def bind_images(self, image_source: ImageSource) -> None:
        """Where ``evidence='auto'`` reads a whole image whose map is missing."""
        self.image_source = image_source

    def check_input_normalization(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Fail unless the VLM un-normalises with the segmentor's statistics."""
        sig = inspect.signature(DenseCLIP.__init__).parameters
        for key, seg in (('input_mean', mean), ('input_std', std)):
            vlm = self.vlm_cfg.get(key, sig[key].default)
            if len(vlm) != len(seg) or any(abs(a - b) > 1e-3 for a, b in zip(vlm, seg)):
                raise ValueError(
                    f'model.purifier.vlm.{key} {list(vlm)} differs from the data '
                    f'preprocessor\'s {[round(float(x), 4) for x in seg]}: the VLM would '
                    'see wrongly scaled pixels. Fix: set it to the preprocessor\'s '
                    'values (one per input band).')

    def calibration(self) -> dict:
        """The VLM's confusion on the labeled set (``tools/precompute_vlm.py``
        writes it into ``cache_dir``), for :class:`CalibratedPurifyRule`."""
        return load_calibration(self.cache_dir, self.fingerprint, self.class_keys)

    @property
    def num_classes(self) -> int:
        return len(self.class_keys)

    @property
    def vlm(self) -> DenseCLIP:
        if not self._vlm:
            print_log(f'VLMPurifyHead: building the VLM ({self.vlm_cfg.get("model_name")}) '
                      'for online evidence', logger='current')
            self._vlm.append(MODELS.build(self.vlm_cfg))
        return self._vlm[0]

    def prepare_cache(self, clear_stale: bool = False) -> int:
        """Create the cache for these settings (see :func:`prepare_cache`)."""
        self._cache.clear()
        return prepare_cache(self.cache_dir, self.fingerprint, self.class_keys,
                             self.downsample, clear_stale)

    @property
    def cache(self) -> EvidenceCache:
        if not self._cache:
            if self.evidence == 'auto':
                self.prepare_cache()
            self._cache.append(EvidenceCache(self.cache_dir, self.fingerprint,
                                             self.class_keys))
            if self._cache[0].downsample != self.downsample:
                raise ValueError(f"VLM evidence cache '{self.cache_dir}' is downsampled "
                                 f'x{self._cache[0].downsample}, the config says '
                                 f'x{self.downsample}: re-run tools/precompute_vlm.py')
        return self._cache[0]

    @torch.no_grad()
    def get_evidence(self, inputs: Tensor, img_metas: Sequence[dict],
                     src_coords: Optional[Tensor]):
        """``(evidence (B, C, H, W), has_evidence (B, H, W))`` for the views."""
        if self.evidence == 'online':
            vlm = self.vlm.to(inputs.device)
            evidence = vlm(inputs)
            return evidence, torch.ones_like(evidence[:, 0], dtype=torch.bool)
        if src_coords is None:
            raise ValueError(
                f"VLMPurifyHead(evidence='{self.evidence}') needs each unlabeled view's source "
                "coordinates: add dict(type='AddSourceCoords') to the unlabeled "
                "pipeline right after loading, or set evidence='online'.")
        paths = [m['img_path'] for m in img_metas]
        if self.evidence == 'auto':
            self.write_missing(paths, inputs.device)
        return self.cache.sample(paths, [m['ori_shape'] for m in img_metas], src_coords)

    @torch.no_grad()
    def write_missing(self, img_paths: Sequence[str],
                      device: Optional[torch.device] = None) -> int:
        """Compute and store the map of each image not cached yet (the
        write-through of ``evidence='auto'``); returns how many."""
        missing = [p for p in dict.fromkeys(img_paths) if not self.cache.has(p)]
        if missing and self.image_source is None:
            raise RuntimeError(
                f"VLMPurifyHead(evidence='auto') has no map for '{missing[0]}' in "
                f"'{self.cache_dir}' and no image source to compute it: VLMEvidenceHook "
                'binds one before training (it is in the custom_hooks of configs/_base_/'
                "schedules/*_semi.py). Fix: add dict(type='VLMEvidenceHook') to "
                'custom_hooks, or run `python tools/precompute_vlm.py CONFIG` first.')
        for path in missing:
            image = self.image_source(path).to(device or 'cpu')
            probs = self.vlm.to(image.device)(image)[0]
            write_map(self.cache_dir, path, probs, self.cache.downsample)
        return len(missing)

    @torch.no_grad()
    def forward(self, probs: Tensor, inputs: Tensor, img_metas: Sequence[dict],
                src_coords: Optional[Tensor], thresh: Tensor) -> PurifyResult:
        """Purify ``probs`` (B, C, H, W), the teacher's softmax on ``inputs``;
        ``thresh`` (B, H, W) is the confidence each teacher pseudo-label needs
        to supervise the student (the segmentor's, passed on to the rule)."""
        evidence, has_evidence = self.get_evidence(inputs, img_metas, src_coords)
        result = self.purify(probs, evidence, has_evidence, thresh)
        if self.recorder is not None:
            self.record(probs, evidence, has_evidence, thresh, result, img_metas, src_coords)
        return result

    @torch.no_grad()
    def record(self, probs: Tensor, evidence: Tensor, has_evidence: Tensor, thresh: Tensor,
               result: PurifyResult, img_metas: Sequence[dict],
               src_coords: Optional[Tensor]) -> List[str]:
        """Write the decision record of the views :class:`DecisionRecorder`
        picks at this iteration; returns the files written."""
        paths = [m['img_path'] for m in img_metas]
        picked = self.recorder.due(paths)
        if not picked:
            return []
        idx = torch.tensor(picked, device=probs.device)
        evidence = evidence.to(probs.dtype)
        records = build_records(
            probs[idx], evidence[idx], self.gate(evidence, has_evidence)[idx], thresh[idx],
            result.label[idx], result.conf[idx],
            None if src_coords is None else src_coords[idx])
        iteration, written = self.recorder.iteration(), []
        for i, arrays in zip(picked, records):
            written.append(self.recorder.path(paths[i], iteration))
            save_record(written[-1], arrays, paths[i], iteration, repr(self.rule),
                        self.class_keys)
        return written

    def gate(self, evidence: Tensor, has_evidence: Tensor) -> Tensor:
        """Pixels with usable evidence: where the VLM's best probability is
        at least ``vlm.bg_thresh`` (all of ``has_evidence`` when unset)."""
        thresh = self.vlm_cfg.get('bg_thresh')
        if thresh is None:
            return has_evidence
        return has_evidence & (evidence.max(dim=1).values >= thresh)

    @torch.no_grad()
    def purify(self, probs: Tensor, evidence: Tensor, has_evidence: Tensor,
               thresh: Tensor) -> PurifyResult:
        """The rule on given evidence, after the background gate (pixels
        where the VLM's best probability is under ``vlm.bg_thresh`` have no
        evidence)."""
        if evidence.shape != probs.shape:
            raise ValueError(
                f'VLM evidence {tuple(evidence.shape)} does not match the teacher '
                f'probabilities {tuple(probs.shape)}: the VLM has {self.num_classes} '
                f'classes {self.class_keys}; the segmentor needs one per class.')
        evidence = evidence.to(probs.dtype)
        has_evidence = self.gate(evidence, has_evidence)
        if getattr(self.rule, 'needs_calibration', False) and self.rule.confusion is None:
            # the rule is built again with its measured confusion (rules are
            # immutable); the calibration exists only once the hook or
            # tools/precompute_vlm.py has measured it, after __init__
            self.rule = MODELS.build(dict(self.rule_cfg,
                                          confusion=self.calibration()['confusion']))
        label, conf = self.rule(probs, evidence, has_evidence, thresh)
        # max(dim=1) rather than argmax: the latter is several times slower on CPU
        agree = (evidence.max(dim=1).indices == probs.max(dim=1).indices) & has_evidence
        n = has_evidence.sum()
        log = {'vlm.agree_ratio': agree.sum() / n.clamp(min=1),
               'vlm.evidence_ratio': n / has_evidence.numel()}
        return PurifyResult(label, conf, log)

    def train(self, mode: bool = True) -> 'VLMPurifyHead':
        return super().train(False)
