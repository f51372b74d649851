"""Issue #14 items 1-6: FF1/FF2 as a drop-in for USB-style codebases.

USB's FixMatch semantics are re-stated here, faithfully and on their own (USB itself drags in
about 30 packages): ``mask = max_probs.ge(p_cutoff).to(max_probs.dtype)`` and
``loss = (ce(logits, pseudo_label, reduction="none") * mask).mean()`` over the whole batch.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from sertoolkit.augment import SpecAugment, spec_augment
from sertoolkit.encoders import TransformerSER
from sertoolkit.fusion import (
    AudioOnly,
    ConsistentAndRandom,
    PseudoLabels,
    VisualBank,
    VisualOnly,
    WeightedFusion,
    audio_only,
    masked_cross_entropy,
    visual_only,
    weighted_fusion,
)
from sertoolkit.losses import cmkt_ssl_loss, fixmatch_loss
from sertoolkit.masking import confidence_mask
from sertoolkit.taxonomy import EXPRESSION_TO_IEMOCAP, maps_to_target, project


def usb_fixmatch_unsup_loss(logits_w: Tensor, logits_s: Tensor, p_cutoff: float) -> Tensor:
    """USB 0.3.2's FixMatch unlabelled loss, re-stated (hard labels, no soft targets)."""
    probs = logits_w.detach().softmax(dim=-1)
    max_probs, pseudo_label = probs.max(dim=-1)
    mask = max_probs.ge(p_cutoff).to(max_probs.dtype)
    return (F.cross_entropy(logits_s, pseudo_label, reduction="none") * mask).mean()


def naive_loss(logits: Tensor, targets: Tensor, weights: Tensor) -> Tensor:
    """Eq. 4 with per-example weights, written out example by example."""
    total = torch.zeros(())
    for i in range(logits.shape[0]):
        if weights[i] > 0:
            total = total - weights[i] * logits[i].log_softmax(0)[targets[i]]
    return total / max(logits.shape[0], 1)


batches = st.integers(0, 12)


@settings(max_examples=60, deadline=None)
@given(
    b=st.integers(1, 12),  # USB's .mean() of an empty batch is NaN; ours is 0
    c=st.integers(2, 6),
    seed=st.integers(0, 2**16),
    cutoff=st.sampled_from([0.5, 0.7, 0.95]),
)
def test_inclusive_ff2_at_alpha_1_is_usb_fixmatch(b: int, c: int, seed: int, cutoff: float) -> None:
    g = torch.Generator().manual_seed(seed)
    logits_w = torch.randn(b, c, generator=g) * 3
    logits_s = torch.randn(b, c, generator=g)
    want = usb_fixmatch_unsup_loss(logits_w, logits_s, cutoff)
    probs = logits_w.softmax(-1)
    visual = torch.randn(b, c, generator=g).softmax(-1)
    for rule in (WeightedFusion(1.0, cutoff, inclusive=True), AudioOnly(cutoff, inclusive=True)):
        got = masked_cross_entropy(logits_s, rule(probs, visual))
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
    got = fixmatch_loss(logits_w, logits_s, cutoff, inclusive=True)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


def test_inclusive_keeps_a_float32_probability_equal_to_the_cutoff() -> None:
    p = torch.tensor([[0.95, 0.05]])
    assert not audio_only(p, 0.95).mask.item()  # the paper's strict Eq. 4
    assert audio_only(p, 0.95, inclusive=True).mask.item()  # USB's >=
    assert confidence_mask(p, 0.95, inclusive=True).item()


