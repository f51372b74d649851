"""Tables, figures and the claims check of a reproduction run."""

from __future__ import annotations

import json
import statistics
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from benchmarks.claims import best_epoch_values, evaluate_all, tested_telemetry
from benchmarks.corpus import KNOBS, classes_of
from benchmarks.pipeline import ALPHAS, DATASET_METHODS, EPSILONS, METHODS

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _agg() -> None:
    """Draw on the Agg backend. matplotlib is imported by the plotting functions, when the
    first figure is drawn: half a second that ``--help`` need not pay."""
    import matplotlib

    matplotlib.use("Agg")


# The paper's published numbers on the REAL datasets (F1, WA, UA in %), Tables 3, 4 and 5.
PAPER: dict[str, dict[str, tuple[float, float, float]]] = {
    "chsims": {
        "supervised": (42.94, 45.51, 44.91),
        "fixmatch": (37.90, 42.01, 35.67),
        "pi_model": (45.88, 50.18, 38.81),
        "temporal_ensembling": (41.96, 43.91, 41.92),
        "dcmkt": (36.58, 36.76, 44.94),
        "dcmkt_finetune": (48.56, 48.72, 45.52),
        "cmkt_add": (49.48, 50.69, 45.28),
        "cr_eps0.0": (39.83, 46.46, 37.11),
        "cr_eps0.5": (51.39, 51.72, 49.53),
        "cr_eps0.9": (48.89, 51.50, 42.92),
        "wf_alpha0.2": (49.34, 50.69, 44.50),
        "wf_alpha0.4": (49.00, 49.53, 45.15),
        "wf_alpha0.8": (42.04, 49.31, 36.06),
    },
    "iemocap": {
        "supervised": (57.40, 58.42, 59.43),
        "fixmatch": (56.99, 57.09, 57.71),
        "pi_model": (59.50, 60.21, 61.57),
        "temporal_ensembling": (57.33, 57.67, 58.46),
        "dcmkt": (24.15, 28.72, 27.99),
        "dcmkt_finetune": (54.62, 54.55, 54.97),
        "cr_eps0.5": (60.07, 60.30, 61.20),
        "wf_alpha0.2": (61.06, 61.16, 62.50),
    },
}
METRICS = ("F1", "WA", "UA")
TITLES = {
    "chsims": "Table 3/4 analogue: CH-SIMS-like, 3 sentiments",
    "iemocap": "Table 5 analogue: IEMOCAP-like, 4 emotions",
}
REAL_TITLES = {
    "chsims": "Tables 3/4 setting: CH-SIMS, 3 sentiments (real data)",
    "iemocap": "Table 5 setting: IEMOCAP, 4 emotions (real data)",
}


def collect(runs: dict[str, dict[str, dict[int, dict[str, Any]]]]) -> dict[str, Any]:
    """Mean and std over seeds of every metric of every (dataset, method)."""
    summary: dict[str, Any] = {}
    for dataset, methods in runs.items():
        summary[dataset] = {}
        for method, seeds in methods.items():
            entry: dict[str, Any] = {"seeds": sorted(seeds)}
            for m in METRICS:
                values = [100 * seeds[s]["metrics"][m] for s in sorted(seeds)]
                entry[m] = {
                    "mean": statistics.fmean(values),
                    "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                    "values": values,
                }
            summary[dataset][method] = entry
    return summary


def _cell(entry: dict[str, Any], m: str) -> str:
    return f"{entry[m]['mean']:.2f} ± {entry[m]['std']:.2f}"


