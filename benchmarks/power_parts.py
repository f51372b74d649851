"""Where a reproduction run's uncertainty comes from: test clips or training seeds.

Issue #12 asks every run for a minimum detectable effect (MDE) of at most 4 F1 points. A
claim's MDE is ``2.80 x SE``, where SE is the bootstrap standard error of its paired
difference over seeds *and* test clips (:mod:`benchmarks.claims`). More seeds shrink only
the part of SE that comes from seeds, more test clips only the part from clips; this command
splits each claim's SE into the two (:func:`benchmarks.claims.error_parts`) from a finished
run's ``results.json``, so that a run can be planned before it is paid for:

    python benchmarks/power_parts.py benchmarks/out/quick/results.json

Each row: the claim's seeds and test clips, its MDE, the MDE its test clips alone give
(seeds held fixed) and its seeds alone (clips held fixed). ``--clips-factor K --seeds-to S``
adds the MDE projected for K times the test clips and S seeds (each part scaled by one over
the square root of its growth). It reads the per-clip test predictions the run stored and
trains nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import claims


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="power_parts.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Reads results.json only; trains nothing.",
    )
    parser.add_argument("results", type=Path, help="a run's results.json")
    parser.add_argument("--metric", default="F1", choices=claims.METRICS,
                        help="the claims' metric to split (default F1, the MDE's)")  # fmt: skip
    parser.add_argument("--clips-factor", type=float, default=None, metavar="K",
                        help="project the MDE for K times the test clips (with --seeds-to)")  # fmt: skip
    parser.add_argument("--seeds-to", type=int, default=None, metavar="S",
                        help="project the MDE for S seeds (with --clips-factor)")  # fmt: skip
    args = parser.parse_args(argv)
    if (args.clips_factor is None) != (args.seeds_to is None):
        parser.error("--clips-factor and --seeds-to go together")
    if args.clips_factor is not None and not args.clips_factor > 0:
        parser.error(f"--clips-factor must be > 0, got {args.clips_factor}")
    if args.seeds_to is not None and args.seeds_to < 2:
        parser.error(f"--seeds-to must be >= 2, got {args.seeds_to}")
    if not args.results.is_file():
        parser.error(f"results: no such file {args.results}")
    return args


def split_claims(results: dict[str, Any], metric: str = "F1") -> list[dict[str, Any]]:
    """Each claim of ``results`` on ``metric`` that has an MDE, with its SE split in two."""
    from benchmarks.corpus import classes_of  # imports torch: not on --help

    rows: list[dict[str, Any]] = []
    for claim in results["claims"]:
        if claim["metric"] != metric or claim["mde"] is None:
            continue
        dataset, seeds = claim["dataset"], claim["seeds"]
        runs = results["runs"][dataset]
        pred_a, pred_b = (
            np.array([runs[m][str(s)]["predictions"] for s in seeds], dtype=np.int64)
            for m in (claim["a"], claim["b"])
        )
        labels = np.asarray(results["test_labels"][dataset], dtype=np.int64)
        classes = len(classes_of(dataset))
        parts = claims.error_parts(pred_a, pred_b, labels, classes, metric)
        rows.append({**claim, "clips": len(labels), **parts})
    return rows


def projected_mde(row: dict[str, Any], clips_factor: float, seeds_to: int) -> float:
    """The MDE with ``clips_factor`` times the clips and ``seeds_to`` seeds."""
    clips = row["se_clips"] ** 2 / clips_factor
    seeds = row["se_seeds"] ** 2 * len(row["seeds"]) / seeds_to
    return claims.Z_POWER * math.sqrt(clips + seeds)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = json.loads(args.results.read_text())
    rows = split_claims(results, args.metric)
    project = args.clips_factor is not None
    head = "| dataset | claim | seeds | test clips | MDE | clips alone | seeds alone |"
    rule = "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    if project:
        head += f" x{args.clips_factor:g} clips, {args.seeds_to} seeds |"
        rule += " ---: |"
    print(head)
    print(rule)
    z = claims.Z_POWER
    for r in rows:
        line = (
            f"| {r['dataset']} | {r['a']} - {r['b']} | {len(r['seeds'])} | {r['clips']} | "
            f"{r['mde']:.2f} | {z * r['se_clips']:.2f} | {z * r['se_seeds']:.2f} |"
        )
        if project:
            line += f" {projected_mde(r, args.clips_factor, args.seeds_to):.2f} |"
        print(line)
    if not rows:
        print(f"(no {args.metric} claim with an MDE in {args.results})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
