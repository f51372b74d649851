"""Worker for tests/test_distributed.py, launched with torchrun (2 processes, gloo).

Rank 0 writes ``result.json`` into the folder given as the first argument.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import datasets_fixtures
import numpy as np
from test_resume import RECIPE, small_corpus

from benchmarks import distributed, pipeline
from sertoolkit.datasets import expression_probabilities, extract_features, read_manifest
from sertoolkit.encoders import TransformerSER
from sertoolkit.features import SpectrogramFeatures


def no_dropout_model(corpus, recipe):  # the encoder's dropout draws per rank: off for equality
    return TransformerSER(corpus.x["train"].shape[2], len(corpus.classes), d_model=recipe.d_model,
                          num_heads=recipe.num_heads, num_layers=recipe.num_layers,
                          dim_feedforward=recipe.dim_feedforward, dropout=0.0)  # fmt: skip


class Stop(Exception):  # noqa: N818
    pass


def main() -> None:
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    pipeline.make_model = no_dropout_model
    ctx, device = distributed.init(torch.device("cpu"))
    corpus = small_corpus()  # 40 train examples: the last global batch (8) splits 4 + 4;
    for d in (corpus.x, corpus.lengths, corpus.y):  # 13 validation examples: odd
        d["val"] = torch.cat([d["val"], d["test"][:1]])
    result: dict[str, object] = {"world": ctx.world}
    # evaluation counts every example once: equal to one process, exactly
    torch.manual_seed(0)  # the same weights on both ranks, as train_run makes them
    model = no_dropout_model(corpus, RECIPE)
    args = (corpus.x["val"], corpus.lengths["val"], corpus.y["val"], 3, device)
    metrics, cm, preds = pipeline.evaluate(model, *args, ctx)
    metrics1, cm1, preds1 = pipeline.evaluate(model, *args)
    result["eval_equal"] = (
        metrics == metrics1 and torch.equal(cm, cm1) and torch.equal(preds, preds1)
    )
    result["eval_total"] = int(cm.sum())
    # K DDP steps (whole runs) against one process on the same global batches
    for name in ("fixmatch", "cr_eps0.5", "temporal_ensembling", "pi_model"):
        m = pipeline.METHODS[name]
        ddp, ddp_state = pipeline.train_run(m, corpus, RECIPE, 5, device, ctx=ctx)
        one, one_state = pipeline.train_run(m, corpus, RECIPE, 5, device)
        diff = max(float((ddp_state[k] - one_state[k]).abs().max()) for k in one_state)
        result[name] = {
            "max_param_diff": diff,
            "telemetry_equal": ddp.telemetry == one.telemetry,
            "val_curve_ddp": ddp.val_curve,
            "val_curve_one": one.val_curve,
        }
    # 33 training examples: the last global batch holds 1, so rank 1's labelled share is
    # empty and runs a weight-0 stand-in (supervised: the only forward is labelled)
    for d in (corpus.x, corpus.lengths, corpus.y):
        d["train"] = d["train"][:33]
    # fewer unlabelled clips than a batch (17): shards of 9 and 8, still one process's run
    for d in (corpus.x, corpus.lengths):
        d["unlabelled"] = d["unlabelled"][:17]
    corpus.visual_probs, corpus.visual_valid = corpus.visual_probs[:17], corpus.visual_valid[:17]
    corpus.u_audio_label, corpus.u_visual_label = (
        corpus.u_audio_label[:17],
        corpus.u_visual_label[:17],
    )
    for name in ("cr_eps0.5", "temporal_ensembling", "supervised", "dcmkt"):
        m = pipeline.METHODS[name]
        ddp, ddp_state = pipeline.train_run(m, corpus, RECIPE, 5, device, ctx=ctx)
        one, one_state = pipeline.train_run(m, corpus, RECIPE, 5, device)
        diff = max(float((ddp_state[k] - one_state[k]).abs().max()) for k in one_state)
        result[f"{name}_uneven"] = {"max_param_diff": diff,
                                    "telemetry_equal": ddp.telemetry == one.telemetry}  # fmt: skip
    # kill in epoch 2 and resume under 2 ranks: exactly the uninterrupted 2-rank run
    m = pipeline.METHODS["cr_eps0.5"]
    ckpt = out / "run.ckpt"
    steps = pipeline.steps_of(corpus, RECIPE) // RECIPE.epochs
    done = [0]

    def killer(n: int) -> None:
        done[0] += n
        if done[0] > 2 * steps:
            raise Stop

    full, full_state = pipeline.train_run(m, corpus, RECIPE, 7, device, ctx=ctx)
    with contextlib.suppress(Stop):
        pipeline.train_run(m, corpus, RECIPE, 7, device, ctx=ctx, checkpoint=ckpt,
                           progress=killer)  # fmt: skip
    ctx.barrier()
    if ctx.is_main:  # the same checkpoint, to resume under 1 rank as well
        shutil.copy(ckpt, out / "run1.ckpt")
    ctx.barrier()
    resumed, resumed_state = pipeline.train_run(m, corpus, RECIPE, 7, device, ctx=ctx,
                                                checkpoint=ckpt)  # fmt: skip
    result["resume_equal"] = resumed.metrics == full.metrics and all(
        torch.equal(resumed_state[k], v) for k, v in full_state.items()
    )
    if ctx.is_main:  # a checkpoint written under 2 ranks, resumed by 1 process
        _, one_state = pipeline.train_run(
            m, corpus, RECIPE, 7, device, checkpoint=out / "run1.ckpt"
        )
        result["resume_other_world_diff"] = max(
            float((one_state[k] - v).abs().max()) for k, v in full_state.items()
        )
    # sharded extraction and face evidence equal the single-process ones, byte for byte
    data = out / "data"
    if ctx.is_main:
        datasets_fixtures.build_manifest(data, ("face_probs", "face_logits", "face_probs"), clips=7)
        (data / "wav" / "clip0003.wav").write_bytes(b"not audio")  # one bad file
    ctx.barrier()
    clips = read_manifest(data / "manifest.csv").clips
    wavs = [c.audio for c in clips]
    seen: list[int] = []
    sharded = extract_features(wavs, SpectrogramFeatures(), out / "cache_dist", max_frames=40,
                               batch_size=1, shard_size=2, distributed=True,
                               progress=seen.append)  # fmt: skip
    ev = expression_probabilities(clips, distributed=True)
    if ctx.is_main:
        single = extract_features(wavs, SpectrogramFeatures(), out / "cache_one", max_frames=40,
                                  batch_size=1, shard_size=2)  # fmt: skip
        ev1 = expression_probabilities(clips)
        result["extract_bytes_equal"] = (sharded.path / "features.npy").read_bytes() == (
            single.path / "features.npy"
        ).read_bytes()
        result["extract_index_equal"] = (
            np.array_equal(sharded.lengths, single.lengths)
            and np.array_equal(sharded.ok, single.ok)
            and sharded.skipped == single.skipped
        )
        result["extract_skipped"] = [str(x) for x in sharded.skipped]
        result["extract_progress"] = sum(seen)
        result["evidence_equal"] = (
            torch.equal(ev.probs, ev1.probs)
            and torch.equal(ev.has_face, ev1.has_face)
            and torch.equal(ev.frames, ev1.frames)
        )
        (out / "result.json").write_text(json.dumps(result, indent=1))
    distributed.shutdown(ctx)


if __name__ == "__main__":
    main()
