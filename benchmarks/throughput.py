"""Throughput of sertoolkit's hot path, on CPU and CUDA (the same script; CUDA when available).

Sections (paper shapes by default: features (32, 555, 512), 4 classes, face frames (32, 15, 7),
encoder 8 blocks x 512 x 8 heads, feed-forward 2048):

1. ``components``: ``spec_augment`` against torchaudio's ``SpecAugment(iid_masks=True,
   zero_masking=True)`` drawing the same masks and against a per-example Python loop;
   ``feature_dropout`` against ``torch.nn.functional.dropout``; FF1 / FF2 with
   ``masked_cross_entropy``; ``pool_frames``; the metrics against scikit-learn.
2. ``encoder``: ``TransformerSER`` forward + backward in fp32, bf16 autocast and (``--compile``)
   ``torch.compile``; examples/s, TFLOP/s from the analytic count of :func:`encoder_flops` and
   model-FLOP utilisation (MFU) against the bf16 matrix-multiply peak measured in the same run
   (on a CPU without fast bf16: its best measured matmul peak, and the bf16 rows are skipped
   with the measured reason, as a CPU without native bf16 runs them hundreds of times slower).
3. ``step``: the whole Algorithm-1 step (:func:`sertoolkit.losses.cmkt_ssl_loss`: SA views,
   weak view without gradient, FF2, losses; then backward, gradient clipping, Adamax) with one
   concatenated forward vs separate forwards; steps/s, examples/s, MFU, peak memory.
4. ``face``: ``MobileNetV2FaceModel`` inference, frames/s, fp32 and bf16.

Timing: ``torch.utils.benchmark.Timer.blocked_autorange`` (it synchronises CUDA), after a
warm-up; median and interquartile range of the blocks. Output: ``throughput.json`` and
``throughput.md`` in ``--out``. ``--quick`` runs everything at tiny sizes in seconds (the test
suite runs it).

    python benchmarks/throughput.py                   # paper shapes, cuda if available
    python benchmarks/throughput.py --quick           # seconds, a smoke test
    python benchmarks/throughput.py --device cpu --sections components
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypedDict

import torch
import torchaudio
from torch import nn
from torch.utils.benchmark import Timer

from sertoolkit.augment import (
    FeatureDropout,
    SpecAugment,
    apply_spec_augment,
    feature_dropout,
    spec_augment,
    spec_augment_masks,
)
from sertoolkit.encoders import MobileNetV2FaceModel, TransformerSER
from sertoolkit.fusion import (
    WeightedFusion,
    consistent_and_random,
    masked_cross_entropy,
    weighted_fusion,
)
from sertoolkit.losses import cmkt_ssl_loss
from sertoolkit.metrics import confusion_matrix, weighted_f1_from_confusion
from sertoolkit.pooling import pool_frames

SECTIONS = ("components", "encoder", "step", "face", "scaling")


class MaskSettings(TypedDict):
    """The SpecAugment mask counts and widths, as keywords of ``spec_augment``."""

    time_masks: int
    time_width: int
    freq_masks: int
    freq_width: int


@dataclass(frozen=True)
class Shapes:
    batch: int
    time: int
    bins: int
    classes: int
    frames: int
    d_model: int
    heads: int
    layers: int
    ff: int
    face_size: int
    face_width: float
    peak_n: int  # matmul size of the peak measurement


PAPER = Shapes(32, 555, 512, 4, 15, 512, 8, 8, 2048, 100, 1.0, 8192)
QUICK = Shapes(4, 40, 32, 4, 15, 32, 4, 2, 64, 32, 0.35, 256)


def encoder_flops(s: Shapes, batch: int, *, backward: bool) -> float:
    """Analytic FLOPs (2 per multiply-add) of TransformerSER on ``batch`` full-length inputs.

    Per token and block: Q, K, V and output projections ``8 d^2``; scores and weighted sum
    ``4 T d``; feed-forward ``4 d ff``; plus the input projection ``2 F d`` per token. Padding
    is counted (the kernels compute over it). Backward costs twice the forward. Norms,
    softmax, pooling and the head are left out (under 1%).
    """
    d, t = s.d_model, s.time
    per_token = s.layers * (8 * d * d + 4 * t * d + 4 * d * s.ff) + 2 * s.bins * d
    forward = batch * t * per_token
    return forward * (3 if backward else 1)


def step_flops(s: Shapes) -> float:
    """Algorithm-1 step: forward + backward on B labelled + B unlabelled, forward on B weak."""
    return encoder_flops(s, 2 * s.batch, backward=True) + encoder_flops(s, s.batch, backward=False)


def measure(fn: Callable[[], object], min_run_time: float) -> dict[str, float]:
    """Median and interquartile range (ms) of ``fn``, after one warm-up call."""
    fn()
    m = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    result = m.blocked_autorange(min_run_time=min_run_time)
    return {"median_ms": result.median * 1e3, "iqr_ms": result.iqr * 1e3, "runs": len(result.times)}


def peak_tflops(
    s: Shapes, device: torch.device, dtype: torch.dtype, min_run_time: float
) -> tuple[float, int]:
    """Measured square matrix-multiply throughput (TFLOP/s) on this device, and the size.

    CPUs get smaller sizes: without native bf16 a CPU multiplies bf16 at well under
    1 GFLOP/s, and a GPU-size product would take minutes.
    """
    n = (
        s.peak_n
        if device.type == "cuda"
        else min(s.peak_n, 512 if dtype == torch.bfloat16 else 1024)
    )
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    t = measure(lambda: a @ b, min_run_time)["median_ms"] / 1e3
    return 2 * n**3 / t / 1e12, n


def measure_rounds(
    fns: dict[str, Callable[[], object]], rounds: int, min_run_time: float
) -> dict[str, dict[str, Any]]:
    """:func:`measure` each of ``fns`` once per round, the rounds interleaved.

    A shared machine drifts (other tenants, frequency, memory bandwidth): timing a function
    and its reference side by side, several times, exposes both to the same drift, and the
    ratio is taken within each round. Each result holds the median over rounds of the
    per-round medians, the median IQR and every round's median.
    """
    per: dict[str, list[dict[str, float]]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            per[name].append(measure(fn, min_run_time))
    out: dict[str, dict[str, Any]] = {}
    for name, results in per.items():
        medians = [r["median_ms"] for r in results]
        out[name] = {
            "median_ms": statistics.median(medians),
            "iqr_ms": statistics.median(r["iqr_ms"] for r in results),
            "runs": sum(int(r["runs"]) for r in results),
            "round_medians_ms": medians,
        }
    return out


def versus(ours: dict[str, Any], ref: dict[str, Any]) -> tuple[float, list[float]]:
    """Speed-up over ``ref``: the median of the per-round ratios, and their min and max."""
    ratios = [r / o for o, r in zip(ours["round_medians_ms"], ref["round_medians_ms"], strict=True)]
    return statistics.median(ratios), [min(ratios), max(ratios)]


def section_components(
    s: Shapes, device: torch.device, mrt: float, rounds: int
) -> list[dict[str, Any]]:
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(s.batch, s.time, s.bins, device=device)
    lengths = torch.randint(s.time // 2, s.time + 1, (s.batch,), device=device)
    tw, fw = max(1, s.time // 10), max(1, s.bins // 10)
    settings: MaskSettings = {"time_masks": 2, "time_width": tw, "freq_masks": 2, "freq_width": fw}
    ta = torchaudio.transforms.SpecAugment(
        n_time_masks=2, time_mask_param=tw, n_freq_masks=2, freq_mask_param=fw,
        iid_masks=True, zero_masking=True,
    ).to(device)  # fmt: skip
    x_ta = x.transpose(1, 2).contiguous()  # torchaudio's (..., freq, time) layout
    buffer = torch.empty_like(x)
    spec = measure_rounds(
        {
            "ours": lambda: spec_augment(
                x, **settings, lengths=lengths, generator=g, validate=False
            ),
            "out": lambda: spec_augment(
                x, **settings, lengths=lengths, generator=g, validate=False, out=buffer
            ),
            "eager": lambda: apply_spec_augment(
                x,
                spec_augment_masks(
                    *x.shape, **settings, lengths=lengths, generator=g, validate=False
                ),
                lengths=lengths,
                validate=False,
            ),
            "torchaudio": lambda: ta(x_ta),
            "loop": lambda: [
                spec_augment(
                    x[i : i + 1],
                    **settings,
                    lengths=lengths[i : i + 1],
                    generator=g,
                    validate=False,
                )
                for i in range(s.batch)
            ],
            "clone": lambda: x.clone(),  # allocate, then one read and one write of the tensor
            "copy": lambda: buffer.copy_(x),  # one read and one write, memory already mapped
        },
        rounds,
        mrt,
    )
    ours, out, eager, ref_ta, loop, floor, copy = (
        spec[k] for k in ("ours", "out", "eager", "torchaudio", "loop", "clone", "copy")
    )
    dropout = measure_rounds(
        {
            "ours": lambda: feature_dropout(x, 0.1, generator=g, validate=False),
            "torch": lambda: nn.functional.dropout(x, 0.1),
        },
        rounds,
        mrt,
    )
    drop, ref_drop = dropout["ours"], dropout["torch"]
    vs_drop, range_drop = versus(drop, ref_drop)
    audio = torch.rand(s.batch, s.classes, device=device).softmax(-1)
    visual = torch.rand(s.batch, s.classes, device=device).softmax(-1)
    logits = torch.randn(s.batch, s.classes, device=device)
    ff1 = measure(
        lambda: masked_cross_entropy(
            logits, consistent_and_random(audio, visual, epsilon=0.5, generator=g, validate=False),
            validate=False,
        ),
        mrt,
    )  # fmt: skip
    ff2 = measure(
        lambda: masked_cross_entropy(
            logits, weighted_fusion(audio, visual, alpha=0.2, threshold=0.9, validate=False),
            validate=False,
        ),
        mrt,
    )  # fmt: skip
    frames = torch.rand(s.batch, s.frames, 7, device=device).softmax(-1)
    fmask = torch.rand(s.batch, s.frames, device=device) > 0.1
    pool = measure(lambda: pool_frames(frames, fmask, validate=False), mrt)
    n_eval = 4096
    preds = torch.randint(0, s.classes, (n_eval,), device=device)
    targets = torch.randint(0, s.classes, (n_eval,), device=device)
    metric = measure(
        lambda: weighted_f1_from_confusion(
            confusion_matrix(preds, targets, s.classes, validate=False)
        ),
        mrt,
    )
    rows: list[dict[str, Any]] = []
    for name, row, floor_name, floor_row in (
        ("spec_augment", ours, "memory floor (x.clone)", floor),
        ("spec_augment(out=preallocated)", out, "memory floor (copy_)", copy),
    ):
        vs_ta, range_ta = versus(row, ref_ta)
        vs_loop, range_loop = versus(row, loop)
        vs_floor, range_floor = versus(row, floor_row)
        rows.append({"name": name, "shape": list(x.shape), **row,
                     "examples_per_s": s.batch / row["median_ms"] * 1e3,
                     "vs": {"torchaudio SpecAugment": vs_ta, "per-example loop": vs_loop,
                            floor_name: vs_floor},
                     "vs_range": {"torchaudio SpecAugment": range_ta,
                                  "per-example loop": range_loop, floor_name: range_floor}})  # fmt: skip
    vs_eager, range_eager = versus(eager, ref_ta)
    rows += [
        {"name": "spec_augment, eager path (spec_augment_masks + apply_spec_augment)", **eager,
         "vs": {"torchaudio SpecAugment": vs_eager},
         "vs_range": {"torchaudio SpecAugment": range_eager}},
        {"name": "torchaudio SpecAugment (reference)", **ref_ta},
        {"name": "spec_augment per-example loop (reference)", **loop},
        {"name": "x.clone() (memory floor of an out-of-place op)", **floor},
        {"name": "buffer.copy_(x) (memory floor into a preallocated tensor)", **copy},
        {"name": "feature_dropout", **drop, "vs": {"F.dropout": vs_drop},
         "vs_range": {"F.dropout": range_drop}},
        {"name": "F.dropout (reference)", **ref_drop},
        {"name": "FF1 + masked_cross_entropy", **ff1, "examples_per_s": s.batch / ff1["median_ms"] * 1e3},
        {"name": "FF2 + masked_cross_entropy", **ff2, "examples_per_s": s.batch / ff2["median_ms"] * 1e3},
        {"name": "pool_frames", "shape": list(frames.shape), **pool},
        {"name": f"confusion + weighted F1 ({n_eval} preds)", **metric},
    ]  # fmt: skip
    try:
        from sklearn.metrics import f1_score  # pyright: ignore[reportUnknownVariableType]

        p_np, t_np = preds.cpu().numpy(), targets.cpu().numpy()
        ref_f1 = measure(lambda: f1_score(t_np, p_np, average="weighted"), mrt)
        rows[-1]["vs"] = {"sklearn f1_score": ref_f1["median_ms"] / metric["median_ms"]}
        rows.append({"name": "sklearn f1_score (reference, CPU)", **ref_f1})
    except ImportError:
        pass
    return rows


DIAGNOSTIC = "diagnostic: "  # rows that show a cost; never a target's candidate


class _NoPadding:
    """Calls a :class:`TransformerSER` without lengths (every frame valid, no attention mask)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, x: torch.Tensor, lengths: torch.Tensor, *, validate: bool) -> torch.Tensor:
        del lengths
        return self.model(x, None, validate=validate)


