"""DenseCLIP (semiearth.vlm): checkpoint formats, the four last-block
attention variants, the dense forward, the text side, band handling, the
background rule, the settings fingerprint and freezing.

Everything runs on tiny open_clip models with random weights built from a
``model_cfg``; nothing is downloaded.
"""
import shutil

import open_clip
import pytest
import torch
import torch.nn.functional as F

from semiearth.vlm import (ATTENTION_TERMS, DenseCLIP, RS_CLASS_NAMES, build_open_clip,
                           check_class_names, dense_attention, resolve_class_names)
from semiearth.vlm.dense_clip import REMOTE_SENSING_TEMPLATES
from semiearth.vlm.open_clip_loader import clip_normalization

TINY = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=32, patch_size=8, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=16, vocab_size=49408, width=32, heads=2, layers=1))
# the same tower 48 wide instead of 64: a checkpoint of another architecture
OTHER = dict(TINY, vision_cfg=dict(TINY['vision_cfg'], width=48))
NAME = 'tiny-clip'
CLASSES = {'building': ['building'], 'road': ['road'], 'tree': ['tree'],
           'water': ['water']}


def make(seed=0, **kw):
    """A DenseCLIP on the tiny architecture, random weights drawn after ``seed``."""
    args = dict(class_names=CLASSES, model_name=NAME, model_cfg=TINY, random_init=True,
                templates=['a photo of {}.'], input_size=32, window=None)
    args.update(kw)
    if args.get('checkpoint'):
        args['random_init'] = False
    torch.manual_seed(seed)
    return DenseCLIP(**args)


