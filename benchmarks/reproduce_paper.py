"""Reproduce Zhang et al. (2021), Tables 3-5 and Fig. 3-4, with sertoolkit's public API.

By default this runs the ``quick`` profile on the embedded synthetic audio-visual corpus
(generated, cached and featurised on first use), trains every method of the paper's tables for
five seeds (the two headroom rows, supervised and oracle, for ten), and writes ``results.json``, ``report.md``, ``confusion.png``, ``sweeps.png``,
``pseudo_labels.png`` and ``pseudo_labels.json`` into the output folder.

Every (method, seed) run is written atomically as soon as it finishes, and checkpointed at
the end of every epoch while it runs; re-running the same command skips finished runs and
resumes the interrupted one after its last finished epoch, with the same final metrics.

    python benchmarks/reproduce_paper.py                  # quick profile, both datasets
    python benchmarks/reproduce_paper.py --profile paper --device cuda
    python benchmarks/reproduce_paper.py --dataset chsims --methods supervised cr_eps0.5

With the real datasets (read from their native layouts; see docs/pages/datasets.md):

    python benchmarks/reproduce_paper.py --dataset iemocap --iemocap-root IEMOCAP_full_release \
        --unlabelled emovoxceleb.csv --wav2vec-checkpoint wav2vec2_base.pt --profile paper
    python benchmarks/reproduce_paper.py --dataset chsims --chsims-root CH-SIMS \
        --unlabelled iqiyi.jsonl --face-model rafdb_mobilenetv2.pt --profile paper
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast

import torch
from tqdm import tqdm

from benchmarks import claims, distributed, pipeline, real_data, report
from benchmarks import corpus as corpus_mod

SCALE_DOWN = {
    "paper": "none: the paper's sizes (EmoVoxCeleb capped at 50,000 clips), the paper's encoder (512 x 8 heads x 8 blocks), 555 x 512 STFT features.",
    "quick": (
        "labelled sets of 340 / 400 / 4,000 clips (CH-SIMS-like train / validation / test) and "
        "about 320 / 400 / 6,000 (IEMOCAP-like: sessions 1-4 / session 5 / 4 held-out speakers), "
        "3,400 and 4,000 unlabelled clips (before the IEMOCAP-like face filter), clips of 1.0-2.6 s, "
        "2,400 face images; STFT log magnitudes (555 x 512) cut to the lowest 64 bins (0-2 kHz) and "
        "average-pooled over 20 frames (27 x 64, the last 15 frames dropped); encoder 32 wide x 4 heads x 2 blocks; one MobileNetV2 (width 0.35) face model on 32 x 32 faces, trained for 12 epochs "
        "and shared by both datasets. Everything else (recipe, methods, fusion rules) is the paper's."
    ),
    "tiny": "a smoke-test size: a few dozen clips, 2 epochs. Its numbers mean nothing.",
}


HEADROOM_SEEDS = 10
"""Default seeds of the headroom rows: with 5, a headroom of 2-3 F1 points (what the corpus
shows) has an interval about as wide as itself on either side (issue #12, item 1)."""

POWER_SEEDS = 24
"""Default seeds of the rows of :data:`benchmarks.claims.POWER_ROWS` (issue #12, item 4)."""


def schedule_text(recipe: pipeline.Recipe) -> str:
    """The training schedule of ``recipe`` in words (the report's scale-down line)."""
    shape = (
        "the paper's schedule"
        if (recipe.warmup_epochs, recipe.decay_every) == (4, 4)
        else f"the paper's schedule shape (warm-up {recipe.warmup_epochs} epochs, the rate "
        f"divided by 1.17 every {recipe.decay_every})"
    )
    text = f"{recipe.epochs} epochs with {shape}"
    if recipe.warm_start_epochs:
        text += f", continuing the supervised run of the seed from epoch {recipe.warm_start_epochs}"
    if recipe.patience:
        text += (
            f", each run stopping once validation UA has not improved for {recipe.patience} "
            f"epochs (never before epoch {recipe.min_epochs}; the best model is kept either way)"
        )
    return text + "."


def headroom_seeds(seeds: list[int], n: int) -> list[int]:
    """``seeds`` followed by the integers after the largest of them, ``n`` seeds in all (or
    just ``seeds`` when they are ``n`` or more already)."""
    extra = max(0, n - len(seeds))
    return [*seeds, *range(max(seeds) + 1, max(seeds) + 1 + extra)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="reproduce_paper.py",
        description=(
            "Reproduce the experiments of Zhang et al. (2021), 'Combining cross-modal knowledge "
            "transfer and semi-supervised learning for speech emotion recognition', on the embedded "
            "synthetic audio-visual corpus: Tables 3-5, Fig. 3 (confusion matrices), Fig. 4 "
            "(epsilon/alpha sweeps) and pseudo-label telemetry."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--profile",
        choices=sorted(pipeline.RECIPES),
        default="quick",
        help="quick: scaled down, 10-19 min on a 2-core CPU (docs/pages/reproducing.md); "
        "paper: the paper's sizes and 50 epochs (for a GPU); tiny: a seconds-long smoke test",
    )
    parser.add_argument(
        "--dataset",
        choices=["all", "chsims", "iemocap"],
        default="all",
        help="chsims: CH-SIMS-like 3-class (Tables 3-4); iemocap: IEMOCAP-like 4-class (Table 5)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="torch device: auto (cuda if available, else cpu), cpu, cuda or cuda:N",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2, 3, 4],
        help="training seeds (the paper uses 3; a claim gets a verdict only with at least 5 "
        "seeds of both its methods)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        metavar="METHOD",
        help="subset of methods (default: every row of the tables); choices: "
        + ", ".join(pipeline.METHODS),
    )
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (default: benchmarks/out/<profile>); also holds the corpus cache and finished runs",
    )
    parser.add_argument(
        "--headroom-seeds",
        type=int,
        default=None,
        metavar="N",
        help="seeds of the two headroom rows (supervised and oracle pseudo-labels, when both "
        "run): --seeds and the integers after the largest of them, N in all. The headroom's "
        "interval is taken over all N, a claim pairs every seed both of its rows ran, and "
        "every table and figure uses --seeds only. "
        f"Default: {HEADROOM_SEEDS} on the quick and paper profiles, none added on tiny",
    )
    parser.add_argument(
        "--power-seeds",
        type=int,
        default=None,
        metavar="N",
        help="seeds of the rows whose claims need more than --seeds for power (supervised, "
        "DCMKT and fine-tuned DCMKT on the IEMOCAP-like set: claims.POWER_ROWS): --seeds and the "
        "integers after the largest of them, N in all. A claim pairs every seed both of its "
        "rows ran; the tables and figures use --seeds only. "
        f"Default: {POWER_SEEDS} on the quick and paper profiles, none added on tiny",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        metavar="N",
        help="train N epochs instead of the profile's, with the paper's schedule shape "
        "compressed (or stretched) to them: warm-up and decay period of round(4 N / 50) "
        "epochs, at least 1 (pipeline.compressed). Fewer epochs are faster, and on the quick "
        "profile leave the testbed less headroom (docs/pages/reproducing.md); default: the "
        "profile's (quick and paper: the paper's 50)",
    )
    parser.add_argument(
        "--warm-start-epochs",
        type=int,
        default=None,
        metavar="N",
        help="methods that train on labelled data continue their seed's supervised run from "
        "the end of epoch N instead of training from scratch (the paper's 'intermediate SER "
        "model trained by supervised learning', read as a warm start); default: the profile's "
        "(0: from scratch; see docs/pages/reproducing.md)",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=None,
        metavar="N",
        help="stop a run once validation UA has not improved for N epochs (0: train every "
        "epoch); the model kept is the best one either way. Default: the profile's (quick: 8, "
        "scaled with --epochs; paper: 0)",
    )
    parser.add_argument(
        "--min-epochs",
        type=int,
        default=None,
        metavar="N",
        help="no run stops on a plateau before N epochs; default: the profile's (quick: 10, "
        "scaled with --epochs)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="(method, seed) runs trained at once, each in its own process (on a CPU also "
        "the processes that synthesise the corpus and train the face model); default: the CPU "
        "cores divided by --workers on a CPU, 1 on a GPU or under torchrun (where it is "
        "always 1). With the same --workers, results do not depend on it",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="CPU threads PyTorch may use per run (torch.set_num_threads); default: the cores "
        "divided by --jobs. Other thread counts change floating-point reduction order, as "
        "another CPU does",
    )
    parser.add_argument("--corpus-seed", type=int, default=0, help="seed of the synthetic corpus")
    parser.add_argument(
        "--per-rank-batch",
        action="store_true",
        help="under torchrun: 32 labelled + 32 unlabelled examples per rank (a global batch of "
        "32 x ranks, so fewer optimiser steps per epoch and a different recipe from the "
        "paper's) instead of the default 32 + 32 split across the ranks",
    )
    real = parser.add_argument_group(
        "real datasets",
        "Run on IEMOCAP or CH-SIMS instead of the synthetic corpus: give the release folder "
        "with --dataset and --unlabelled (schema of the manifest: docs/pages/datasets.md). "
        "Features and face evidence are cached in <out>/cache; nothing is downloaded.",
    )
    real.add_argument(
        "--iemocap-root",
        type=Path,
        help="IEMOCAP release folder (Session1 ... Session5); needs --dataset iemocap",
    )
    real.add_argument(
        "--chsims-root",
        type=Path,
        help="CH-SIMS release folder (label.csv, Raw/); needs --dataset chsims",
    )
    real.add_argument(
        "--unlabelled",
        type=Path,
        help="manifest (.csv or .jsonl) of the unlabelled audio-visual clips "
        "(EmoVoxCeleb-like for IEMOCAP, iQIYI-VID-like for CH-SIMS)",
    )
    real.add_argument(
        "--features",
        choices=["auto", "stft", "wav2vec"],
        default="auto",
        help="audio features; auto = the paper's: STFT for CH-SIMS (Mandarin), wav2vec for "
        "IEMOCAP (English)",
    )
    real.add_argument(
        "--wav2vec-checkpoint",
        type=Path,
        help="local wav2vec 2.0 weights (torchaudio state dict or HuggingFace .bin/.safetensors); "
        "needed for wav2vec features",
    )
    real.add_argument(
        "--wav2vec-architecture",
        choices=["base", "large", "large_lv60k"],
        default="base",
        help="architecture of --wav2vec-checkpoint",
    )
    real.add_argument(
        "--chsims-annotation",
        choices=["label_A", "label", "label_T", "label_V"],
        default="label_A",
        help="CH-SIMS score column that gives the sentiment: label_A (audio only; the task is "
        "speech emotion) or label (multimodal)",
    )
    real.add_argument(
        "--chsims-audio-dir",
        type=Path,
        help="folder of pre-extracted <video_id>/<clip_id>.wav to read instead of Raw/*.mp4",
    )
    real.add_argument(
        "--val-speakers",
        nargs="+",
        default=["Ses05F"],
        metavar="SPEAKER",
        help="IEMOCAP validation speakers (every speaker not in validation or test trains)",
    )
    real.add_argument(
        "--test-speakers",
        nargs="+",
        default=["Ses05M"],
        metavar="SPEAKER",
        help="IEMOCAP test speakers",
    )
    real.add_argument(
        "--face-model",
        type=Path,
        help="local MobileNetV2 face-expression checkpoint (7 RAF-DB expressions), needed when "
        "the manifest has face crops",
    )
    real.add_argument(
        "--face-width", type=float, default=1.0, help="width multiplier of --face-model"
    )
    real.add_argument(
        "--face-size",
        type=int,
        default=None,
        help="resize face crops to this square size before the face model (default: as stored)",
    )
    real.add_argument(
        "--face-channels",
        type=int,
        choices=[1, 3],
        default=3,
        help="3: RGB face crops; 1: convert them to grey (for a grey face model)",
    )
    args = parser.parse_args(argv)
    # every bad value fails here, in one line, before any work starts
    if args.methods:
        unknown = [m for m in args.methods if m not in pipeline.METHODS]
        if unknown:
            parser.error(
                f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(pipeline.METHODS)}"
            )
    if args.headroom_seeds is not None and args.headroom_seeds < 0:
        parser.error(f"--headroom-seeds must be >= 0, got {args.headroom_seeds}")
    if args.power_seeds is not None and args.power_seeds < 0:
        parser.error(f"--power-seeds must be >= 0, got {args.power_seeds}")
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    recipe_of_profile = pipeline.RECIPES[args.profile]
    epochs = args.epochs if args.epochs is not None else recipe_of_profile.epochs
    if args.warm_start_epochs is not None and not 0 <= args.warm_start_epochs < epochs:
        parser.error(
            f"--warm-start-epochs must be in [0, {epochs}) for {epochs} epochs, "
            f"got {args.warm_start_epochs}"
        )
    if args.patience is not None and args.patience < 0:
        parser.error(f"--patience must be >= 0, got {args.patience}")
    if args.min_epochs is not None and not 0 <= args.min_epochs <= epochs:
        parser.error(
            f"--min-epochs must be in [0, {epochs}] for {epochs} epochs, got {args.min_epochs}"
        )
    patience = args.patience if args.patience is not None else recipe_of_profile.patience
    if args.min_epochs is not None and patience == 0:
        parser.error(
            f"--min-epochs has no effect without plateau stopping (patience 0 on the "
            f"{args.profile} profile or with --patience 0); give --patience N as well"
        )
    if any(s < 0 for s in args.seeds):
        parser.error(f"--seeds must be non-negative integers, got {args.seeds}")
    if len(set(args.seeds)) < len(args.seeds):
        parser.error(f"--seeds must not repeat a seed, got {args.seeds}")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    args.real = _real_source(parser, args)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(args.device)
    except RuntimeError:
        parser.error(f"--device {args.device!r} is not a torch device")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was asked for, but no CUDA device is available")
    out = Path(args.out) if args.out else Path(__file__).resolve().parent / "out" / args.profile
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as err:
        parser.error(f"output folder {str(out)!r} is not writable: {err.strerror or err}")
    args.out = out
    return args


def _real_source(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> real_data.RealSource | None:
    """The real dataset asked for, or None for the synthetic corpus; bad combinations fail."""
    roots = {"iemocap": args.iemocap_root, "chsims": args.chsims_root}
    given = [name for name, root in roots.items() if root is not None]
    if not given:
        for flag in ("unlabelled", "wav2vec_checkpoint", "chsims_audio_dir", "face_model"):
            if getattr(args, flag) is not None:
                parser.error(
                    f"--{flag.replace('_', '-')} applies to real datasets: give --iemocap-root "
                    "or --chsims-root too"
                )
        return None
    if len(given) > 1 or args.dataset != given[0]:
        parser.error(
            f"--{given[0]}-root needs --dataset {given[0]} (one real dataset per run), "
            f"got --dataset {args.dataset}" + (" and both roots" if len(given) > 1 else "")
        )
    name = given[0]
    root: Path = roots[name]
    if not root.is_dir():
        parser.error(f"--{name}-root {str(root)!r} is not a folder")
    if args.unlabelled is None:
        parser.error(f"--{name}-root needs --unlabelled MANIFEST (.csv or .jsonl)")
    if not args.unlabelled.is_file():
        parser.error(f"--unlabelled {str(args.unlabelled)!r} is not a file")
    features = real_data.PAPER_FEATURES[name] if args.features == "auto" else args.features
    if features == "wav2vec" and args.wav2vec_checkpoint is None:
        parser.error(
            "wav2vec features need --wav2vec-checkpoint (a local file; nothing is downloaded), "
            "or choose --features stft"
        )
    for flag in ("wav2vec_checkpoint", "face_model"):
        path = getattr(args, flag)
        if path is not None and not path.is_file():
            parser.error(f"--{flag.replace('_', '-')} {str(path)!r} is not a file")
    if args.face_size is not None and args.face_size < 1:
        parser.error(f"--face-size must be >= 1, got {args.face_size}")
    if not args.face_width > 0:
        parser.error(f"--face-width must be > 0, got {args.face_width}")
    return real_data.RealSource(
        dataset=name,
        root=root.resolve(),
        unlabelled=args.unlabelled.resolve(),
        features=features,
        wav2vec_checkpoint=args.wav2vec_checkpoint.resolve() if args.wav2vec_checkpoint else None,
        wav2vec_architecture=args.wav2vec_architecture,
        chsims_annotation=args.chsims_annotation,
        chsims_audio_dir=args.chsims_audio_dir.resolve() if args.chsims_audio_dir else None,
        val_speakers=tuple(args.val_speakers),
        test_speakers=tuple(args.test_speakers),
        face_model=args.face_model.resolve() if args.face_model else None,
        face_width=args.face_width,
        face_size=args.face_size,
        face_channels=args.face_channels,
    )


_quiet = False  # True on every torchrun rank but 0: only rank 0 shows progress


def make_bar(desc: str, total: int) -> Callable[[int], None]:
    """A tqdm bar that closes itself when complete; returns its update function."""
    if _quiet:
        return lambda _: None
    bar = tqdm(total=total, desc=desc, unit="it", leave=False, dynamic_ncols=True, mininterval=0.5)
    done = [0]

    def update(n: int) -> None:
        bar.update(n)
        done[0] += n
        if done[0] >= total:
            bar.close()

    if total <= 0:
        bar.close()
    return update


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _with_defaults(cls: Callable[..., Any], recorded: object) -> object:
    """A folder's recorded fields of ``cls`` (one dataset's knobs, the recipe) with the fields
    added since at their default, which is what its runs were made with; anything else as it
    was."""
    if not isinstance(recorded, dict):
        return recorded
    try:
        return asdict(cls(**cast(dict[str, Any], recorded)))
    except (TypeError, ValueError):  # a field this version lacks, or a value out of range
        return cast(object, recorded)


def check_config(out: Path, config: dict[str, Any]) -> None:
    """Refuse to mix runs made with other settings into one folder."""
    path = out / "config.json"
    fields = ["profile", "corpus_seed", "recipe", "sizes", "pipeline", "knobs"]
    if config["data"] != "synthetic":  # synthetic runs keep the key older folders were made with
        fields.append("data")
    if config["global_batch"] != pipeline.BATCH:  # --per-rank-batch: another recipe
        fields.append("global_batch")
    key = json.loads(json.dumps({k: config[k] for k in fields}))
    device_type = torch.device(config["device"]).type
    if device_type != "cpu":  # CPU runs keep the key older folders were made with
        key["device"] = device_type  # GPU numbers differ (other random streams, kernels)
    if path.exists():
        old = json.loads(path.read_text())
        if isinstance(old.get("knobs"), dict):
            old["knobs"] = {
                d: _with_defaults(corpus_mod.Knobs, k)
                for d, k in cast(dict[str, Any], old["knobs"]).items()
            }
        old["recipe"] = _with_defaults(pipeline.Recipe, old.get("recipe"))
        if old != key:
            raise SystemExit(
                f"reproduce_paper.py: error: {out} holds runs made with other settings "
                "(profile, recipe (--epochs, --warm-start-epochs, --patience, --min-epochs), "
                "corpus knobs, corpus seed, sizes, data, device or an older pipeline whose "
                "random streams differ); choose another --out or delete that folder"
            )
    else:
        write_json_atomic(path, key)


def prepare(
    dataset: str,
    args: argparse.Namespace,
    recipe: pipeline.Recipe,
    device: torch.device,
    ctx: distributed.Dist = distributed.SINGLE,
) -> tuple[corpus_mod.Corpus, dict[str, Any]]:
    """One dataset's corpus (synthetic, or real with ``--real``) and its statistics, its
    features standardised with the training split's statistics (:func:`pipeline.standardize`).

    Everything expensive is cached under ``args.out / "cache"``; workers call this again and
    read the parent's cache.
    """
    cache = args.out / "cache"
    if args.real is not None:
        try:
            corpus, stats = real_data.prepare_real(
                args.real,
                corpus_mod.PROFILES[args.profile],
                cache,
                device,
                make_bar,
                (lambda line: tqdm.write(line, file=sys.stderr))
                if ctx.is_main
                else (lambda _: None),
                distributed=ctx.active,
            )
        except (OSError, ValueError) as err:  # a missing root, a malformed annotation line, ...
            raise SystemExit(f"reproduce_paper.py: error: {err}") from None
        return pipeline.standardize(corpus), stats
    raw = corpus_mod.generate(dataset, args.profile, args.corpus_seed, cache, make_bar)
    visual, valid, stats = visual_of(dataset, raw, args, recipe, device, make_bar)
    corpus = pipeline.build_corpus(raw, dataset, visual.cpu(), valid.cpu())
    stats = {**stats, **corpus.stats}
    return pipeline.standardize(corpus), stats


def visual_path(dataset: str, args: argparse.Namespace) -> Path:
    """Where :func:`visual_of` caches a synthetic dataset's visual evidence."""
    return args.out / "cache" / f"visual-{dataset}.pt"


def visual_of(
    dataset: str,
    raw: dict[str, Any],
    args: argparse.Namespace,
    recipe: pipeline.Recipe,
    device: torch.device,
    bar: Callable[[str, int], Callable[[int], None]],
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """A synthetic dataset's pooled, mapped face evidence (:func:`pipeline.visual_evidence`),
    cached: the face model is trained by the first dataset that needs it (``face-model.pt``)
    and read by the other. ``raw`` needs only the corpus' own arrays, not its extra clips."""
    path = visual_path(dataset, args)
    if path.exists():
        saved = torch.load(path, weights_only=True)
        return saved["visual"], saved["valid"], json.loads(saved["stats"])
    face_model = args.out / "cache" / "face-model.pt"
    visual, valid, stats = pipeline.visual_evidence(
        raw, dataset, recipe, args.corpus_seed, device, bar, face_model
    )
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"visual": visual, "valid": valid, "stats": json.dumps(stats)}, tmp)
    os.replace(tmp, path)
    return visual, valid, stats


def train_one(
    dataset: str,
    name: str,
    seed: int,
    args: argparse.Namespace,
    recipe: pipeline.Recipe,
    corpus: corpus_mod.Corpus,
    device: torch.device,
    batch: int,
    progress: Callable[[int], None],
    ctx: distributed.Dist = distributed.SINGLE,
) -> dict[str, Any]:
    """Train one (method, seed), write its JSON (and what other runs start from) atomically.

    A warm-started method reads the supervised run's snapshot of its seed
    (``supervised/seed{seed}.warm.pt``); a fine-tuning one the final weights of its source
    (``seed{seed}.pt``); see :func:`pipeline.source_of`.
    """
    folder = args.out / "runs" / dataset
    path = folder / name / f"seed{seed}.json"
    init, warm = None, None
    source = pipeline.source_of(name, recipe)
    if source == "supervised":
        warm = folder / source / f"seed{seed}.warm.pt"
    elif source is not None:
        init = pipeline.load_state(folder / source / f"seed{seed}.pt")
    result, state = pipeline.train_run(
        pipeline.METHODS[name],
        corpus,
        recipe,
        seed,
        device,
        init_state=init,
        progress=progress,
        checkpoint=path.with_suffix(".ckpt"),
        warm_start=warm,
        snapshot=path.with_suffix(".warm.pt") if name == "supervised" else None,
        ctx=ctx,
        batch=batch,
    )
    record = asdict(result)
    if not ctx.is_main:
        return record
    if name in {pipeline.source_of(m, recipe) for m in pipeline.METHODS} - {"supervised"}:
        pt = path.with_suffix(".pt")
        pt.parent.mkdir(parents=True, exist_ok=True)
        cpu_state = {k: v.detach().cpu() for k, v in state.items()}
        torch.save(cpu_state, pt.with_name(pt.name + ".tmp"))
        os.replace(pt.with_name(pt.name + ".tmp"), pt)
    write_json_atomic(path, record)
    return record


def run_sequential(
    dataset: str,
    args: argparse.Namespace,
    recipe: pipeline.Recipe,
    todo: list[tuple[str, int]],
    batch: int,
    corpus: corpus_mod.Corpus,
    device: torch.device,
    ctx: distributed.Dist,
) -> dict[tuple[str, int], dict[str, Any]]:
    """The runs one after the other in this process (GPU, torchrun, ``--jobs 1``)."""
    done: dict[tuple[str, int], dict[str, Any]] = {}
    overall = tqdm(todo, desc=f"{dataset}: runs", unit="run", dynamic_ncols=True, disable=_quiet)
    for name, seed in overall:
        overall.set_postfix_str(f"{name} seed {seed}")
        steps = pipeline.steps_of(corpus, recipe, batch, pipeline.METHODS[name])
        bar = make_bar(f"{name} seed {seed}", steps)
        done[name, seed] = train_one(
            dataset, name, seed, args, recipe, corpus, device, batch, bar, ctx
        )
        ctx.barrier()  # rank 0 has written the results
    return done


_WORKER: dict[str, Any] = {}  # a worker process's corpus and shared counters (steps, clips)


def _worker_init(
    dataset: str,
    args: argparse.Namespace,
    recipe: pipeline.Recipe,
    steps: Any,
    knobs: dict[str, corpus_mod.Knobs],
) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the workers (their last
    # finished epoch is checkpointed), a worker must not take it as its run's failure
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    corpus_mod.KNOB_VALUES.update(knobs)  # a spawned process re-imports the module's defaults
    torch.set_num_threads(args.workers)
    warnings.simplefilter("ignore")  # the parent has shown them
    corpus, _ = prepare(dataset, args, recipe, torch.device("cpu"))  # from the parent's cache
    _WORKER.update(corpus=corpus, steps=steps)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel a pool's queued calls and kill its running workers at once (Ctrl-C).

    The executor has no public way to stop a running call; its worker processes are here.
    """
    processes = cast("dict[int, BaseProcess]", getattr(pool, "_processes", None) or {})
    running = list(processes.values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in running:
        process.terminate()


def _synthesis_init(
    knobs: dict[str, corpus_mod.Knobs], clips: Any, face: Any, face_total: Any
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool
    corpus_mod.KNOB_VALUES.update(knobs)  # a spawned process re-imports the defaults
    torch.set_num_threads(1)
    _WORKER.update(clips=clips, face=face, face_total=face_total)


@dataclass(frozen=True)
class CorpusUnit:
    """Synthesise a dataset's corpus (:func:`corpus.generate_main`)."""

    dataset: str


@dataclass(frozen=True)
class ChunkUnit:
    """Synthesise chunk ``chunk`` of a dataset's extra clips of ``split`` (1 validation, 2
    test; :func:`corpus.generate_chunk`)."""

    dataset: str
    split: int
    chunk: int


@dataclass(frozen=True)
class VisualUnit:
    """Score a dataset's unlabelled videos with the face model (:func:`visual_of`), training
    it first if it is not cached (the first dataset of the run trains it)."""

    dataset: str


Unit = CorpusUnit | ChunkUnit | VisualUnit
"""A piece of the work before training that :func:`synthesise_in_parallel` schedules."""


def _count(counter: Any, totals: Any = None) -> Callable[[str, int], Callable[[int], None]]:
    """A worker's bar factory: every update adds to the shared ``counter``, and every bar's
    total to the shared ``totals`` if given."""

    def bar(desc: str, total: int) -> Callable[[int], None]:
        del desc
        if totals is not None:
            with totals.get_lock():
                totals.value += total

        def update(n: int) -> None:
            with counter.get_lock():
                counter.value += n

        return update

    return bar


def _synthesise(unit: Unit, args: argparse.Namespace, recipe: pipeline.Recipe) -> None:
    """A worker process: do one :data:`Unit` into the cache, counting clips (synthesis) or
    steps (the face model)."""
    cache, seed, clips = args.out / "cache", args.corpus_seed, _count(_WORKER["clips"])
    match unit:
        case CorpusUnit(dataset):
            corpus_mod.generate_main(dataset, args.profile, seed, cache, clips)
        case ChunkUnit(dataset, split, chunk):
            corpus_mod.generate_chunk(dataset, args.profile, seed, chunk, cache, clips, split)
        case VisualUnit(dataset):
            raw = corpus_mod.generate_main(dataset, args.profile, seed, cache, clips)
            face = _count(_WORKER["face"], _WORKER["face_total"])
            # the thread count of a run, as when the parent process does this itself
            torch.set_num_threads(args.workers)
            try:
                visual_of(dataset, raw, args, recipe, torch.device("cpu"), face)
            finally:
                torch.set_num_threads(1)


def synthesis_units(datasets: list[str], args: argparse.Namespace) -> list[Unit]:
    """What is left to do before training, in order of priority: the corpora (largest
    first), the face evidence (which waits for them, :func:`unit_needs`), then the chunks of
    extra clips (``corpus.Sizes.extra_test``, ``corpus.Sizes.extra_val``)."""
    cache, seed = args.out / "cache", args.corpus_seed
    main: list[Unit] = [
        CorpusUnit(d)
        for d in sorted(datasets, key=lambda d: -corpus_mod.clips_of(d, args.profile))
        if not corpus_mod.cache_path(d, args.profile, seed, cache).exists()
    ]
    visual: list[Unit] = [VisualUnit(d) for d in datasets if not visual_path(d, args).exists()]
    chunks: list[Unit] = [
        ChunkUnit(d, split, i)
        for d in datasets
        for split in (2, 1)
        for i in range(len(corpus_mod.extra_chunks(d, args.profile, split)))
        if not corpus_mod.chunk_path(d, args.profile, seed, i, cache, split).exists()
    ]
    return main + visual + chunks


def unit_needs(unit: Unit, datasets: list[str]) -> list[Unit]:
    """The units that must finish before ``unit`` starts (if they are still to do): the face
    evidence needs its dataset's corpus, and the second dataset's the face model, which the
    first dataset's trains."""
    if not isinstance(unit, VisualUnit):
        return []
    needs: list[Unit] = [CorpusUnit(unit.dataset)]
    if unit.dataset != datasets[0]:
        needs.append(VisualUnit(datasets[0]))
    return needs


def _unit_clips(unit: Unit, profile: str) -> int:
    match unit:
        case CorpusUnit(dataset):
            return corpus_mod.clips_of(dataset, profile)
        case ChunkUnit(dataset, split, chunk):
            return corpus_mod.extra_chunks(dataset, profile, split)[chunk]
        case VisualUnit():
            return 0


def synthesise_in_parallel(
    datasets: list[str], args: argparse.Namespace, recipe: pipeline.Recipe
) -> None:
    """Synthesise the corpora and chunks of extra clips and train and score the face model
    side by side, in ``args.jobs`` processes (the CPU's cores), in :func:`synthesis_units`'
    order of priority, each unit once what it needs (:func:`unit_needs`) is done.

    Only the cache is written here; :func:`prepare` then reads it. One bar counts the clips
    (synthesis and features), another the face model's training and scoring steps (its total
    grows as each starts).
    """
    todo = synthesis_units(datasets, args)
    if len(todo) < 2:
        return
    ctx_mp = multiprocessing.get_context("spawn")
    clips, face, face_total = ctx_mp.Value("q", 0), ctx_mp.Value("q", 0), ctx_mp.Value("q", 0)
    total = 2 * sum(_unit_clips(u, args.profile) for u in todo)  # synthesis + features
    visual = any(isinstance(u, VisualUnit) for u in todo)
    cached_model = (args.out / "cache" / "face-model.pt").exists()
    face_work = "scoring frames" if cached_model else "training, scoring frames"
    names = " and ".join(dict.fromkeys(u.dataset for u in todo if not isinstance(u, VisualUnit)))
    pending, running = list(todo), dict[Future[None], Unit]()
    with (
        ProcessPoolExecutor(
            max_workers=min(args.jobs, len(todo)),
            mp_context=ctx_mp,
            initializer=_synthesis_init,
            initargs=(dict(corpus_mod.KNOB_VALUES), clips, face, face_total),
        ) as pool,
        tqdm(total=total, desc=f"synthesising {names}, {args.jobs} at once", unit="clip",
             dynamic_ncols=True, disable=_quiet or not total) as bar,
        tqdm(total=0, desc="face model: waiting for its corpus", unit="step",
             dynamic_ncols=True, disable=_quiet or not visual) as face_bar,
    ):  # fmt: skip
        try:
            while pending or running:
                # fill every free process with the first unit whose needs are done
                while len(running) < args.jobs:
                    ready = next(
                        (u for u in pending
                         if not any(n in pending or n in running.values()
                                    for n in unit_needs(u, datasets))),
                        None,
                    )  # fmt: skip
                    if ready is None:
                        break
                    pending.remove(ready)
                    running[pool.submit(_synthesise, ready, args, recipe)] = ready
                if not running:  # unit_needs only names units that run before their users
                    raise RuntimeError(f"synthesis units {pending} wait on each other")
                finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
                    del running[future]
                bar.n = min(int(clips.value), total)
                if face_bar.total == 0 and face_total.value > 0:
                    face_bar.set_description_str(f"face model: {face_work}")
                face_bar.total = int(face_total.value)
                face_bar.n = min(int(face.value), face_bar.total)
                bar.refresh()
                face_bar.refresh()
        except BaseException:  # Ctrl-C or a failed unit: stop the others now (caches are atomic)
            _stop(pool)
            raise
        bar.n = total
        bar.refresh()


def _worker_step(n: int) -> None:
    with _WORKER["steps"].get_lock():
        _WORKER["steps"].value += n


def _worker_run(
    dataset: str, name: str, seed: int, args: argparse.Namespace, recipe: pipeline.Recipe,
    batch: int,
) -> dict[str, Any]:  # fmt: skip
    return train_one(
        dataset, name, seed, args, recipe, _WORKER["corpus"], torch.device("cpu"), batch,
        _worker_step,
    )  # fmt: skip


def run_parallel(
    dataset: str,
    args: argparse.Namespace,
    recipe: pipeline.Recipe,
    todo: list[tuple[str, int]],
    batch: int,
    corpus: corpus_mod.Corpus,
) -> dict[tuple[str, int], dict[str, Any]]:
    """The runs in ``args.jobs`` worker processes of ``args.workers`` threads each (CPU).

    Each run is the same computation as in one process with that thread count, so the results
    do not depend on ``--jobs``. A run that starts from another's weights
    (:func:`pipeline.source_of`) starts when that one has finished. One bar counts the
    optimiser steps of every run.
    """
    ctx_mp = multiprocessing.get_context("spawn")  # no fork after PyTorch's thread pools
    steps = ctx_mp.Value("q", 0)
    total = sum(pipeline.steps_of(corpus, recipe, batch, pipeline.METHODS[m]) for m, _ in todo)
    source = {m: pipeline.source_of(m, recipe) for m, _ in todo}
    # a run whose source run (same seed) is still to train waits for it; one whose source is
    # on disk already starts at once
    waiting = [(m, s) for m, s in todo if (source[m], s) in todo]
    ready = [job for job in todo if job not in waiting]
    done: dict[tuple[str, int], dict[str, Any]] = {}
    with (
        ProcessPoolExecutor(
            max_workers=min(args.jobs, len(todo)),
            mp_context=ctx_mp,
            initializer=_worker_init,
            initargs=(dataset, args, recipe, steps, dict(corpus_mod.KNOB_VALUES)),
        ) as pool,
        tqdm(total=total, desc=f"{dataset}: {len(todo)} runs, {args.jobs} at once",
             unit="step", dynamic_ncols=True, disable=_quiet) as bar,
    ):  # fmt: skip
        running: dict[Future[dict[str, Any]], tuple[str, int]] = {
            pool.submit(_worker_run, dataset, m, s, args, recipe, batch): (m, s) for m, s in ready
        }
        try:
            while running:
                finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                bar.n = min(int(steps.value), bar.total)
                bar.refresh()
                for future in finished:
                    job = running.pop(future)
                    done[job] = future.result()
                    for m, s in [w for w in waiting if w[1] == job[1] and source[w[0]] == job[0]]:
                        waiting.remove((m, s))
                        follow = pool.submit(_worker_run, dataset, m, s, args, recipe, batch)
                        running[follow] = (m, s)
                    bar.set_postfix_str(f"{len(done)}/{len(todo)} runs done")
        except KeyboardInterrupt:  # stop now: queued runs are cancelled, running ones killed
            _stop(pool)
            raise
    return done


def main(argv: list[str] | None = None) -> int:
    global _quiet
    args = parse_args(argv)
    start = time.perf_counter()
    ctx, device = distributed.init(torch.device(args.device))
    _quiet = not ctx.is_main
    if _quiet:  # warnings (e.g. IEMOCAP's counts) once, from rank 0
        warnings.simplefilter("ignore")
    cores = os.cpu_count() or 1
    if args.jobs is None:  # every core busy: one run per core, or per --workers threads
        args.jobs = max(1, cores // (args.workers or 1)) if device.type == "cpu" else 1
    if ctx.active or device.type != "cpu":
        args.jobs = 1  # one process per rank / per GPU
    if args.workers is None and not ctx.active:
        args.workers = max(1, cores // args.jobs)
    if args.workers:
        torch.set_num_threads(args.workers)
    elif ctx.active and device.type == "cpu":  # share the cores between the ranks on a node
        torch.set_num_threads(
            max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world)))
        )
    finished = False
    try:
        code = _main(args, ctx, device, start, argv)
        finished = True
        return code
    finally:  # after an error, no barrier: the other ranks may be inside a collective
        distributed.shutdown(ctx, clean=finished)


def _headroom_n(args: argparse.Namespace) -> int:
    if args.headroom_seeds is not None:
        return args.headroom_seeds
    return 0 if args.profile == "tiny" else HEADROOM_SEEDS


def _power_n(args: argparse.Namespace) -> int:
    if args.power_seeds is not None:
        return args.power_seeds
    return 0 if args.profile == "tiny" else POWER_SEEDS


def _main(
    args: argparse.Namespace,
    ctx: distributed.Dist,
    device: torch.device,
    start: float,
    argv: list[str] | None,
) -> int:
    recipe = pipeline.RECIPES[args.profile]
    if args.epochs is not None:
        recipe = pipeline.compressed(recipe, args.epochs)
    if args.warm_start_epochs is not None:
        recipe = replace(recipe, warm_start_epochs=args.warm_start_epochs)
    if args.patience is not None:
        recipe = replace(recipe, patience=args.patience)
    if args.min_epochs is not None:
        recipe = replace(recipe, min_epochs=args.min_epochs)
    # the seeds of the headroom rows when both run (never on real data: no oracle), and of
    # claims.POWER_ROWS
    oracle_seeds = (
        args.seeds if args.real is not None else headroom_seeds(args.seeds, _headroom_n(args))
    )
    power_seeds = headroom_seeds(args.seeds, _power_n(args))
    config = {
        "command": "python benchmarks/reproduce_paper.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "profile": args.profile,
        "pipeline": pipeline.PIPELINE_VERSION,
        "knobs": {name: asdict(k) for name, k in corpus_mod.KNOB_VALUES.items()},
        "corpus_seed": args.corpus_seed,
        "seeds": args.seeds,
        "headroom_seeds": oracle_seeds,
        "power_seeds": power_seeds,
        "device": str(device),
        "ranks": ctx.world,
        "global_batch": pipeline.BATCH * (ctx.world if args.per_rank_batch else 1),
        "torch": torch.__version__,
        "recipe": asdict(recipe),
        "sizes": asdict(corpus_mod.PROFILES[args.profile]),
        "scale_down": f"{SCALE_DOWN[args.profile]} Schedule: {schedule_text(recipe)}",
        "data": "synthetic" if args.real is None else args.real.describe(),
    }
    if ctx.is_main:
        check_config(args.out, config)
    ctx.barrier()
    datasets = ["chsims", "iemocap"] if args.dataset == "all" else [args.dataset]
    batch = pipeline.BATCH * (ctx.world if args.per_rank_batch else 1)
    if args.real is not None and ctx.is_main:
        print(
            f"real data: {args.real.dataset} from {args.real.root}, unlabelled clips from "
            f"{args.real.unlabelled}, {args.real.features} features",
            file=sys.stderr,
        )
    runs: dict[str, Any] = {}
    corpus_stats: dict[str, Any] = {}
    test_labels: dict[str, list[int]] = {}
    try:
        parallel = args.real is None and device.type == "cpu" and not ctx.active
        if parallel and args.jobs > 1:
            synthesise_in_parallel(datasets, args, recipe)
        for dataset in datasets:
            # real data: every rank extracts its shards; synthetic: rank 0 builds the caches
            # first, then the others read them
            first = args.real is None
            if first and not ctx.is_main:
                ctx.barrier()
            corpus, stats = prepare(dataset, args, recipe, device, ctx)
            if first and ctx.is_main:
                ctx.barrier()
            corpus_stats[dataset] = stats
            test_labels[dataset] = pipeline.ints(corpus.y["test"])
            wanted = [
                m
                for m in pipeline.DATASET_METHODS[dataset]
                if (not args.methods or m in args.methods)
                # the reference rows read hidden labels, which only the simulation has
                and (args.real is None or m not in pipeline.REFERENCE_METHODS)
            ]
            for m in list(wanted):  # a run starts from its source's weights: train it first
                source = pipeline.source_of(m, recipe)
                if source is not None and source not in wanted:
                    wanted.insert(wanted.index(m), source)
            seeds_of = {m: args.seeds for m in wanted}
            if set(claims.HEADROOM) <= set(wanted):
                seeds_of.update(dict.fromkeys(claims.HEADROOM, oracle_seeds))
            for m in claims.POWER_ROWS.get(dataset, ()):
                if m in seeds_of:  # a headroom row keeps its headroom seeds
                    seeds_of[m] = sorted({*seeds_of[m], *power_seeds})
            jobs = [(m, s) for m in wanted for s in seeds_of[m]]
            runs[dataset] = {}
            for name, seed in jobs:  # finished runs are read, not retrained
                path = args.out / "runs" / dataset / name / f"seed{seed}.json"
                if path.exists():
                    runs[dataset].setdefault(name, {})[seed] = json.loads(path.read_text())
            todo = [(m, s) for m, s in jobs if s not in runs[dataset].get(m, {})]
            if args.jobs > 1 and len(todo) > 1:
                done = run_parallel(dataset, args, recipe, todo, batch, corpus)
            else:
                done = run_sequential(dataset, args, recipe, todo, batch, corpus, device, ctx)
            for (name, seed), record in done.items():
                runs[dataset].setdefault(name, {})[seed] = record
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished runs and the running one's last finished epoch are saved "
            f"in {args.out / 'runs'}; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    if not ctx.is_main:
        return 0
    report.write_report(
        args.out, runs, corpus_stats, config, time.perf_counter() - start, test_labels
    )
    print(f"done in {(time.perf_counter() - start) / 60:.1f} min; report: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
