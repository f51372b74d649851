"""The unlabelled-loss hot path compiles as one graph: no host sync, no data-dependent branch."""

from __future__ import annotations

import torch

from sertoolkit.augment import feature_dropout, spec_augment
from sertoolkit.fusion import consistent_and_random, masked_cross_entropy, weighted_fusion
from sertoolkit.pooling import pool_frames


def _unlabelled_loss(x, lengths, audio, frame_probs, frame_mask, logits):
    strong = spec_augment(
        x, time_masks=2, time_width=10, freq_masks=2, freq_width=5, lengths=lengths, validate=False
    )
    weak = feature_dropout(x, 0.1)
    visual, has_face = pool_frames(frame_probs, frame_mask, validate=False)
    ff2 = weighted_fusion(audio, visual, 0.2, 0.9, valid=has_face, validate=False)
    ff1 = consistent_and_random(audio, visual, 0.5, valid=has_face, validate=False)
    return (
        strong.sum()
        + weak.sum()
        + masked_cross_entropy(logits, ff1, validate=False)
        + masked_cross_entropy(logits, ff2, validate=False)
    )


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
