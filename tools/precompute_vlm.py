"""Write the VLM evidence of every unlabeled and labeled image of a
SemiEarth config up front, and measure the VLM on the labeled images.

    python tools/precompute_vlm.py CONFIG [--vlm-checkpoint PATH]

Optional: with ``model.purifier.evidence='auto'`` (the configs' default)
training computes a missing map the first time it meets the image, and
measures the calibration before the first iteration. This tool pays that
cost before training, with its own batch size and device, and is needed for
``evidence='cached'`` (which never builds the VLM). Maps are float16,
downsampled by ``model.purifier.downsample``, one ``.npy`` per image in
``model.purifier.cache_dir`` with a ``meta.json`` that ties them to the VLM
settings (maps of other settings are deleted, and that is said; ``--force``
recomputes every map). Maps already cached are kept; each map is written
atomically, so an interrupted run keeps what it finished. On the labeled
images the cached maps are compared with the labels: ``calibration.json``
holds ``P(VLM says j | true class k)`` (the calibration of
:class:`CalibratedPurifyRule`), with each class's pixel count. The work is
:func:`semiearth.apis.evidence_precompute.precompute_evidence`.
"""
import argparse

import torch

from semiearth.apis.cli import CfgOptionsAction
from semiearth.apis.evidence_precompute import precompute_evidence
from semiearth.apis.vlm_tools import load_semi_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--vlm-checkpoint', help='local VLM weights (default: '
                   '$SEMIEARTH_VLM_CKPT, else the config\'s)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--batch-size', type=int, default=8,
                   help='images of the same size per VLM forward')
    p.add_argument('--force', action='store_true', help='recompute every map')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_semi_config(args.config, args.cfg_options, args.vlm_checkpoint)
    precompute_evidence(cfg, args.device, args.batch_size, args.force)


if __name__ == '__main__':
    main()
