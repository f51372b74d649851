"""benchmarks/pipeline.py's paired design: one seed, the same labelled stream for every method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_resume import RECIPE, assert_same_run, small_corpus
from torch import nn

from benchmarks import pipeline
from benchmarks.corpus import Corpus
from sertoolkit.augment import SpecAugment
from sertoolkit.schedules import PaperSchedule


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
    assert torch.equal(reference[0], views[0])  # the initial weights
    for a, b in zip(reference[1:], views[1:], strict=True):
        # a method that reads unlabelled clips too cuts its batches at the longest clip of
        # both, the supervised run at the longest labelled one: the shorter holds every
        # valid labelled frame
        frames = min(a.shape[1], b.shape[1])
        assert torch.equal(a[:, :frames], b[:, :frames])


def test_another_seed_gives_another_labelled_stream(monkeypatch: pytest.MonkeyPatch):
    a = _labelled_views(monkeypatch, "supervised", 4)
    b = _labelled_views(monkeypatch, "supervised", 5)
    assert not torch.equal(a[0], b[0])
    assert not torch.equal(a[1], b[1])


def test_streams_are_independent_and_restorable():
    s = pipeline.Streams(3, torch.device("cpu"))
    seeds = {getattr(s, n).initial_seed() for n in pipeline.Streams.NAMES}
    assert len(seeds) == len(pipeline.Streams.NAMES) == 5
    state = s.state()
    first = torch.rand(3, generator=s.fusion)
    s.load(state)
    assert torch.equal(torch.rand(3, generator=s.fusion), first)


WARM = pipeline.Recipe(4, 16, 2, 1, 32, 1, 0.35, warm_start_epochs=2)


def _supervised_snapshot(tmp_path) -> tuple[pipeline.RunResult, object]:
    snapshot = tmp_path / "supervised.warm.pt"
    result, _ = pipeline.train_run(
        pipeline.METHODS["supervised"], small_corpus(), WARM, 2, torch.device("cpu"),
        snapshot=snapshot,
    )  # fmt: skip
    return result, snapshot


@pytest.mark.parametrize("method", ["fixmatch", "wf_alpha0.4", "pi_model", "temporal_ensembling"])
def test_a_warm_started_run_continues_the_supervised_run_of_its_seed(tmp_path, method: str):
    supervised, snapshot = _supervised_snapshot(tmp_path)
    run, _ = pipeline.train_run(
        pipeline.METHODS[method], small_corpus(), WARM, 2, torch.device("cpu"),
        warm_start=snapshot,
    )  # fmt: skip
    # the first two epochs are the supervised run's, exactly; the method trains the last two
    assert run.val_curve[:2] == supervised.val_curve[:2]
    assert len(run.val_curve) == 4
    if method in ("fixmatch", "wf_alpha0.4"):
        assert [t["epoch"] for t in run.telemetry] == [2, 3]
    steps = pipeline.steps_of(small_corpus(), WARM, method=pipeline.METHODS[method])
    assert steps == pipeline.steps_of(small_corpus(), WARM) // 2


def _weights_at_every_evaluation(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """The model's weights each time the run evaluates (every epoch's end, then the test)."""
    seen: list[torch.Tensor] = []
    evaluate = pipeline.evaluate

    def recording(model, *args, **kwargs):
        seen.append(torch.cat([p.detach().flatten() for p in model.parameters()]).clone())
        return evaluate(model, *args, **kwargs)

    monkeypatch.setattr(pipeline, "evaluate", recording)
    return seen


def test_a_supervised_run_warm_started_from_its_own_snapshot_ends_exactly_the_same(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    # everything the run depends on is restored from the snapshot (weights, optimiser,
    # schedule, every random stream, the global RNG): only then are the weights of its last
    # epochs the uninterrupted run's, bit for bit
    weights = _weights_at_every_evaluation(monkeypatch)
    supervised, snapshot = _supervised_snapshot(tmp_path)
    reference = list(weights)
    weights.clear()
    steps = [0]
    again, _ = pipeline.train_run(
        pipeline.METHODS["supervised"], small_corpus(), WARM, 2, torch.device("cpu"),
        warm_start=snapshot, progress=lambda n: steps.__setitem__(0, steps[0] + n),
    )  # fmt: skip
    assert len(reference) == 5 and len(weights) == 3  # epochs 0-3 + test; epochs 2-3 + test
    for a, b in zip(reference[2:], weights, strict=True):
        assert torch.equal(a, b)
    assert again.val_curve == supervised.val_curve
    assert again.metrics == supervised.metrics
    assert again.predictions == supervised.predictions
    assert steps[0] == pipeline.steps_of(small_corpus(), WARM) // 2  # the last two epochs


def test_a_warm_started_run_resumes_exactly(tmp_path):
    _, snapshot = _supervised_snapshot(tmp_path)
    method = pipeline.METHODS["fixmatch"]
    reference, _ = pipeline.train_run(method, small_corpus(), WARM, 2, torch.device("cpu"),
                                      warm_start=snapshot)  # fmt: skip
    ckpt = tmp_path / "fixmatch.ckpt"
    per_epoch = pipeline.steps_of(small_corpus(), WARM) // WARM.epochs
    done = [0]

    def killer(n: int) -> None:
        done[0] += n
        if done[0] > per_epoch:  # dies in the middle of its second own epoch
            raise InterruptedError

    with pytest.raises(InterruptedError):
        pipeline.train_run(method, small_corpus(), WARM, 2, torch.device("cpu"),
                           warm_start=snapshot, checkpoint=ckpt, progress=killer)  # fmt: skip
    steps = [0]
    resumed, _ = pipeline.train_run(
        method, small_corpus(), WARM, 2, torch.device("cpu"), warm_start=snapshot,
        checkpoint=ckpt, progress=lambda n: steps.__setitem__(0, steps[0] + n),
    )  # fmt: skip
    assert resumed.metrics == reference.metrics
    assert resumed.telemetry == reference.telemetry
    assert steps[0] == 2 * per_epoch  # its own two epochs, one of them reported at resume


def test_a_warm_started_method_without_its_snapshot_is_refused():
    with pytest.raises(ValueError, match="pass that run's snapshot"):
        pipeline.train_run(pipeline.METHODS["fixmatch"], small_corpus(), WARM, 2,
                           torch.device("cpu"))  # fmt: skip


def test_a_warm_start_of_another_length_is_refused(tmp_path):
    _, snapshot = _supervised_snapshot(tmp_path)
    other = pipeline.Recipe(4, 16, 2, 1, 32, 1, 0.35, warm_start_epochs=3)
    with pytest.raises(ValueError, match="must end at epoch 3"):
        pipeline.train_run(pipeline.METHODS["fixmatch"], small_corpus(), other, 2,
                           torch.device("cpu"), warm_start=snapshot)  # fmt: skip


def test_which_runs_start_from_which():
    assert pipeline.source_of("fixmatch", WARM) == "supervised"
    assert pipeline.source_of("oracle", WARM) == "supervised"
    assert pipeline.source_of("temporal_ensembling", WARM) == "supervised"
    assert pipeline.source_of("supervised", WARM) is None
    assert pipeline.source_of("dcmkt", WARM) is None  # no labelled data: from scratch
    assert pipeline.source_of("perfect_teacher", WARM) is None
    assert pipeline.source_of("dcmkt_finetune", WARM) == "dcmkt"
    assert pipeline.source_of("fixmatch", RECIPE) is None  # no warm start in this recipe


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_crafted_checkpoint_is_refused_without_running_it(tmp_path, capsys):
    ckpt = tmp_path / "seed0.ckpt"
    torch.save({"epoch": 0, "model": _Payload()}, ckpt)
    with pytest.raises(ValueError, match="refused without running it"):
        pipeline.train_run(pipeline.METHODS["supervised"], small_corpus(), RECIPE, 0,
                           torch.device("cpu"), checkpoint=ckpt)  # fmt: skip
    assert "this must never run" not in capsys.readouterr().out


@pytest.mark.parametrize(("patience", "min_epochs"), [(1, 3), (2, 3), (1, 0), (1, 6)])
def test_a_run_stops_on_a_validation_plateau_and_keeps_its_best_model(
    patience: int, min_epochs: int
):
    full_recipe = pipeline.Recipe(6, 16, 2, 1, 32, 1, 0.35)
    full, _ = pipeline.train_run(pipeline.METHODS["fixmatch"], small_corpus(), full_recipe, 1,
                                 torch.device("cpu"))  # fmt: skip
    # where the rule says the run stops, read off the uninterrupted run's validation curve
    best, stop = 0, len(full.val_curve) - 1
    for epoch, ua in enumerate(full.val_curve):
        if ua > full.val_curve[best]:
            best = epoch
        if epoch + 1 >= min_epochs and epoch - best >= patience:  # never before min_epochs
            stop = epoch
            break
    steps = [0]
    stopped, _ = pipeline.train_run(
        pipeline.METHODS["fixmatch"], small_corpus(),
        pipeline.Recipe(6, 16, 2, 1, 32, 1, 0.35, patience=patience, min_epochs=min_epochs),
        1, torch.device("cpu"),
        progress=lambda n: steps.__setitem__(0, steps[0] + n),
    )  # fmt: skip
    assert stopped.val_curve == full.val_curve[: stop + 1]
    assert stopped.best_epoch == best
    if best == full.best_epoch:  # it peaked before the plateau: the same model, the same test
        assert stopped.metrics == full.metrics
    assert steps[0] == pipeline.steps_of(small_corpus(), full_recipe)  # the bar still completes


@pytest.mark.parametrize(
    ("patience", "min_epochs", "trained"), [(2, 0, 4), (2, 5, 5), (2, 6, 6), (3, 0, 5), (0, 0, 6)]
)
def test_the_plateau_rule_stops_where_patience_and_min_epochs_say(
    monkeypatch: pytest.MonkeyPatch, patience: int, min_epochs: int, trained: int
):
    # a scripted validation curve: best at epoch 1, flat after it
    curve = iter([0.5, 0.6, 0.55, 0.55, 0.55, 0.55])
    evaluate = pipeline.evaluate

    def scripted(model, x, lengths, y, classes, device, ctx=pipeline.SINGLE):
        metrics, cm, pred = evaluate(model, x, lengths, y, classes, device, ctx)
        if x is corpus.x["val"]:  # the per-epoch validation pass (the test pass is not)
            metrics = {**metrics, "UA": next(curve)}
        return metrics, cm, pred

    corpus = small_corpus()
    monkeypatch.setattr(pipeline, "evaluate", scripted)
    recipe = pipeline.Recipe(6, 16, 2, 1, 32, 1, 0.35, patience=patience, min_epochs=min_epochs)
    result, _ = pipeline.train_run(pipeline.METHODS["supervised"], corpus, recipe, 0,
                                   torch.device("cpu"))  # fmt: skip
    assert len(result.val_curve) == trained  # epochs run
    assert result.best_epoch == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"patience": -1}, "patience: expected an int >= 0, got -1"),
        ({"min_epochs": -1}, r"min_epochs: expected an int in \[0, 6\] .* got -1"),
        ({"min_epochs": 7}, r"min_epochs: expected an int in \[0, 6\] .* got 7"),
    ],
)
def test_a_recipe_refuses_a_plateau_rule_it_cannot_follow(fields: dict[str, int], message: str):
    with pytest.raises(ValueError, match=message):
        pipeline.Recipe(6, 16, 2, 1, 32, 1, 0.35, **fields)


@pytest.mark.parametrize(("warmup", "every"), [(4, 4), (1, 2)])
def test_a_run_follows_its_recipes_schedule_shape(monkeypatch: pytest.MonkeyPatch, warmup, every):
    # the learning rate of every optimiser step is the recipe's PaperSchedule (a compressed
    # profile keeps the paper's warm-up and decay shape over fewer epochs)
    rates: list[float] = []
    step = torch.optim.Adamax.step

    def recording_step(self, closure=None):
        rates.append(self.param_groups[0]["lr"])
        return step(self, closure)

    monkeypatch.setattr(torch.optim.Adamax, "step", recording_step)
    recipe = pipeline.Recipe(4, 16, 2, 1, 32, 1, 0.35, warmup_epochs=warmup, decay_every=every)
    pipeline.train_run(pipeline.METHODS["supervised"], small_corpus(), recipe, 0,
                       torch.device("cpu"))  # fmt: skip
    per_epoch = pipeline.steps_of(small_corpus(), recipe) // recipe.epochs
    schedule = PaperSchedule(per_epoch, warmup_epochs=warmup, decay_every=every)
    assert rates == pytest.approx([schedule.lr(s) for s in range(len(rates))])
    assert len(rates) == recipe.epochs * per_epoch
    if warmup == 1:  # not the paper's 4-epoch shape
        paper = PaperSchedule(per_epoch)
        assert rates != pytest.approx([paper.lr(s) for s in range(len(rates))])


# --- standardised inputs ---------------------------------------------------------------------


def _naive_statistics(x: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) standard deviation per bin of the valid frames, one by one."""
    frames = np.concatenate([x[i, : lengths[i]] for i in range(len(x))]).astype(np.float64)
    return frames.mean(0), frames.std(0)


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 6),
    time=st.integers(1, 9),
    dim=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(1e-2, 1e3),
)
def test_feature_statistics_match_a_frame_by_frame_reference(batch, time, dim, seed, scale):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, time, dim, generator=g) * scale + 3.0
    lengths = torch.randint(0, time + 1, (batch,), generator=g)
    lengths[0] = max(1, int(lengths[0]))  # at least one valid frame
    x[torch.arange(time) >= lengths.unsqueeze(1)] = 1e6  # padding must not count
    mean, std = pipeline.feature_statistics(x, lengths)
    ref_mean, ref_std = _naive_statistics(x.numpy(), lengths.numpy())
    np.testing.assert_allclose(mean.numpy(), ref_mean, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(std.numpy(), ref_std, rtol=1e-4, atol=1e-5 * scale)
    assert mean.dtype == std.dtype == x.dtype


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_feature_statistics_reject_a_non_finite_valid_frame(bad: float):
    x = torch.zeros(2, 3, 4)
    lengths = torch.tensor([3, 1])
    x[1, 2, 0] = bad  # padding: ignored
    pipeline.feature_statistics(x, lengths)
    x[1, 0, 3] = bad  # a valid frame
    with pytest.raises(ValueError, match="x must be finite on its valid frames, got 1 non-finite"):
        pipeline.feature_statistics(x, lengths)


def test_feature_statistics_reject_an_input_without_valid_frames():
    with pytest.raises(ValueError, match="at least one valid frame"):
        pipeline.feature_statistics(torch.zeros(2, 3, 4), torch.zeros(2, dtype=torch.long))


def test_standardize_uses_the_training_splits_statistics_for_every_split():
    corpus = small_corpus()
    corpus.x["train"][:, :, 0] = 5.0  # a constant bin: centred, divided by the floor only
    before = {k: v.clone() for k, v in corpus.x.items()}
    out = pipeline.standardize(corpus)
    mean, std = _naive_statistics(corpus.x["train"].numpy(), corpus.lengths["train"].numpy())
    std = np.maximum(std, pipeline.STD_FLOOR)
    for name, feats in corpus.x.items():
        lengths = corpus.lengths[name]
        valid = (torch.arange(feats.shape[1]) < lengths.unsqueeze(1)).numpy()
        got, raw = out.x[name].numpy(), feats.numpy()
        np.testing.assert_allclose(got[valid], ((raw - mean) / std)[valid], rtol=1e-5, atol=1e-5)
        assert (got[~valid] == 0).all()  # padding stays zero
    train_mean, train_std = _naive_statistics(
        out.x["train"].numpy(), corpus.lengths["train"].numpy()
    )
    np.testing.assert_allclose(train_mean, 0.0, atol=1e-5)
    np.testing.assert_allclose(train_std[1:], 1.0, rtol=1e-4)
    assert train_std[0] == 0.0
    assert all(torch.equal(out.lengths[k], corpus.lengths[k]) for k in corpus.lengths)
    assert all(torch.equal(out.y[k], corpus.y[k]) for k in corpus.y)
    assert all(torch.equal(corpus.x[k], before[k]) for k in before)  # the input is left as it was


# --- batches cut to their longest clip (pipeline version 8) ----------------------------------


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 6),
    time=st.integers(1, 12),
    seed=st.integers(0, 2**31 - 1),
)
def test_cutting_a_batch_to_its_longest_clip_leaves_the_encoders_output(batch, time, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = pipeline.make_model(small_corpus(), RECIPE).eval()
    x = torch.randn(batch, time, model.input_dim, generator=g)
    lengths = torch.randint(0, time + 1, (batch,), generator=g)
    cut = pipeline.trim_frames(x, lengths)
    assert cut.shape[1] == max(1, int(lengths.max())) == pipeline.longest_clip(lengths)
    assert torch.equal(cut, x[:, : cut.shape[1]])  # the first frames
    assert cut.data_ptr() == x.data_ptr()  # a view, not a copy
    with torch.no_grad():
        torch.testing.assert_close(model(cut, lengths), model(x, lengths), rtol=1e-5, atol=1e-5)


def test_cutting_a_valid_frame_would_change_the_output():
    """The property above can fail: the encoder does read every valid frame."""
    torch.manual_seed(0)
    model = pipeline.make_model(small_corpus(), RECIPE).eval()
    x = torch.randn(3, 8, model.input_dim)
    lengths = torch.tensor([8, 5, 2])
    with torch.no_grad():
        short = model(x[:, :7], lengths.clamp(max=7))
        assert not torch.allclose(short[0], model(x, lengths)[0], atol=1e-5)


def test_a_step_is_cut_to_the_longest_clip_of_its_labelled_and_unlabelled_batches():
    corpus = small_corpus()
    data = pipeline.RunData(corpus, torch.device("cpu"))
    longest_l = int(corpus.lengths["train"][:2].max())
    longest_u = int(corpus.lengths["unlabelled"][:3].max())
    frames = data.frames(torch.arange(2), torch.arange(3))
    assert frames == max(longest_l, longest_u)
    x = data.features(data.x_u, torch.arange(3), torch.arange(3), frames)
    assert x.shape[1] == frames and x.dtype == torch.float32
    assert data.frames(torch.arange(0), torch.arange(0)) == 1  # never an empty time axis


def test_evaluation_predicts_what_it_did_on_the_padded_batches(monkeypatch: pytest.MonkeyPatch):
    corpus = small_corpus()
    torch.manual_seed(0)
    model = pipeline.make_model(corpus, RECIPE)
    x = corpus.x["test"]
    x = torch.cat([x, torch.randn(x.shape[0], 5, x.shape[2])], dim=1)  # 5 frames to cut
    args = (x, corpus.lengths["test"], corpus.y["test"], len(corpus.classes))
    cut = pipeline.evaluate(model, *args, torch.device("cpu"))
    monkeypatch.setattr(pipeline, "trim_frames", lambda x, lengths: x)
    padded = pipeline.evaluate(model, *args, torch.device("cpu"))
    assert torch.equal(cut[2], padded[2]) and cut[0] == padded[0]


def _padded_corpus() -> Corpus:
    """:func:`small_corpus` with 6 frames of noise after every clip's 12: every batch is cut."""
    corpus = small_corpus()
    g = torch.Generator().manual_seed(1)
    corpus.x = {k: torch.cat([v, torch.randn(v.shape[0], 6, v.shape[2], generator=g)], dim=1)
                for k, v in corpus.x.items()}  # fmt: skip
    return corpus


@pytest.mark.parametrize("method", ["supervised", "pi_model", "temporal_ensembling"])
def test_a_run_on_cut_batches_learns_what_it_learns_on_padded_ones(
    monkeypatch: pytest.MonkeyPatch, method: str
):
    """Without dropout (whose draws count frames), cutting every batch to its longest clip
    changes nothing but floating-point summation order: the same curve, predictions and
    weights (SpecAugment's masks are the same draws on either)."""
    make_model = pipeline.make_model

    def without_dropout(corpus: Corpus, recipe: pipeline.Recipe) -> nn.Module:
        model = make_model(corpus, recipe)
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
        return model

    monkeypatch.setattr(pipeline, "make_model", without_dropout)
    widths: list[int] = []
    features = pipeline.RunData.features

    def recording(self: pipeline.RunData, x: torch.Tensor, *args: object) -> torch.Tensor:
        out = features(self, x, *args)  # pyright: ignore[reportArgumentType]
        widths.append(out.shape[1])
        return out

    monkeypatch.setattr(pipeline.RunData, "features", recording)
    run = lambda: pipeline.train_run(  # noqa: E731
        pipeline.METHODS[method], _padded_corpus(), RECIPE, 3, torch.device("cpu")
    )
    cut, cut_state = run()
    assert max(widths) <= 12 < 18  # every batch was cut (clips have at most 12 frames)
    monkeypatch.setattr(pipeline.RunData, "frames", lambda self, labelled, unlabelled: 18)
    monkeypatch.setattr(pipeline, "trim_frames", lambda x, lengths: x)
    padded, padded_state = run()
    assert cut.predictions == padded.predictions
    np.testing.assert_allclose(cut.val_curve, padded.val_curve, atol=1e-6)
    d = RECIPE.d_model
    for k, v in padded_state.items():
        ours = cut_state[k]
        if k.endswith("in_proj_bias"):
            # the key bias adds one constant to every score of a query, which the softmax
            # removes: its gradient is rounding noise, which Adamax scales to full steps
            ours, v = torch.cat([ours[:d], ours[2 * d :]]), torch.cat([v[:d], v[2 * d :]])
        torch.testing.assert_close(ours, v, rtol=1e-4, atol=1e-4, msg=k)


def test_a_supervised_run_does_not_depend_on_the_unlabelled_clips_lengths():
    """Its batches are cut at the longest *labelled* clip (here 6 frames, where unlabelled
    clips reach 12): shorter unlabelled clips leave every dropout draw, and so the whole
    run, as it was."""

    def corpus(unlabelled_max: int) -> Corpus:
        c = _padded_corpus()
        c.lengths["train"] = c.lengths["train"].clamp(max=6)
        c.lengths["unlabelled"] = c.lengths["unlabelled"].clamp(max=unlabelled_max)
        return c

    supervised = pipeline.METHODS["supervised"]
    reference = pipeline.train_run(supervised, corpus(12), RECIPE, 4, torch.device("cpu"))
    other = pipeline.train_run(supervised, corpus(4), RECIPE, 4, torch.device("cpu"))
    assert_same_run(*other, *reference)
