"""Augmentations: properties, and masking semantics against torchaudio."""

from __future__ import annotations

import pytest
import torch
import torchaudio
from hypothesis import given
from hypothesis import strategies as st

from sertoolkit.augment import (
    FeatureDropout,
    SpecAugment,
    SpecAugmentMasks,
    apply_spec_augment,
    feature_dropout,
    spec_augment,
    spec_augment_masks,
)
from sertoolkit.masking import lengths_to_mask


@st.composite
def padded_batches(draw: st.DrawFn):
    batch = draw(st.integers(0, 8))
    frames = draw(st.integers(0, 60))
    bins = draw(st.integers(1, 24))
    lengths = draw(st.lists(st.integers(0, frames), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 2**31 - 1))
    x = torch.randn(batch, frames, bins, generator=torch.Generator().manual_seed(seed)) + 5.0
    return x, torch.tensor(lengths, dtype=torch.long), seed


settings_masks = st.tuples(
    st.integers(0, 4), st.integers(0, 30), st.integers(0, 4), st.integers(0, 12)
)


# --- feature dropout ---------------------------------------------------------------------


@given(st.floats(0.0, 0.95), st.integers(0, 2**31 - 1))
def test_feature_dropout_zeroes_or_scales(p, seed):
    x = torch.rand(4, 30, 16) + 0.5
    y = feature_dropout(x, p, generator=torch.Generator().manual_seed(seed))
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / (1 - p))
    assert y.shape == x.shape and y.dtype == x.dtype


def test_feature_dropout_identity_at_zero_and_zeros_at_one():
    x = torch.randn(3, 5, 7)
    assert torch.equal(feature_dropout(x, 0.0), x)
    assert torch.equal(feature_dropout(x, 1.0), torch.zeros_like(x))


def test_feature_dropout_rate_and_expectation():
    x = torch.ones(200, 100, 10)
    y = feature_dropout(x, 0.25, generator=torch.Generator().manual_seed(0))
    assert abs((y == 0).float().mean().item() - 0.25) < 0.005
    assert abs(y.mean().item() - 1.0) < 0.01


