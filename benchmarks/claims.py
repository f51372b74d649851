"""The paper's claims as paired comparisons with bootstrap confidence intervals.

Every claim is "method ``a`` beats method ``b`` on ``metric``" on one dataset. Its effect is
the mean over seeds of the paired difference ``metric(a, seed) - metric(b, seed)``, both
runs of a seed having started from the same weights and seen the same labelled batches
(``pipeline.Streams``), and evaluated on the same test clips. The 95% interval comes from
``scipy.stats.bootstrap`` resampling seeds and test clips independently (two samples, the
percentile method), so it carries both training noise and test-set noise. The verdict:

* **supported**: the interval lies above 0;
* **contradicted**: it lies below 0;
* **undecided**: it spans 0;
* **not testable**: a run is missing, fewer than :data:`MIN_SEEDS` seeds, or a
  pseudo-labelling method of the claim kept less than :data:`MIN_KEPT` of the unlabelled clips
  it drew over the epochs that trained its tested models, up to each seed's best epoch (its
  unlabelled loss was zero, or nearly, so it was supervised training under another name).

Telemetry claims (pseudo-label accuracy and class diversity) have one value per seed, read
at its best epoch; they are bootstrapped over seeds only.

The minimum detectable effect (MDE) of a comparison is ``(z_0.975 + z_0.8) x SE``: the paired
difference that a two-sided test at alpha 0.05 would find with 80% power, where SE is the
bootstrap standard error of the run's own paired differences.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
from numpy.typing import NDArray


class _Interval(Protocol):
    low: float
    high: float


class _BootstrapResult(Protocol):
    """The part of ``scipy.stats.bootstrap``'s result used here."""

    confidence_interval: _Interval
    standard_error: float


def _bootstrap(*args: Any, **kwargs: Any) -> _BootstrapResult:
    """``scipy.stats.bootstrap``, imported on first use (over a second that every ``--help``
    of the benchmarks would otherwise pay). scipy.stats has no annotations: this is a typed
    view of it; it keeps its ``random_state`` keyword (``rng`` only exists from SciPy 1.15;
    the floor is 1.10)."""
    from scipy import stats

    bootstrap = cast(Callable[..., _BootstrapResult], stats.bootstrap)
    return bootstrap(*args, **kwargs)


_NORMAL = statistics.NormalDist()
Z_POWER = _NORMAL.inv_cdf(0.975) + _NORMAL.inv_cdf(0.8)  # 2.80
N_RESAMPLES = 2000
MIN_SEEDS = 5
"""Fewest seeds of both methods for a verdict: a bootstrap over fewer seeds understates the
seed-to-seed spread (with 3 seeds, by resampling 3 values), so its intervals are too narrow."""
METRICS = ("F1", "WA", "UA")
TELEMETRY = ("pseudo-label accuracy", "pseudo-label class entropy")


@dataclass(frozen=True)
class Claim:
    """``a`` beats ``b`` on ``metric`` (a test metric, or a telemetry quantity)."""

    dataset: str
    text: str
    metric: str
    a: str
    b: str


def _rows(dataset: str, pairs: Sequence[tuple[str, str, str, str]]) -> list[Claim]:
    return [Claim(dataset, text, metric, a, b) for text, metric, a, b in pairs]


