"""The unlabelled-loss hot path compiles as one graph: no host sync, no data-dependent branch."""

from __future__ import annotations

import pytest
import torch

from sertoolkit.augment import feature_dropout, spec_augment
from sertoolkit.fusion import consistent_and_random, masked_cross_entropy, weighted_fusion
from sertoolkit.pooling import pool_frames


def _unlabelled_loss(x, lengths, audio, frame_probs, frame_mask, logits):
    strong = spec_augment(
        x, time_masks=2, time_width=10, freq_masks=2, freq_width=5, lengths=lengths, validate=False
    )
    weak = feature_dropout(x, 0.1, validate=False)
    visual, has_face = pool_frames(frame_probs, frame_mask, validate=False)
    ff2 = weighted_fusion(audio, visual, 0.2, 0.9, valid=has_face, validate=False)
    ff1 = consistent_and_random(audio, visual, 0.5, valid=has_face, validate=False)
    return (
        strong.sum()
        + weak.sum()
        + masked_cross_entropy(logits, ff1, validate=False)
        + masked_cross_entropy(logits, ff2, validate=False)
    )


OLD_DYNAMO = pytest.mark.skipif(
    tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 11),
    reason="measured: torch 2.4.1's dynamo cannot trace the SpecAugmentMasks constructor "
    "(a NamedTuple subclass that validates); torch 2.11 and 2.13 compile it",
)


@OLD_DYNAMO
def test_hot_path_compiles_fullgraph():
    torch._dynamo.reset()
    compiled = torch.compile(_unlabelled_loss, fullgraph=True)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 30, 8, generator=g)
    lengths = torch.tensor([30, 20, 5, 0])
    audio = torch.rand(4, 3, generator=g).softmax(1)
    frame_probs = torch.rand(4, 5, 3, generator=g).softmax(-1)
    frame_mask = torch.rand(4, 5, generator=g) > 0.3
    logits = torch.randn(4, 3, generator=g)
    out = compiled(x, lengths, audio, frame_probs, frame_mask, logits)
    assert out.shape == () and torch.isfinite(out)


@OLD_DYNAMO
def test_apply_spec_augment_out_compiles_and_matches_eager():
    # the torch.where path (GPUs, autograd, compile) writing into `out=`
    from sertoolkit.augment import apply_spec_augment, spec_augment_masks

    torch._dynamo.reset()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 30, 8, generator=g)
    lengths = torch.tensor([30, 20, 5, 0])
    masks = spec_augment_masks(
        4, 30, 8, time_masks=2, time_width=10, freq_masks=2, freq_width=4, lengths=lengths,
        generator=g,
    )  # fmt: skip

    def run(x, time, freq, lengths, out):
        return apply_spec_augment(
            x, type(masks)(time, freq), lengths=lengths, fill=-2.0, validate=False, out=out
        )

    compiled = torch.compile(run, fullgraph=True)
    out = torch.full_like(x, float("nan"))
    compiled(x, masks.time, masks.freq, lengths, out)
    want = apply_spec_augment(x, masks, lengths=lengths, fill=-2.0)
    assert torch.equal(out, want)
    assert not torch.equal(want, x)