def test_feature_dropout_generator_replays_and_spares_global_rng():
    x = torch.randn(2, 10, 8)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a = feature_dropout(x, 0.5, generator=torch.Generator().manual_seed(3))
    b = feature_dropout(x, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(state, torch.get_rng_state())


def test_feature_dropout_module_is_identity_in_eval():
    m = FeatureDropout(0.5)
    x = torch.randn(2, 4, 3)
    assert m.eval()(x) is x
    g = torch.Generator().manual_seed(1)
    assert torch.equal(
        m.train()(x, generator=g),
        feature_dropout(x, 0.5, generator=torch.Generator().manual_seed(1)),
    )
    assert "p=0.5" in repr(m)


def test_feature_dropout_bf16_keeps_dtype():
    x = torch.randn(2, 4, 3, dtype=torch.bfloat16)
    assert feature_dropout(x, 0.3).dtype == torch.bfloat16


# --- spec augment: properties -------------------------------------------------------------


@given(padded_batches(), settings_masks)
def test_spec_augment_never_touches_padding(batch, settings):
    x, lengths, seed = batch
    tm, tw, fm, fw = settings
    y = spec_augment(
        x,
        time_masks=tm,
        time_width=tw,
        freq_masks=fm,
        freq_width=fw,
        lengths=lengths,
        fill=-100.0,
        generator=torch.Generator().manual_seed(seed),
    )
    valid = lengths_to_mask(lengths, x.shape[1])
    assert torch.equal(y[~valid], x[~valid])
    changed = y != x
    assert bool((y[changed] == -100.0).all())
    assert y.shape == x.shape and y.dtype == x.dtype


@given(padded_batches(), settings_masks)
def test_spec_augment_mask_size_bounds(batch, settings):
    x, lengths, seed = batch
    tm, tw, fm, fw = settings
    masks = spec_augment_masks(
        x.shape[0],
        x.shape[1],
        x.shape[2],
        time_masks=tm,
        time_width=tw,
        freq_masks=fm,
        freq_width=fw,
        lengths=lengths,
        generator=torch.Generator().manual_seed(seed),
    )
    assert bool((masks.time.sum(1) <= tm * max(tw - 1, 0)).all())
    assert bool((masks.freq.sum(1) <= fm * max(fw - 1, 0)).all())
    # time masks lie inside each example's valid frames
    assert not bool((masks.time & ~lengths_to_mask(lengths, x.shape[1])).any())


@given(padded_batches())
def test_spec_augment_identity_at_zero_strength(batch):
    x, lengths, seed = batch
    y = spec_augment(
        x,
        time_masks=0,
        time_width=10,
        freq_masks=2,
        freq_width=0,
        lengths=lengths,
        generator=torch.Generator().manual_seed(seed),
    )
    assert torch.equal(y, x)


def test_spec_augment_masks_differ_between_examples():
    x = torch.ones(8, 200, 64)
    y = spec_augment(
        x,
        time_masks=2,
        time_width=40,
        freq_masks=2,
        freq_width=20,
        generator=torch.Generator().manual_seed(0),
    )
    patterns = {tuple(row.flatten().tolist()) for row in (y == 0)}
    assert len(patterns) == 8


def test_spec_augment_no_cross_example_dependence():
    """Example 0's output does not depend on the other examples' values."""
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    x = torch.randn(4, 50, 20)
    x2 = x.clone()
    x2[1:] = x2[1:] * 100 + 7
    kw = {"time_masks": 2, "time_width": 10, "freq_masks": 2, "freq_width": 5}
    assert torch.equal(
        spec_augment(x, generator=g1, **kw)[0], spec_augment(x2, generator=g2, **kw)[0]
    )


def test_spec_augment_replay_masks_on_another_tensor():
    masks = spec_augment_masks(
        3,
        40,
        16,
        time_masks=2,
        time_width=8,
        freq_masks=1,
        freq_width=4,
        generator=torch.Generator().manual_seed(2),
    )
    x = torch.randn(3, 40, 16)
    direct = spec_augment(
        x,
        time_masks=2,
        time_width=8,
        freq_masks=1,
        freq_width=4,
        generator=torch.Generator().manual_seed(2),
    )
    assert torch.equal(apply_spec_augment(x, masks), direct)


def test_spec_augment_masks_cover_nearly_full_width():
    """Widths reach time_width - 1 (torchaudio's floor(U(0, W)))."""
    masks = spec_augment_masks(
        4000,
        100,
        8,
        time_masks=1,
        time_width=10,
        freq_masks=0,
        freq_width=0,
        generator=torch.Generator().manual_seed(0),
    )
    widths = masks.time.sum(1)
    assert widths.max().item() == 9 and widths.min().item() == 0


def test_spec_augment_module():
    m = SpecAugment(time_masks=1, time_width=5, freq_masks=1, freq_width=3, fill=-1.0)
    x = torch.randn(2, 20, 10)
    assert m.eval()(x) is x
    y = m.train()(x, torch.tensor([20, 10]), generator=torch.Generator().manual_seed(0))
    z = spec_augment(
        x,
        time_masks=1,
        time_width=5,
        freq_masks=1,
        freq_width=3,
        fill=-1.0,
        lengths=torch.tensor([20, 10]),
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(y, z)
    assert "time_width=5" in repr(m)


def test_spec_augment_gradient_and_bf16():
    x = torch.randn(2, 20, 10, requires_grad=True)
    y = spec_augment(
        x,
        time_masks=1,
        time_width=5,
        freq_masks=1,
        freq_width=3,
        generator=torch.Generator().manual_seed(0),
    )
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).float())
    xb = torch.randn(2, 20, 10, dtype=torch.bfloat16)
    assert (
        spec_augment(xb, time_masks=1, time_width=5, freq_masks=1, freq_width=3).dtype
        == torch.bfloat16
    )


def test_spec_augment_on_device(device):
    x = torch.randn(4, 30, 12, device=device)
    lengths = torch.tensor([30, 10, 0, 5], device=device)
    g = torch.Generator(device=device).manual_seed(0)
    y = spec_augment(
        x,
        time_masks=2,
        time_width=6,
        freq_masks=1,
        freq_width=4,
        lengths=lengths,
        generator=g,
        validate=False,
    )
    assert y.device.type == device.type


# --- spec augment: reference comparison with torchaudio ----------------------------------


