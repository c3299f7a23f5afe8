"""DINOv2ViT backbone, the official-DINOv2 converter and the DPT base config.

Random weights in the official DINOv2 key layout are written for a tiny arch
(4 blocks, 64 dims, 2 heads) and converted with the CLI; the backbone is
checked against timm's independent DINOv2 ViT with the same weights. The real
S/B/L archs are checked on shapes (meta device) and, for S, on one forward at
a small native grid and the full DPT model at 518.
"""
import math
import subprocess
import os.path as osp
import sys

import pytest
import timm
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from timm.models.vision_transformer import VisionTransformer as TimmViT

from conftest import ROOT, run_tool
from semiearth.models.backbones import DINOv2ViT
from semiearth.models.weight_converters import DINOv2LayoutError, convert_dinov2

TINY = dict(embed_dims=64, num_layers=4, num_heads=2)
CONVERTER = 'tools/model_converters/dinov2_to_mmseg.py'
MODEL_CONFIG = osp.join(ROOT, 'configs/_base_/models/dpt_dinov2-s.py')

# Official -> converted names, written out independently of the converter.
_EXPECTED = [('cls_token', 'cls_token'), ('pos_embed', 'pos_embed'),
             ('patch_embed.proj.', 'patch_embed.projection.'), ('norm.', 'ln1.'),
             ('.norm1.', '.ln1.'), ('.norm2.', '.ln2.'), ('.ls1.gamma', '.attn.gamma1.weight'),
             ('.ls2.gamma', '.ffn.gamma2.weight'), ('.mlp.fc1.', '.ffn.layers.0.0.'),
             ('.mlp.fc2.', '.ffn.layers.1.')]


def _expected_key(key):
    out = key
    if out.startswith('blocks.'):
        out = 'layers.' + out[len('blocks.'):]
        for old, new in _EXPECTED[4:]:
            out = out.replace(old, new)
    else:
        for old, new in _EXPECTED[:4]:
            if out.startswith(old):
                out = new + out[len(old):]
    return 'backbone.' + out


def _timm_dinov2(arch, img_size, seed=0):
    """timm ViT with DINOv2's structure and random weights everywhere (layer
    scale and norms included, so no block is close to the identity); returns
    it and its state dict in the official layout (plus ``mask_token``)."""
    torch.manual_seed(seed)
    model = TimmViT(img_size=img_size, patch_size=14, embed_dim=arch['embed_dims'],
                    depth=arch['num_layers'], num_heads=arch['num_heads'], mlp_ratio=4,
                    init_values=1e-5, num_classes=0)
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith('gamma') or key.endswith('norm1.weight') or key.endswith('norm2.weight'):
            state[key] = 0.5 + torch.rand_like(value)
        else:
            state[key] = 0.1 * torch.randn_like(value)
    model.load_state_dict(state, strict=True)
    official = dict(state, mask_token=torch.randn(1, arch['embed_dims']))
    return model.eval(), official


def _official_pos(pos_embed, gh, gw, offset=0.1):
    """DINOv2's interpolate_pos_encoding, as released (square source grid)."""
    n = pos_embed.shape[1] - 1
    if gh * gw == n and gh == gw:
        return pos_embed
    side = int(math.sqrt(n))
    grid = pos_embed[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((gh + offset) / side, (gw + offset) / side),
                         mode='bicubic', antialias=False)
    return torch.cat([pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)], 1)