@settings(max_examples=60, deadline=None)
@given(b=batches, c=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_float_weights_follow_eq4_with_the_batch_divisor(b: int, c: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, generator=g)
    targets = torch.randint(0, c, (b,), generator=g)
    weights = torch.rand(b, generator=g) * (torch.rand(b, generator=g) > 0.3)
    got = masked_cross_entropy(logits, PseudoLabels(targets, weights))
    torch.testing.assert_close(got, naive_loss(logits, targets, weights))
    hard = torch.rand(b, generator=g) > 0.5
    as_bool = masked_cross_entropy(logits, PseudoLabels(targets, hard))
    as_float = masked_cross_entropy(logits, PseudoLabels(targets, hard.float()))
    torch.testing.assert_close(as_bool, as_float, rtol=0, atol=0)


def test_float_weights_are_checked_and_dropped_rows_stay_free() -> None:
    targets = torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"`pseudo\.mask`"):
        masked_cross_entropy(torch.zeros(2, 2), PseudoLabels(targets, torch.tensor([1.5, 0.0])))
    logits = torch.tensor([[1.0, 0.0], [math.nan, math.inf]], requires_grad=True)
    loss = masked_cross_entropy(logits, PseudoLabels(targets, torch.tensor([0.5, 0.0])))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert PseudoLabels(targets, torch.tensor([0.5, 0.25])).kept_fraction().item() == 0.375
    restricted = PseudoLabels(targets, torch.tensor([0.5, 0.25])).restrict(
        torch.tensor([True, False])
    )
    assert restricted.mask.tolist() == [0.5, 0.0]


