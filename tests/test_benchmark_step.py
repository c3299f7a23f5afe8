"""tools/analysis_tools/benchmark_step.py on CPU: a supervised config from
its dataloader, a FixMatch config on fake data, a SemiEarth config (tiny
random VLM, real and fake data), fake batches shaped as real ones, errors."""
import importlib.util
import json
import os.path as osp
import sys

import pytest
import torch
from mmseg.registry import MODELS

from conftest import FIXMATCH_CONFIG, ROOT, SUP_CONFIG, data_options, run_tool
from semiearth.apis import benchmark as lib
from semiearth.apis.vlm_tools import load_semi_config


def _tool(name):
    """A tool of tools/analysis_tools as a module (its main, parse_args)."""
    spec = importlib.util.spec_from_file_location(
        name, osp.join(ROOT, 'tools', 'analysis_tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _tool('benchmark_step')

SMALL_BATCH = ['train_dataloader.batch_size=4', 'train_dataloader.sampler.batch_size=4',
               'train_dataloader.sampler.num_labeled=2']
QUICK = ['--iters', '2', '--warmup', '0']


def _run(argv, capsys):
    """main() in this process; its last stdout line must be the summary."""
    summary = bench.main(argv)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == summary
    return summary


def _check_times(summary, variants):
    steps = summary['seconds_per_step']
    assert summary['variants'] == list(steps) == variants
    assert summary['baseline'] == variants[0] and summary['steps'] == 2
    for name in variants:
        lo, hi = summary['seconds_min_max'][name]
        assert 0 < lo <= steps[name] <= hi
    for name in variants[1:]:
        assert summary[f'{name}_vs_{variants[0]}'] == round(steps[name] / steps[variants[0]], 3)
    # CPU: no per-variant memory figure, and the note says why
    assert summary['device'] == 'cpu' and summary['device_name']
    assert summary['peak_mem_mb'] is None and 'CUDA only' in summary['mem_note']
    return steps


def test_supervised_from_dataloader(nc_data, capsys):
    summary = _run([SUP_CONFIG, *QUICK, '--batch-size', '2', '--no-pretrained',
                    '--cfg-options', *data_options(nc_data)], capsys)
    _check_times(summary, ['supervised'])
    assert summary['batch_size'] == 2 and summary['crop'] == [128, 128]
    assert not summary['fake_data'] and not summary['amp']
    assert not any(k.endswith('_vs_supervised') or k.startswith('online') for k in summary)


def test_fixmatch_fake_data(capsys):
    # no dataset: --fake-data with a --crop that overrides the config's 128 x 128
    summary = _run([FIXMATCH_CONFIG, *QUICK, '--fake-data', '--batch-size', '2',
                    '--crop', '64', '96', '--no-pretrained',
                    '--cfg-options', 'train_dataloader.dataset.labeled.data_root=/missing'],
                   capsys)
    _check_times(summary, ['fixmatch'])
    assert summary['fake_data'] and summary['batch_size'] == 2 and summary['crop'] == [64, 96]
    assert 'vlm' not in summary and 'cached_vs_fixmatch' not in summary


def test_semiearth_four_variants(cached):
    """The CLI as a user runs it: precomputed cache, four variants; the
    write-through one starts empty and fills during the first pass."""
    proc = run_tool([sys.executable, 'tools/analysis_tools/benchmark_step.py',
                     cached['config'], *QUICK, '--cfg-options', *SMALL_BATCH])
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    steps = _check_times(summary, ['fixmatch', 'semiearth_online', 'semiearth_cached',
                                   'semiearth_auto'])
    assert summary['auto_vs_fixmatch'] == round(
        steps['semiearth_auto'] / steps['fixmatch'], 3)
    assert summary['auto_first_pass_vs_fixmatch'] > 0 and summary['target_auto_le'] == 1.05
    # 2 batches of 2 unlabeled crops (of up to 4 distinct tiles)
    assert 1 <= summary['auto_maps_computed'] <= 4
    assert summary['online_vs_fixmatch'] == summary['semiearth_online_vs_fixmatch'] == round(
        steps['semiearth_online'] / steps['fixmatch'], 3)
    assert summary['cached_vs_fixmatch'] == summary['semiearth_cached_vs_fixmatch'] == round(
        steps['semiearth_cached'] / steps['fixmatch'], 3)
    assert summary['target_cached_le'] == 1.10 and summary['precompute_s'] >= 0
    assert summary['batch_size'] == 4 and summary['vlm'] == 'tiny-clip'


def test_semiearth_fake_data_cached(cached, capsys):
    """Fake unlabeled images get evidence maps by name: the cached variant runs."""
    summary = _run([cached['config'], *QUICK, '--fake-data', '--batch-size', '2',
                    '--variants', 'semiearth_cached', 'fixmatch'], capsys)
    steps = _check_times(summary, ['semiearth_cached', 'fixmatch'])
    assert summary['cached_vs_fixmatch'] == round(
        steps['semiearth_cached'] / steps['fixmatch'], 3)
    assert 'online_vs_fixmatch' not in summary and 'auto_vs_fixmatch' not in summary
    assert summary['target_cached_le'] == 1.10 and summary['crop'] == [128, 128]


def test_all_methods_against_fixmatch_with_and_without_the_purifier(cached, capsys):
    """--all-methods: every registered method's step on the config's model
    against FixMatch's, each also with cached evidence; fake batches carry
    the second strong view UniMatch / UniMatch V2 read; the summary has each
    method over FixMatch, the purifier's overhead per method and UniMatch
    V2's structural bound."""
    summary = _run([cached['config'], *QUICK, '--fake-data', '--batch-size', '4',
                    '--all-methods'], capsys)
    methods = lib.method_variants(False)
    assert methods[:3] == ['fixmatch', 'unimatch_v2', 'unimatch']
    cached_names = ['semiearth_cached'] + [f'{m}_cached' for m in methods[1:]]
    steps = _check_times(summary, methods + cached_names)
    assert summary['methods_vs_fixmatch'] == {
        m: round(steps[m] / steps['fixmatch'], 3) for m in methods[1:]}
    assert summary['purifier_overhead'] == {
        m: round(steps[c] / steps[m], 3) for m, c in zip(methods, cached_names)}
    assert summary['target_purifier_overhead_le'] == 1.05
    assert summary['unimatch_v2_structure_bound'] == round(lib.structure_bound(2, 2), 3)
    with pytest.raises(SystemExit):
        bench.parse_args([cached['config'], '--all-methods', '--variants', 'fixmatch'])


def test_method_variants_batches_and_bound():
    """Variant names map to (method, evidence); the batch branches are the
    union of the methods'; a fake batch packs every strong view; UniMatch
    V2's bound is (u + 3 (n + 2u)) / (u + 3 (n + u))."""
    assert lib.parse_variant('semiearth_cached') == ('fixmatch', 'cached')
    assert lib.parse_variant('unimatch_v2_online') == ('unimatch_v2', 'online')
    assert lib.parse_variant('unimatch') == ('unimatch', None)
    with pytest.raises(ValueError, match="unknown benchmark variant 'unimatch_auto'"):
        lib.parse_variant('unimatch_auto')
    assert lib.branches_of(['fixmatch']) == ('sup', 'unsup_weak', 'unsup_strong')
    assert lib.branches_of(['fixmatch', 'unimatch_cached']) == (
        'sup', 'unsup_weak', 'unsup_strong', 'unsup_strong2')
    batch = lib.fake_batch('semi', 3, 1, (8, 8), 3, 4, seed=0,
                           branches=lib.branches_of(['unimatch_v2']))
    assert set(batch['inputs']) == {'sup', 'unsup_weak', 'unsup_strong', 'unsup_strong2'}
    assert [x is None for x in batch['inputs']['unsup_strong2']] == [True, False, False]
    assert torch.equal(batch['inputs']['unsup_strong2'][1], batch['inputs']['unsup_strong'][1])
    assert lib.structure_bound(8, 8) == pytest.approx(80 / 56)
    assert lib.structure_bound(2, 0) == 1.0


def test_semiearth_fake_data_auto(cached, capsys):
    """The write-through variant on fake data: every fake unlabeled image
    gets its map in the first pass (read from its name), the second reads."""
    summary = _run([cached['config'], *QUICK, '--fake-data', '--batch-size', '3',
                    '--variants', 'fixmatch', 'semiearth_auto'], capsys)
    steps = _check_times(summary, ['fixmatch', 'semiearth_auto'])
    assert summary['auto_vs_fixmatch'] == round(steps['semiearth_auto'] / steps['fixmatch'], 3)
    assert summary['auto_maps_computed'] == 2 * 2  # 2 steps x 2 unlabeled images


def _structure(x):
    """Types, keys, dtypes, band counts and metainfo keys, not values or sizes."""
    if isinstance(x, dict):
        return {k: _structure(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_structure(v) for v in x]
    if torch.is_tensor(x):
        return ('tensor', x.dtype, x.shape[0], x.dim())
    if x is None:
        return None
    return (type(x).__name__, sorted(x.metainfo),
            {k: _structure(x.get(k).data) for k in sorted(x.keys())})


def _shapes(x):
    """Every tensor's exact shape (after the data preprocessor)."""
    if isinstance(x, dict):
        return {k: _shapes(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_shapes(v) for v in x]
    if torch.is_tensor(x):
        return (tuple(x.shape), x.dtype)
    return {k: (tuple(x.get(k).data.shape), x.get(k).data.dtype) for k in sorted(x.keys())}


@pytest.mark.parametrize('config,semi', [(SUP_CONFIG, False), (FIXMATCH_CONFIG, True)],
                         ids=['supervised', 'fixmatch'])
def test_fake_batch_structure_equals_real(nc_data, config, semi):
    extra = SMALL_BATCH if semi else ['train_dataloader.batch_size=4']
    args = bench.parse_args([config, '--cfg-options', *data_options(nc_data, semi=semi),
                             *extra])
    cfg = load_semi_config(config, args.cfg_options)
    kind = lib.model_kind(cfg, config)
    assert kind == ('semi' if semi else 'supervised')
    real = lib.real_batches(cfg, 1)[0]
    crop = lib.crop_size(cfg, kind, None, config)
    fake = lib.fake_batch(kind, 4, 2 if semi else 4, crop, lib.num_bands(cfg, kind),
                          lib.num_classes(cfg, kind, config), lib.unlabeled_layout(cfg), seed=3)
    expected = _structure(real)
    if semi:  # a real strong view stays uint8 when no random photometric change fired
        expected['inputs']['unsup_strong'] = [
            None if x is None else ('tensor', torch.float32, *x[2:])
            for x in expected['inputs']['unsup_strong']]
    assert crop == (128, 128) and _structure(fake) == expected
    # labels in [0, num_classes), images of the crop size
    samples = fake['data_samples']['sup'][:2] if semi else fake['data_samples']
    for s in samples:
        assert 0 <= int(s.gt_sem_seg.data.min()) and int(s.gt_sem_seg.data.max()) < 6
        assert s.metainfo['img_shape'] == crop
    # after the data preprocessor every tensor has the same shape and dtype
    torch.manual_seed(0)
    dp_cfg = cfg.model.data_preprocessor
    preprocessor = MODELS.build(dict(dp_cfg, type='SemiSegDataPreProcessor')
                                if semi else dp_cfg)
    real_p, fake_p = preprocessor(real, training=True), preprocessor(fake, training=True)
    assert _shapes(fake_p) == _shapes(real_p)
    if semi:  # unique file names, identity source coordinates
        weak = [s for s in fake['data_samples']['unsup_weak'] if s is not None]
        assert len({s.img_path for s in weak}) == 2
        assert weak[0].src_coords.data[:, 5, 7].tolist() == [7.0, 5.0]


def test_errors(tmp_path, capsys):
    not_seg = tmp_path / 'loss.py'
    not_seg.write_text("model = dict(type='CrossEntropyLoss')\n")
    with pytest.raises(lib.BenchmarkError, match=r'loss\.py: model\.type .*configs/supervised'):
        bench.main([str(not_seg)])
    no_crop = tmp_path / 'no_crop.py'
    no_crop.write_text("model = dict(type='EncoderDecoder', decode_head=dict(num_classes=3))\n"
                       'train_dataloader = dict(batch_size=2)\n')
    with pytest.raises(lib.BenchmarkError, match=r'no_crop\.py: --fake-data .*--crop H W'):
        bench.main([str(no_crop), '--fake-data'])
    with pytest.raises(lib.BenchmarkError,
                       match=r"variants \['fixmatch', 'unimatch_v2', .*not \['semiearth_online'\]"):
        bench.main([FIXMATCH_CONFIG, '--fake-data', '--variants', 'semiearth_online'])
    with pytest.raises(SystemExit):
        bench.main([SUP_CONFIG, '--amp', '--device', 'cpu'])
    assert '--amp needs a CUDA device' in capsys.readouterr().err


def test_no_pretrained_strips_every_pretrained_weight():
    cfg = load_semi_config(SUP_CONFIG)
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    lib.strip_pretrained(cfg.model)
    assert cfg.model.backbone.init_cfg is None and 'Pretrained' not in cfg.pretty_text


def test_evidence_memory_is_flat_in_the_number_of_maps():
    """tools/analysis_tools/benchmark_evidence_memory.py: reading memory-mapped
    maps keeps the RSS flat; keeping float32 copies (before) grows by about
    their size."""
    proc = run_tool([sys.executable, 'tools/analysis_tools/benchmark_evidence_memory.py',
                     '--maps', '400', '--every', '100', '--shape', '7', '64', '64',
                     '--view', '32'])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    per_map_mb = 7 * 64 * 64 * 4 / 2 ** 20  # one float32 copy
    assert result['ram']['growth_mb'] > 0.7 * 300 * per_map_mb
    assert abs(result['mmap']['growth_mb']) < 0.1 * 300 * per_map_mb


def test_fake_calibration_is_measured_from_the_cached_maps(cached, tmp_path):
    """On fake data the calibration is vlm.calibration.calibrate on the
    labeled crops' cached maps (as training reads them); the write-through
    cache keeps only it (no map: training meets the unlabeled images)."""
    from semiearth.vlm import DenseCLIP, resolve_class_names
    from semiearth.vlm.calibration import calibrate
    from semiearth.vlm.evidence_cache import EvidenceCache, load_calibration
    cfg = load_semi_config(cached['config'])
    kind = lib.model_kind(cfg, cached['config'])
    batches = lib.FakeBatches(kind, 3, 1, (64, 64), lib.num_bands(cfg, kind),
                              lib.num_classes(cfg, kind, cached['config']),
                              lib.unlabeled_layout(cfg))
    vlm = cfg.model.purifier.vlm
    keys = (DenseCLIP.settings_fingerprint(**vlm), resolve_class_names(vlm.class_names)[0])
    full, auto = str(tmp_path / 'full'), str(tmp_path / 'auto')
    lib.precompute_fake_evidence(cfg, batches, 2, 'cpu', full)
    lib.precompute_fake_evidence(cfg, batches, 2, 'cpu', auto, maps=False)
    assert sorted(p.name for p in (tmp_path / 'auto').glob('*.npy')) == []
    assert len(list((tmp_path / 'full').glob('*.npy'))) == 2 * 3  # 2 steps x 3 crops
    stored = load_calibration(full, *keys)
    assert load_calibration(auto, *keys)['confusion'] == stored['confusion']
    assert stored['labeled'] == ['fake_s0000_i000', 'fake_s0001_i000']
    # the same numbers as calibrate() on the cached maps of the labeled crops
    labeled = [dict(img_path=s.metainfo['img_path'], gt_seg_map=s.gt_sem_seg.data[0].numpy())
               for step in range(2) for s in batches[step]['data_samples']['sup']
               if s is not None]
    counts = calibrate(EvidenceCache(full, *keys), labeled)
    assert stored['pixels_per_class'] == [int(p) for p in counts.sum(dim=1).tolist()]
    assert counts.sum() == 2 * 64 * 64
