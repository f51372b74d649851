"""Checkpointed (method, seed) runs: killed at any epoch, resumed, they end exactly the same."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks import pipeline
from benchmarks.corpus import Corpus


class InterruptedRunError(Exception):
    pass


def small_corpus() -> Corpus:
    g = torch.Generator().manual_seed(0)
    x = {k: torch.randn(n, 12, 8, generator=g) for k, n in
         (("train", 40), ("val", 12), ("test", 12), ("unlabelled", 48))}  # fmt: skip
    lengths = {k: torch.randint(3, 13, (v.shape[0],), generator=g) for k, v in x.items()}
    y = {k: torch.randint(0, 3, (v.shape[0],), generator=g) for k, v in x.items()}
    for k in ("train", "val", "test"):
        x[k][y[k] == 1] += 0.5  # something to learn
    visual = torch.rand(48, 3, generator=g).softmax(-1)
    return Corpus(
        "chsims", ("negative", "neutral", "positive"), x, lengths, y, visual,
        torch.rand(48, generator=g) > 0.2, y["unlabelled"], y["unlabelled"], {},
    )  # fmt: skip


RECIPE = pipeline.Recipe(4, 16, 2, 1, 32, 1, 0.35)


def assert_same_run(
    run: pipeline.RunResult,
    state: dict[str, torch.Tensor],
    reference: pipeline.RunResult,
    ref_state: dict[str, torch.Tensor],
) -> None:
    """Two runs ended exactly alike: metrics, curves, telemetry and every weight."""
    assert run.metrics == reference.metrics
    assert run.confusion == reference.confusion
    assert run.val_curve == reference.val_curve
    assert run.best_epoch == reference.best_epoch
    assert run.telemetry == reference.telemetry
    for k, v in ref_state.items():
        assert torch.equal(state[k], v), k


@pytest.mark.parametrize("method", ["fixmatch", "cr_eps0.5", "temporal_ensembling", "pi_model"])
@pytest.mark.parametrize("stop_epoch", [1, 3])
def test_a_resumed_run_ends_exactly_like_an_uninterrupted_one(
    tmp_path: Path, method: str, stop_epoch: int
):
    corpus = small_corpus()
    m = pipeline.METHODS[method]
    reference, ref_state = pipeline.train_run(m, corpus, RECIPE, 3, torch.device("cpu"))
    steps = pipeline.steps_of(corpus, RECIPE) // RECIPE.epochs
    ckpt = tmp_path / "seed3.ckpt"
    done = [0]

    def killer(n: int) -> None:
        done[0] += n
        if done[0] > stop_epoch * steps:  # dies in the middle of epoch `stop_epoch`
            raise InterruptedRunError

    with pytest.raises(InterruptedRunError):
        pipeline.train_run(m, corpus, RECIPE, 3, torch.device("cpu"), progress=killer,
                           checkpoint=ckpt)  # fmt: skip
    assert ckpt.exists()
    assert torch.load(ckpt, weights_only=False)["epoch"] == stop_epoch - 1
    resumed, state = pipeline.train_run(m, corpus, RECIPE, 3, torch.device("cpu"), checkpoint=ckpt)
    assert not ckpt.exists()  # removed once the run is finished
    assert_same_run(resumed, state, reference, ref_state)


PLATEAU = pipeline.Recipe(10, 16, 2, 1, 32, 1, 0.35, patience=2, min_epochs=5)


def test_a_plateau_stopped_run_resumes_and_stops_where_it_would_have(tmp_path: Path):
    corpus = small_corpus()
    m = pipeline.METHODS["cr_eps0.5"]
    reference, ref_state = pipeline.train_run(m, corpus, PLATEAU, 1, torch.device("cpu"))
    stopped = len(reference.val_curve)
    assert stopped < PLATEAU.epochs  # the plateau rule fired: otherwise this tests nothing
    assert stopped - 1 - reference.best_epoch >= PLATEAU.patience
    # without stopping, the same run goes through the same epochs; the stopped one kept the
    # best of those it saw (the first maximum of the shared prefix)
    full, _ = pipeline.train_run(
        m, corpus, pipeline.Recipe(10, 16, 2, 1, 32, 1, 0.35), 1, torch.device("cpu")
    )
    seen = full.val_curve[:stopped]
    assert seen == reference.val_curve
    assert reference.best_epoch == seen.index(max(seen))
    # killed in the epoch before the plateau, resumed: the same stop, the same model
    steps = pipeline.steps_of(corpus, PLATEAU) // PLATEAU.epochs
    ckpt = tmp_path / "seed1.ckpt"
    done = [0]

    def killer(n: int) -> None:
        done[0] += n
        if done[0] > (stopped - 1) * steps:
            raise InterruptedRunError

    with pytest.raises(InterruptedRunError):
        pipeline.train_run(m, corpus, PLATEAU, 1, torch.device("cpu"), progress=killer,
                           checkpoint=ckpt)  # fmt: skip
    counted = [0]
    resumed, state = pipeline.train_run(
        m, corpus, PLATEAU, 1, torch.device("cpu"), checkpoint=ckpt,
        progress=lambda n: counted.__setitem__(0, counted[0] + n),
    )  # fmt: skip
    assert not ckpt.exists()
    assert_same_run(resumed, state, reference, ref_state)
    # the progress bar still reaches its total: the skipped epochs are counted at the stop
    assert counted[0] == pipeline.steps_of(corpus, PLATEAU)