def tables(summary: dict[str, Any], *, real: bool = False) -> str:
    lines: list[str] = []
    for dataset, methods in summary.items():
        lines += [f"### {(REAL_TITLES if real else TITLES)[dataset]}", ""]
        lines += [
            "| Method | F1 (%) | WA (%) | UA (%) | paper F1 | paper WA | paper UA |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name in DATASET_METHODS[dataset]:
            if name not in methods:
                continue
            entry = methods[name]
            paper = PAPER[dataset].get(name)
            ref = " | ".join(f"{v:.2f}" for v in paper) if paper else "- | - | -"
            cells = " | ".join(_cell(entry, m) for m in METRICS)
            lines.append(f"| {METHODS[name].label} | {cells} | {ref} |")
        lines.append("")
    return "\n".join(lines)


def telemetry_summary(runs: dict[str, Any]) -> dict[str, Any]:
    """Per (dataset, method): per-epoch mean over seeds, and each seed's values at its best
    epoch (``final_*``: the last epoch that trained the model it tests)."""
    out: dict[str, Any] = {}
    for dataset, methods in runs.items():
        out[dataset] = {}
        for method, seeds in methods.items():
            with_telemetry = [s for s in sorted(seeds) if seeds[s]["telemetry"]]
            per_seed = [seeds[s]["telemetry"] for s in with_telemetry]
            if not per_seed:
                continue
            # runs that stopped on a plateau are shorter: epoch e averages the seeds that ran it
            longest = max(per_seed, key=len)

            def series(
                key: str, per_seed: list[Any] = per_seed, epochs: int = len(longest)
            ) -> list[float | None]:
                out: list[float | None] = []
                for e in range(epochs):
                    vals = [t[e][key] for t in per_seed if e < len(t) and t[e][key] is not None]
                    out.append(float(np.mean(vals)) if vals else None)  # None: nothing kept
                return out

            epoch_of = [int(record["epoch"]) for record in longest]
            # "final": each seed's best epoch, the last that trained the model it tests
            finals_acc = best_epoch_values(seeds, "pseudo-label accuracy", with_telemetry)
            finals_ent = best_epoch_values(seeds, "pseudo-label class entropy", with_telemetry)
            tested = [tested_telemetry(seeds[s]) for s in with_telemetry]
            out[dataset][method] = {
                "epoch": epoch_of,  # the epochs a method trained itself (after a warm start)
                "seeds_per_epoch": [sum(e < len(t) for t in per_seed) for e in range(len(longest))],
                "kept_share": series("kept_share"),
                "pseudo_label_accuracy": series("pseudo_label_accuracy"),
                "final_kept_class_histogram": [
                    int(v)
                    for v in np.sum(
                        [t[-1]["kept_class_histogram"] for t in tested if t]
                        or [[0] * len(per_seed[0][0]["kept_class_histogram"])],
                        axis=0,
                    )
                ],
                "final_accuracy": [None if np.isnan(v) else v for v in finals_acc],
                "final_entropy": [None if np.isnan(v) else v for v in finals_ent],
            }
    return out


def _save(fig: Figure, path: Path) -> None:
    """Write ``fig`` to ``path`` at 110 dpi and close it."""
    _agg()
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)  # pyright: ignore[reportUnknownMemberType]  # untyped **kwargs
    plt.close(fig)


def plot_confusions(runs: dict[str, Any], path: Path) -> None:
    """Fig. 3 analogue: row-normalised test confusion matrices summed over seeds."""
    _agg()
    import matplotlib.pyplot as plt

    panels = [
        ("fixmatch", "(a) FixMatch"),
        ("pi_model", "(b) Pi-model"),
        ("temporal_ensembling", "(c) Temporal ens."),
        ("dcmkt", "(d) DCMKT"),
        ("cr_eps0.5", "(e) C&R eps=0.5"),
        ("wf_alpha0.2", "(f) WF alpha=0.2"),
    ]
    datasets = [d for d in ("chsims", "iemocap") if d in runs]
    fig, axes = plt.subplots(
        len(datasets), 6, figsize=(16, 3.0 * len(datasets) + 0.4), squeeze=False
    )
    for r, dataset in enumerate(datasets):
        names = classes_of(dataset)
        for c, (method, title) in enumerate(panels):
            ax = axes[r, c]
            seeds = runs[dataset].get(method)
            if not seeds:
                ax.axis("off")
                continue
            cm: NDArray[np.float64] = np.sum(
                [np.array(v["confusion"]) for v in seeds.values()], axis=0
            ).astype(float)
            cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
            ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
            # numpy's stub types ndenumerate.__iter__ with typing.Self (unknown on Python 3.10)
            cells = cast(Iterable[tuple[tuple[int, int], float]], np.ndenumerate(cm))
            for (i, j), v in cells:
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v > 0.6 else "black",
                )
            ax.set_xticks(range(len(names)), [n[:3] for n in names], fontsize=7)
            ax.set_yticks(range(len(names)), [n[:3] for n in names], fontsize=7)
            ax.set_title(f"{title}\n{dataset}", fontsize=8)
            if c == 0:
                ax.set_ylabel("true")
            ax.set_xlabel("predicted", fontsize=7)
    fig.suptitle(  # pyright: ignore[reportUnknownMemberType]
        "Test confusion matrices (rows normalised, summed over seeds) — Fig. 3 analogue"
    )
    fig.tight_layout()
    _save(fig, path)


