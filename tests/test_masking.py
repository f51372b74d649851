from __future__ import annotations

import torch
from conftest import make_probs
from hypothesis import given
from hypothesis import strategies as st

from sertoolkit.masking import agreement_mask, confidence_mask, lengths_to_mask, random_mask


@given(st.integers(0, 30), st.integers(1, 6), st.integers(0, 10**6), st.floats(0.0, 1.0))
def test_confidence_mask_is_strict_max_threshold(batch, classes, seed, tau):
    probs = make_probs(batch, classes, seed, scale=5.0)
    mask = confidence_mask(probs, tau)
    assert mask.dtype == torch.bool and mask.shape == (batch,)
    assert mask.tolist() == [max(r) > tau for r in probs.tolist()]


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=40))
def test_agreement_mask(pairs):
    a = torch.tensor([p[0] for p in pairs], dtype=torch.long)
    b = torch.tensor([p[1] for p in pairs], dtype=torch.long)
    assert agreement_mask(a, b).tolist() == [x == y for x, y in pairs]


@given(st.integers(0, 100), st.floats(0.0, 1.0), st.integers(0, 10**6))
def test_random_mask_is_uniform_below_rate(n, rate, seed):
    mask = random_mask(n, rate, generator=torch.Generator().manual_seed(seed))
    w = torch.rand(n, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(mask, w < rate)


def test_random_mask_extremes_and_empty():
    g = torch.Generator().manual_seed(0)
    assert random_mask(1000, 1.0, generator=g).all()
    assert not random_mask(1000, 0.0, generator=g).any()
    assert random_mask(0, 0.5).shape == (0,)


def test_random_mask_device(device):
    g = torch.Generator(device=device).manual_seed(0)
    assert random_mask(5, 0.5, generator=g).device.type == device.type


@given(st.lists(st.integers(0, 12), max_size=10))
def test_lengths_to_mask(lengths):
    mask = lengths_to_mask(torch.tensor(lengths, dtype=torch.long), 12)
    assert mask.shape == (len(lengths), 12)
    assert mask.sum(1).tolist() == lengths
    for row, n in zip(mask.tolist(), lengths):
        assert row == [True] * n + [False] * (12 - n)  # valid frames first
