"""benchmarks/pipeline.py's paired design: one seed, the same labelled stream for every method."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import pipeline
from test_resume import RECIPE, small_corpus

from sertoolkit.augment import SpecAugment


def _labelled_views(monkeypatch: pytest.MonkeyPatch, method: str, seed: int) -> list[torch.Tensor]:
    """Every labelled SpecAugment view a run trains on, in order, and the initial weights."""
    seen: list[torch.Tensor] = []
    labelled_seed = pipeline._stream_seed(seed, "labelled")

    class Recording(SpecAugment):
        def forward(self, x, lengths=None, *, generator=None):
            out = super().forward(x, lengths, generator=generator)
            if generator is not None and generator.initial_seed() == labelled_seed:
                seen.append(out.detach().clone())
            return out

    monkeypatch.setattr(pipeline, "SpecAugment", Recording)
    built: list[torch.Tensor] = []
    make_model = pipeline.make_model

    def recording_make_model(corpus, recipe):
        model = make_model(corpus, recipe)
        built.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
        return model

    monkeypatch.setattr(pipeline, "make_model", recording_make_model)
    pipeline.train_run(pipeline.METHODS[method], small_corpus(), RECIPE, seed, torch.device("cpu"))
    return built + seen


@pytest.mark.parametrize("method", ["fixmatch", "cr_eps0.5", "pi_model", "temporal_ensembling"])
def test_every_method_of_a_seed_sees_the_supervised_runs_labelled_stream(
    monkeypatch: pytest.MonkeyPatch, method: str
):
    # the same initial weights, labelled batches (order) and labelled-view masks, epoch after
    # epoch, whatever the method draws for its unlabelled views and fusion rule
    reference = _labelled_views(monkeypatch, "supervised", 4)
    views = _labelled_views(monkeypatch, method, 4)
    steps = pipeline.steps_of(small_corpus(), RECIPE)
    assert len(reference) == len(views) == steps + 1
    for a, b in zip(reference, views, strict=True):
        assert torch.equal(a, b)


def test_another_seed_gives_another_labelled_stream(monkeypatch: pytest.MonkeyPatch):
    a = _labelled_views(monkeypatch, "supervised", 4)
    b = _labelled_views(monkeypatch, "supervised", 5)
    assert not torch.equal(a[0], b[0])
    assert not torch.equal(a[1], b[1])


def test_streams_are_independent_and_restorable():
    s = pipeline.Streams(3, torch.device("cpu"))
    seeds = {getattr(s, n).initial_seed() for n in pipeline.Streams.NAMES}
    assert len(seeds) == 4
    state = s.state()
    first = torch.rand(3, generator=s.fusion)
    s.load(state)
    assert torch.equal(torch.rand(3, generator=s.fusion), first)