@settings(max_examples=60, deadline=None)
@given(b=batches, c=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_soft_targets_are_the_cross_entropy_against_probs(b: int, c: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, generator=g)
    audio = torch.randn(b, c, generator=g).softmax(-1)
    visual = torch.randn(b, c, generator=g).softmax(-1)
    pseudo = weighted_fusion(audio, visual, 0.2, 0.4)
    want = torch.zeros(())
    for i in range(b):
        if pseudo.mask[i]:
            fused = 0.2 * audio[i] + 0.8 * visual[i]  # Eq. 8
            want = want - (fused * logits[i].log_softmax(0)).sum()
    want = want / max(b, 1)
    torch.testing.assert_close(masked_cross_entropy(logits, pseudo, soft=True), want)
    # one-hot distributions give the hard loss
    onehot = PseudoLabels(pseudo.targets, pseudo.mask, F.one_hot(pseudo.targets, c).float())
    torch.testing.assert_close(
        masked_cross_entropy(logits, onehot, soft=True), masked_cross_entropy(logits, pseudo)
    )


def test_soft_targets_need_probs() -> None:
    with pytest.raises(ValueError, match=r"`pseudo\.probs`"):
        masked_cross_entropy(
            torch.zeros(1, 2), PseudoLabels(torch.tensor([0]), torch.tensor([True])), soft=True
        )


def test_every_rule_is_called_the_same_way() -> None:
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(6, 3, generator=g).mul(4).softmax(-1)
    visual = torch.randn(6, 3, generator=g).softmax(-1)
    valid = torch.tensor([True, True, False, True, True, True])
    for rule in (AudioOnly(), VisualOnly(), ConsistentAndRandom(0.5), WeightedFusion(0.2)):
        positional = rule(audio, visual, valid=valid, generator=torch.Generator().manual_seed(1))
        keywords = rule(
            audio_probs=audio, visual_probs=visual, valid=valid,
            generator=torch.Generator().manual_seed(1),
        )  # fmt: skip
        assert torch.equal(positional.mask, keywords.mask)
        assert torch.equal(positional.targets, keywords.targets)
    # the functions accept generator= too, and a 0-D tensor threshold
    assert torch.equal(
        weighted_fusion(audio, visual, 0.2, torch.tensor(0.5), generator=g).mask,  # type: ignore[arg-type]
        weighted_fusion(audio, visual, 0.2, float(torch.tensor(0.5))).mask,
    )
    audio_only(audio, generator=g)
    visual_only(visual, generator=g)
    # one default threshold story: 0.9 everywhere
    assert torch.equal(audio_only(audio).mask, AudioOnly()(audio, visual).mask)
    assert torch.equal(
        weighted_fusion(audio, visual, 0.2).mask, WeightedFusion(0.2)(audio, visual).mask
    )
    assert WeightedFusion(0.2, torch.tensor(0.5)).threshold == 0.5  # type: ignore[arg-type]


def test_spec_augment_takes_one_time_freq_example() -> None:
    x = torch.randn(40, 16)
    one = spec_augment(x, time_masks=2, time_width=8, freq_masks=1, freq_width=4,
                       lengths=torch.tensor(30), generator=torch.Generator().manual_seed(3))  # fmt: skip
    batch = spec_augment(x[None], time_masks=2, time_width=8, freq_masks=1, freq_width=4,
                         lengths=torch.tensor([30]), generator=torch.Generator().manual_seed(3))  # fmt: skip
    assert one.shape == (40, 16) and torch.equal(one, batch[0]) and not torch.equal(one, x)
    module = SpecAugment(time_masks=2, time_width=8, freq_masks=1, freq_width=4)
    assert module(x, generator=torch.Generator().manual_seed(3)).shape == (40, 16)
    with pytest.raises(ValueError, match="`lengths`"):
        spec_augment(
            x, time_masks=1, time_width=2, freq_masks=1, freq_width=2, lengths=torch.tensor([3, 4])
        )


def test_visual_bank_looks_up_moves_and_saves() -> None:
    g = torch.Generator().manual_seed(0)
    faces = torch.randn(10, 7, generator=g).mul(2).softmax(-1)
    has_face = torch.rand(10, generator=g) > 0.2
    bank = VisualBank.from_expressions(faces, has_face, EXPRESSION_TO_IEMOCAP)
    ids = torch.tensor([3, 0, 9, 3])
    probs, valid = bank(ids)
    want_valid = has_face & maps_to_target(faces, EXPRESSION_TO_IEMOCAP)
    assert torch.equal(valid, want_valid[ids])
    rows = valid.nonzero().flatten()
    torch.testing.assert_close(probs[rows], project(faces[ids][rows], EXPRESSION_TO_IEMOCAP))
    assert torch.isfinite(bank.probs).all()
    state = bank.state_dict()
    assert set(state) == {"probs", "valid"}
    other = VisualBank(torch.full((10, 4), 0.25), torch.zeros(10, dtype=torch.bool))
    other.load_state_dict(state)
    assert torch.equal(other(ids)[0], probs)
    assert bank.to(torch.float64).probs.dtype == torch.float64  # buffers move with .to()
    with pytest.raises(ValueError, match="`ids`"):
        bank(torch.tensor([10]))


class _DictModel(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module, key: str) -> None:
        super().__init__()
        self.inner, self.key = inner, key

    def forward(self, x: Tensor, lengths: Tensor, *, validate: bool = True) -> dict[str, Tensor]:
        return {self.key: self.inner(x, lengths, validate=validate), "feat": x.mean(1)}


def test_cmkt_ssl_loss_reads_logits_from_dict_outputs() -> None:
    torch.manual_seed(0)
    model = TransformerSER(4, 3, d_model=8, num_heads=2, num_layers=1, dim_feedforward=16).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 6, 4, generator=g)
    lengths = torch.tensor([6, 4, 3, 1])
    y = torch.tensor([0, 1, 2, 0])
    visual = torch.randn(4, 3, generator=g).softmax(-1)

    def ident(x: Tensor, lengths: Tensor, /, *, generator: torch.Generator | None = None) -> Tensor:
        return x

    def run(m: object, **kw: object) -> Tensor:
        return cmkt_ssl_loss(m, x, lengths, y, x, lengths, visual, WeightedFusion(0.2, 0.3),  # type: ignore[arg-type]
                             weak=ident, strong=ident, **kw).loss  # type: ignore[arg-type]  # fmt: skip

    want = run(model)
    assert torch.equal(run(_DictModel(model, "logits")), want)  # USB's {"logits", "feat"}
    assert torch.equal(run(_DictModel(model, "out"), logits_of=lambda o: o["out"]), want)
    with pytest.raises(TypeError, match=r"`model`.*keys \['feat', 'out'\].*logits_of"):
        run(_DictModel(model, "out"))
    soft = run(model, soft_targets=True)
    assert torch.isfinite(soft) and not torch.equal(soft, want)