def _reference(model, x, indices):
    """Straightforward DINOv2 forward on timm's modules at any grid: patch
    embedding, class token, official position interpolation, blocks, final
    norm on every requested block; returns (maps, class tokens)."""
    b, _, h, w = x.shape
    gh, gw = h // 14, w // 14
    tokens = model.patch_embed.proj(x).flatten(2).transpose(1, 2)
    tokens = torch.cat([model.cls_token.expand(b, -1, -1), tokens], 1)
    tokens = tokens + _official_pos(model.pos_embed, gh, gw)
    maps, cls = [], []
    for i, block in enumerate(model.blocks):
        tokens = block(tokens)
        if i in indices:
            normed = model.norm(tokens)
            maps.append(normed[:, 1:].reshape(b, gh, gw, -1).permute(0, 3, 1, 2))
            cls.append(normed[:, 0])
    return maps, cls


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """Tiny official-layout checkpoint converted with the CLI."""
    tmp = tmp_path_factory.mktemp('dinov2')
    model, official = _timm_dinov2(TINY, img_size=518)
    src, dst = str(tmp / 'dinov2_tiny_pretrain.pth'), str(tmp / 'ckpt' / 'dinov2_tiny_mmseg.pth')
    torch.save(official, src)
    proc = run_tool([sys.executable, CONVERTER, src, dst])
    return dict(model=model, official=official, src=src, dst=dst, log=proc.stdout)


def _tiny_backbone(ckpt, **kwargs):
    backbone = DINOv2ViT(arch=TINY, out_indices=(0, 1, 2, 3), output_cls_token=True,
                         init_cfg=dict(type='Pretrained', checkpoint=ckpt,
                                       prefix='backbone.'), **kwargs)
    backbone.init_weights()
    return backbone.eval()


def test_cli_conversion_keeps_every_tensor_and_loads_strictly(tiny):
    saved = torch.load(tiny['dst'], map_location='cpu', weights_only=True)
    out, official = saved['state_dict'], tiny['official']
    assert saved['meta']['dropped'] == ['mask_token'] and saved['meta']['pos_grid'] == 37
    assert 'mask_token' in tiny['log'] and len(out) == len(official) - 1 == 4 * 14 + 6
    assert set(out) == {_expected_key(k) for k in official if k != 'mask_token'}
    for key, value in official.items():
        if key != 'mask_token':
            assert torch.equal(out[_expected_key(key)], value), key
    backbone = _tiny_backbone(tiny['dst'])
    own = backbone.state_dict()
    assert set(own) == {k[len('backbone.'):] for k in out}
    for key, value in out.items():
        assert torch.equal(own[key[len('backbone.'):]], value), key
    # the in-package function gives the same as the CLI
    direct = convert_dinov2(official)
    assert list(direct) == list(out) and all(torch.equal(direct[k], out[k]) for k in out)


