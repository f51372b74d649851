"""Shared fixtures and hypothesis strategies.

Hypothesis runs derandomised (a fixed seed per test), so every failure replays; set
``HYPOTHESIS_PROFILE=explore`` to search with fresh random seeds.
"""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)


def make_probs(
    batch: int, classes: int, seed: int, scale: float = 3.0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Random probability rows; a large ``scale`` makes them confident."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, classes, generator=g, dtype=torch.float64) * scale
    return logits.softmax(dim=1).to(dtype)


@st.composite
def prob_pairs(
    draw: st.DrawFn, min_batch: int = 0, max_batch: int = 24
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two probability matrices of one shape (audio, visual)."""
    batch = draw(st.integers(min_batch, max_batch))
    classes = draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**31 - 1))
    scale_a = draw(st.floats(0.0, 12.0))
    scale_v = draw(st.floats(0.0, 12.0))
    return make_probs(batch, classes, seed, scale_a), make_probs(batch, classes, seed + 1, scale_v)


@st.composite
def label_pairs(draw: st.DrawFn, max_n: int = 60) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(preds, targets, num_classes)."""
    classes = draw(st.integers(1, 6))
    n = draw(st.integers(0, max_n))
    preds = draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n))
    targets = draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n))
    return (
        torch.tensor(preds, dtype=torch.long),
        torch.tensor(targets, dtype=torch.long),
        classes,
    )