def plot_sweeps(summary: dict[str, Any], path: Path, *, real: bool = False) -> None:
    """Fig. 4 analogue: metrics against epsilon (FF1) and alpha (FF2), mean ± std."""
    _agg()
    import matplotlib.pyplot as plt

    s = summary.get("chsims", {})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    sweeps = [
        (
            "epsilon (FF1, Consistent & Random)",
            [(e, f"cr_eps{e}") for e in EPSILONS] + [(1.0, "cmkt_add")],
        ),
        (
            "alpha (FF2, Weighted fusion)",
            [(a, f"wf_alpha{a}") for a in ALPHAS] + [(1.0, "fixmatch")],
        ),
    ]
    for ax, (xlabel, points) in zip(axes, sweeps, strict=True):
        pts = [(x, s[m]) for x, m in points if m in s]
        for metric, marker in zip(METRICS, "osd", strict=True):
            if not pts:
                continue
            xs = [p[0] for p in pts]
            ys = [p[1][metric]["mean"] for p in pts]
            es = [p[1][metric]["std"] for p in pts]
            ax.errorbar(xs, ys, yerr=es, marker=marker, capsize=3, label=metric)
        if "supervised" in s:
            ax.axhline(
                s["supervised"]["F1"]["mean"], color="grey", ls="--", lw=1, label="supervised F1"
            )
        ax.set_xlabel(xlabel + " (1.0 = CMKT add / FixMatch)")
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(  # pyright: ignore[reportUnknownMemberType]
        ("CH-SIMS" if real else "CH-SIMS-like")
        + ": influence of epsilon and alpha (mean ± std over seeds) — Fig. 4 analogue"
    )
    fig.tight_layout()
    _save(fig, path)


def plot_pseudo_labels(telemetry: dict[str, Any], path: Path) -> None:
    """Share kept, pseudo-label accuracy (vs the hidden truth) and class mix of kept labels."""
    _agg()
    import matplotlib.pyplot as plt

    datasets = [d for d in ("chsims", "iemocap") if telemetry.get(d)]
    if not datasets:  # no pseudo-labelling method in this run
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(  # pyright: ignore[reportUnknownMemberType]
            0.5, 0.5, "no pseudo-labelling method was run", ha="center", va="center"
        )
        _save(fig, path)
        return
    fig, axes = plt.subplots(len(datasets), 3, figsize=(15, 3.6 * len(datasets)), squeeze=False)
    for r, dataset in enumerate(datasets):
        names = classes_of(dataset)
        methods = list(telemetry[dataset])
        for method in methods:
            t = telemetry[dataset][method]
            label = METHODS[method].label
            epochs = t.get("epoch") or list(range(len(t["kept_share"])))
            axes[r, 0].plot(epochs, t["kept_share"], label=label)
            axes[r, 1].plot(epochs, t["pseudo_label_accuracy"], label=label)
        bottom = np.zeros(len(methods))
        for k, name in enumerate(names):
            shares: list[float] = []
            for method in methods:
                h = np.array(telemetry[dataset][method]["final_kept_class_histogram"], dtype=float)
                shares.append(h[k] / h.sum() if h.sum() else 0.0)
            axes[r, 2].barh(range(len(methods)), shares, left=bottom, label=name)
            bottom += np.array(shares)
        axes[r, 2].set_yticks(range(len(methods)), [METHODS[m].label for m in methods], fontsize=7)
        axes[r, 0].set_title(f"{dataset}: share of unlabelled clips kept by the mask", fontsize=9)
        axes[r, 1].set_title(
            f"{dataset}: accuracy of kept pseudo-labels (hidden truth)", fontsize=9
        )
        axes[r, 2].set_title(f"{dataset}: class mix of kept pseudo-labels, best epoch", fontsize=9)
        for ax in axes[r, :2]:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        axes[r, 1].legend(fontsize=6)
        axes[r, 2].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def plot_claims(rows: list[dict[str, Any]], headroom: dict[str, Any], path: Path) -> None:
    """Every paired difference with its 95% interval, coloured by verdict (a forest plot)."""
    _agg()
    import matplotlib.pyplot as plt

    items = [
        (f"{d}: headroom (oracle - supervised), F1", h["mean_diff"], h["ci_low"], h["ci_high"],
         h["verdict"]) for d, h in headroom.items()
    ] + [
        (f"{r['dataset']}: {r['claim']} [{r['metric']}]", r["mean_diff"], r["ci_low"],
         r["ci_high"], r["verdict"]) for r in rows
    ]  # fmt: skip
    colours = {"supported": "tab:green", "contradicted": "tab:red", "undecided": "tab:grey"}
    fig, ax = plt.subplots(figsize=(12, 0.42 * len(items) + 1.2))
    for k, (_, mean, lo, hi, v) in enumerate(items):
        y = len(items) - 1 - k
        if mean is None:
            ax.text(  # pyright: ignore[reportUnknownMemberType]
                0, y, "not testable", va="center", ha="center", fontsize=7, color="tab:orange"
            )
            continue
        # a percentile interval need not contain the observed mean: clip the bars at it
        ax.errorbar(mean, y, xerr=[[max(mean - lo, 0.0)], [max(hi - mean, 0.0)]], fmt="o",  # pyright: ignore[reportUnknownMemberType]
                    capsize=3, color=colours.get(v, "black"))  # fmt: skip
    # matplotlib's stubs leave the **kwargs of these Axes methods untyped
    ax.axvline(0, color="black", lw=0.8)  # pyright: ignore[reportUnknownMemberType]
    labels = [textwrap.fill(t, 48) for t, *_ in reversed(items)]  # long claims wrap
    ax.set_yticks(range(len(items)), labels, fontsize=7)  # pyright: ignore[reportUnknownMemberType]
    ax.set_xlabel(  # pyright: ignore[reportUnknownMemberType]
        "a - b, percentage points (paired over seeds; 95% bootstrap interval)"
    )
    ax.set_title(  # pyright: ignore[reportUnknownMemberType]
        "Claims: green supported, red contradicted, grey undecided", fontsize=9
    )
    ax.grid(axis="x", alpha=0.3)  # pyright: ignore[reportUnknownMemberType]
    fig.tight_layout()
    _save(fig, path)


