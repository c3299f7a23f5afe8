"""Make ``import semiearth`` work when a converter runs from a clone."""
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'projects'))