@given(
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 5),
    time_masks=st.integers(0, 3),
    time_width=st.integers(0, 40),
    freq_masks=st.integers(0, 3),
    freq_width=st.integers(0, 24),
)
def test_matches_torchaudio_spec_augment_draw_for_draw(
    seed, batch, time_masks, time_width, freq_masks, freq_width
):
    """No padding, float32: the same global seed gives torchaudio's iid masks exactly."""
    x = torch.randn(batch, 50, 24)
    torch.manual_seed(seed)
    reference = torchaudio.transforms.SpecAugment(
        n_time_masks=time_masks,
        time_mask_param=time_width,
        n_freq_masks=freq_masks,
        freq_mask_param=freq_width,
        iid_masks=True,
        zero_masking=True,
    )
    # torchaudio's layout is (batch, channel, freq, time)
    want = reference(x.transpose(1, 2).unsqueeze(1)).squeeze(1).transpose(1, 2)
    torch.manual_seed(seed)
    got = spec_augment(
        x,
        time_masks=time_masks,
        time_width=time_width,
        freq_masks=freq_masks,
        freq_width=freq_width,
    )
    assert torch.equal(got, want)


@given(st.integers(9, 40), st.integers(1, 30), st.integers(1, 20), st.integers(0, 10**6))
def test_apply_chunked_cpu_path_equals_one_mask(batch: int, frames: int, bins: int, seed: int):
    # batches above the CPU chunk size take the chunked path; requires_grad takes the other
    from sertoolkit.augment import apply_spec_augment, spec_augment_masks

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, frames, bins, generator=g)
    lengths = torch.randint(0, frames + 1, (batch,), generator=g)
    masks = spec_augment_masks(
        batch, frames, bins, time_masks=2, time_width=max(1, frames // 3), freq_masks=2,
        freq_width=max(1, bins // 3), lengths=lengths, generator=g,
    )  # fmt: skip
    chunked = apply_spec_augment(x, masks, lengths=lengths, fill=-1.5)
    single = apply_spec_augment(x.clone().requires_grad_(), masks, lengths=lengths, fill=-1.5)
    assert torch.equal(chunked, single.detach())
    valid = torch.arange(frames) < lengths.unsqueeze(1)
    naive = x.clone()
    for b in range(batch):
        for t in range(frames):
            if valid[b, t]:
                naive[b, t][masks.freq[b]] = -1.5
                if masks.time[b, t]:
                    naive[b, t] = -1.5
    assert torch.equal(chunked, naive)


@given(st.integers(1, 20), st.integers(1, 30), st.integers(8, 40), st.integers(0, 10**6))
def test_apply_cpu_paths_take_any_masks(batch: int, frames: int, bins: int, seed: int):
    # hand-made masks with many separate bin runs take the chunked path, few runs the slice
    # path; both equal the autograd path (one full mask) and each other's definition
    from sertoolkit.augment import SpecAugmentMasks, apply_spec_augment

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, frames, bins, generator=g)
    lengths = torch.randint(0, frames + 1, (batch,), generator=g)
    valid = torch.arange(frames) < lengths.unsqueeze(1)
    for density in (0.05, 0.5):
        masks = SpecAugmentMasks(
            (torch.rand(batch, frames, generator=g) < density) & valid,
            torch.rand(batch, bins, generator=g) < density,
        )
        fast = apply_spec_augment(x, masks, lengths=lengths, fill=2.5)
        slow = apply_spec_augment(x.clone().requires_grad_(), masks, lengths=lengths, fill=2.5)
        assert torch.equal(fast, slow.detach())


# --- spec augment: out= ----------------------------------------------------------------


@given(
    st.integers(1, 20),
    st.integers(1, 30),
    st.integers(8, 40),
    st.sampled_from([0.05, 0.2, 0.6]),
    st.integers(0, 10**6),
)
def test_apply_out_equals_out_of_place(
    batch: int, frames: int, bins: int, density: float, seed: int
):
    # every CPU path (slices for few runs, chunks for many): a preallocated buffer, a
    # transposed (non-contiguous) buffer, a disjoint slice of x's own storage and x itself (in
    # place) all receive exactly the out-of-place result of the autograd (torch.where) path,
    # and the call returns the buffer
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, frames, bins, generator=g)
    lengths = torch.randint(0, frames + 1, (batch,), generator=g)
    valid = torch.arange(frames) < lengths.unsqueeze(1)
    masks = SpecAugmentMasks(
        (torch.rand(batch, frames, generator=g) < density) & valid,
        torch.rand(batch, bins, generator=g) < density,
    )
    want = apply_spec_augment(x.clone().requires_grad_(), masks, lengths=lengths, fill=-3.0)
    want = want.detach()
    buffer = torch.full_like(x, float("nan"))
    assert apply_spec_augment(x, masks, lengths=lengths, fill=-3.0, out=buffer) is buffer
    assert torch.equal(buffer, want)
    strided = torch.full((batch, bins, frames), float("nan")).transpose(1, 2)
    assert apply_spec_augment(x, masks, lengths=lengths, fill=-3.0, out=strided) is strided
    assert torch.equal(strided, want)
    inplace = x.clone()
    assert apply_spec_augment(inplace, masks, lengths=lengths, fill=-3.0, out=inplace) is inplace
    assert torch.equal(inplace, want)
    storage = torch.cat([x, torch.full_like(x, float("nan"))])
    neighbour = storage[batch:]
    assert (
        apply_spec_augment(storage[:batch], masks, lengths=lengths, fill=-3.0, out=neighbour)
        is neighbour
    )
    assert torch.equal(neighbour, want)
    assert torch.equal(storage[:batch], x)