def make_encoder(s: Shapes, device: torch.device, dropout: float = 0.1) -> TransformerSER:
    """The profile's :class:`TransformerSER` on ``device``."""
    return TransformerSER(
        s.bins, s.classes, d_model=s.d_model, num_heads=s.heads, num_layers=s.layers,
        dim_feedforward=s.ff, dropout=dropout,
    ).to(device)  # fmt: skip


def bf16_autocast(device: torch.device, bf16: bool) -> torch.autocast:
    """bf16 autocast on ``device`` when ``bf16``, else a disabled one."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def _skipped(name: str, reason: str) -> dict[str, Any]:
    return {"name": name, "skipped": reason}


def section_encoder(
    s: Shapes, device: torch.device, mrt: float, peak: float, compile_: bool, bf16_ok: str | None
) -> list[dict[str, Any]]:
    x = torch.randn(s.batch, s.time, s.bins, device=device)
    lengths = torch.randint(s.time // 2, s.time + 1, (s.batch,), device=device)
    y = torch.randint(0, s.classes, (s.batch,), device=device)
    flops = encoder_flops(s, s.batch, backward=True)
    rows: list[dict[str, Any]] = []
    variants = [("fp32", False, False), ("bf16 autocast", True, False)]
    if compile_:
        variants.append(("bf16 autocast + torch.compile", True, True))
    for name, bf16, comp in variants:
        if bf16 and bf16_ok is not None:
            rows.append(_skipped(f"encoder fwd+bwd, {name}", bf16_ok))
            continue
        model = make_encoder(s, device)
        fn = torch.compile(model) if comp else model  # pyright: ignore[reportUnknownMemberType]

        def run(fn: Any = fn, bf16: bool = bf16) -> None:
            with bf16_autocast(device, bf16):
                loss = nn.functional.cross_entropy(fn(x, lengths, validate=False).float(), y)
            loss.backward()  # pyright: ignore[reportUnknownMemberType]

        t = measure(run, mrt)
        tflops = flops / (t["median_ms"] / 1e3) / 1e12
        rows.append({"name": f"encoder fwd+bwd, {name}", **t,
                     "examples_per_s": s.batch / t["median_ms"] * 1e3,
                     "tflops": tflops, "mfu": tflops / peak})  # fmt: skip
    return rows


def section_step(
    s: Shapes, device: torch.device, mrt: float, peak: float, compile_: bool, bf16_ok: str | None
) -> list[dict[str, Any]]:
    g = torch.Generator(device=device).manual_seed(0)
    x_l = torch.randn(s.batch, s.time, s.bins, device=device)
    x_u = torch.randn(s.batch, s.time, s.bins, device=device)
    len_l = torch.randint(s.time // 2, s.time + 1, (s.batch,), device=device)
    len_u = torch.randint(s.time // 2, s.time + 1, (s.batch,), device=device)
    y_l = torch.randint(0, s.classes, (s.batch,), device=device)
    visual = torch.rand(s.batch, s.classes, device=device).softmax(-1)
    valid = torch.rand(s.batch, device=device) > 0.1
    strong = SpecAugment(time_masks=2, time_width=max(1, s.time // 10), freq_masks=2,
                         freq_width=max(1, s.bins // 10), validate=False)  # fmt: skip
    weak = FeatureDropout(0.1, validate=False)
    rule = WeightedFusion(0.2, 0.9, validate=False)
    flops = step_flops(s)
    rows: list[dict[str, Any]] = []
    variants = [("fp32, separate forwards", False, False, False),
                ("fp32, one concatenated forward", False, True, False),
                ("bf16, one concatenated forward", True, True, False)]  # fmt: skip
    if compile_:
        variants.append(("bf16 + torch.compile, one concatenated forward", True, True, True))
    # what the real step pays for, measured beside it (not candidates for the MFU target):
    # key padding (every example full length, so attention may take the flash kernel) and
    # dropout (rate 0: no masks drawn or applied)
    diagnostics = [f"{DIAGNOSTIC}no key padding", f"{DIAGNOSTIC}dropout off"]
    if compile_ and bf16_ok is None:
        variants += [(f"bf16 + torch.compile, {d}", True, True, True) for d in diagnostics]
    full_l = torch.full_like(len_l, s.time)
    full_u = torch.full_like(len_u, s.time)
    for name, bf16, concat, comp in variants:
        if bf16 and bf16_ok is not None:
            rows.append(_skipped(f"Algorithm-1 step, {name}", bf16_ok))
            continue
        model = make_encoder(s, device, dropout=0.0 if name.endswith("dropout off") else 0.1)
        fn: Any = torch.compile(model) if comp else model  # pyright: ignore[reportUnknownMemberType]
        opt = torch.optim.Adamax(model.parameters(), lr=1e-3)
        padded = not name.endswith("no key padding")
        lens_l, lens_u = (len_l, len_u) if padded else (full_l, full_u)
        if not padded:  # lengths=None: no mask reaches attention (the flash kernel's case)
            fn = _NoPadding(fn)

        def run(
            fn: Any = fn,
            bf16: bool = bf16,
            concat: bool = concat,
            opt: torch.optim.Optimizer = opt,
            model: nn.Module = model,
            lens_l: torch.Tensor = lens_l,
            lens_u: torch.Tensor = lens_u,
        ) -> None:
            with bf16_autocast(device, bf16):
                out = cmkt_ssl_loss(fn, x_l, lens_l, y_l, x_u, lens_u, visual, rule, weak=weak,
                                    strong=strong, visual_valid=valid, generator=g,
                                    concatenate=concat, validate=False)  # fmt: skip
            opt.zero_grad(set_to_none=True)
            out.loss.backward()  # pyright: ignore[reportUnknownMemberType]
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t = measure(run, mrt)
        tflops = flops / (t["median_ms"] / 1e3) / 1e12
        row = {"name": f"Algorithm-1 step, {name}", **t,
               "steps_per_s": 1e3 / t["median_ms"],
               "examples_per_s": 2 * s.batch / t["median_ms"] * 1e3,
               "tflops": tflops, "mfu": tflops / peak}  # fmt: skip
        if device.type == "cuda":
            row["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        rows.append(row)
    return rows


def _to_memory_format(model: nn.Module, fmt: torch.memory_format) -> nn.Module:
    """``model.to(memory_format=fmt)``: ``Module.to`` takes the keyword, its overloads omit it."""
    return model.to(memory_format=fmt)  # pyright: ignore[reportCallIssue, reportUnknownVariableType]


def section_face(
    s: Shapes, device: torch.device, mrt: float, bf16_ok: str | None
) -> list[dict[str, Any]]:
    """Face-model inference on ``batch x frames`` frames: at the profile's face size, and on a
    GPU also at 224 x 224 (the size of the issue's frames/s target), where bf16 runs in
    ``channels_last`` (the layout cuDNN's tensor-core convolutions want)."""
    model = MobileNetV2FaceModel(width_mult=s.face_width).to(device).eval()
    n = s.batch * s.frames
    sizes = [s.face_size] + ([224] if device.type == "cuda" and s.face_size != 224 else [])
    rows: list[dict[str, Any]] = []
    for size in sizes:
        frames = torch.rand(n, 3, size, size, device=device)
        variants = [("fp32", False, False), ("bf16 autocast", True, False)]
        if device.type == "cuda":
            variants.append(("bf16 autocast, channels_last", True, True))
        for name, bf16, last in variants:
            label = f"face model ({size}x{size}, width {s.face_width}), {name}"
            if bf16 and bf16_ok is not None:
                rows.append(_skipped(label, bf16_ok))
                continue
            fmt = torch.channels_last if last else torch.contiguous_format
            net = _to_memory_format(model, fmt)
            inp = frames.contiguous(memory_format=fmt)

            def run(bf16: bool = bf16, net: nn.Module = net, inp: torch.Tensor = inp) -> None:
                with torch.no_grad(), bf16_autocast(device, bf16):
                    net(inp)

            t = measure(run, mrt)
            rows.append({"name": label, "size": size, "bf16": bf16, **t,
                         "frames_per_s": n / t["median_ms"] * 1e3})  # fmt: skip
        model = _to_memory_format(model, torch.contiguous_format)
    return rows


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def section_scaling(
    s: Shapes, device: torch.device, quick: bool, bf16: bool
) -> list[dict[str, Any]]:
    """The Algorithm-1 step under torchrun + DDP with 1 rank and with every GPU.

    With one GPU only the 1-rank row is measured (the NCCL path, exercised); with none, the
    rows say why they are not measured, except under ``--quick``, which runs 1 and 2 gloo
    ranks on the CPU as a code-path check (the ranks share the cores: not a scaling figure).
    """
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type != "cuda" and not quick:
        return [_skipped("DDP step scaling", "no GPU on this machine (multi-GPU rows need GPUs)")]
    worlds = [1] if gpus == 1 else [1, gpus] if gpus > 1 else [1, 2]
    rows: list[dict[str, Any]] = []
    base: float | None = None
    script = Path(__file__).resolve().parent / "ddp_step.py"
    for world in worlds:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "step.json"
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(world),
                   "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), str(script),
                   "--device", device.type, "--out", str(out),
                   "--repeats", "5" if quick else "20"]  # fmt: skip
            cmd += ["--quick"] if quick else []
            cmd += ["--bf16"] if bf16 else []
            try:  # a hung NCCL rendezvous must not eat the whole run
                proc = subprocess.run(
                    cmd, capture_output=True, text=True, check=False, timeout=300 if quick else 1800
                )
            except subprocess.TimeoutExpired:
                rows.append(_skipped(f"DDP step, {world} rank(s)", "failed: timed out"))
                continue
            if proc.returncode != 0 or not out.is_file():
                rows.append(_skipped(f"DDP step, {world} rank(s)", "failed: " + proc.stderr[-300:]))
                continue
            r = json.loads(out.read_text())
        per_rank = r["examples_per_s"] / world
        row = {"name": f"DDP Algorithm-1 step, {world} rank(s), {r['backend']}",
               "median_ms": r["median_ms"], "iqr_ms": r["iqr_ms"],
               "examples_per_s": r["examples_per_s"], "per_rank_examples_per_s": per_rank}  # fmt: skip
        if base is None:
            base = per_rank
        else:
            row["vs"] = {"1 rank (scaling efficiency per rank)": per_rank / base}
        if device.type != "cuda":
            row["name"] += " (CPU ranks share the cores: a code-path check, not a scaling figure)"
        rows.append(row)
    if gpus == 1:
        rows.append(_skipped("DDP step, several GPUs", "one GPU visible"))
    return rows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = [
        f"Device: **{env['device_name']}** · torch {env['torch']} · CUDA {env['cuda']} · "
        f"{env['date']} · threads {env['threads']} · shapes `{result['profile']}`  ",
        f"Measured matmul peaks: bf16 {result['peaks']['bf16']:.3g} TFLOP/s, "
        f"fp32 {result['peaks']['fp32']:.3g} TFLOP/s; MFU is against "
        f"{result['peak_tflops']:.3g} TFLOP/s ({result['mfu_reference']})",
        "",
        "| what | median ms | IQR ms | throughput | vs reference | TFLOP/s | MFU | peak mem GiB |",
        "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for section in SECTIONS:
        for row in result["sections"].get(section, []):
            if "skipped" in row:
                lines.append(f"| {row['name']} | not measured: {row['skipped']} | | | | | | |")
                continue
            rate = next(
                (f"{_rate(row[k])} {k.replace('_per_s', '')}/s" for k in
                 ("steps_per_s", "examples_per_s", "frames_per_s") if k in row), "",
            )  # fmt: skip
            if "steps_per_s" in row:
                rate += f", {_rate(row['examples_per_s'])} examples/s"
            ranges = row.get("vs_range", {})
            vs = ", ".join(
                f"{_times(v)} {k}"
                + (
                    f" ({_times(ranges[k][0])}-{_times(ranges[k][1])} over {len(row['round_medians_ms'])} rounds)"
                    if k in ranges and len(row.get("round_medians_ms", [])) > 1
                    else ""
                )
                for k, v in row.get("vs", {}).items()
            )
            tf = f"{row['tflops']:.3g}" if "tflops" in row else ""
            mfu = f"{100 * row['mfu']:.1f}%" if "mfu" in row else ""
            mem = f"{row['peak_memory_gib']:.2f}" if "peak_memory_gib" in row else ""
            lines.append(
                f"| {row['name']} | {row['median_ms']:.3f} | {row['iqr_ms']:.3f} | {rate} | "
                f"{vs} | {tf} | {mfu} | {mem} |"
            )
    if result.get("targets"):
        lines += [
            "",
            "Targets (issues #6 and #15):",
            "",
            "| target | measured | status |",
            "| --- | --- | --- |",
        ]
        lines += [f"| {t['target']} | {t['measured']} | {t['status']} |" for t in result["targets"]]
    return "\n".join(lines) + "\n"


def _row(result: dict[str, Any], section: str, name: str) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in result["sections"].get(section, [])
            if r["name"] == name and "skipped" not in r
        ),
        None,
    )