CLAIMS: list[Claim] = [
    *_rows(
        "chsims",
        [
            ("FixMatch's UA collapses with few labels (Table 3)", "UA", "supervised", "fixmatch"),
            ("DCMKT alone is poor (Table 3)", "F1", "supervised", "dcmkt"),
            ("Fine-tuning helps DCMKT (Table 3)", "F1", "dcmkt_finetune", "dcmkt"),
            ("FF1 eps=0.5 beats supervised (Table 3)", "F1", "cr_eps0.5", "supervised"),
            ("FF1 eps=0.5 beats FixMatch (Table 3)", "F1", "cr_eps0.5", "fixmatch"),
            ("FF1 eps=0.5 beats the Pi-model (Table 3)", "F1", "cr_eps0.5", "pi_model"),
            (
                "FF1 eps=0.5 beats temporal ensembling (Table 3)",
                "F1",
                "cr_eps0.5",
                "temporal_ensembling",
            ),
            ("FF1 eps=0.5 beats DCMKT (Table 3)", "F1", "cr_eps0.5", "dcmkt"),
            ("UA at eps=0 is low (Fig. 4a)", "UA", "cr_eps0.5", "cr_eps0.0"),
            (
                "Adding CMKT pseudo-labels beats supervised (Table 4)",
                "F1",
                "cmkt_add",
                "supervised",
            ),
            ("FF2 alpha=0.2 beats supervised (Table 3)", "F1", "wf_alpha0.2", "supervised"),
            (
                "Performance falls as alpha approaches 1 (Fig. 4b)",
                "F1",
                "wf_alpha0.2",
                "wf_alpha0.8",
            ),
            (
                "... and FixMatch (alpha=1) is below alpha=0.8 (Fig. 4b)",
                "F1",
                "wf_alpha0.8",
                "fixmatch",
            ),
            (
                "Fusion makes pseudo-labels more accurate than visual-only (Sec. 3.4)",
                "pseudo-label accuracy",
                "cr_eps0.5",
                "cmkt_add",
            ),
            (
                "Fusion makes pseudo-labels more diverse than FixMatch (Sec. 4.3)",
                "pseudo-label class entropy",
                "cr_eps0.5",
                "fixmatch",
            ),
        ],
    ),
    *_rows(
        "iemocap",
        [
            ("FF2 alpha=0.2 beats supervised (Table 5)", "F1", "wf_alpha0.2", "supervised"),
            ("FF1 eps=0.5 beats supervised (Table 5)", "F1", "cr_eps0.5", "supervised"),
            ("DCMKT alone is near chance (Table 5)", "F1", "supervised", "dcmkt"),
            ("Fine-tuning helps DCMKT (Table 5)", "F1", "dcmkt_finetune", "dcmkt"),
        ],
    ),
]
"""Every qualitative claim of the paper that the reproduction tests."""

HEADROOM = ("oracle", "supervised")
"""Headroom of a testbed: oracle pseudo-labels minus supervised training, F1."""

POWER_ROWS: dict[str, tuple[str, ...]] = {"iemocap": ("supervised", "dcmkt", "dcmkt_finetune")}
"""Rows that train more seeds than the run's (``reproduce_paper.py --power-seeds``), per
dataset: those whose claims' paired spread between seeds kept the run's minimum detectable
effect over 4 F1 points. Measured on the default run of pipeline version 5: the IEMOCAP-like
claims against DCMKT had a bootstrap standard error of 1.25-1.41 points from seeds alone
(and 1.89-2.02 from 1,000 test clips alone, which the extra test clips shrink). The
supervised row joined in pipeline version 12: on version 11's run (10 seeds) the
supervised-minus-DCMKT claim, the IEMOCAP-like median, had 4.51 points of MDE from seeds
and 2.09 from test clips (``benchmarks/power_parts.py``), so it needs about 18 seeds of
both rows for 4 points. The run with 18 measured 4.05 (3.38 from seeds, 2.08 from clips),
and ``power_parts.py --seeds-to 24`` projected 3.59: the default became 24. A row here that
is also a headroom row trains the union of both seed lists. Every claim pairs all the seeds
both of its rows ran."""