def test_spec_augment_out_draws_the_same_masks(device):
    x = torch.randn(6, 40, 16, device=device)
    lengths = torch.tensor([40, 30, 0, 5, 17, 40], device=device)
    kwargs = {"time_masks": 2, "time_width": 8, "freq_masks": 2, "freq_width": 5}
    want = spec_augment(
        x, **kwargs, lengths=lengths, generator=torch.Generator(device).manual_seed(3)
    )
    out = torch.empty_like(x)
    got = spec_augment(
        x, **kwargs, lengths=lengths, generator=torch.Generator(device).manual_seed(3), out=out
    )
    assert got is out
    assert torch.equal(out, want)
    assert not torch.equal(x, want)  # something was masked: the comparison means something


def test_spec_augment_out_with_autograd():
    x = torch.randn(2, 20, 8, requires_grad=True)
    kwargs = {"time_masks": 1, "time_width": 5, "freq_masks": 1, "freq_width": 3}
    with pytest.raises(ValueError, match="Expected `out` to be None when autograd records"):
        spec_augment(x, **kwargs, out=torch.empty(2, 20, 8))
    with pytest.raises(ValueError, match="Expected `out` to be None when autograd records"):
        spec_augment(x.detach(), **kwargs, out=torch.empty(2, 20, 8, requires_grad=True))
    with torch.no_grad():  # e.g. augmenting in a data loader: allowed
        out = spec_augment(
            x, **kwargs, out=torch.empty(2, 20, 8), generator=torch.Generator().manual_seed(5)
        )
        want = spec_augment(x, **kwargs, generator=torch.Generator().manual_seed(5))
    assert not out.requires_grad
    assert torch.equal(out, want)


def test_spec_augment_bad_out_raises_before_any_draw():
    x = torch.randn(2, 20, 8)
    kwargs = {"time_masks": 1, "time_width": 5, "freq_masks": 1, "freq_width": 3}
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    with pytest.raises(ValueError, match=r"Expected `out` to be .* on cpu .*but got .* on meta"):
        spec_augment(x, **kwargs, out=torch.empty(2, 20, 8, device="meta"), generator=g)
    assert torch.equal(g.get_state(), state)


def test_apply_out_rejects_overlap():
    masks = SpecAugmentMasks(torch.rand(4, 10) < 0.3, torch.rand(4, 6) < 0.3)
    storage = torch.randn(6, 10, 6)
    with pytest.raises(ValueError, match="partly overlaps `x`"):
        apply_spec_augment(storage[:4], masks, out=storage[2:])
    expanded = torch.randn(1, 10, 6).expand(4, 10, 6)
    with pytest.raises(ValueError, match="not an expanded view"):
        apply_spec_augment(expanded, masks, out=expanded)
