"""One rank of the scaling measurement of ``throughput.py``: the Algorithm-1 step under DDP.

Launched by ``throughput.py`` through ``torchrun --nproc-per-node K``; rank 0 writes a JSON
file with the median step time. The global batch is the paper's 32 labelled + 32 unlabelled,
split across the ranks, exactly as ``reproduce_paper.py`` trains under torchrun.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from benchmarks import distributed
from benchmarks.throughput import PAPER, QUICK, bf16_autocast, make_encoder
from sertoolkit.augment import FeatureDropout, SpecAugment
from sertoolkit.fusion import WeightedFusion
from sertoolkit.losses import cmkt_ssl_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    ctx, device = distributed.init(torch.device(args.device), force=True)
    s = QUICK if args.quick else PAPER
    per = s.batch // ctx.world
    torch.manual_seed(0)  # pyright: ignore[reportUnknownMemberType]  # unannotated seed
    g = torch.Generator(device=device).manual_seed(ctx.rank)
    x_l = torch.randn(per, s.time, s.bins, device=device)
    x_u = torch.randn(per, s.time, s.bins, device=device)
    lengths = torch.full((per,), s.time, device=device)
    y = torch.randint(0, s.classes, (per,), device=device)
    visual = torch.rand(per, s.classes, device=device).softmax(-1)
    model = make_encoder(s, device)
    net = nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )
    opt = torch.optim.Adamax(model.parameters(), lr=1e-3)
    strong = SpecAugment(time_masks=2, time_width=max(1, s.time // 10), freq_masks=2,
                         freq_width=max(1, s.bins // 10), validate=False)  # fmt: skip
    weak, rule = FeatureDropout(0.1, validate=False), WeightedFusion(0.2, 0.9, validate=False)

    def step() -> None:
        with bf16_autocast(device, args.bf16):
            out = cmkt_ssl_loss(net, x_l, lengths, y, x_u, lengths, visual, rule, weak=weak,
                                strong=strong, generator=g, validate=False)  # fmt: skip
        opt.zero_grad(set_to_none=True)
        out.loss.backward()  # pyright: ignore[reportUnknownMemberType]
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()  # pyright: ignore[reportUnknownMemberType]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(3):
        step()
    times: list[float] = []
    for _ in range(args.repeats):
        ctx.barrier()
        sync()
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    if ctx.is_main:
        args.out.write_text(json.dumps({
            "world": ctx.world, "median_ms": median * 1e3,
            "iqr_ms": (statistics.quantiles(times, n=4)[2] - statistics.quantiles(times, n=4)[0]) * 1e3
            if len(times) > 1 else 0.0,
            "examples_per_s": 2 * s.batch / median,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
            "backend": "nccl" if device.type == "cuda" else "gloo",
        }))  # fmt: skip
    distributed.shutdown(ctx)


if __name__ == "__main__":
    main()
