"""mmseg's MobileNetV2 with a configurable number of input bands."""
from mmcv.cnn import ConvModule
from mmseg.models.backbones import MobileNetV2
from mmseg.registry import MODELS


@MODELS.register_module()
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
