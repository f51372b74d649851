"""Why an op is slow on a GPU: kernels launched per call, GPU-busy time vs wall time.

For ``spec_augment`` and ``feature_dropout`` at paper shape (32, 555, 512) beside their
references (torchaudio's ``SpecAugment``, ``F.dropout``): the number of CUDA kernels one call
launches and the time those kernels keep the GPU busy (``torch.profiler``), against the
call's wall time (CUDA events, median of 200 calls). When the busy time is a small part of
the wall time, the op is bound by launching kernels from Python, not by the GPU. A last row
replays ``spec_augment`` from a CUDA graph (one launch for all its kernels), which is what
fusing them would buy. Needs CUDA.

    python benchmarks/kernel_count.py --out kernels.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypedDict, cast

import torch
import torchaudio
from torch import nn
from torch.profiler import DeviceType, ProfilerActivity, profile

from sertoolkit.augment import (
    apply_spec_augment,
    feature_dropout,
    spec_augment,
    spec_augment_masks,
)


def wall_ms(fn: Callable[[], object], calls: int = 200) -> float:
    for _ in range(10):
        fn()
    times: list[float] = []
    for _ in range(calls):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


class _Event(Protocol):
    """What is read here of the profiler's ``FunctionEvent`` (``profile.events()`` is
    unannotated; ``device_time`` is in microseconds)."""

    @property
    def device_type(self) -> DeviceType: ...
    @property
    def device_time(self) -> float: ...


def kernels(fn: Callable[[], object]) -> tuple[int, float]:
    """Kernels launched by one call and their summed GPU time (ms)."""
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    function_events = cast(list[_Event], prof.events())
    events = [e for e in function_events if e.device_type == DeviceType.CUDA]
    return len(events), sum(e.device_time for e in events) / 1e3


class MaskSettings(TypedDict):
    """The SpecAugment mask counts and widths, as keywords of ``spec_augment``."""

    time_masks: int
    time_width: int
    freq_masks: int
    freq_width: int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("needs a CUDA device")
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(32, 555, 512, device=dev)
    lengths = torch.randint(277, 556, (32,), device=dev)
    settings: MaskSettings = {"time_masks": 2, "time_width": 55, "freq_masks": 2, "freq_width": 51}
    ta = torchaudio.transforms.SpecAugment(
        n_time_masks=2, time_mask_param=55, n_freq_masks=2, freq_mask_param=51,
        iid_masks=True, zero_masking=True,
    ).to(dev)  # fmt: skip
    x_ta = x.transpose(1, 2).contiguous()
    ops: dict[str, Callable[[], object]] = {
        "spec_augment": lambda: spec_augment(
            x, **settings, lengths=lengths, generator=g, validate=False
        ),
        "spec_augment, eager path": lambda: apply_spec_augment(
            x,
            spec_augment_masks(*x.shape, **settings, lengths=lengths, generator=g, validate=False),
            lengths=lengths,
            validate=False,
        ),
        "torchaudio SpecAugment": lambda: ta(x_ta),
        "feature_dropout": lambda: feature_dropout(x, 0.1, generator=g, validate=False),
        "F.dropout": lambda: nn.functional.dropout(x, 0.1),
        "x.clone()": lambda: x.clone(),
    }
    rows: list[dict[str, Any]] = []
    for name, fn in ops.items():
        n, busy = kernels(fn)
        wall = wall_ms(fn)
        rows.append({"name": name, "kernels": n, "gpu_busy_ms": busy, "wall_ms": wall})
    try:  # spec_augment replayed from a CUDA graph: one launch for all of its kernels
        buffer = torch.empty_like(x)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                spec_augment(x, **settings, lengths=lengths, generator=g, validate=False,
                             out=buffer)  # fmt: skip
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(g)  # pyright: ignore[reportUnknownMemberType]
        with torch.cuda.graph(graph):
            spec_augment(x, **settings, lengths=lengths, generator=g, validate=False, out=buffer)
        rows.append({"name": "spec_augment(out=) replayed from a CUDA graph",
                     "kernels": None, "gpu_busy_ms": None, "wall_ms": wall_ms(graph.replay)})  # fmt: skip
    except Exception as err:  # report, do not hide: the row says why it is missing
        rows.append({"name": "spec_augment(out=) replayed from a CUDA graph",
                     "failed": f"{type(err).__name__}: {err}"[:300]})  # fmt: skip
    ref = next(r["wall_ms"] for r in rows if r["name"] == "torchaudio SpecAugment")
    print("| op | kernels per call | GPU busy ms | wall ms | vs torchaudio SpecAugment |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        if "failed" in r:
            print(f"| {r['name']} | failed: {r['failed']} | | | |")
            continue
        k = "" if r["kernels"] is None else r["kernels"]
        busy = "" if r["gpu_busy_ms"] is None else f"{r['gpu_busy_ms']:.4f}"
        print(f"| {r['name']} | {k} | {busy} | {r['wall_ms']:.4f} | {ref / r['wall_ms']:.1f}x |")
    if args.out:
        args.out.write_text(json.dumps({"device": torch.cuda.get_device_name(),
                                        "torch": torch.__version__, "rows": rows}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
