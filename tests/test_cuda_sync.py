"""No host-device synchronisation in the hot path, checked on a GPU (skipped without CUDA).

``torch.cuda.set_sync_debug_mode("error")`` makes every synchronising CUDA call raise (the
torchmetrics way of catching hidden ``.item()`` / ``nonzero`` / pageable copies). The
library's claim is that the Algorithm-1 step (:func:`sertoolkit.losses.cmkt_ssl_loss`, then
backward) and the components it calls, with ``validate=False``, never synchronise. These tests
only run where a GPU is (``benchmarks/gpu_check.sh`` runs them first on a lent GPU); CI has
none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch

from sertoolkit.augment import FeatureDropout, SpecAugment, feature_dropout, spec_augment
from sertoolkit.encoders import TransformerSER
from sertoolkit.fusion import (
    AudioOnly,
    ConsistentAndRandom,
    FusionFn,
    VisualOnly,
    WeightedFusion,
    masked_cross_entropy,
)
from sertoolkit.losses import cmkt_ssl_loss
from sertoolkit.pooling import pool_frames

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

RULES: list[tuple[str, Callable[[], FusionFn]]] = [
    ("FF1", lambda: ConsistentAndRandom(0.5, validate=False)),
    ("FF2", lambda: WeightedFusion(0.2, 0.9, validate=False)),
    ("FixMatch", lambda: AudioOnly(0.9, validate=False)),
    ("direct CMKT", lambda: VisualOnly(validate=False)),
]


@contextmanager
def no_sync() -> Iterator[None]:
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(0)


def _batch(g: torch.Generator, classes: int = 4):
    dev = torch.device("cuda")
    x_l = torch.randn(8, 50, 40, device=dev, generator=g)
    x_u = torch.randn(8, 60, 40, device=dev, generator=g)
    len_l = torch.randint(10, 51, (8,), device=dev, generator=g)
    len_u = torch.randint(10, 61, (8,), device=dev, generator=g)
    y_l = torch.randint(0, classes, (8,), device=dev, generator=g)
    visual = torch.rand(8, classes, device=dev, generator=g).softmax(-1)
    valid = torch.rand(8, device=dev, generator=g) > 0.2
    return x_l, len_l, y_l, x_u, len_u, visual, valid


@pytest.mark.parametrize(("name", "make_rule"), RULES)
@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("concatenate", [True, False])
def test_training_step_never_syncs(name: str, make_rule, bf16: bool, concatenate: bool):
    del name
    g = torch.Generator(device="cuda").manual_seed(0)
    model = TransformerSER(40, 4, d_model=32, num_heads=4, num_layers=2).cuda()
    opt = torch.optim.Adamax(model.parameters(), lr=1e-3)
    weak = FeatureDropout(0.1, validate=False)
    strong = SpecAugment(time_masks=2, time_width=6, freq_masks=2, freq_width=5, validate=False)
    rule = make_rule()

    def step() -> None:
        x_l, len_l, y_l, x_u, len_u, visual, valid = _batch(g)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            out = cmkt_ssl_loss(model, x_l, len_l, y_l, x_u, len_u, visual, rule, weak=weak,
                                strong=strong, visual_valid=valid, generator=g,
                                concatenate=concatenate, validate=False)  # fmt: skip
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()  # warm-up: library initialisation (cuBLAS handles, workspaces) may synchronise
    with no_sync():
        step()


def test_components_never_sync():
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(8, 60, 40, device="cuda")
    lengths = torch.randint(0, 61, (8,), device="cuda")
    frames = torch.rand(8, 15, 7, device="cuda").softmax(-1)
    fmask = torch.rand(8, 15, device="cuda") > 0.3
    logits = torch.randn(8, 7, device="cuda")
    buffer = torch.empty_like(x)

    def run() -> None:
        spec_augment(x, time_masks=2, time_width=6, freq_masks=2, freq_width=5,
                     lengths=lengths, generator=g, validate=False)  # fmt: skip
        spec_augment(x, time_masks=2, time_width=6, freq_masks=2, freq_width=5,
                     lengths=lengths, generator=g, validate=False, out=buffer)  # fmt: skip
        feature_dropout(x, 0.1, generator=g, validate=False)
        visual, has_face = pool_frames(frames, fmask, validate=False)
        for _, make_rule in RULES:
            pseudo = make_rule()(visual, visual, valid=has_face, generator=g)
            masked_cross_entropy(logits, pseudo, validate=False)

    run()
    with no_sync():
        run()


@pytest.mark.parametrize("method", ["supervised", "fixmatch", "cr_eps0.5", "dcmkt",
                                    "temporal_ensembling", "pi_model"])  # fmt: skip
def test_pipeline_steps_never_sync(method: str):
    # benchmarks/pipeline.py's train_run: the syncs of a run (moving its tensors to the
    # device once, evaluation and telemetry once per epoch) must not grow with the number
    # of steps. Two runs of 2 epochs with 2 and 5 steps per epoch must sync equally often.
    import warnings

    from test_resume import small_corpus

    from benchmarks import pipeline

    recipe = pipeline.Recipe(2, 16, 2, 1, 32, 1, 0.35)
    counts = []
    for n_train in (40, 160):  # 2 and 5 steps of 32 per epoch
        corpus = small_corpus()
        reps = n_train // 40
        corpus.x["train"] = corpus.x["train"].repeat(reps, 1, 1)
        corpus.lengths["train"] = corpus.lengths["train"].repeat(reps)
        corpus.y["train"] = corpus.y["train"].repeat(reps)
        pipeline.train_run(pipeline.METHODS[method], corpus, recipe, 0, torch.device("cuda"))
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                pipeline.train_run(
                    pipeline.METHODS[method], corpus, recipe, 0, torch.device("cuda")
                )
            finally:
                torch.cuda.set_sync_debug_mode(0)
        counts.append(sum("synchroniz" in str(w.message) for w in seen))
    assert counts[0] == counts[1], f"syncs with 2 and 5 steps per epoch: {counts}"
