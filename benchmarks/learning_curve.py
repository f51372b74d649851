"""Would more labelled clips help on the synthetic corpus? A linear probe's learning curve.

Issue #12 asks the testbed for headroom: training every unlabelled clip on its hidden true
label must beat supervised training. That needs a corpus whose cues take many clips to learn;
if a few hundred labelled clips already find every cue, no pseudo-label can add anything.
This command measures that in about the time it takes to synthesise the corpus, without
training a Transformer:

    python benchmarks/learning_curve.py --dataset iemocap --knob signature_db=1.5 \\
        --knob expressiveness=0.8

It generates (or reads from its cache) one dataset at the knob values given, summarises each
clip by the mean and standard deviation of every feature bin over its valid frames, and fits a
logistic regression (scikit-learn; standardised inputs, the inverse regularisation ``C``
chosen on the validation split) on nested random subsets of the labelled training split, on
the whole split, and on the whole split plus every unlabelled clip with its hidden true audio
label. Each row is the test split's weighted F1 in percent (the report's F1). A curve that is
flat from a few hundred clips, and gains nothing from the unlabelled clips, is a corpus
without headroom. The probe is a lower bound on what a model can learn from each set and not
a prediction of the Transformer's F1: the Transformer reads every frame, the probe only two
statistics per bin.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from benchmarks import corpus as corpus_mod
from benchmarks.calibrate import corpus_parser
from sertoolkit.metrics import weighted_f1

C_GRID = (0.001, 0.01, 0.1, 1.0)
"""Inverse regularisation strengths tried; the one with the best validation F1 is kept."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = corpus_parser(__doc__, "the dataset to generate and probe")
    parser.add_argument("--sizes", type=int, nargs="+", default=[40, 85, 170],
                        help="labelled training subsets to fit on, besides the whole split")  # fmt: skip
    parser.add_argument("--profile", choices=sorted(corpus_mod.PROFILES), default="quick",
                        help="corpus sizes")  # fmt: skip
    parser.add_argument("--corpus-seed", type=int, default=0, help="seed of the corpus")
    parser.add_argument("--cache", type=Path, default=Path("benchmarks/out/learning_curve"),
                        help="where generated corpora are cached")  # fmt: skip
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.sizes):
        parser.error(f"--sizes: expected positive clip counts, got {args.sizes}")
    return args


def clip_statistics(x: npt.NDArray[Any], lengths: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """``(n, 2 * dim)``: each clip's per-bin mean and standard deviation over its valid
    frames (``x`` is ``(n, time, dim)``, ``lengths`` the valid frames, at least one used)."""
    out = np.empty((x.shape[0], 2 * x.shape[2]))
    for i, (clip, n) in enumerate(zip(x, lengths, strict=True)):
        frames = clip[: max(int(n), 1)].astype(np.float64)
        out[i] = np.concatenate([frames.mean(0), frames.std(0)])
    return out


def probe_f1(
    train: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]],
    val: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]],
    test: tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]],
) -> float:
    """Test weighted F1 (percent) of a logistic regression fitted on ``train``, with ``C``
    from :data:`C_GRID` chosen by validation weighted F1."""
    from sklearn.linear_model import LogisticRegression

    mean, std = train[0].mean(0), train[0].std(0) + 1e-8
    classes = int(max(train[1].max(), val[1].max(), test[1].max())) + 1
    x_train, x_val, x_test = ((x - mean) / std for x in (train[0], val[0], test[0]))

    def f1(model: Any, x: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
        predicted = torch.as_tensor(np.asarray(model.predict(x), dtype=np.int64))
        return 100 * float(weighted_f1(predicted, torch.as_tensor(y), classes))

    best: tuple[float, Any] | None = None
    for c in C_GRID:
        model: Any = LogisticRegression(C=c, max_iter=2000)
        model.fit(x_train, train[1])
        score = f1(model, x_val, val[1])
        if best is None or score > best[0]:
            best = (score, model)
    assert best is not None
    return f1(best[1], x_test, test[1])


def learning_curve(
    raw: dict[str, npt.NDArray[Any]], sizes: list[int], seed: int = 0
) -> dict[str, float]:
    """The probe's test F1 per training set: ``"n=<size>"`` for nested random subsets of the
    labelled training split (sizes above the split's are skipped), ``"all labelled"`` and
    ``"labelled + unlabelled (true labels)"``."""
    feats = clip_statistics(raw["x_l"], raw["len_l"])
    wild = clip_statistics(raw["x_u"], raw["len_u"])
    y = raw["y_l"].astype(np.int64)
    train, val, test = (np.flatnonzero(raw["split"] == s) for s in range(3))
    order = np.random.default_rng(seed).permutation(train)
    held = ((feats[val], y[val]), (feats[test], y[test]))
    curve: dict[str, float] = {}
    for n in sorted(sizes):
        if n < len(train):
            subset = order[:n]
            curve[f"n={n}"] = probe_f1((feats[subset], y[subset]), *held)
    curve["all labelled"] = probe_f1((feats[train], y[train]), *held)
    both = (np.concatenate([feats[train], wild]), np.concatenate([y[train], raw["y_u"]]))
    curve["labelled + unlabelled (true labels)"] = probe_f1(both, *held)
    return curve


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    before = corpus_mod.KNOB_VALUES[args.dataset]
    knobs = replace(before, **dict(args.knob))
    from benchmarks.reproduce_paper import make_bar

    corpus_mod.KNOB_VALUES[args.dataset] = knobs  # generate() reads the module's knobs
    try:
        raw = corpus_mod.generate(
            args.dataset, args.profile, args.corpus_seed, args.cache, make_bar
        )
    finally:  # a caller in this process keeps its knobs
        corpus_mod.KNOB_VALUES[args.dataset] = before
    n_train = int((raw["split"] == 0).sum())
    curve = learning_curve(raw, args.sizes)
    print(f"{args.dataset} ({args.profile}, {knobs}): linear probe, test weighted F1")
    for name, f1 in curve.items():
        clips = (
            f"{n_train} + {len(raw['y_u'])}"
            if name.startswith("labelled +")
            else (str(n_train) if name == "all labelled" else name[2:])
        )
        print(f"  {name:<38} {clips:>12} clips  {f1:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
