"""SimFeatUp (semiearth.vlm.sim_feat_up): the released checkpoint format, its
strict loading and clear errors, the shape contract, and the JBU arithmetic
pinned against hand-written formulas.

Everything uses random weights and small tensors; nothing is downloaded.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from semiearth.vlm.sim_feat_up import JBUStep, SimFeatUp, load_sim_feat_up

# The released jbu_one file (xclip_jbu_one_million_aid.ckpt, feat_dim 512):
# Lightning 'state_dict' keys and shapes. feat_dim appears only in the last two.
JBU_ONE_KEYS = {
    'upsampler.up.range_temp': (),
    'upsampler.up.sigma_spatial': (),
    'upsampler.up.range_proj.0.weight': (32, 3, 1, 1),
    'upsampler.up.range_proj.0.bias': (32,),
    'upsampler.up.range_proj.3.weight': (32, 32, 1, 1),
    'upsampler.up.range_proj.3.bias': (32,),
    'upsampler.up.fixup_proj.0.weight': (121, 124, 1, 1),
    'upsampler.up.fixup_proj.0.bias': (121,),
    'upsampler.up.fixup_proj.3.weight': (121, 121, 1, 1),
    'upsampler.up.fixup_proj.3.bias': (121,),
    'upsampler.fixup_proj.1.weight': (512, 512, 1, 1),
    'upsampler.fixup_proj.1.bias': (512,),
}


def randomize(module, seed=0):
    """Random values for every parameter, scalars included (sigma kept > 0)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            if name.endswith('sigma_spatial'):
                p.copy_(0.5 + torch.rand((), generator=gen))
    return module.eval()


def release_file(path, module):
    """Save ``module`` exactly as SegEarth-OV's release is stored: a Lightning
    checkpoint whose ``state_dict`` has the upsampler's keys under 'upsampler.'."""
    ckpt = {
        'epoch': 0, 'global_step': 1000, 'pytorch-lightning_version': '1.9.4',
        'state_dict': {'upsampler.' + k: v.clone() for k, v in module.state_dict().items()},
        'loops': {}, 'callbacks': {}, 'optimizer_states': [], 'lr_schedulers': [],
    }
    torch.save(ckpt, path)
    return str(path)


def test_release_key_names_and_shapes():
    keys = {'upsampler.' + k: tuple(v.shape) for k, v in SimFeatUp(512).state_dict().items()}
    assert keys == JBU_ONE_KEYS
    stack = SimFeatUp(512, variant='jbu_stack').state_dict()
    assert len(stack) == 4 * 10 + 2    # as clip_jbu_stack_cocostuff.ckpt
    assert stack['up4.fixup_proj.0.weight'].shape == (49, 52, 1, 1)


@pytest.mark.parametrize('variant', ['jbu_one', 'jbu_stack'])
def test_release_round_trip(tmp_path, variant):
    src = randomize(SimFeatUp(16, variant=variant))
    path = release_file(tmp_path / 'release.ckpt', src)
    loaded = load_sim_feat_up(path)                  # variant and width from the file
    assert loaded.variant == variant and loaded.feat_dim == 16 and not loaded.training
    assert all(not p.requires_grad for p in loaded.parameters())
    ref = src.state_dict()
    assert set(loaded.state_dict()) == set(ref)
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, ref[k]), k
    feats, guide = torch.randn(1, 16, 3, 3), torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        assert torch.equal(loaded(feats, guide), src(feats, guide))
    # explicit arguments that agree with the file are accepted
    assert load_sim_feat_up(path, feat_dim=16, variant=variant).feat_dim == 16


def test_bare_state_dict_also_loads(tmp_path):
    src = randomize(SimFeatUp(8))
    torch.save(src.state_dict(), tmp_path / 'bare.pth')
    loaded = load_sim_feat_up(str(tmp_path / 'bare.pth'))
    assert torch.equal(loaded.fixup_proj[1].weight, src.fixup_proj[1].weight)


def test_missing_file_is_clear(tmp_path):
    path = str(tmp_path / 'xclip_jbu_one_million_aid.ckpt')
    with pytest.raises(FileNotFoundError, match='not found') as err:
        load_sim_feat_up(path)
    assert path in str(err.value) and 'local path' in str(err.value)


def test_missing_key_is_clear(tmp_path):
    path = release_file(tmp_path / 'r.ckpt', SimFeatUp(8))
    ckpt = torch.load(path)
    del ckpt['state_dict']['upsampler.up.range_temp']
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match='missing keys') as err:
        load_sim_feat_up(path)
    assert path in str(err.value) and 'up.range_temp' in str(err.value)


def test_wrong_shape_is_clear(tmp_path):
    path = release_file(tmp_path / 'r.ckpt', SimFeatUp(8))
    ckpt = torch.load(path)
    ckpt['state_dict']['upsampler.up.fixup_proj.3.weight'] = torch.zeros(49, 49, 1, 1)
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match='shape mismatches') as err:
        load_sim_feat_up(path)
    assert path in str(err.value) and 'up.fixup_proj.3.weight' in str(err.value)
    assert '(49, 49, 1, 1)' in str(err.value) and '(121, 121, 1, 1)' in str(err.value)


def test_wrong_width_variant_or_content_is_clear(tmp_path):
    path = release_file(tmp_path / 'r.ckpt', SimFeatUp(8))
    with pytest.raises(ValueError, match='8-channel features but the CLIP gives 512'):
        load_sim_feat_up(path, feat_dim=512)
    with pytest.raises(ValueError, match="pass variant='jbu_one'"):
        load_sim_feat_up(path, variant='jbu_stack')
    torch.save({'state_dict': {'model.visual.proj': torch.zeros(2)}}, tmp_path / 'o.ckpt')
    with pytest.raises(ValueError, match='not a SimFeatUp checkpoint'):
        load_sim_feat_up(str(tmp_path / 'o.ckpt'))
    (tmp_path / 'broken.ckpt').write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='cannot read'):
        load_sim_feat_up(str(tmp_path / 'broken.ckpt'))