def test_forward_matches_timm_at_the_pretrained_grid(tiny):
    backbone = _tiny_backbone(tiny['dst'])
    x = torch.randn(2, 3, 518, 518)
    with torch.no_grad():
        ours = backbone(x)
        ref = tiny['model'].forward_intermediates(
            x, indices=[0, 1, 2, 3], norm=True, return_prefix_tokens=True,
            intermediates_only=True)
    assert len(ours) == 4
    for (fmap, cls), (ref_map, ref_prefix) in zip(ours, ref):
        assert fmap.shape == ref_map.shape == (2, 64, 37, 37)
        assert cls.shape == (2, 64)
        torch.testing.assert_close(fmap, ref_map, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(cls, ref_prefix[:, 0], rtol=1e-5, atol=1e-5)


def test_forward_matches_reference_on_a_non_square_input(tiny):
    backbone = _tiny_backbone(tiny['dst'])
    x = torch.randn(1, 3, 14 * 16, 14 * 23)  # 224 x 322: a 16 x 23 grid from 37 x 37
    with torch.no_grad():
        ours = backbone(x)
        maps, cls = _reference(tiny['model'], x, (0, 1, 2, 3))
    for (fmap, c), ref_map, ref_cls in zip(ours, maps, cls):
        assert fmap.shape == (1, 64, 16, 23)
        torch.testing.assert_close(fmap, ref_map, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(c, ref_cls, rtol=1e-5, atol=1e-5)
    # maps only, a subset of blocks: later blocks are not needed
    only = DINOv2ViT(arch=TINY, out_indices=(1, 2))
    only.load_state_dict(backbone.state_dict())
    with torch.no_grad():
        feats = only.eval()(x)
    assert [f.shape for f in feats] == [(1, 64, 16, 23)] * 2
    torch.testing.assert_close(feats[1], maps[2], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('arch,timm_name,blocks', [
    ('s', 'vit_small_patch14_dinov2', (2, 5, 8, 11)),
    ('b', 'vit_base_patch14_dinov2', (2, 5, 8, 11)),
    ('l', 'vit_large_patch14_dinov2', (4, 11, 17, 23))])
def test_released_archs_fit_the_official_layout(arch, timm_name, blocks):
    with torch.device('meta'):  # shapes only, no memory
        official = dict(timm.create_model(timm_name, pretrained=False).state_dict())
        official['mask_token'] = torch.empty(1, official['cls_token'].shape[-1])
        ours = DINOv2ViT(arch=arch)
    converted = convert_dinov2(official, source=timm_name)
    own = ours.state_dict()
    assert {k[len('backbone.'):] for k in converted} == set(own)
    for key, value in converted.items():
        assert value.shape == own[key[len('backbone.'):]].shape, key
    assert tuple(ours.out_indices) == blocks


def test_small_arch_forward_matches_timm_and_shapes():
    # ViT-S/14 at a 4 x 4 native grid (56 px) checks heads and widths cheaply;
    # the 518 forward of S runs in test_dpt_config_full_small_model.
    model, official = _timm_dinov2(dict(embed_dims=384, num_layers=12, num_heads=6), 56)
    backbone = DINOv2ViT(arch='s', img_size=56, output_cls_token=True)
    backbone.load_state_dict({k[len('backbone.'):]: v
                              for k, v in convert_dinov2(official).items()}, strict=True)
    x = torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        ours = backbone.eval()(x)
        ref = model.forward_intermediates(x, indices=[2, 5, 8, 11], norm=True,
                                          intermediates_only=True)
    for (fmap, cls), ref_map in zip(ours, ref):
        assert fmap.shape == (1, 384, 4, 4) and cls.shape == (1, 384)
        torch.testing.assert_close(fmap, ref_map, rtol=1e-4, atol=1e-4)


def test_input_size_and_frozen_stages():
    backbone = DINOv2ViT(arch=TINY, out_indices=(0, 3), frozen_stages=2)
    with pytest.raises(ValueError, match=r'500x518 is not a multiple of the patch size 14'):
        backbone(torch.zeros(1, 3, 500, 518))
    frozen = [n for n, p in backbone.named_parameters() if not p.requires_grad]
    assert {'cls_token', 'pos_embed', 'patch_embed.projection.weight',
            'layers.1.ffn.gamma2.weight'} <= set(frozen)
    assert all(n.startswith(('cls_token', 'pos_embed', 'patch_embed', 'layers.0.',
                             'layers.1.')) for n in frozen)
    backbone.train()
    assert not backbone.layers[1].training and backbone.layers[2].training
    with pytest.raises(ValueError, match='out_indices must be given'):
        DINOv2ViT(arch=TINY)
    with pytest.raises(ValueError, match=r'out_indices=\(2, 4\)'):
        DINOv2ViT(arch=TINY, out_indices=(2, 4))
    with pytest.raises(ValueError, match="unknown arch 'g'"):
        DINOv2ViT(arch='g')


def test_converter_errors_name_the_file_and_the_keys(tiny, tmp_path):
    # the CLI on an already converted file
    dst = str(tmp_path / 'again.pth')
    full = [sys.executable, osp.join(ROOT, CONVERTER), tiny['dst'], dst]
    proc = subprocess.run(full, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and not osp.exists(dst)
    assert tiny['dst'] in proc.stderr
    assert 'unexpected keys [backbone.cls_token' in proc.stderr
    assert 'missing keys [cls_token, pos_embed' in proc.stderr
    assert 'already converted' in proc.stderr
    # the function on a checkpoint with a block key missing and a foreign one
    broken = dict(tiny['official'])
    del broken['blocks.1.ls2.gamma']
    broken['register_tokens'] = torch.zeros(1, 4, 64)
    with pytest.raises(DINOv2LayoutError, match=r'my_file\.pth.*unexpected keys '
                       r'\[register_tokens\]; missing keys \[blocks\.1\.ls2\.gamma\]'):
        convert_dinov2(broken, source='my_file.pth')


def test_backbone_pretrained_errors(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'nowhere\.pth' is not a local file.*"
                       r'dinov2_to_mmseg\.py'):
        _tiny_backbone('nowhere.pth')
    with pytest.raises(ValueError, match=r'official DINOv2 key layout.*dinov2_to_mmseg\.py'):
        _tiny_backbone(tiny['src'])
    deeper = DINOv2ViT(arch=dict(TINY, num_layers=5), out_indices=(4,),
                       init_cfg=dict(type='Pretrained', checkpoint=tiny['dst']))
    with pytest.raises(ValueError, match=r'dinov2_tiny_mmseg\.pth.*missing \[layers\.4\.'):
        deeper.init_weights()


def _samples(n, size, num_classes=6):
    out = []
    for _ in range(n):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, *size)))
        s.set_metainfo(dict(img_shape=size, pad_shape=size, ori_shape=size))
        out.append(s)
    return out


def _config_model(arch=None, checkpoint=None):
    cfg = Config.fromfile(MODEL_CONFIG)
    if arch is None:
        cfg.model.backbone.init_cfg = None
    else:
        cfg.model.backbone.update(arch=arch, out_indices=(0, 1, 2, 3),
                                  init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
        dims = arch['embed_dims']
        cfg.model.decode_head.update(in_channels=(dims,) * 4, embed_dims=dims,
                                     post_process_channels=[8, 16, 32, 64], channels=16)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model


def test_dpt_config_full_small_model():
    cfg, model = _config_model()
    assert cfg.model.backbone.arch == 's' and cfg.model.decode_head.channels == 64
    assert cfg.model.decode_head.post_process_channels == [48, 96, 192, 384]
    assert isinstance(model.backbone, DINOv2ViT) and model.backbone.embed_dims == 384
    feats = []
    model.backbone.register_forward_hook(lambda module, args, out: feats.extend(out))
    model.train()
    with torch.no_grad():  # the backward of S at 518 costs ~13 s on 2 cores
        losses = model.loss(torch.randn(2, 3, 518, 518), _samples(2, (518, 518)))
    assert [(tuple(f.shape), tuple(c.shape)) for f, c in feats] == \
        [((2, 384, 37, 37), (2, 384))] * 4
    assert torch.isfinite(losses['decode.loss_ce'])


def test_dpt_config_tiny_train_step_and_slide_test(tiny):
    _, model = _config_model(TINY, tiny['dst'])
    converted = torch.load(tiny['dst'], weights_only=True)['state_dict']
    assert torch.equal(model.backbone.cls_token, converted['backbone.cls_token'])
    model.train()
    losses = model.loss(torch.randn(2, 3, 518, 518), _samples(2, (518, 518)))
    losses['decode.loss_ce'].backward()
    assert model.backbone.patch_embed.projection.weight.grad.abs().sum() > 0
    assert model.backbone.layers[3].ffn.gamma2.weight.grad.abs().sum() > 0
    # test path: uint8 images through the data preprocessor (padding to a
    # multiple of 14), sliding 518 windows, padding cropped off
    model.eval()
    for size in [(512, 512), (600, 700)]:
        img = torch.randint(0, 256, (3, *size), dtype=torch.uint8)
        sample = SegDataSample()
        sample.set_metainfo(dict(ori_shape=size, img_shape=size))
        with torch.no_grad():
            out = model.test_step(dict(inputs=[img], data_samples=[sample]))
        assert out[0].pred_sem_seg.data.shape == (1, *size)
        assert out[0].seg_logits.data.shape == (6, *size)
