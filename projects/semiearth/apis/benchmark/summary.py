"""The step benchmark's report: one line per variant and the JSON summary
(medians, ratios to the baseline, peak memory, SemiEarth's targets)."""
import os
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .methods import purified_name, registered_methods

TARGET_CACHED_LE = 1.10
TARGET_AUTO_LE = 1.05  # steady state (second pass) of the write-through cache
# issue 23: the purifier (cached evidence) costs any method at most this
TARGET_PURIFIER_OVERHEAD_LE = 1.05


@dataclass
class Measurements:
    """What the benchmark measured: per pass, each variant's step times
    (the last pass is reported), the precompute time of the cached
    variant, the peak memory per variant (None on CPU) and how it was
    measured."""
    names: List[str]
    per_pass: List[Dict[str, List[float]]]
    mem_note: str
    precompute_s: Optional[float] = None
    peak_mem: Optional[Dict[str, float]] = None
    peak_reserved: Optional[Dict[str, float]] = None


def print_times(times: Dict[str, List[float]], med: Dict[str, float], peak_mem) -> None:
    for name, ts in times.items():
        mem = f', peak {peak_mem[name]:.0f} MiB' if peak_mem else ''
        print(f'{name:<18} median {med[name]:.4f} s/step  (min {min(ts):.4f}, '
              f'max {max(ts):.4f}, {len(ts)} steps{mem})')


def semiearth_entries(m: Measurements, med: Dict[str, float], vlm_name: str,
                      random_vlm: bool, auto_dir: str) -> dict:
    """The SemiEarth config's entries: the VLM, precompute time, the
    variants against FixMatch and their targets, the maps written through."""
    out = dict(vlm=vlm_name,
               vlm_weights='random (timing only)' if random_vlm else 'as configured')
    if m.precompute_s is not None:
        out['precompute_s'] = round(m.precompute_s, 2)
    if 'fixmatch' in med:
        for name, key in (('semiearth_online', 'online_vs_fixmatch'),
                          ('semiearth_cached', 'cached_vs_fixmatch')):
            if name in med:
                out[key] = round(med[name] / med['fixmatch'], 3)
    if 'semiearth_cached' in med:
        out['target_cached_le'] = TARGET_CACHED_LE
    if 'semiearth_auto' in med and 'fixmatch' in med:
        first = {k: statistics.median(v) for k, v in m.per_pass[0].items()}
        out.update(
            auto_first_pass_vs_fixmatch=round(first['semiearth_auto'] / first['fixmatch'], 3),
            auto_vs_fixmatch=round(med['semiearth_auto'] / med['fixmatch'], 3),
            target_auto_le=TARGET_AUTO_LE)
    if 'semiearth_auto' in med:
        # maps the first pass wrote through (one per unlabeled image met)
        out['auto_maps_computed'] = sum(n.endswith('.npy') for n in os.listdir(auto_dir))
    return out


def summarise(m: Measurements, head: dict) -> dict:
    """Print each variant's times and return the summary: ``head`` (config,
    device, batch ...), then the medians (to the microsecond), min/max, the
    peak memory and each variant's ratio to the first (the baseline)."""
    times = m.per_pass[-1]  # the steady state: every cache holds every image
    med = {name: round(statistics.median(ts), 6) for name, ts in times.items()}
    print_times(times, med, m.peak_mem)
    baseline = m.names[0]
    summary = dict(
        head, variants=m.names, baseline=baseline, seconds_per_step=med,
        seconds_min_max={k: [round(min(v), 6), round(max(v), 6)] for k, v in times.items()},
        peak_mem_mb=m.peak_mem, mem_note=m.mem_note)
    if m.peak_reserved is not None:
        summary['peak_mem_reserved_mb'] = m.peak_reserved
    for name in m.names[1:]:
        summary[f'{name}_vs_{baseline}'] = round(med[name] / med[baseline], 3)
    return summary


def structure_bound(n_labeled: int, n_unlabeled: int) -> float:
    """UniMatch V2's step over FixMatch's as their structure implies: both
    one teacher forward over the weak view (``u`` images, no backward) and
    one student forward + backward, FixMatch's over labeled + one strong
    view (``n + u``), UniMatch V2's over labeled + two (``n + 2u``), with a
    backward costing two forwards per image (the usual estimate):
    ``(u + 3 (n + 2u)) / (u + 3 (n + u))``. A measured ratio above it means
    the step does more than its anchor's structure."""
    n, u = n_labeled, n_unlabeled
    return (u + 3 * (n + 2 * u)) / (u + 3 * (n + u))


def method_entries(med: Dict[str, float], batch: Tuple[int, int]) -> dict:
    """Every method against FixMatch (``methods_vs_fixmatch``), the
    purifier's overhead per method (its cached-evidence variant over its
    plain one, ``purifier_overhead``; target
    :data:`TARGET_PURIFIER_OVERHEAD_LE`) and UniMatch V2's structural bound
    (:func:`structure_bound`), for the variants that were timed."""
    out = {}
    if 'fixmatch' in med:
        vs = {m: round(med[m] / med['fixmatch'], 3) for m in registered_methods()
              if m in med and m != 'fixmatch'}
        if vs:
            out['methods_vs_fixmatch'] = vs
    overhead = {m: round(med[purified_name(m, 'cached')] / med[m], 3)
                for m in registered_methods()
                if m in med and purified_name(m, 'cached') in med}
    if overhead:
        out.update(purifier_overhead=overhead,
                   target_purifier_overhead_le=TARGET_PURIFIER_OVERHEAD_LE)
    if 'unimatch_v2' in med and 'fixmatch' in med:
        out['unimatch_v2_structure_bound'] = round(structure_bound(*batch), 3)
    return out
