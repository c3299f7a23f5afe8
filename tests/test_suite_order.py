"""The suite's ``--shuffle-seed N`` option (tests/conftest.py): the order
independence check of ``bash tools/run_tests.sh --shuffle-seed N``."""
import os.path as osp
import subprocess
import sys

from conftest import ROOT, shuffled


def _collected(*extra):
    out = subprocess.run(
        [sys.executable, '-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider',
         '-p', 'no:xdist', osp.join('tests', 'test_docs.py'),
         osp.join('tests', 'test_layers.py'),
         osp.join('tests', 'test_boundary_iou.py'), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return [line for line in out.stdout.splitlines() if '::' in line]


def test_shuffle_is_a_seeded_permutation():
    items = list(range(50))
    a, b = shuffled(items, 1), shuffled(items, 2)
    assert sorted(a) == items and sorted(b) == items
    assert a == shuffled(items, 1)  # every xdist worker draws the same order
    assert a != items and a != b
    assert items == list(range(50))  # the caller's list is not touched


def test_shuffle_seed_reorders_the_collected_tests():
    plain = _collected()
    once = _collected('--shuffle-seed', '3')
    assert len(plain) >= 10 and sorted(once) == sorted(plain)
    assert once == shuffled(plain, 3)  # the seed's order, nothing else
    # the files' tests interleave: the order is over tests, not over files
    files = [t.split('::')[0] for t in once]
    assert sum(f != g for f, g in zip(files, files[1:])) > 2