@pytest.mark.parametrize('variant', ['jbu_one', 'jbu_stack'])
def test_output_shape_contract(variant):
    model = randomize(SimFeatUp(8, variant=variant))
    feats = torch.randn(2, 8, 3, 4)
    with torch.no_grad():
        # guidance at the CLIP input size (16x the grid), or any other size
        assert model(feats, torch.randn(2, 3, 48, 64)).shape == (2, 8, 48, 64)
        assert model(feats, torch.randn(2, 3, 96, 100)).shape == (2, 8, 48, 64)
    with pytest.raises(ValueError, match='too small'):
        SimFeatUp(8)(torch.randn(1, 8, 2, 2), torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match='channel'):
        model(torch.randn(1, 4, 3, 3), torch.randn(1, 3, 48, 48))
    with pytest.raises(ValueError, match='guidance'):
        model(feats, torch.randn(1, 3, 48, 64))


def test_jbu_one_reuses_one_step():
    model = SimFeatUp(8)
    assert all(step is model.up for step in model.steps())
    assert len({id(s) for s in SimFeatUp(8, variant='jbu_stack').steps()}) == 4


def reflect(i, n):
    """Index of the reflect-padded position i (0 <= i + pad) in a length-n axis."""
    return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)


@pytest.mark.parametrize('radius', [1, 5])
def test_one_step_against_per_pixel_formula(radius):
    """One JBU step, pixel by pixel, as the formula in the module docstring:
    k_p(n) = softmax_n(exp(T) <P g_n, P g_p>) * exp(-(u_i^2 + u_j^2) / 2 s^2),
    normalised over n, plus 0.1 * fixup([k_p, g_p]);
    out_p = sum_n k_p(n) f_up(n), with reflect borders and bicubic f_up."""
    torch.manual_seed(radius)
    step = randomize(JBUStep(guidance_dim=3, key_dim=4, radius=radius), seed=radius)
    src, guide = torch.randn(1, 2, 3, 3), torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        out = step(src, guide)
        keys = step.range_proj(guide)[0]                              # (K, 6, 6)
        f_up = F.interpolate(src, size=(6, 6), mode='bicubic', align_corners=False)[0]
        d = 2 * radius + 1
        u = [-1 + 2 * t / (d - 1) for t in range(d)]
        sigma, temp = step.sigma_spatial.item(), math.exp(step.range_temp.item())
        expected = torch.zeros(2, 6, 6)
        for y in range(6):
            for x in range(6):
                nbrs = [(reflect(y + i - radius, 6), reflect(x + j - radius, 6))
                        for i in range(d) for j in range(d)]
                sims = torch.stack([(keys[:, ny, nx] * keys[:, y, x]).sum() for ny, nx in nbrs])
                rng = torch.softmax(temp * sims, dim=0)
                spatial = torch.tensor([math.exp(-(u[i] ** 2 + u[j] ** 2) / (2 * sigma ** 2))
                                        for i in range(d) for j in range(d)])
                k = rng * spatial
                k = k / k.sum()
                fix_in = torch.cat([k, guide[0, :, y, x]]).view(1, -1, 1, 1)
                k = k + 0.1 * step.fixup_proj(fix_in).flatten()
                expected[:, y, x] = sum(k[t] * f_up[:, ny, nx] for t, (ny, nx) in enumerate(nbrs))
    torch.testing.assert_close(out[0], expected, rtol=1e-4, atol=1e-5)


def test_constant_guidance_gives_gaussian_filter():
    """With a constant guidance all range logits are equal, so with the kernel
    fix-up zeroed a step is a depthwise Gaussian blur (weights
    exp(-(u_i^2 + u_j^2) / (2 sigma^2)), normalised) of the bicubic upsample."""
    step = randomize(JBUStep(radius=5), seed=3)
    with torch.no_grad():
        step.fixup_proj[3].weight.zero_()
        step.fixup_proj[3].bias.zero_()
        step.sigma_spatial.fill_(0.7)
        src = torch.randn(1, 4, 4, 5)
        guide = torch.full((1, 3, 8, 10), 0.25)
        out = step(src, guide)
        u = torch.linspace(-1, 1, 11)
        w = torch.exp(-(u[:, None] ** 2 + u[None] ** 2) / (2 * 0.7 ** 2))
        w = (w / w.sum()).expand(4, 1, 11, 11)
        up = F.interpolate(src, size=(8, 10), mode='bicubic', align_corners=False)
        expected = F.conv2d(F.pad(up, [5] * 4, mode='reflect'), w, groups=4)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_constant_features_only_get_the_final_fixup():
    """Normalised kernels (fix-up zeroed) keep a constant feature map constant
    whatever the guidance; the output is then v + 0.1 * (W v + b)."""
    model = randomize(SimFeatUp(6, variant='jbu_stack'), seed=4)
    with torch.no_grad():
        for step in model.steps():
            step.fixup_proj[3].weight.zero_()
            step.fixup_proj[3].bias.zero_()
        v = torch.randn(6)
        out = model(v.view(1, 6, 1, 1).expand(1, 6, 3, 3).contiguous(),
                    torch.randn(1, 3, 48, 48))
        conv = model.fixup_proj[1]
        want = v + 0.1 * (conv.weight[:, :, 0, 0] @ v + conv.bias)
    torch.testing.assert_close(out, want.view(1, 6, 1, 1).expand(1, 6, 48, 48),
                               rtol=1e-4, atol=1e-5)