def _times(value: float) -> str:
    return f"{value:.1f}x" if value >= 1 else f"{value:.2g}x"


def targets(result: dict[str, Any], device: torch.device) -> list[dict[str, str]]:
    """The issue's targets, checked against this run's rows (never against other runs).

    * ``spec_augment`` at least 5x torchaudio's ``SpecAugment`` at paper shape on a CPU
      (issue #6), 10x on a GPU (issue #15).
    * Augmentation + fusion + pooling under 2% of the step (GPU): the component calls of one
      step (as ``cmkt_ssl_loss`` makes them: ``spec_augment`` twice, on the labelled and the
      unlabelled batch; ``feature_dropout``; FF2 with the masked cross-entropy; plus one
      ``pool_frames``, which a loop runs per batch before the step, since ``cmkt_ssl_loss``
      takes pooled visual probabilities) against the fastest measured
      one-concatenated-forward step. Pooling is outside the timed step, so the share is a
      slight over-estimate.
    * The paper-size bf16 step at 40% MFU or more (GPU), against the bf16 matmul peak
      measured in the same run (not the datasheet's), as every MFU here; the step with real
      key padding and dropout 0.1 (the ``diagnostic`` rows, which leave one out, never count).
    * The face model at 25,000 frames/s or more at 224 x 224 in bf16 (GPU; issue #15).
    """
    out: list[dict[str, str]] = []
    gpu = device.type == "cuda"
    paper = result["profile"] == "paper"
    scope = "" if paper else " (quick shapes: not the target's shape)"
    goal = 10 if gpu else 5
    for name in ("spec_augment", "spec_augment(out=preallocated)"):
        row = _row(result, "components", name)
        if row is None:
            continue
        ratio = row["vs"]["torchaudio SpecAugment"]
        lo, hi = row["vs_range"]["torchaudio SpecAugment"]
        n = len(row["round_medians_ms"])
        status = (
            "met in every round" if lo >= goal else
            "met by the median, not in every round" if ratio >= goal else
            "not met"
        )  # fmt: skip
        out.append({"target": f"{name} >= {goal}x torchaudio SpecAugment",
                    "measured": f"{ratio:.2f}x (median of {n} round(s); range {lo:.2f}x-{hi:.2f}x)",
                    "status": status + scope})  # fmt: skip
    steps = [r for r in result["sections"].get("step", [])
             if "concatenated" in r["name"] and "skipped" not in r
             and DIAGNOSTIC not in r["name"]]  # fmt: skip
    parts = [_row(result, "components", p) for p in
             ("spec_augment", "feature_dropout", "FF2 + masked_cross_entropy", "pool_frames")]  # fmt: skip
    if steps and all(p is not None for p in parts):
        best = min(steps, key=lambda r: r["median_ms"])
        spec_ms, drop_ms, ff2_ms, pool_ms = (p["median_ms"] for p in parts if p is not None)
        hot = 2 * spec_ms + drop_ms + ff2_ms + pool_ms
        share = hot / best["median_ms"]
        measured = (
            f"{100 * share:.2g}% ({hot:.3g} ms of {best['median_ms']:.4g} ms, {best['name']})"
        )
        status = (
            ("met" if share < 0.02 else "not met")
            if gpu
            else "informative: the target is for a GPU"
        )
        out.append({"target": "augmentation + fusion + pooling < 2% of the step",
                    "measured": measured, "status": status + ("" if paper or not gpu else scope)})  # fmt: skip
    bf16 = [r for r in steps if "bf16" in r["name"]]
    if bf16:
        best = max(bf16, key=lambda r: r["mfu"])
        out.append({"target": "bf16 Algorithm-1 step >= 40% MFU",
                    "measured": f"{100 * best['mfu']:.1f}% of the measured peak ({best['name']}; peak: {result['mfu_reference']})",
                    "status": (("met" if best["mfu"] >= 0.4 else "not met") + scope) if gpu
                    else "informative: the target is for a GPU"})  # fmt: skip
    elif "step" in result["sections"]:
        out.append({"target": "bf16 Algorithm-1 step >= 40% MFU", "measured": "not measured",
                    "status": "bf16 rows skipped: " + next(
                        (r["skipped"] for r in result["sections"]["step"] if "skipped" in r), "")})  # fmt: skip
    faces = [r for r in result["sections"].get("face", [])
             if "skipped" not in r and r.get("size") == 224 and r.get("bf16")]  # fmt: skip
    if faces:
        best = max(faces, key=lambda r: r["frames_per_s"])
        out.append({"target": "face model >= 25,000 frames/s at 224x224, bf16",
                    "measured": f"{best['frames_per_s']:,.0f} frames/s ({best['name']})",
                    "status": "met" if best["frames_per_s"] >= 25_000 else "not met"})  # fmt: skip
    return out


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where the help text does not already state it (no "None")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or isinstance(action.default, bool):
            return action.help or ""
        return super()._get_help_string(action) or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="throughput.py",
        description="Throughput of sertoolkit's components, encoder, Algorithm-1 training step "
        "and face model (CUDA when available). Writes throughput.json and throughput.md.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--quick", action="store_true",
                        help="tiny shapes, short timing: a seconds-long smoke test")  # fmt: skip
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="what to measure")  # fmt: skip
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                        help="also measure torch.compile variants; auto: on CUDA only "
                        "(compiling takes minutes on a CPU)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds of spec_augment / feature_dropout and their "
                        "references; ratios are taken within each round and the median, "
                        "min and max reported (default 3, quick 1)")  # fmt: skip
    parser.add_argument("--min-run-time", type=float, default=None,
                        help="seconds of timing per measurement (default 1.0, quick 0.05)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default benchmarks/out/throughput-<device>)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was asked for, but no CUDA device is available")
    if args.min_run_time is not None and args.min_run_time <= 0:
        parser.error(f"--min-run-time must be > 0, got {args.min_run_time}")
    if args.rounds is not None and args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    rounds = args.rounds or (1 if args.quick else 3)
    shapes = QUICK if args.quick else PAPER
    mrt = args.min_run_time or (0.05 if args.quick else 1.0)
    compile_ = args.compile == "on" or (args.compile == "auto" and device.type == "cuda")
    out = args.out or Path(__file__).resolve().parent / "out" / f"throughput-{device.type}"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)  # pyright: ignore[reportUnknownMemberType]  # unannotated seed
    print("measuring the matmul peaks ...", file=sys.stderr, flush=True)
    bf16_peak, bf16_n = peak_tflops(shapes, device, torch.bfloat16, mrt)
    fp32_peak, fp32_n = peak_tflops(shapes, device, torch.float32, mrt)
    if device.type == "cuda":
        peak, reference = bf16_peak, f"bf16 matmul peak, {bf16_n}^3"
    else:  # a CPU without fast bf16: its best matmul is fp32
        peak = max(bf16_peak, fp32_peak)
        reference = f"best matmul peak of this CPU, {'bf16' if bf16_peak >= fp32_peak else 'fp32'}"
    bf16_ok = None
    if device.type != "cuda" and bf16_peak < 0.5 * fp32_peak:
        bf16_ok = (
            f"this CPU multiplies bf16 at {bf16_peak * 1e3:.2g} GFLOP/s "
            f"(fp32 {fp32_peak * 1e3:.3g}): no native bf16"
        )
    result: dict[str, Any] = {
        "profile": "quick" if args.quick else "paper",
        "shapes": asdict(shapes),
        "peak_tflops": peak,
        "peaks": {"bf16": bf16_peak, "fp32": fp32_peak, "bf16_n": bf16_n, "fp32_n": fp32_n},
        "mfu_reference": reference,
        "step_tflop": step_flops(shapes) / 1e12,
        "compile": compile_,
        "environment": {
            "device_name": torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"CPU ({platform.processor() or platform.machine()})",
            "torch": torch.__version__,
            "cuda": torch.version.cuda or "none",
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "threads": torch.get_num_threads(),
            "command": "python benchmarks/throughput.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
        },
        "sections": {},
    }
    for section in args.sections:
        print(f"measuring {section} ...", file=sys.stderr, flush=True)
        if section == "components":
            rows = section_components(shapes, device, mrt, rounds)
        elif section == "encoder":
            rows = section_encoder(shapes, device, mrt, peak, compile_, bf16_ok)
        elif section == "step":
            rows = section_step(shapes, device, mrt, peak, compile_, bf16_ok)
        elif section == "face":
            rows = section_face(shapes, device, mrt, bf16_ok)
        else:
            rows = section_scaling(shapes, device, args.quick, bf16_ok is None)
        result["sections"][section] = rows
    result["rounds"] = rounds
    result["targets"] = targets(result, device)
    (out / "throughput.json").write_text(json.dumps(result, indent=1))
    table = markdown(result)
    (out / "throughput.md").write_text(table)
    print(table)
    print(f"written: {out / 'throughput.json'}, {out / 'throughput.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