def _interval(row: dict[str, Any]) -> str:
    if row["mean_diff"] is None:
        return "-"
    return f"{row['mean_diff']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"


def headroom_section(headroom: dict[str, Any], synthetic: bool) -> list[str]:
    lines = [
        "## Headroom of this testbed",
        "",
        "Before any claim: would perfect pseudo-labels help here at all? The *oracle* row "
        "trains every unlabelled clip on its hidden true audio label with FixMatch's recipe "
        "otherwise; its paired difference to supervised training (same seeds, same labelled "
        "batches) is the most any pseudo-labelling method could gain. Where its interval "
        "does not lie above 0, no claim about pseudo-labels can be decided on this testbed.",
        "",
    ]
    if not synthetic or not headroom:
        return [*lines, "Not measurable: the oracle needs the true label of every unlabelled "
                "clip, which real data does not have.", ""]  # fmt: skip
    lines[-2] += (
        " The two rows may train on more seeds than the others (`--headroom-seeds`, the seeds "
        "column); every other section reads the run's seeds only."
    )
    lines += ["| dataset | oracle - supervised, F1 (pp) [95% CI] | seeds | verdict |",
              "| --- | --- | --- | --- |"]  # fmt: skip
    for d, h in headroom.items():
        seeds = len(h["seeds"])
        lines.append(f"| {d} | {_interval(h)} | {seeds} | **{h['verdict']}** |")
    return [*lines, ""]


