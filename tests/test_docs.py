"""The docs' promises point at tests: every `file::test` a page of docs/
names exists (a renamed or deleted test would leave the claim bare)."""
import glob
import os.path as osp
import re

from conftest import ROOT

SHORT = {'seg': 'test_semiearth_segmentor.py', 'eng': 'test_semi_engine.py',
         'clip': 'test_dense_clip.py', 'up': 'test_sim_feat_up.py',
         'pur': 'test_vlm_purify.py', 'zoo': 'test_zoo_configs.py',
         'crash': 'test_crash_safety.py', 'ddp': 'test_ddp_equivalence.py',
         'data': 'test_dataset_check.py', 'compat': 'test_compat.py'}


def test_docs_name_tests_that_exist():
    named = []
    for page in glob.glob(osp.join(ROOT, 'docs', '*.md')):
        named += [(osp.basename(page), f, t)
                  for f, t in re.findall(r'`(\w+)::(test_\w+)`', open(page).read())]
    assert len(named) > 50
    for page, file, test in named:
        assert file in SHORT, f'{page}: unknown test file key {file!r}'
        source = open(osp.join(ROOT, 'tests', SHORT[file])).read()
        assert f'def {test}(' in source, f'{page} names {file}::{test}, not found'
