"""Reproduce Zhang et al. (2021) with sertoolkit's public API.

PLACEHOLDER (until the paper pipeline lands): this runs a *smoke demo* of Algorithm 1 — a few
training steps of a tiny model per pseudo-labelling rule on random, weakly structured data — to
show the components composing end to end. Its numbers are not the paper's experiments and
must not be read as results.

Run ``python benchmarks/reproduce_paper.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import Tensor, nn

from sertoolkit.augment import feature_dropout, spec_augment
from sertoolkit.fusion import (
    AudioOnly,
    ConsistentAndRandom,
    FusionFn,
    VisualOnly,
    WeightedFusion,
    masked_cross_entropy,
)
from sertoolkit.metrics import unweighted_accuracy, weighted_accuracy, weighted_f1
from sertoolkit.pooling import frame_indices, pool_frames
from sertoolkit.schedules import PaperSchedule, paper_lr_scheduler

CLASSES = 3  # CH-SIMS-like sentiment task
FRAMES, BINS = 120, 32  # small (time, freq) features for the demo
LAMBDA_U = 0.1  # paper Sec. 4.2
TAU = 0.9  # paper Sec. 4.2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Smoke demo of the paper's Algorithm 1 built from sertoolkit components "
            "(placeholder for the full reproduction of Tables 3-5)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of data, model and augmentations")
    parser.add_argument("--steps", type=int, default=30, help="optimiser steps per method")
    parser.add_argument(
        "--batch-size", type=int, default=32, help="labelled and unlabelled batch size (paper: 32)"
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    return parser.parse_args(argv)


def make_batch(
    n: int, g: torch.Generator, device: torch.device, consistency: float = 0.5
) -> tuple[Tensor, Tensor, Tensor]:
    """Random features with a class-dependent offset, labels, and 25 fps face probabilities."""
    labels = torch.randint(0, CLASSES, (n,), generator=g)
    x = torch.randn(n, FRAMES, BINS, generator=g)
    x[:, :, :CLASSES] += 0.12 * nn.functional.one_hot(labels, CLASSES).unsqueeze(1)
    # the face agrees with the voice on a fraction of clips (the paper's Fig. 1 inconsistency)
    face_label = torch.where(
        torch.rand(n, generator=g) < consistency,
        labels,
        torch.randint(0, CLASSES, (n,), generator=g),
    )
    video_frames = 92  # 3.67 s at 25 fps, CH-SIMS' mean clip length
    sampled = frame_indices(video_frames).numel()
    logits = torch.randn(n, sampled, CLASSES, generator=g)
    logits += 2.0 * nn.functional.one_hot(face_label, CLASSES).unsqueeze(1)
    return x.to(device), labels.to(device), logits.softmax(-1).to(device)


def tiny_model() -> nn.Module:
    return nn.Sequential(nn.Linear(BINS, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, CLASSES))


def forward(model: nn.Module, x: Tensor) -> Tensor:
    return model(x.mean(dim=1))  # average pooling over time, then the MLP (cf. Eq. 2)


def run_method(name: str, rule: FusionFn, args: argparse.Namespace) -> dict[str, float]:
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    aug_g = torch.Generator(device=device).manual_seed(args.seed + 1)
    model = tiny_model().to(device)
    opt = torch.optim.Adamax(model.parameters())
    sched = paper_lr_scheduler(opt, PaperSchedule(steps_per_epoch=max(args.steps // 8, 1)))
    sa = {"time_masks": 2, "time_width": 12, "freq_masks": 2, "freq_width": 4}
    kept = 0.0
    for _ in range(args.steps):
        x_l, y_l, _ = make_batch(args.batch_size, g, device)
        x_u, _, face_probs = make_batch(args.batch_size, g, device)
        visual, has_face = pool_frames(face_probs)
        model.train()
        loss_l = nn.functional.cross_entropy(
            forward(model, spec_augment(x_l, generator=aug_g, **sa)), y_l
        )
        with torch.no_grad():
            audio = forward(model, feature_dropout(x_u, 0.1, generator=aug_g)).softmax(-1)
        pseudo = rule(audio, visual, valid=has_face, generator=aug_g)
        loss_u = masked_cross_entropy(
            forward(model, spec_augment(x_u, generator=aug_g, **sa)), pseudo
        )
        loss = loss_l + LAMBDA_U * loss_u
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        kept += float(pseudo.kept_fraction()) / args.steps
    model.eval()
    x_t, y_t, _ = make_batch(512, torch.Generator().manual_seed(10_000 + args.seed), device)
    with torch.no_grad():
        preds = forward(model, x_t).argmax(-1)
    return {
        "F1": float(weighted_f1(preds, y_t, CLASSES)),
        "WA": float(weighted_accuracy(preds, y_t)),
        "UA": float(unweighted_accuracy(preds, y_t, CLASSES)),
        "kept": kept,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    methods: list[tuple[str, FusionFn]] = [
        ("FixMatch (audio only)", AudioOnly(TAU)),
        ("CMKT (visual only)", VisualOnly()),
        ("Consistent & Random eps=0.5", ConsistentAndRandom(0.5)),
        ("Weighted fusion alpha=0.2", WeightedFusion(0.2, TAU)),
    ]
    print("sertoolkit smoke demo of Algorithm 1 (placeholder; NOT the paper's experiments)")
    print(f"{'method':<30} {'F1':>6} {'WA':>6} {'UA':>6} {'kept':>6}")
    start = time.perf_counter()
    for name, rule in methods:
        r = run_method(name, rule, args)
        print(f"{name:<30} {r['F1']:6.3f} {r['WA']:6.3f} {r['UA']:6.3f} {r['kept']:6.3f}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
