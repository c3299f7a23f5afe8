"""mmseg's MobileNetV2 with a configurable number of input bands.

This module stands alone: it imports mmcv and mmseg only, never SemiEarth.
Export (``semiearth.apis.export_modules``) copies it beside an exported
config, so plain mmseg builds this backbone without SemiEarth installed.
Keep it so: an import of SemiEarth here would break every exported 6-band
model.
"""
from mmcv.cnn import ConvModule
from mmseg.models.backbones import MobileNetV2
from mmseg.registry import MODELS

#: Export may copy this file beside an exported config (see the docstring).
STANDALONE = True


# force: a process may import both this module and its exported copy (the
# same code under another module name); the second registration replaces the
# first instead of failing
@MODELS.register_module(force=True)
class MultiBandMobileNetV2(MobileNetV2):
    """:class:`mmseg.models.backbones.MobileNetV2` taking ``in_channels`` bands.

    mmseg's version hard-codes 3 input channels; multispectral tiles (e.g. the
    six Landsat bands) need more. Only the first conv changes, so the layer
    names stay those of mmseg/mmpretrain and an ImageNet checkpoint widened by
    :func:`semiearth.models.convert_torchvision_mobilenet_v2` loads as is.

    Args:
        in_channels: number of input bands.
        **kwargs: as :class:`mmseg.models.backbones.MobileNetV2`.
    """

    def __init__(self, in_channels: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        if in_channels != 3:
            first = self.conv1
            self.conv1 = ConvModule(
                in_channels=in_channels,
                out_channels=first.conv.out_channels,
                kernel_size=3,
                stride=2,
                padding=1,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg)