def calibration_section(calibration: dict[str, Any], synthetic: bool) -> list[str]:
    text = (
        "The corpus' difficulty knobs may be fitted to two rows of the paper per dataset, "
        "supervised and DCMKT F1 (target: within 3 points); every other row is an "
        "out-of-sample prediction. `KNOBS` (below) records each fitted knob and its target. "
        "Each row's F1 is its mean over every seed it ran (the tables read the run's seeds)."
        if synthetic
        else "The paper's supervised and DCMKT F1 beside this run's."
    )
    lines = [
        "## Calibration",
        "",
        text,
        "",
        "| dataset | row | paper F1 | measured F1 | measured - paper | seeds |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for d, rows in calibration.items():
        for m, v in rows.items():
            lines.append(f"| {d} | {METHODS[m].label} | {v['paper']:.2f} | {v['measured']:.2f} | "
                         f"{v['measured'] - v['paper']:+.2f} | {v['seeds']} |")  # fmt: skip
    return [*lines, ""]


def claims_section(rows: list[dict[str, Any]], power: dict[str, Any]) -> list[str]:
    lines = [
        "## Claims",
        "",
        "Each qualitative claim of the paper as a paired comparison: the mean over seeds of "
        "`metric(a) - metric(b)` on the same test clips, over every seed both rows ran (the "
        "run's seeds, or more where both train more: `--headroom-seeds`, `--power-seeds`), "
        "with a 95% interval from "
        "`scipy.stats.bootstrap` resampling seeds and test clips. **supported**: the interval "
        "lies above 0; **contradicted**: below 0; **undecided**: it spans 0; **not testable**: "
        "a run is missing, fewer than 5 seeds of both methods (a bootstrap over fewer seeds "
        "understates the seed-to-seed spread), or a pseudo-labelling method kept under 1% of "
        "the unlabelled clips it drew in the epochs that trained the model it tests (up to "
        "each seed's best epoch), so it trained like supervised learning. MDE: the "
        "paired difference this run would detect with 80% power at alpha 0.05. "
        "No correction for testing many claims is made: with 19 claims, one interval in 20 "
        "missing its true difference is expected by chance.",
        "",
        "| dataset | claim | metric | a - b (pp) [95% CI] | MDE (pp) | seeds | verdict |",
        "| --- | --- | --- | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        mde = f"{r['mde']:.2f}" if r["mde"] is not None else "-"
        verdict = r["verdict"] + (f" ({r['why']})" if "why" in r else "")
        lines.append(f"| {r['dataset']} | {r['claim']}: {METHODS[r['a']].label} > "
                     f"{METHODS[r['b']].label} | {r['metric']} | {_interval(r)} | {mde} | "
                     f"{len(r['seeds'])} | **{verdict}** |")  # fmt: skip
    lines += ["", "Minimum detectable paired effect of this run (F1 claims; median and largest):",
              ""]  # fmt: skip
    for d, pw in power.items():
        if pw["mde_f1"] is None:
            lines.append(f"- {d}: not measured (no testable F1 claim)")
        else:
            lines.append(f"- {d}: {pw['mde_f1']:.2f} points (largest {pw['mde_f1_max']:.2f}, "
                         f"{pw['claims_measured']} claims)")  # fmt: skip
    return [*lines, "", "![claims](claims.png)", ""]


def _seed_range(seeds: list[int]) -> str:
    """``seeds 0-9`` for three or more consecutive seeds, else ``seeds [...]``."""
    ordered = sorted(seeds)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"seeds {ordered[0]}-{ordered[-1]}"
    return f"seeds {ordered}"


def _headroom_seeds(headroom: dict[str, Any], config: dict[str, Any]) -> list[int]:
    """The headroom's seeds where they are more than the run's (the header names them)."""
    seeds = sorted({s for h in headroom.values() for s in h.get("seeds", [])})
    return seeds if len(seeds) > len(config["seeds"]) else []


def _power_claims(rows: list[dict[str, Any]], config: dict[str, Any]) -> list[str]:
    """The datasets with a claim paired over more seeds than the run's (``--power-seeds``)."""
    n = len(config["seeds"])
    return list(dict.fromkeys(r["dataset"] for r in rows if len(r["seeds"]) > n))


def _only_seeds(runs: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
    keep = set(seeds)
    return {
        d: {m: {s: r for s, r in by_seed.items() if s in keep} for m, by_seed in methods.items()}
        for d, methods in runs.items()
    }


def write_report(
    out: Path,
    runs: dict[str, Any],
    corpus_stats: dict[str, Any],
    config: dict[str, Any],
    seconds: float,
    labels: dict[str, list[int]],
) -> None:
    # the headroom rows and claims.POWER_ROWS may have more seeds (--headroom-seeds,
    # --power-seeds): the headroom and the claims pair every seed both rows ran, every table
    # and figure reads the run's --seeds
    runs_all, runs = runs, _only_seeds(runs, config["seeds"])
    summary = collect(runs)
    telemetry = telemetry_summary(runs)
    claim_rows, headroom, power = evaluate_all(
        runs_all,
        {d: np.asarray(labels[d], dtype=np.int64) for d in runs},
        {d: len(classes_of(d)) for d in runs},
    )
    data = config.get("data", "synthetic")
    synthetic = data == "synthetic"
    if not synthetic:
        headroom = {}
    # a calibration row's F1 is its mean over every seed it ran: the supervised row trains
    # the headroom's seeds, the IEMOCAP-like DCMKT row the power seeds
    every_seed = collect(runs_all)
    calibration = {
        d: {m: {"paper": PAPER[d][m][0], "measured": every_seed[d][m]["F1"]["mean"],
                "seeds": len(runs_all[d][m])}
            for m in ("supervised", "dcmkt") if m in every_seed[d]}
        for d in every_seed
    }  # fmt: skip
    (out / "results.json").write_text(
        json.dumps(
            {
                "config": config,
                "corpus": corpus_stats,
                "headroom": headroom,
                "calibration": calibration,
                "power": power,
                "claims": claim_rows,
                "summary": summary,
                "runs": runs_all,
                "test_labels": labels,
            },
            indent=1,
        )
    )
    (out / "pseudo_labels.json").write_text(json.dumps(telemetry, indent=1))
    plot_confusions(runs, out / "confusion.png")
    plot_claims(claim_rows, headroom, out / "claims.png")
    scale = config["scale_down"]
    plot_sweeps(summary, out / "sweeps.png", real=not synthetic)
    plot_pseudo_labels(telemetry, out / "pseudo_labels.png")
    if synthetic:
        title = "the synthetic audio-visual corpus"
        caveat = (
            "**Read this first.** These numbers come from a *simulation* of the paper's setting "
            "(see 'Corpus' below), not from CH-SIMS, iQIYI-VID, IEMOCAP or EmoVoxCeleb. The "
            "paper's columns are its published results on the real datasets, shown for the "
            "shape of the comparison only; the absolute values are not comparable."
        )
        corpus_section = [
            "## Corpus",
            "",
            "| knob | value and source |",
            "| --- | --- |",
            *[f"| {k} | {v} |" for k, v in KNOBS.items()],
        ]
    else:
        title = f"{data['dataset']} (real data read from {data['root']})"
        caveat = (
            f"**Read this first.** These numbers come from the real {data['dataset']} release and "
            f"the unlabelled clips of `{data['unlabelled']}`, read by `sertoolkit.datasets` (see "
            "'Data' below). The paper's columns are its published results; they are comparable "
            "only at the paper profile, with the paper's unlabelled set and pre-trained models."
        )
        corpus_section = [
            "## Data",
            "",
            "| setting | value |",
            "| --- | --- |",
            *[f"| {k} | {v} |" for k, v in data.items()],
        ]
    text = [
        f"# Reproduction of Zhang et al. (2021) on {title}",
        "",
        f"Command: `{config['command']}`  ",
        f"Profile `{config['profile']}`, seeds {config['seeds']}"
        + (
            f" (the headroom rows: {_seed_range(extra)})"
            if (extra := _headroom_seeds(headroom, config))
            else ""
        )
        + (
            f" (more in claims of {', '.join(more)}: see their seeds column)"
            if (more := _power_claims(claim_rows, config))
            else ""
        )
        + f", device `{config['device']}`, "
        f"torch {config['torch']}; this invocation took {seconds / 60:.1f} min (finished runs found on disk are reused, not retrained).",
        "",
        caveat,
        "",
        f"Scale-down of this profile: {scale}",
        "",
        *headroom_section(headroom, synthetic),
        *calibration_section(calibration, synthetic),
        *claims_section(claim_rows, power),
        "## Results (mean ± std over seeds, test split, model selected on validation UA)",
        "",
        tables(summary, real=not synthetic),
        "## Figures",
        "",
        "![confusion](confusion.png)",
        "",
        "![sweeps](sweeps.png)",
        "",
        "![pseudo-labels](pseudo_labels.png)",
        "",
        *corpus_section,
        "",
        "Measured on this run's data:",
        "",
        "```json",
        json.dumps(corpus_stats, indent=1),
        "```",
        "",
    ]
    tmp = out / "report.md.tmp"
    tmp.write_text("\n".join(text))
    tmp.replace(out / "report.md")