def clip_input(b, h, w, seed=1):
    """A batch already in CLIP's normalisation (what dense_sims takes)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, h, w, generator=g)


def _params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _assert_same_params(model, saved):
    got = dict(model.named_parameters())
    assert set(got) == set(saved)
    for k, v in saved.items():
        assert torch.equal(got[k], v), f'parameter {k} differs from the checkpoint'


# ------------------------------------------------------------ 1. weights
@pytest.fixture(scope='module')
def saved_sd():
    torch.manual_seed(0)
    return open_clip.CLIP(**TINY).state_dict()


@pytest.mark.parametrize('fmt', ['plain', 'state_dict', 'ddp'])
def test_checkpoint_formats_load_exactly(fmt, saved_sd, tmp_path):
    path = str(tmp_path / f'tiny_{fmt}.pt')
    payload = {'plain': saved_sd,
               'state_dict': {'state_dict': saved_sd, 'epoch': 3},
               'ddp': {'state_dict': {'module.' + k: v for k, v in saved_sd.items()}}}[fmt]
    torch.save(payload, path)
    expected = {k: saved_sd[k] for k in dict(open_clip.CLIP(**TINY).named_parameters())}

    # control: a model drawn with another seed differs, so the check below can fail
    torch.manual_seed(123)
    other = open_clip.CLIP(**TINY)
    assert any(not torch.equal(p, expected[k]) for k, p in other.named_parameters())

    torch.manual_seed(123)  # the model built inside starts from those other weights
    model, tokenizer = build_open_clip(NAME, checkpoint=path, model_cfg=TINY)
    _assert_same_params(model, expected)
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert tokenizer(['a road']).shape == (1, 16)

    # and through the user's path: DenseCLIP(checkpoint=...)
    dense = make(seed=123, checkpoint=path)
    _assert_same_params(dense.clip, expected)


def test_checkpoint_of_another_architecture_names_file_and_architecture(tmp_path):
    torch.manual_seed(0)
    path = str(tmp_path / 'wider.pt')
    torch.save(open_clip.CLIP(**OTHER).state_dict(), path)
    with pytest.raises(ValueError) as err:
        build_open_clip(NAME, checkpoint=path, model_cfg=TINY)
    assert path in str(err.value) and repr(NAME) in str(err.value), str(err.value)
    with pytest.raises(ValueError, match=NAME):
        make(checkpoint=path)


def test_unreadable_checkpoint_is_a_value_error(tmp_path):
    path = tmp_path / 'not_weights.pt'
    path.write_text('this is not a checkpoint')
    with pytest.raises(ValueError) as err:
        build_open_clip(NAME, checkpoint=str(path), model_cfg=TINY)
    assert str(path) in str(err.value)


def test_missing_checkpoint_names_the_path(tmp_path):
    path = str(tmp_path / 'nowhere' / 'RemoteCLIP-ViT-B-32.pt')
    with pytest.raises(FileNotFoundError) as err:
        build_open_clip(NAME, checkpoint=path, model_cfg=TINY)
    assert path in str(err.value)
    with pytest.raises(FileNotFoundError, match='RemoteCLIP-ViT-B-32.pt'):
        make(checkpoint=path)


def test_no_weights_and_unknown_architecture():
    with pytest.raises(ValueError, match='no weights'):
        build_open_clip(NAME, model_cfg=TINY)
    with pytest.raises(ValueError, match='no weights'):
        DenseCLIP(class_names=CLASSES, model_name=NAME, model_cfg=TINY)
    with pytest.raises(KeyError, match='no-such-arch'):
        build_open_clip('no-such-arch', random_init=True)
    # random_init builds without any file
    model, _ = build_open_clip(NAME, model_cfg=TINY, random_init=True)
    assert not model.training


def test_pretrained_tag_with_model_cfg_is_not_silently_random():
    """A pretrained tag cannot be honoured for a ``model_cfg`` architecture;
    it must fail rather than hand back random weights as if pretrained."""
    try:
        model, _ = build_open_clip(NAME, pretrained='openai', model_cfg=TINY)
    except (ValueError, RuntimeError, KeyError):
        return
    pytest.fail('BUG (open_clip_loader.build_open_clip): pretrained=\'openai\' with '
                'model_cfg and no checkpoint passes the "no weights" check, builds '
                'open_clip.CLIP(**model_cfg) and never loads the tag: a randomly '
                'initialised model is returned silently (random_init was False)')


# ------------------------------------------------------ 2. attention variants
def reference_attention(x, attn, variant):
    """The variants' formulas, head by head, from the block's raw weights."""
    n, length, dim = x.shape
    heads = attn.num_heads
    hd = dim // heads
    scale = hd ** -0.5
    w, b = attn.in_proj_weight, attn.in_proj_bias
    outs = []
    for h in range(heads):
        rows = slice(h * hd, (h + 1) * hd)
        q = x @ w[:dim][rows].t() + b[:dim][rows]
        k = x @ w[dim:2 * dim][rows].t() + b[dim:2 * dim][rows]
        v = x @ w[2 * dim:][rows].t() + b[2 * dim:][rows]

        def sm(t):
            return torch.softmax(torch.einsum('nid,njd->nij', t, t) * scale, dim=-1)

        if variant == 'maskclip':
            out = v
        elif variant == 'sclip':
            out = torch.einsum('nij,njd->nid', sm(q) + sm(k), v)
        elif variant == 'clearclip':
            out = torch.einsum('nij,njd->nid', sm(q), v)
        elif variant == 'segearth':
            out = torch.einsum('nij,njd->nid', sm(q) + sm(k) + sm(v), v)
        outs.append(out)
    out = torch.cat(outs, dim=-1)
    return out @ attn.out_proj.weight.t() + attn.out_proj.bias


@pytest.fixture(scope='module')
def last_attn():
    torch.manual_seed(0)
    attn = open_clip.CLIP(**TINY).visual.transformer.resblocks[-1].attn
    assert attn.num_heads == 2  # the per-head split is exercised
    with torch.no_grad():  # random biases too (open_clip starts them at zero)
        attn.in_proj_bias.normal_(0, 0.5)
        attn.out_proj.bias.normal_(0, 0.5)
    return attn


@pytest.mark.parametrize('variant', ['maskclip', 'sclip', 'clearclip', 'segearth'])
def test_attention_variant_matches_its_formula(variant, last_attn):
    x = torch.randn(2, 17, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = dense_attention(x, last_attn, variant)
        ref = reference_attention(x, last_attn, variant)
    assert got.shape == (2, 17, 64)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_attention_variants_differ_and_unknown_raises(last_attn):
    assert set(ATTENTION_TERMS) == {'maskclip', 'sclip', 'clearclip', 'segearth'}
    x = torch.randn(2, 17, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        outs = {v: dense_attention(x, last_attn, v) for v in ATTENTION_TERMS}
    names = sorted(outs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert (outs[a] - outs[b]).abs().max() > 1e-3, f'{a} and {b} give the same output'
    with pytest.raises(KeyError, match='vanilla'):
        dense_attention(x, last_attn, 'vanilla')
    with pytest.raises(KeyError, match='vanilla'):
        make(attention='vanilla')


def test_dense_features_patch_tokens_use_the_chosen_variant():
    """Patch tokens = ln_post(variant attention of ln_1(tokens entering the
    last block)) @ proj, no residual, no FFN; the class token is token 0 of
    the same output (SegEarth-OV's global-bias vector)."""
    for variant in ('maskclip', 'segearth'):
        model = make(attention=variant)
        visual = model.clip.visual
        seen = {}
        hook = visual.transformer.resblocks[-2].register_forward_hook(
            lambda mod, args, out: seen.__setitem__('tokens', out))
        x = clip_input(2, 48, 64)
        with torch.no_grad():
            patch, cls = model.dense_features(x)
        hook.remove()
        last = visual.transformer.resblocks[-1]
        with torch.no_grad():
            ref = reference_attention(last.ln_1(seen['tokens']), last.attn, variant)
            ref = visual.ln_post(ref) @ visual.proj
        assert patch.shape == (2, 6 * 8, 32) and cls.shape == (2, 32)
        torch.testing.assert_close(patch, ref[:, 1:], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(cls, ref[:, 0], atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------- 3. forward
@pytest.mark.parametrize('window', [None, 32])
def test_forward_shape_and_probabilities(window):
    six = {k: [k, k + ' area'] for k in ('road', 'building', 'grass', 'tree', 'car', 'sand')}
    model = make(class_names=six, input_size=48, window=window, stride=16,
                 synonym_pool='logit')
    x = torch.randn(2, 3, 40, 56, generator=torch.Generator().manual_seed(5))
    probs = model(x)
    assert probs.shape == (2, 6, 40, 56)
    assert (probs >= 0).all()
    torch.testing.assert_close(probs.sum(1), torch.ones(2, 40, 56), atol=1e-5, rtol=0)
    # not a constant map: the probabilities follow the image
    assert (probs.std(dim=(2, 3)) > 1e-3).all()


def test_window_covering_the_image_equals_the_whole_image():
    whole = make(input_size=48, window=None)
    big = make(input_size=48, window=64, stride=32)
    x = torch.randn(1, 3, 48, 48, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(big(x), whole(x), atol=1e-6, rtol=0)


def test_sliding_window_averages_overlapping_windows():
    model = make(input_size=48, window=32, stride=16)
    x = clip_input(1, 48, 48)
    with torch.no_grad():
        got = model._slide(x)
        crops = {(y, x0): model._whole(x[..., y:y + 32, x0:x0 + 32])
                 for y in (0, 16) for x0 in (0, 16)}
    total = torch.zeros_like(got)
    count = torch.zeros(1, 1, 48, 48)
    for (y, x0), logits in crops.items():
        total[..., y:y + 32, x0:x0 + 32] += logits
        count[..., y:y + 32, x0:x0 + 32] += 1
    assert count[0, 0, 20, 20] == 4 and count[0, 0, 0, 0] == 1
    torch.testing.assert_close(got, total / count, atol=1e-6, rtol=0)
    # corner pixels only see one window
    torch.testing.assert_close(got[..., :16, :16], crops[0, 0][..., :16, :16])


def test_stride_larger_than_window_is_rejected_or_covers_every_pixel():
    """stride > window leaves pixels no window covers (count 0 in _slide)."""
    x = torch.randn(1, 3, 80, 80, generator=torch.Generator().manual_seed(10))
    try:
        model = make(input_size=80, window=32, stride=48)
    except ValueError:
        return
    probs = model(x)
    assert torch.isfinite(probs).all(), (
        'BUG (dense_clip.DenseCLIP._slide): window=32, stride=48 leaves rows/columns '
        '32..47 outside every window; count is 0 there and total / count gives NaN '
        f'probabilities ({probs.isnan().float().mean().item():.0%} of the output) '
        'with no error; reject stride > window in __init__')


def test_cls_lambda_subtracts_the_class_token_text_similarity():
    """SegEarth-OV: sims = patch.text - cls_lambda * cls.text, both vectors
    L2-normalised, per synonym query."""
    model = make(cls_lambda=0.3)
    x = clip_input(2, 48, 64)
    with torch.no_grad():
        _, cls = model.dense_features(x)
        with_bias = model.dense_sims(x)
        model.cls_lambda = 0.0
        without = model.dense_sims(x)
    cls_sim = F.normalize(cls, dim=-1) @ model.text_embeds.t()          # (N, S)
    expected = -0.3 * cls_sim[:, :, None, None]
    diff = with_bias - without
    assert diff.shape == (2, 4, 6, 8)
    assert expected.abs().max() > 1e-3  # the term is not negligible
    torch.testing.assert_close(diff, expected.expand_as(diff), atol=1e-5, rtol=1e-5)


def test_global_bias_vector_is_not_the_clip_image_embedding():
    """The vector SegEarth-OV subtracts is the MODIFIED last block's class
    token, not open_clip's image embedding (the unmodified block): with
    random weights the two are far apart, so using the wrong one moves the
    probabilities that cls_lambda=0.3 was tuned for."""
    model = make(attention='segearth', cls_lambda=0.3)
    x = clip_input(2, 32, 32)
    with torch.no_grad():
        _, cls = model.dense_features(x)
        image_embedding = model.clip.encode_image(x)
    cosine = F.cosine_similarity(cls, image_embedding, dim=-1)
    assert (cosine < 0.9).all(), cosine


def test_pos_embed_native_and_interpolated(saved_sd):
    model = make()
    pos = model.clip.visual.positional_embedding
    assert pos.shape == (17, 64)
    assert torch.equal(model._pos_embed(4, 4), pos)
    got = model._pos_embed(6, 8)
    assert got.shape == (6 * 8 + 1, 64)
    assert torch.equal(got[0], pos[0])  # class position untouched

    # orientation: an embedding that varies by row only stays so on a 6 x 8 grid
    rows = torch.arange(4.).repeat_interleave(4)[:, None].expand(16, 64)
    with torch.no_grad():
        pos[1:] = rows
    grid = model._pos_embed(6, 8)[1:].reshape(6, 8, 64)
    assert torch.allclose(grid, grid[:, :1].expand_as(grid), atol=1e-5)
    assert (grid[-1, 0] - grid[0, 0]).abs().min() > 1

    # SegEarth-OV's resize: bicubic with scale factors (g + 0.1) / g0 (here
    # g0 = 4), not open_clip's size-based resize: the sampling positions differ
    with torch.no_grad():
        model.clip.visual.positional_embedding.copy_(saved_sd['visual.positional_embedding'])
    grid = saved_sd['visual.positional_embedding'][1:].reshape(1, 4, 4, 64).permute(0, 3, 1, 2)
    ref = F.interpolate(grid, scale_factor=(6.1 / 4, 8.1 / 4), mode='bicubic',
                        align_corners=False).permute(0, 2, 3, 1).reshape(48, 64)
    torch.testing.assert_close(model._pos_embed(6, 8)[1:], ref, atol=1e-6, rtol=1e-5)
    torch.manual_seed(0)
    big = open_clip.CLIP(**dict(TINY, vision_cfg=dict(TINY['vision_cfg'], image_size=48)))
    sd = {'visual.positional_embedding': saved_sd['visual.positional_embedding']}
    open_clip.model.resize_pos_embed(sd, big, antialias=False)
    assert (model._pos_embed(6, 6) - sd['visual.positional_embedding']).abs().max() > 1e-3


def test_input_resized_on_the_long_side_and_windows_padded_evenly(monkeypatch):
    """SegEarth-OV: Resize(scale=(S, S), keep_ratio=True) makes the long side
    S (40 x 56 -> 34 x 48 at S=48, sizes rounded half up: 40 * 48 / 56 =
    34.29); a window whose size is not a multiple of the patch (8 here) is
    zero-padded evenly (left = pad // 2) and the padding cut off again."""
    model = make(input_size=48, window=None)
    seen = []
    original = model.dense_sims
    monkeypatch.setattr(model, 'dense_sims', lambda x: seen.append(x) or original(x))
    model(torch.randn(1, 3, 40, 56))
    # 34 x 48 padded to 40 x 48: 3 rows on top, 3 below
    assert seen[0].shape == (1, 3, 40, 48)
    assert (seen[0][..., :3, :] == 0).all() and (seen[0][..., -3:, :] == 0).all()
    assert (seen[0][..., 3:-3, :] != 0).all()


# ------------------------------------------------------------ 4. text side
def test_text_embeddings_are_computed_once(monkeypatch):
    calls = []
    original = open_clip.CLIP.encode_text

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(open_clip.CLIP, 'encode_text', counting)
    model = make(input_size=48, window=32, stride=16)
    assert len(calls) >= 1
    built = model.text_embeds.clone()
    calls.clear()
    x = torch.randn(1, 3, 40, 56)
    for _ in range(3):
        model(x)
    assert calls == [], f'encode_text ran {len(calls)} times during forward'
    assert torch.equal(model.text_embeds, built)


def _by_hand_text_embeds(model, synonyms, templates):
    tok = open_clip.SimpleTokenizer(context_length=16)
    rows = []
    with torch.no_grad():
        for name in synonyms:
            emb = model.clip.encode_text(tok([t(name) for t in templates]))
            rows.append(F.normalize(F.normalize(emb, dim=-1).mean(0), dim=-1))
    return torch.stack(rows)


def test_text_embeds_one_unit_row_per_synonym():
    names = {'building': ['building', 'roof', 'house'], 'water': ['water', 'river']}
    model = make(class_names=names, templates=['a photo of {}.', 'an aerial view of {}.'])
    assert model.num_classes == 2 and model.class_keys == ['building', 'water']
    assert model.text_embeds.shape == (5, 32)
    torch.testing.assert_close(model.text_embeds.norm(dim=-1), torch.ones(5))
    assert model.synonym_owner.tolist() == [0, 0, 0, 1, 1]
    ref = _by_hand_text_embeds(model, ['building', 'roof', 'house', 'water', 'river'],
                               ['a photo of {}.'.format, 'an aerial view of {}.'.format])
    torch.testing.assert_close(model.text_embeds, ref, atol=1e-5, rtol=1e-5)


def test_synonym_pools_by_hand():
    """'prob' (SegEarth-OV): softmax over all synonym queries, then each class
    takes its best synonym's probability; 'logit': best synonym's logit, then
    a softmax over classes. Queries 0, 1 belong to class 0, query 2 to class 1.
    Pixel a, logits (2, 1, 0): softmax (0.6652, 0.2447, 0.0900) -> prob pool
    (0.6652, 0.0900); logit pool softmax(2, 0) = (0.8808, 0.1192).
    Pixel b, logits (0, 3, 0): softmax (0.0453, 0.9094, 0.0453) -> prob pool
    (0.9094, 0.0453); logit pool softmax(3, 0) = (0.9526, 0.0474)."""
    names = {'building': ['red roof', 'house'], 'water': ['water']}
    logits = torch.tensor([[2., 0.], [1., 3.], [0., 0.]]).view(1, 3, 1, 2)
    prob = make(class_names=names).class_probs(logits)[0, :, 0]
    torch.testing.assert_close(prob, torch.tensor([[0.6652, 0.9094], [0.0900, 0.0453]]),
                               atol=1e-4, rtol=0)
    assert (prob.sum(0) < 0.99).all()  # class probabilities need not sum to 1
    logit = make(class_names=names, synonym_pool='logit').class_probs(logits)[0, :, 0]
    torch.testing.assert_close(logit, torch.tensor([[0.8808, 0.9526], [0.1192, 0.0474]]),
                               atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match='synonym_pool'):
        make(synonym_pool='mean')


@pytest.mark.parametrize('window', [None, 32])
def test_prob_pool_is_the_best_synonym_of_the_flat_query_list(window):
    """With each synonym as its own class, 'prob' pooling is the softmax over
    all queries (after the window average): a class of synonyms then scores
    the max of its synonyms' probabilities, end to end."""
    grouped = {'building': ['red roof', 'house'], 'water': ['water']}
    flat = {'red roof': ['red roof'], 'house': ['house'], 'water': ['water']}
    kw = dict(cls_lambda=0.3, input_size=48, window=window, stride=16)
    x = torch.randn(2, 3, 40, 56, generator=torch.Generator().manual_seed(5))
    a, b = make(class_names=grouped, **kw)(x), make(class_names=flat, **kw)(x)
    torch.testing.assert_close(a[:, 0], torch.maximum(b[:, 0], b[:, 1]), atol=1e-6, rtol=0)
    torch.testing.assert_close(a[:, 1], b[:, 2], atol=1e-6, rtol=0)
    torch.testing.assert_close(b.sum(1), torch.ones(2, 40, 56), atol=1e-5, rtol=0)
    assert ((b[:, 0] > b[:, 1]).any() and (b[:, 0] < b[:, 1]).any()), \
        'test input does not make both synonyms win somewhere'


@pytest.mark.parametrize('templates', ['simple', 'openai_imagenet', 'remote_sensing', 'custom'])
def test_template_sets(templates):
    from open_clip import zero_shot_metadata as zsm
    expected = {'simple': list(zsm.SIMPLE_IMAGENET_TEMPLATES),
                'openai_imagenet': list(zsm.OPENAI_IMAGENET_TEMPLATES),
                'remote_sensing': [t.format for t in REMOTE_SENSING_TEMPLATES],
                'custom': ['{} seen from above.'.format, 'a map of {}'.format]}[templates]
    arg = ['{} seen from above.', 'a map of {}'] if templates == 'custom' else templates
    names = {'building': ['building'], 'water': ['water', 'lake']}
    model = make(class_names=names, templates=arg)
    assert model.num_templates == len(expected)
    if templates == 'openai_imagenet':
        assert model.num_templates == 80
    ref = _by_hand_text_embeds(model, ['building', 'water', 'lake'], expected)
    torch.testing.assert_close(model.text_embeds, ref, atol=1e-5, rtol=1e-5)
    single = make(class_names=names, templates=['{}'])
    assert (model.text_embeds - single.text_embeds).abs().max() > 1e-3


def test_bad_templates_and_class_lists():
    with pytest.raises(ValueError, match='{}'):
        make(templates=['a photo of a thing.'])
    with pytest.raises(ValueError):
        make(templates=[])
    with pytest.raises(KeyError, match='imagenet_v3'):
        make(templates='imagenet_v3')
    with pytest.raises(KeyError, match='marsdam'):
        make(class_names='marsdam')


def test_resolve_class_names_forms():
    keys, syn = resolve_class_names('potsdam')
    assert keys == list(RS_CLASS_NAMES['potsdam'])
    assert syn == [list(v) for v in RS_CLASS_NAMES['potsdam'].values()]
    assert resolve_class_names({'a': 'alpha', 'b': ['beta', 'bee']}) == \
        (['a', 'b'], [['alpha'], ['beta', 'bee']])
    assert resolve_class_names(['road', 'tree']) == (['road', 'tree'], [['road'], ['tree']])
    assert resolve_class_names([['road', 'street'], 'tree']) == \
        (['road', 'tree'], [['road', 'street'], ['tree']])
    with pytest.raises(ValueError):
        resolve_class_names([])
    with pytest.raises(ValueError, match='b'):
        resolve_class_names({'a': ['x'], 'b': []})
    with pytest.raises(KeyError):
        resolve_class_names('nowhere')

    keys, _ = resolve_class_names('loveda')
    check_class_names(keys, list(keys))  # same order: fine
    swapped = [keys[1], keys[0]] + keys[2:]
    with pytest.raises(ValueError, match='same order'):
        check_class_names(keys, swapped)
    with pytest.raises(ValueError):
        check_class_names(keys, keys[:-1])


# ------------------------------------------------- 5. bands and normalisation
MEAN6 = (10., 20., 30., 40., 50., 60.)
STD6 = (5., 6., 7., 8., 9., 10.)


def _six_band(seed):
    g = torch.Generator().manual_seed(seed)
    raw = torch.rand(2, 6, 32, 32, generator=g) * 255
    norm = (raw - torch.tensor(MEAN6).view(1, 6, 1, 1)) / torch.tensor(STD6).view(1, 6, 1, 1)
    return raw, norm


def test_rgb_bands_are_picked_and_renormalised_for_clip(monkeypatch):
    model = make(rgb_bands=(2, 1, 0), input_mean=MEAN6, input_std=STD6, input_size=32)
    mean, std = clip_normalization(model.clip)
    # the tiny model has no preprocess cfg: open_clip's OpenAI statistics
    assert mean == tuple(float(m) for m in open_clip.OPENAI_DATASET_MEAN)
    assert std == tuple(float(s) for s in open_clip.OPENAI_DATASET_STD)
    seen = []
    original = model.dense_sims
    monkeypatch.setattr(model, 'dense_sims', lambda x: seen.append(x) or original(x))
    raw, norm = _six_band(7)
    model(norm)
    assert len(seen) == 1 and seen[0].shape == (2, 3, 32, 32)
    expected = ((raw[:, [2, 1, 0]] / 255 - torch.tensor(mean).view(1, 3, 1, 1))
                / torch.tensor(std).view(1, 3, 1, 1))
    torch.testing.assert_close(seen[0], expected, atol=1e-5, rtol=1e-5)


def test_non_rgb_bands_do_not_matter_and_bad_bands_raise():
    model = make(rgb_bands=(2, 1, 0), input_mean=MEAN6, input_std=STD6, input_size=48,
                 window=32, stride=16)
    _, norm = _six_band(8)
    other = norm.clone()
    other[:, 3:] = torch.randn(2, 3, 32, 32) * 100
    assert torch.equal(model(norm), model(other))
    changed = norm.clone()
    changed[:, 2] += 1  # a band it uses does matter
    assert not torch.equal(model(norm), model(changed))

    with pytest.raises(ValueError, match='3 input bands'):
        make(rgb_bands=(0, 1), input_mean=MEAN6, input_std=STD6)
    with pytest.raises(ValueError, match='outside'):
        make(rgb_bands=(6, 1, 0), input_mean=MEAN6, input_std=STD6)
    with pytest.raises(ValueError, match='outside'):
        make(rgb_bands=(3, 1, 0))  # the default input_mean has 3 bands
    with pytest.raises(ValueError):
        make(input_mean=MEAN6, input_std=STD6[:3])


# ---------------------------------------------------------- 6. background
def test_background_threshold_labels_in_predict_and_never_edits_probabilities():
    """SegEarth-OV's rule: predict() labels bg_class where the best class
    probability is under bg_thresh; forward() keeps the probabilities (an
    unsure pixel must not become one-hot, i.e. certain, evidence)."""
    x = torch.randn(2, 3, 40, 56, generator=torch.Generator().manual_seed(9))
    kw = dict(input_size=48, window=32, stride=16, logit_scale=5.0)
    plain = make(**kw)(x)
    top, best = plain.max(1)
    assert top.max() < 0.99  # precondition for the 0.99 case below

    model = make(**kw, bg_thresh=0.99, bg_class=2)
    assert torch.equal(model(x), plain)
    assert (model.predict(x) == 2).all()

    thresh = top.median().item()
    label = make(**kw, bg_thresh=thresh, bg_class=1).predict(x)
    low = top < thresh
    assert low.any() and (~low).any()
    assert torch.equal(label[~low], best[~low])
    assert (label[low] == 1).all()
    assert torch.equal(make(**kw).predict(x), best)

    with pytest.raises(ValueError, match='together'):
        make(bg_thresh=0.5)
    with pytest.raises(ValueError, match='together'):
        make(bg_class=0)
    with pytest.raises(ValueError, match='class index'):
        make(bg_thresh=0.5, bg_class=4)


# --------------------------------------------------------- 7. fingerprint
def test_settings_fingerprint(tmp_path, saved_sd):
    fp = DenseCLIP.settings_fingerprint
    ckpt = tmp_path / 'a' / 'RemoteCLIP-ViT-B-32.pt'
    ckpt.parent.mkdir()
    torch.save(saved_sd, str(ckpt))
    base = dict(class_names='potsdam', model_name='ViT-B-32', checkpoint=str(ckpt))
    explicit = dict(base, type='DenseCLIP', pretrained=None, model_cfg=None,
                    random_init=False, attention='segearth', cls_lambda=0.3,
                    logit_scale=50.0, synonym_pool='prob', templates='openai_imagenet',
                    input_size=448,
                    window=224, stride=112, rgb_bands=(0, 1, 2),
                    input_mean=(123.675, 116.28, 103.53), input_std=(58.395, 57.12, 57.375),
                    bg_thresh=None, bg_class=None, image_size=None)
    ref = fp(**base)
    assert isinstance(ref, str) and len(ref) == 16
    assert fp(**explicit) == ref
    assert fp(**dict(base, rgb_bands=[0, 1, 2])) == ref
    # the ready list written out as its dict is the same class list
    assert fp(**dict(base, class_names=RS_CLASS_NAMES['potsdam'])) == ref
    # a pretrained tag is not used when a checkpoint is given
    assert fp(**dict(base, pretrained='openai')) == ref

    assert fp(**dict(base, attention='sclip')) != ref
    assert fp(**dict(base, cls_lambda=0.0)) != ref
    assert fp(**dict(base, synonym_pool='logit')) != ref
    # the background rule does not shape the probabilities a cache holds
    assert fp(**dict(base, bg_thresh=0.3, bg_class=0)) == ref
    assert fp(**dict(base, class_names='loveda')) != ref
    reordered = dict(reversed(list(RS_CLASS_NAMES['potsdam'].items())))
    assert fp(**dict(base, class_names=reordered)) != ref

    # by content: a moved or renamed copy is the same weights
    moved = tmp_path / 'b' / 'RemoteCLIP-ViT-B-32.pt'
    moved.parent.mkdir()
    shutil.copy(str(ckpt), str(moved))
    assert fp(**dict(base, checkpoint=str(moved))) == ref
    renamed = tmp_path / 'b' / 'GeoRSCLIP-ViT-B-32.pt'
    shutil.copy(str(ckpt), str(renamed))
    assert fp(**dict(base, checkpoint=str(renamed))) == ref
    bigger = tmp_path / 'c' / 'RemoteCLIP-ViT-B-32.pt'
    bigger.parent.mkdir()
    torch.save(dict(saved_sd, extra=torch.zeros(1000)), str(bigger))
    assert bigger.stat().st_size != ckpt.stat().st_size
    assert fp(**dict(base, checkpoint=str(bigger))) != ref
    # other weights, same name and the same size: another key
    swapped = tmp_path / 'd' / 'RemoteCLIP-ViT-B-32.pt'
    swapped.parent.mkdir()
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of a weight changed
    swapped.write_bytes(bytes(data))
    assert swapped.stat().st_size == ckpt.stat().st_size
    assert fp(**dict(base, checkpoint=str(swapped))) != ref

    with pytest.raises(TypeError):
        fp(**dict(base, no_such_setting=1))

    # an instance carries the fingerprint of its own settings
    kw = dict(class_names=CLASSES, model_name=NAME, model_cfg=TINY, checkpoint=str(ckpt),
              templates=['a photo of {}.'], input_size=32, window=None)
    torch.manual_seed(0)
    assert DenseCLIP(**kw).fingerprint == fp(**kw)
    assert fp(**kw) != fp(**dict(kw, checkpoint=str(moved), attention='maskclip'))


def test_file_digest_is_computed_once_per_file_version(tmp_path, monkeypatch):
    """The content hash is remembered by (path, size, mtime): a second
    fingerprint does not read the file again; a rewritten file is hashed
    again."""
    import hashlib
    from semiearth.vlm.file_digest import file_digest
    monkeypatch.setenv('SEMIEARTH_CACHE_HOME', str(tmp_path / 'home'))
    path = tmp_path / 'w.pt'
    path.write_bytes(b'abc' * 1000)
    reads = []
    real = hashlib.sha256
    monkeypatch.setattr(hashlib, 'sha256', lambda: reads.append(1) or real())
    first = file_digest(str(path))
    assert first == real(b'abc' * 1000).hexdigest() and len(reads) == 1
    assert file_digest(str(path)) == first and len(reads) == 1
    import os
    path.write_bytes(b'abd' * 1000)
    os.utime(path, ns=(1, 10**18))
    assert file_digest(str(path)) != first and len(reads) == 2
    assert file_digest(str(tmp_path / 'missing.pt')) is None


# ------------------------------------------------------------- 8. frozen
def test_frozen_and_always_in_eval_mode():
    model = make(input_size=48, window=32, stride=16)
    assert not any(p.requires_grad for p in model.parameters())
    assert not any(m.training for m in model.clip.modules())
    assert model.train() is model
    assert not any(m.training for m in model.modules())
    model.train(True)
    assert not model.training and not model.clip.visual.training
    x = torch.randn(1, 3, 40, 56, requires_grad=True)
    out = model(x)
    assert out.grad_fn is None and not out.requires_grad
    assert torch.equal(out, model(x))  # deterministic: no dropout anywhere


# ------------------------------------------------------- 9. SimFeatUp
TINY16 = dict(TINY, vision_cfg=dict(TINY['vision_cfg'], patch_size=16))


def test_feature_up_upsamples_patch_tokens_before_the_text_similarity(tmp_path):
    """SegEarth-OV's feature_up: projected patch tokens (N, E, gh, gw) ->
    SimFeatUp guided by the CLIP-normalised window -> (N, E, H, W); then per
    pixel sims = norm(f).text - cls_lambda * norm(cls).text. The released
    checkpoint format loads strictly from a local file."""
    from test_sim_feat_up import randomize, release_file
    from semiearth.vlm import SimFeatUp
    up = randomize(SimFeatUp(feat_dim=32), seed=3)
    path = release_file(tmp_path / 'xclip_jbu_one_million_aid.ckpt', up)
    model = make(model_cfg=TINY16, feature_up=path, cls_lambda=0.3, input_size=64)
    assert model.upsampler is not None and not model.upsampler.training
    x = clip_input(2, 64, 48)
    with torch.no_grad():
        sims = model.dense_sims(x)
        patch, cls = model.dense_features(x)
        feats = up(patch.transpose(1, 2).reshape(2, 32, 4, 3), x)        # (2, 32, 64, 48)
    text = model.text_embeds
    ref = torch.einsum('nehw,se->nshw', F.normalize(feats, dim=1), text) \
        - 0.3 * (F.normalize(cls, dim=-1) @ text.t())[:, :, None, None]
    assert sims.shape == (2, 4, 64, 48)
    torch.testing.assert_close(sims, ref, atol=1e-5, rtol=1e-5)
    # end to end: probabilities at the input size, other than without it
    img = torch.randn(1, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    with_up = model(img)
    assert with_up.shape == (1, 4, 40, 40)
    plain = make(model_cfg=TINY16, cls_lambda=0.3, input_size=64)
    assert (with_up - plain(img)).abs().max() > 1e-3
    # the upsampler file is part of the evidence's key
    kw = dict(class_names=CLASSES, model_name=NAME, model_cfg=TINY16, random_init=True)
    assert DenseCLIP.settings_fingerprint(**kw) != \
        DenseCLIP.settings_fingerprint(**dict(kw, feature_up=path))


def test_feature_up_needs_patch_16_and_matching_width(tmp_path):
    from test_sim_feat_up import randomize, release_file
    from semiearth.vlm import SimFeatUp
    path = release_file(tmp_path / 'up.ckpt', randomize(SimFeatUp(feat_dim=32)))
    with pytest.raises(ValueError, match='8-px patches'):
        make(feature_up=path)
    wide = release_file(tmp_path / 'wide.ckpt', randomize(SimFeatUp(feat_dim=64)))
    with pytest.raises(ValueError, match='64-channel'):
        make(model_cfg=TINY16, feature_up=wide)
    with pytest.raises(FileNotFoundError, match='nowhere.ckpt'):
        make(model_cfg=TINY16, feature_up=str(tmp_path / 'nowhere.ckpt'))


def test_offline_without_cached_weights_fails_in_seconds(monkeypatch):
    """open_clip retries a download for about a minute; with the weights not
    in the local cache and the host unreachable, build_open_clip says so at
    once, with the offline hint, and never asks open_clip to download."""
    import time
    from semiearth.vlm import open_clip_loader as loader
    monkeypatch.setattr(loader, '_reachable', lambda host, timeout: False)
    class Asked(Exception):
        pass

    def create_model(*args, **kwargs):
        raise Asked('open_clip asked to download')
    monkeypatch.setattr(open_clip, 'create_model', create_model)
    t0 = time.time()
    with pytest.raises(RuntimeError, match=r'huggingface\.co cannot be reached.*'
                       r'--vlm-checkpoint PATH'):
        build_open_clip('ViT-B-16', pretrained='openai')
    assert time.time() - t0 < 5
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(RuntimeError, match='HF_HUB_OFFLINE=1'):
        build_open_clip('ViT-B-16', pretrained='openai')
    # weights in the local cache: no network needed, open_clip is asked
    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, 'try_to_load_from_cache', lambda repo, name: '/x')
    with pytest.raises(Exception, match='open_clip asked to download'):
        build_open_clip('ViT-B-16', pretrained='openai')


def test_truncated_checkpoint_is_called_corrupt_not_another_architecture(tmp_path, saved_sd):
    path = tmp_path / 'RemoteCLIP-tiny.pt'
    torch.save(saved_sd, path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(ValueError, match=r'corrupt.*incomplete.*download it again') as err:
        build_open_clip(NAME, checkpoint=str(path), model_cfg=TINY)
    assert 'model_name' not in str(err.value)


def test_architecture_is_inferred_from_the_file_shapes():
    """A ViT-B/32 vision tower (width 768, patch 32, 12 blocks, 7 x 7 grid,
    embedding 512) is recognised by its shapes (no weights needed)."""
    from semiearth.vlm.open_clip_loader import infer_architectures
    meta = dict(device='meta')
    state = {'visual.conv1.weight': torch.empty(768, 3, 32, 32, **meta),
             'visual.positional_embedding': torch.empty(50, 768, **meta),
             'visual.proj': torch.empty(768, 512, **meta)}
    state.update({f'visual.transformer.resblocks.{i}.ln_1.weight': torch.empty(768, **meta)
                  for i in range(12)})
    found = infer_architectures(state)
    assert found and found[0] == 'ViT-B-32', found
    assert infer_architectures({'module.' + k: v for k, v in state.items()}) == found
    assert infer_architectures({'text.x': torch.empty(1)}) == []


def test_wrong_architecture_names_both(tmp_path, monkeypatch):
    """The error names the configured architecture and the file's (here the
    file is a tiny model of no named architecture; a named one is reported by
    name, as infer_architectures finds it)."""
    from semiearth.vlm import open_clip_loader as loader
    torch.manual_seed(0)
    path = str(tmp_path / 'wider.pt')
    torch.save(open_clip.CLIP(**OTHER).state_dict(), path)
    with pytest.raises(ValueError, match=r"does not fit .*'tiny-clip'; the file's "
                       r"architecture is none of open_clip's named ones"):
        build_open_clip(NAME, checkpoint=path, model_cfg=TINY)
    monkeypatch.setattr(loader, 'infer_architectures', lambda state: ['ViT-B-32'])
    with pytest.raises(ValueError, match=r"'tiny-clip'; the file holds 'ViT-B-32'.*"
                       r'set model_name'):
        build_open_clip(NAME, checkpoint=path, model_cfg=TINY)


def test_no_random_init_warning_before_loading_local_weights(tmp_path, saved_sd, caplog,
                                                             monkeypatch):
    """open_clip warns "No pretrained weights loaded ... initialized
    randomly" when a named architecture is built without a tag; with a local
    checkpoint loaded right after, that warning is wrong and is dropped
    (other warnings pass)."""
    import logging
    path = tmp_path / 'tiny.pt'
    torch.save(saved_sd, path)

    def create_model(name, pretrained=None, force_image_size=None):
        logging.warning(f"No pretrained weights loaded for model '{name}'. Model "
                        'initialized randomly.')
        logging.warning('another warning')
        return open_clip.CLIP(**TINY)
    monkeypatch.setattr(open_clip, 'create_model', create_model)
    monkeypatch.setattr(open_clip, 'list_models', lambda: ['tiny-named'])
    monkeypatch.setattr(open_clip, 'get_tokenizer', lambda name: open_clip.SimpleTokenizer())
    with caplog.at_level(logging.WARNING):
        build_open_clip('tiny-named', checkpoint=str(path))
    messages = [r.getMessage() for r in caplog.records]
    assert 'another warning' in messages
    assert not any('initialized randomly' in m for m in messages)
