"""Measure the synthetic corpus at other knob values: the calibration rows and the headroom.

Issue #12 allows the corpus' difficulty knobs (:class:`benchmarks.corpus.Knobs`) to be fitted
to two rows of the paper per dataset, supervised and DCMKT F1, and to nothing else; the
testbed must also show headroom (oracle pseudo-labels minus supervised, an interval above 0).
This command trains those rows at the knob values you give, with the main job's recipe and
code (:func:`benchmarks.reproduce_paper.main`, every core busy), and prints what a fit needs:

    python benchmarks/calibrate.py --dataset iemocap --knob expressiveness=1.05 \\
        --knob clip_noise=0.25 --seeds 0 1 2 3 4

Each knob setting gets its own folder under ``--out`` (finished runs are reused, so a second
call with more seeds only trains the new ones), and every measurement is appended as one JSON
line to ``<out>/fits.jsonl``: the knobs, the seeds, each method's mean F1 over every seed it
ran (as the main job's calibration table), the paper's targets
and the headroom with its 95% interval. A fit recorded in :data:`benchmarks.corpus.KNOBS` and
docs/pages/reproducing.md names the command that produced it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any, cast

from benchmarks import corpus as corpus_mod
from benchmarks import reproduce_paper
from benchmarks.report import PAPER, collect

CALIBRATION_ROWS = ("supervised", "dcmkt")
"""The two rows per dataset a knob may be fitted to (their paper F1 is in ``report.PAPER``)."""

DEFAULT_METHODS = (*CALIBRATION_ROWS, "oracle")


def _knob(text: str) -> tuple[str, float]:
    names = [f.name for f in fields(corpus_mod.Knobs)]
    name, sep, value = text.partition("=")
    if not sep or name not in names:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE with NAME one of {', '.join(names)}, got {text!r}"
        )
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: expected a number, got {value!r}") from None


def corpus_parser(doc: str | None, dataset_help: str) -> argparse.ArgumentParser:
    """A command's parser with the corpus options it shares with this one: ``--dataset``
    and the repeatable ``--knob NAME=VALUE``; ``doc``'s first paragraph describes it."""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0] if doc else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--dataset", choices=sorted(PAPER), required=True, help=dataset_help)
    parser.add_argument(
        "--knob",
        type=_knob,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a knob to set (repeatable); the others keep their value in corpus.KNOB_VALUES",
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = corpus_parser(__doc__, "the dataset whose knobs are set")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                        choices=sorted(reproduce_paper.pipeline.METHODS), metavar="METHOD",
                        help="rows to train: the two calibration rows and the oracle")  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                        help="training seeds of every row (an interval needs at least 5)")  # fmt: skip
    parser.add_argument("--headroom-seeds", type=int, default=None, metavar="N",
                        help="seeds of the supervised and oracle rows, as the main job's "
                        "--headroom-seeds: the headroom's interval and those rows' printed F1 are "
                        "taken over N seeds, every other row's over --seeds (default: the main job's, "
                        f"{reproduce_paper.HEADROOM_SEEDS} on quick)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/calibrate"),
                        help="folder of every setting's runs and of fits.jsonl")  # fmt: skip
    parser.add_argument("--profile", choices=sorted(corpus_mod.PROFILES), default="quick",
                        help="corpus sizes and recipe (fits are made on quick)")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=None,
                        help="runs trained at once (default: one per core)")  # fmt: skip
    return parser.parse_args(argv)


def setting_folder(out: Path, dataset: str, profile: str, knobs: corpus_mod.Knobs) -> Path:
    """The folder of one dataset's runs at one knob setting (named by its values)."""
    values = "-".join(f"{k}{v:g}" for k, v in asdict(knobs).items())
    return out / f"{dataset}-{profile}-{values}"


def summarise(results: dict[str, Any], dataset: str, methods: list[str]) -> dict[str, Any]:
    """The fit record of one setting from the main job's ``results.json``.

    A row's measured F1 is its mean over every seed it ran (``measured_seeds``), as the main
    job's calibration table reads it: the supervised and oracle rows train the headroom's
    seeds, more than ``--seeds``.
    """
    ran = cast(dict[str, dict[str, dict[str, Any]]], results["runs"])[dataset]
    every_seed = {m: {int(s): r for s, r in ran[m].items()} for m in methods if m in ran}
    rows = collect({dataset: every_seed})[dataset]
    return {
        "measured_f1": {m: rows[m]["F1"]["mean"] for m in every_seed},
        "measured_seeds": {m: len(seeds) for m, seeds in every_seed.items()},
        "paper_f1": {m: PAPER[dataset][m][0] for m in CALIBRATION_ROWS},
        "headroom": results["headroom"].get(dataset),
    }


def _headroom_seeds(results: dict[str, Any], dataset: str) -> list[int]:
    head = cast(dict[str, Any], results["headroom"]).get(dataset)
    return list(cast(dict[str, list[int]], head)["seeds"]) if head else []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    knobs = replace(corpus_mod.KNOB_VALUES[args.dataset], **dict(args.knob))
    corpus_mod.KNOB_VALUES[args.dataset] = knobs  # the workers receive the parent's knobs
    folder = setting_folder(args.out, args.dataset, args.profile, knobs)
    command = ["--dataset", args.dataset, "--methods", *args.methods, "--out", str(folder)]
    command += ["--seeds", *map(str, args.seeds), "--profile", args.profile]
    command += ["--power-seeds", "0"]  # no DCMKT seeds beyond --seeds (the headroom's stay)
    if args.headroom_seeds is not None:
        command += ["--headroom-seeds", str(args.headroom_seeds)]
    if args.jobs is not None:
        command += ["--jobs", str(args.jobs)]
    code = reproduce_paper.main(command)
    if code != 0:
        return code
    results = json.loads((folder / "results.json").read_text())
    record: dict[str, Any] = {
        "dataset": args.dataset,
        "knobs": asdict(knobs),
        "profile": args.profile,
        "seeds": args.seeds,
        "headroom_seeds": _headroom_seeds(results, args.dataset),
        # the training recipe the rows were measured with (plateau stopping since version 5)
        "pipeline": results["config"]["pipeline"],
        "recipe": results["config"]["recipe"],
        **summarise(results, args.dataset, args.methods),
        "command": "python benchmarks/calibrate.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "fits.jsonl").open("a") as log:
        log.write(json.dumps(record) + "\n")
    for method, f1 in record["measured_f1"].items():
        target = record["paper_f1"].get(method)
        paper = f" (paper {target:.2f}, {f1 - target:+.2f})" if target is not None else ""
        seeds = record["measured_seeds"][method]
        print(f"{args.dataset} {method}: F1 {f1:.2f} over {seeds} seeds{paper}")
    head = record["headroom"]
    if head and head["mean_diff"] is not None:
        print(
            f"{args.dataset} headroom (oracle - supervised): {head['mean_diff']:+.2f} "
            f"[{head['ci_low']:+.2f}, {head['ci_high']:+.2f}] F1 over {len(head['seeds'])} "
            f"seeds, {head['verdict']}"
        )
    elif head:
        print(f"{args.dataset} headroom: {head['verdict']} (an interval needs 5 seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
