"""benchmarks/claims.py: the paired bootstrap behind every verdict of the reproduction report."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from benchmarks import claims


@pytest.mark.filterwarnings("ignore::UserWarning")  # sklearn on classes absent from a draw
@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5), st.integers(1, 60), st.integers(0, 2**31 - 1))
def test_metrics_match_scikit_learn(classes: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, classes, n), rng.integers(0, classes, n)
    cm = np.zeros((classes, classes))  # rows: true class, columns: predicted
    for t, q in zip(y, p, strict=True):
        cm[t, q] += 1
    f1 = f1_score(y, p, average="weighted", labels=range(classes), zero_division=0)
    assert claims.metric_from_confusion(cm, "F1") == pytest.approx(f1)
    assert claims.metric_from_confusion(cm, "WA") == pytest.approx(accuracy_score(y, p))
    # UA: the mean recall over the classes that occur (sklearn's balanced accuracy)
    assert claims.metric_from_confusion(cm, "UA") == pytest.approx(balanced_accuracy_score(y, p))


def _preds(rng: np.random.Generator, labels: np.ndarray, accuracy: float, seeds: int) -> np.ndarray:
    right = rng.random((seeds, labels.size)) < accuracy
    return np.where(right, labels, rng.integers(0, 3, (seeds, labels.size)))


def test_verdicts_follow_the_interval():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 800)
    good, bad = _preds(rng, labels, 0.8, 5), _preds(rng, labels, 0.4, 5)
    up = claims.paired_test_metric(good, bad, labels, 3, "F1")
    assert up["ci_low"] > 0 and claims.verdict(up["ci_low"], up["ci_high"]) == "supported"
    assert up["ci_low"] <= up["mean_diff"] <= up["ci_high"]
    down = claims.paired_test_metric(bad, good, labels, 3, "F1")
    assert claims.verdict(down["ci_low"], down["ci_high"]) == "contradicted"
    assert down["mean_diff"] == pytest.approx(-up["mean_diff"])
    same = claims.paired_test_metric(good, good, labels, 3, "F1")
    assert same["mean_diff"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0
    assert claims.verdict(same["ci_low"], same["ci_high"]) == "undecided"


def test_interval_narrows_with_more_test_clips_and_seeds():
    rng = np.random.default_rng(1)
    widths = []
    for n, seeds in ((100, 3), (2000, 8)):
        labels = rng.integers(0, 3, n)
        a, b = _preds(rng, labels, 0.6, seeds), _preds(rng, labels, 0.55, seeds)
        t = claims.paired_test_metric(a, b, labels, 3, "F1")
        widths.append(t["ci_high"] - t["ci_low"])
    assert widths[1] < widths[0] / 2


def _run(preds: list[int], kept: float | None) -> dict:
    telemetry = (
        []
        if kept is None
        else [  # None: no pseudo-labels (supervised)
            {"kept_share": kept, "pseudo_label_accuracy": None, "kept_class_histogram": [0, 0, 0]}
        ]
    )
    return {"predictions": preds, "telemetry": telemetry}


def test_a_method_that_kept_nothing_or_too_few_seeds_is_not_testable():
    labels = np.array([0, 1, 2, 0])
    seeds = range(claims.MIN_SEEDS)
    runs = {"supervised": {s: _run([0, 1, 2, s % 3], None) for s in seeds},
            "fixmatch": {s: _run([0, 1, (s + 1) % 3, 0], 0.0) for s in seeds}}  # fmt: skip
    claim = claims.Claim("chsims", "t", "UA", "supervised", "fixmatch")
    row = claims.evaluate_claim(claim, runs, labels, 3)
    assert row["verdict"] == "not testable" and "fixmatch" in row["why"]
    runs["fixmatch"][1]["telemetry"][0]["kept_share"] = 0.04  # 0.8% over every epoch and seed
    row = claims.evaluate_claim(claim, runs, labels, 3)
    assert row["verdict"] == "not testable" and "0.8%" in row["why"]
    runs["fixmatch"][1]["telemetry"][0]["kept_share"] = 0.25  # 5%
    assert claims.evaluate_claim(claim, runs, labels, 3)["verdict"] != "not testable"
    fewer = {k: {s: v[s] for s in list(seeds)[:-1]} for k, v in runs.items()}
    row = claims.evaluate_claim(claim, fewer, labels, 3)
    assert row["verdict"] == "not testable" and "at least" in row["why"]


def test_only_the_epochs_that_trained_the_tested_model_count():
    labels = np.array([0, 1, 2, 0])
    seeds = range(claims.MIN_SEEDS)

    def run(preds: list[int], kept: list[float], best: int) -> dict:
        telemetry = [
            {"epoch": e, "kept_share": k, "pseudo_label_accuracy": 0.5 + e / 10,
             "kept_class_histogram": [1, 1, 0] if k else [0, 0, 0]}
            for e, k in enumerate(kept)
        ]  # fmt: skip
        return {"predictions": preds, "telemetry": telemetry, "best_epoch": best}

    # FixMatch keeps clips only after its best epoch: the model it tests never saw one
    late = {"supervised": {s: _run([0, 1, 2, s % 3], None) for s in seeds},
            "fixmatch": {s: run([0, 1, (s + 1) % 3, 0], [0.0, 0.0, 0.5, 0.5], 1)
                         for s in seeds}}  # fmt: skip
    claim = claims.Claim("chsims", "t", "UA", "supervised", "fixmatch")
    row = claims.evaluate_claim(claim, late, labels, 3)
    assert row["verdict"] == "not testable" and "fixmatch kept 0%" in row["why"]
    assert claims.kept_share(late["fixmatch"]) == 0.0
    early = {**late, "fixmatch": {s: run([0, 1, (s + 1) % 3, 0], [0.5, 0.5, 0.0, 0.0], 1)
                                  for s in seeds}}  # fmt: skip
    assert claims.evaluate_claim(claim, early, labels, 3)["verdict"] != "not testable"
    # every tested model counts once: four seeds that peaked before keeping anything and one
    # that kept 30% over 40 epochs keep 6% on average, not 30% x 40 / 44 records
    mixed = {s: run([0, 1, 2, 0], [0.0] * 3 if s else [0.3] * 41, 2 if s else 40) for s in seeds}
    assert claims.kept_share(mixed) == pytest.approx(0.3 / len(seeds))
    # a seed with telemetry but none up to its best epoch kept nothing; no telemetry: None
    assert claims.kept_share({0: run([0], [0.5], -1), 1: run([0], [0.5], 0)}) == 0.25
    assert claims.kept_share({0: _run([0], None)}) is None
    # telemetry claims read the best epoch's record, not the last one
    values = claims.best_epoch_values(early["fixmatch"], "pseudo-label accuracy", list(seeds))
    assert values == [0.6] * len(seeds)


def test_the_claim_list_covers_the_report():
    assert len(claims.CLAIMS) >= 15
    assert len({(c.dataset, c.text) for c in claims.CLAIMS}) == len(claims.CLAIMS)
    from benchmarks import pipeline

    for c in claims.CLAIMS:
        assert c.a in pipeline.DATASET_METHODS[c.dataset], c
        assert c.b in pipeline.DATASET_METHODS[c.dataset], c


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(max_examples=25, deadline=None)
@given(
    classes=st.integers(2, 4),
    n=st.integers(1, 40),
    seeds=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    metric=st.sampled_from(claims.METRICS),
)
def test_the_bootstrap_statistic_is_the_naive_paired_difference(
    classes: int, n: int, seeds: int, seed: int, metric: str
):
    # the vectorised statistic (confusions from clip counts) against scikit-learn on each
    # resample, seed by seed
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    a, b = rng.integers(0, classes, (seeds, n)), rng.integers(0, classes, (seeds, n))
    seed_idx, clip_idx = rng.integers(0, seeds, (3, seeds)), rng.integers(0, n, (3, n))
    got = claims._paired_statistic(a, b, labels, classes, metric)(seed_idx, clip_idx)

    def score(truth: np.ndarray, pred: np.ndarray) -> float:
        if metric == "WA":
            return float(accuracy_score(truth, pred))
        if metric == "UA":
            return float(balanced_accuracy_score(truth, pred))
        return float(f1_score(truth, pred, average="weighted", zero_division=0))

    for r in range(3):
        truth = labels[clip_idx[r]]
        diffs = [score(truth, a[s, clip_idx[r]]) - score(truth, b[s, clip_idx[r]])
                 for s in seed_idx[r]]  # fmt: skip
        assert got[r] == pytest.approx(100 * np.mean(diffs), abs=1e-9)
