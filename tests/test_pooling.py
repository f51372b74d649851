from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sertoolkit.pooling import frame_indices, pool_frames


@given(st.integers(0, 2000))
def test_frame_indices_paper_setting_is_every_sixth(n):
    idx = frame_indices(n)
    assert idx.tolist() == list(range(0, n, 6))
    assert idx.dtype == torch.long


@given(st.integers(0, 500), st.floats(1.0, 60.0), st.floats(0.01, 2.0))
def test_frame_indices_properties(n, fps, interval):
    idx = frame_indices(n, fps=fps, interval=interval).tolist()
    assert all(0 <= i < n for i in idx)
    assert idx == sorted(set(idx))  # strictly increasing
    if n > 0:
        assert idx[0] == 0
        # every sampled time below the clip's end is represented
        step = interval * fps  # frames between samples, as documented
        expected = {round(k * step) for k in range(int(n / step) + 2)}
        assert set(idx) == {i for i in expected if i < n}


@st.composite
def frame_batches(draw: st.DrawFn):
    batch = draw(st.integers(0, 6))
    frames = draw(st.integers(0, 10))
    classes = draw(st.integers(1, 7))
    seed = draw(st.integers(0, 10**6))
    g = torch.Generator().manual_seed(seed)
    probs = (torch.randn(batch, frames, classes, generator=g) * 3).softmax(-1)
    mask = torch.rand(batch, frames, generator=g) < draw(st.floats(0.0, 1.0))
    return probs, mask


@pytest.mark.parametrize("method", ["mean", "max", "geometric"])
@given(frame_batches())
def test_pool_frames_distributions_and_flags(method, batch):
    probs, mask = batch
    pooled, has = pool_frames(probs, mask, method=method)
    assert pooled.shape == (probs.shape[0], probs.shape[2])
    assert torch.equal(has, mask.any(1))
    assert torch.isfinite(pooled).all()
    sums = pooled.sum(1)
    assert torch.allclose(sums[has], torch.ones_like(sums[has]), atol=1e-5)
    assert torch.equal(pooled[~has], torch.zeros_like(pooled[~has]))


@given(frame_batches())
def test_pool_frames_mean_is_average_of_valid_frames(batch):
    probs, mask = batch
    pooled, has = pool_frames(probs, mask)
    for i in range(probs.shape[0]):
        if has[i]:
            want = probs[i][mask[i]].double().mean(0)
            assert torch.allclose(pooled[i].double(), want / want.sum(), atol=1e-6)


def test_pool_frames_ignores_invalid_frame_values():
    probs = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    mask = torch.tensor([[True, False]])
    pooled, _ = pool_frames(probs, mask)
    assert pooled.tolist() == [[1.0, 0.0]]
    poisoned = probs.clone()
    poisoned[0, 1] = float("nan")
    assert pool_frames(poisoned, mask)[0].tolist() == [[1.0, 0.0]]


def test_pool_frames_default_mask_and_dtype():
    probs = torch.full((2, 3, 4), 0.25, dtype=torch.float16)
    pooled, has = pool_frames(probs)
    assert pooled.dtype == torch.float16 and has.all()


def test_pool_frames_device(device):
    probs = torch.full((2, 3, 4), 0.25, device=device)
    pooled, has = pool_frames(probs, torch.ones(2, 3, dtype=torch.bool, device=device))
    assert pooled.device.type == device.type and has.device.type == device.type