def metric_from_confusion(cm: NDArray[np.float64], metric: str) -> NDArray[np.float64]:
    """F1 (support-weighted), WA or UA of confusion matrices ``(..., C, C)`` (rows: true).

    The definitions of :mod:`sertoolkit.metrics`: a class without predictions has precision 0,
    a class without examples has weight 0 in F1 and is left out of UA.
    """
    support = cm.sum(-1)
    predicted = cm.sum(-2)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    total = np.maximum(support.sum(-1), 1)
    if metric == "WA":
        return tp.sum(-1) / total
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    if metric == "UA":
        present = support > 0
        return (recall * present).sum(-1) / np.maximum(present.sum(-1), 1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return (f1 * support).sum(-1) / total


def paired_test_metric(
    pred_a: NDArray[np.int64],
    pred_b: NDArray[np.int64],
    labels: NDArray[np.int64],
    classes: int,
    metric: str,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """Paired difference of ``metric`` (percentage points) between two methods' predictions.

    ``pred_a`` and ``pred_b`` are ``(seeds, clips)``, row ``s`` of both from seed ``s``.
    Returns ``mean_diff``, ``ci_low``, ``ci_high`` (95%, bootstrap over seeds and clips) and
    ``se`` (the bootstrap standard error).
    """
    statistic = _paired_statistic(pred_a, pred_b, labels, classes, metric)
    seeds_n: int
    clips_n: int
    seeds_n, clips_n = pred_a.shape
    observed = float(statistic(np.arange(seeds_n)[None], np.arange(clips_n)[None])[0])
    result = _bootstrap(
        (np.arange(seeds_n), np.arange(clips_n)),
        statistic,
        paired=False,
        vectorized=True,
        n_resamples=N_RESAMPLES,
        batch=100,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return {
        "mean_diff": observed,
        "ci_low": float(ci.low),
        "ci_high": float(ci.high),
        "se": float(result.standard_error),
    }


def _paired_statistic(
    pred_a: NDArray[np.int64],
    pred_b: NDArray[np.int64],
    labels: NDArray[np.int64],
    classes: int,
    metric: str,
) -> Callable[..., NDArray[np.float64]]:
    """The paired difference of ``metric`` (points) over resampled seeds and clips, vectorised
    over resamples: ``(seed_idx (B, S), clip_idx (B, N)) -> (B,)``."""
    seeds_n, clips_n = pred_a.shape
    cells = classes * classes
    # each (method, seed, clip)'s confusion cell, one-hot: (2 S, N, C^2)
    cell = labels[None, None, :] * classes + np.stack([pred_a, pred_b])
    onehot = np.zeros((2 * seeds_n, clips_n, cells))
    np.put_along_axis(onehot, np.reshape(cell, (2 * seeds_n, clips_n, 1)), 1.0, axis=-1)

    def statistic(
        seed_idx: NDArray[np.int64], clip_idx: NDArray[np.int64], axis: int = -1
    ) -> NDArray[np.float64]:
        del axis
        seeds_2d: NDArray[np.int64] = np.atleast_2d(seed_idx)  # (B, S)
        clips_2d: NDArray[np.int64] = np.atleast_2d(clip_idx)  # (B, N)
        batch = clips_2d.shape[0]
        # a resample of clips is how often it draws each clip: (B, N) counts; a confusion
        # matrix is their weighted sum of one-hot cells (exact: integers in float64)
        offsets = np.arange(batch, dtype=np.int64)[:, None] * clips_n
        drawn = np.reshape(
            np.bincount(np.ravel(offsets + clips_2d), minlength=batch * clips_n), (batch, clips_n)
        )
        per_seed = np.reshape(drawn.astype(np.float64) @ onehot, (2, seeds_n, batch, cells))
        picked = per_seed[:, seeds_2d, np.arange(batch)[:, None]]  # (2, B, S', C^2)
        cm = np.reshape(picked, (*picked.shape[:-1], classes, classes))
        values = metric_from_confusion(cm, metric)
        return 100 * (values[0] - values[1]).mean(-1)

    return statistic


def error_parts(
    pred_a: NDArray[np.int64],
    pred_b: NDArray[np.int64],
    labels: NDArray[np.int64],
    classes: int,
    metric: str,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """Where a paired difference's error comes from: test clips or training seeds.

    The bootstrap standard error of :func:`paired_test_metric`'s difference with one source
    resampled and the other held fixed: ``se_clips`` resamples the test clips (every seed
    kept), ``se_seeds`` the seeds (every clip kept). More test clips shrink the first (as one
    over their square root), more seeds the second; :func:`paired_test_metric` resamples
    both, so its standard error is about the root of the sum of their squares. Shapes as in
    :func:`paired_test_metric`.
    """
    statistic = _paired_statistic(pred_a, pred_b, labels, classes, metric)
    seeds_n: int
    clips_n: int
    seeds_n, clips_n = pred_a.shape
    all_seeds, all_clips = np.arange(seeds_n), np.arange(clips_n)

    def over_clips(clip_idx: NDArray[np.int64], axis: int = -1) -> NDArray[np.float64]:
        del axis
        clip_idx = np.atleast_2d(clip_idx)
        return statistic(np.broadcast_to(all_seeds, (clip_idx.shape[0], seeds_n)), clip_idx)

    def over_seeds(seed_idx: NDArray[np.int64], axis: int = -1) -> NDArray[np.float64]:
        del axis
        seed_idx = np.atleast_2d(seed_idx)
        return statistic(seed_idx, np.broadcast_to(all_clips, (seed_idx.shape[0], clips_n)))

    parts: dict[str, float] = {}
    for name, data, fn in (
        ("se_clips", all_clips, over_clips),
        ("se_seeds", all_seeds, over_seeds),
    ):
        result = _bootstrap((data,), fn, vectorized=True, n_resamples=N_RESAMPLES, batch=100,
                            method="percentile", random_state=np.random.default_rng(seed))  # fmt: skip
        parts[name] = float(result.standard_error)
    return parts


def paired_test_values(
    a: Sequence[float], b: Sequence[float], *, seed: int = 0
) -> dict[str, float]:
    """Paired difference of per-seed values (percentage points), bootstrapped over seeds."""
    diff = 100 * (np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    result = _bootstrap(
        (diff,),
        np.mean,
        n_resamples=N_RESAMPLES,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return {
        "mean_diff": float(diff.mean()),
        "ci_low": float(ci.low),
        "ci_high": float(ci.high),
        "se": float(result.standard_error),
    }


def verdict(low: float, high: float) -> str:
    """The four-way verdict of a 95% interval for ``a - b``."""
    if low > 0:
        return "supported"
    if high < 0:
        return "contradicted"
    return "undecided"


MIN_KEPT = 0.01
"""A pseudo-labelling method that kept less than this share of the unlabelled clips it drew,
over the epochs that trained its tested models (:func:`kept_share`), trained like supervised
learning: its claims are not testable."""


def tested_telemetry(run: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's per-epoch telemetry records up to its best epoch: the epochs that trained the
    model it tests (every record when the run names no best epoch; empty when it has none).

    Epochs after the best one (those before a plateau stop, or a fixed schedule's last ones)
    changed weights that were then discarded: a method whose confidence reaches tau only
    there never trained its tested model on a pseudo-label.
    """
    records: list[dict[str, Any]] = run.get("telemetry") or []
    best = run.get("best_epoch")
    if best is None:
        return records
    return [t for t in records if t["epoch"] <= best]


def kept_share(seeds: dict[int, dict[str, Any]]) -> float | None:
    """The share of drawn unlabelled clips a method kept, averaged over the epochs up to each
    seed's best one, then over seeds, so that every tested model counts once (None: no
    pseudo-labels, e.g. supervised training). A seed with telemetry but none up to its best
    epoch (a warm-started run that peaked during its warm start) kept 0."""
    shares = [
        float(np.mean([t["kept_share"] for t in tested])) if tested else 0.0
        for run in seeds.values()
        if run.get("telemetry")
        for tested in [tested_telemetry(run)]
    ]
    return float(np.mean(shares)) if shares else None


def best_epoch_values(
    seeds: dict[int, dict[str, Any]], metric: str, common: list[int]
) -> list[float]:
    """A telemetry quantity (one of :data:`TELEMETRY`) of each seed in ``common`` at its best
    epoch, the last that trained its tested model (NaN where nothing was kept then, or the
    seed has no epoch of its own up to its best one). The class entropy is normalised to
    [0, 1] by the log of the number of classes."""
    out: list[float] = []
    for s in common:
        telemetry = tested_telemetry(seeds[s])
        last = telemetry[-1] if telemetry else None
        if last is None:
            out.append(math.nan)
        elif metric == "pseudo-label accuracy":
            acc = last["pseudo_label_accuracy"]
            out.append(math.nan if acc is None else float(acc))
        else:
            h = np.asarray(last["kept_class_histogram"], dtype=np.float64)
            if h.sum() == 0:
                out.append(math.nan)
                continue
            p = h / h.sum()
            out.append(float(-(p[p > 0] * np.log(p[p > 0])).sum() / np.log(len(h))))
    return out


def evaluate_claim(
    claim: Claim,
    runs: dict[str, dict[int, dict[str, Any]]],
    labels: NDArray[np.int64],
    classes: int,
) -> dict[str, Any]:
    """One claim's row of ``results.json``: the paired difference, its interval, the verdict."""
    row: dict[str, Any] = {
        "dataset": claim.dataset,
        "claim": claim.text,
        "metric": claim.metric,
        "a": claim.a,
        "b": claim.b,
        "mean_diff": None,
        "ci_low": None,
        "ci_high": None,
        "mde": None,
        "seeds": [],
    }
    ra, rb = runs.get(claim.a), runs.get(claim.b)
    if ra is None or rb is None:
        return {**row, "verdict": "not testable", "why": "a method of the claim was not run"}
    common = sorted(set(ra) & set(rb))
    row["seeds"] = common
    if len(common) < MIN_SEEDS:
        return {
            **row,
            "verdict": "not testable",
            "why": f"{len(common)} seed(s) of both methods; a verdict needs at least {MIN_SEEDS}",
        }
    shares = {m: kept_share(r) for m, r in ((claim.a, ra), (claim.b, rb))}
    idle = {m: v for m, v in shares.items() if v is not None and v < MIN_KEPT}
    if idle:
        kept = ", ".join(f"{m} kept {100 * v:.2g}%" for m, v in idle.items())
        return {
            **row,
            "verdict": "not testable",
            "why": f"{kept} of the unlabelled clips it drew (under {100 * MIN_KEPT:g}%)",
        }
    if claim.metric in TELEMETRY:
        a = best_epoch_values(ra, claim.metric, common)
        b = best_epoch_values(rb, claim.metric, common)
        pairs = [(x, y) for x, y in zip(a, b, strict=True) if not (math.isnan(x) or math.isnan(y))]
        if len(pairs) < MIN_SEEDS:
            return {**row, "verdict": "not testable",
                    "why": f"{len(pairs)} seed(s) kept clips in their best epoch; a verdict "
                    f"needs at least {MIN_SEEDS}"}  # fmt: skip
        test = paired_test_values([p[0] for p in pairs], [p[1] for p in pairs])
    else:
        pred_a = np.array([ra[s]["predictions"] for s in common], dtype=np.int64)
        pred_b = np.array([rb[s]["predictions"] for s in common], dtype=np.int64)
        test = paired_test_metric(pred_a, pred_b, labels, classes, claim.metric)
    return {
        **row,
        "mean_diff": test["mean_diff"],
        "ci_low": test["ci_low"],
        "ci_high": test["ci_high"],
        "mde": Z_POWER * test["se"],
        "verdict": verdict(test["ci_low"], test["ci_high"]),
    }


def evaluate_all(
    runs: dict[str, dict[str, dict[int, dict[str, Any]]]],
    labels: dict[str, NDArray[np.int64]],
    classes: dict[str, int],
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Every claim, the headroom and the power of a run: ``(claims, headroom, power)``.

    Each comparison pairs every seed both of its rows ran (the headroom rows and
    :data:`POWER_ROWS` may have more than the others: ``reproduce_paper.py
    --headroom-seeds``, ``--power-seeds``).
    """
    rows = [
        evaluate_claim(c, runs[c.dataset], labels[c.dataset], classes[c.dataset])
        for c in CLAIMS
        if c.dataset in runs
    ]
    headroom: dict[str, Any] = {}
    power: dict[str, Any] = {}
    for dataset in runs:
        oracle, supervised = HEADROOM
        h = evaluate_claim(
            Claim(dataset, "headroom: oracle pseudo-labels beat supervised", "F1", oracle,
                  supervised),
            runs[dataset], labels[dataset], classes[dataset],
        )  # fmt: skip
        headroom[dataset] = {
            "metric": "F1",
            **{k: h[k] for k in ("mean_diff", "ci_low", "ci_high", "verdict", "seeds")},
        }
        # a comparison of identical predictions (zero standard error) says nothing of power
        mdes = [r["mde"] for r in rows if r["dataset"] == dataset and r["metric"] == "F1"
                and r["mde"] is not None and r["mde"] > 0]  # fmt: skip
        power[dataset] = {
            "mde_f1": float(np.median(mdes)) if mdes else None,
            "mde_f1_max": float(max(mdes)) if mdes else None,
            "claims_measured": len(mdes),
        }
    return rows, headroom, power
