"""Fusion rules against naive per-example transcriptions of the paper's equations."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from conftest import make_probs, prob_pairs
from hypothesis import given
from hypothesis import strategies as st

from sertoolkit.fusion import (
    AudioOnly,
    ConsistentAndRandom,
    FusionFn,
    PseudoLabels,
    VisualOnly,
    WeightedFusion,
    audio_only,
    consistent_and_random,
    masked_cross_entropy,
    visual_only,
    weighted_fusion,
)

# --- naive transcriptions (one example at a time, plain Python) -------------------------


def argmax_list(row: list[float]) -> int:
    best = 0
    for j, v in enumerate(row):
        if v > row[best]:
            best = j
    return best


def naive_ff1(audio: torch.Tensor, visual: torch.Tensor, weights: list[float], eps: float):
    """Eq. 5-7: target = y^v, mask = 1{y^a == y^v or w < eps}."""
    targets, mask = [], []
    for pa, pv, w in zip(audio.tolist(), visual.tolist(), weights):
        ya, yv = argmax_list(pa), argmax_list(pv)
        targets.append(yv)
        mask.append(ya == yv or w < eps)
    return targets, mask


def naive_ff2(audio: torch.Tensor, visual: torch.Tensor, alpha: float, tau: float):
    """Eq. 8-9: p_av = a p_a + (1 - a) p_v; target = argmax; mask = 1{max p_av > tau}."""
    targets, mask = [], []
    for pa, pv in zip(audio.tolist(), visual.tolist()):
        pav = [alpha * a + (1 - alpha) * v for a, v in zip(pa, pv)]
        targets.append(argmax_list(pav))
        mask.append(max(pav) > tau)
    return targets, mask


def naive_masked_ce(logits: torch.Tensor, targets: list[int], mask: list[bool]) -> float:
    """-(1/|B|) sum_i mask_i log softmax(f_i)[t_i]."""
    total = 0.0
    rows = logits.double().tolist()
    for row, t, m in zip(rows, targets, mask):
        if m:
            mx = max(row)
            lse = mx + math.log(sum(math.exp(v - mx) for v in row))
            total += -(row[t] - lse)
    return total / max(len(rows), 1)


# --- FF1 -------------------------------------------------------------------------------


@given(prob_pairs(), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_ff1_matches_naive_transcription(pair, eps, seed):
    audio, visual = pair
    out = consistent_and_random(audio, visual, eps, generator=torch.Generator().manual_seed(seed))
    weights = torch.rand(audio.shape[0], generator=torch.Generator().manual_seed(seed)).tolist()
    targets, mask = naive_ff1(audio, visual, weights, eps)
    assert out.targets.tolist() == targets
    assert out.mask.tolist() == mask
    assert out.targets.dtype == torch.long and out.mask.dtype == torch.bool
    assert torch.equal(out.probs, visual)


@given(prob_pairs())
def test_ff1_epsilon_zero_keeps_exactly_agreeing(pair):
    audio, visual = pair
    out = consistent_and_random(audio, visual, 0.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.mask, audio.argmax(1) == visual.argmax(1))


@given(prob_pairs(), st.integers(0, 1000))
def test_ff1_epsilon_one_keeps_all_and_equals_visual_only(pair, seed):
    audio, visual = pair
    out = consistent_and_random(audio, visual, 1.0, generator=torch.Generator().manual_seed(seed))
    ref = visual_only(visual)
    assert bool(out.mask.all())
    assert torch.equal(out.targets, ref.targets) and torch.equal(out.mask, ref.mask)


@given(prob_pairs(min_batch=1), st.floats(0.0, 0.99), st.floats(0.0, 0.99), st.integers(0, 99))
def test_ff1_mask_monotone_in_epsilon(pair, e1, e2, seed):
    audio, visual = pair
    lo, hi = sorted((e1, e2))
    a = consistent_and_random(audio, visual, lo, generator=torch.Generator().manual_seed(seed))
    b = consistent_and_random(audio, visual, hi, generator=torch.Generator().manual_seed(seed))
    assert bool((a.mask <= b.mask).all())  # same weights: a larger epsilon keeps a superset


def test_ff1_generator_leaves_global_rng_untouched():
    audio, visual = make_probs(16, 3, 0), make_probs(16, 3, 1)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    consistent_and_random(audio, visual, 0.5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(before, torch.get_rng_state())


def test_ff1_random_keep_rate_is_epsilon_on_disagreeing():
    n = 20000
    audio = torch.zeros(n, 2)
    audio[:, 0] = 1.0
    visual = torch.zeros(n, 2)
    visual[:, 1] = 1.0  # every example disagrees
    out = consistent_and_random(audio, visual, 0.3, generator=torch.Generator().manual_seed(0))
    rate = out.mask.float().mean().item()
    assert abs(rate - 0.3) < 0.02  # 6 standard deviations


# --- FF2 -------------------------------------------------------------------------------


@given(prob_pairs(), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_ff2_matches_naive_transcription(pair, alpha, tau):
    audio, visual = pair
    out = weighted_fusion(audio.double(), visual.double(), alpha, tau)
    targets, mask = naive_ff2(audio.double(), visual.double(), alpha, tau)
    assert out.targets.tolist() == targets
    assert out.mask.tolist() == mask


@given(prob_pairs(), st.floats(0.0, 1.0))
def test_ff2_alpha_one_equals_audio_only(pair, tau):
    audio, visual = pair
    a = weighted_fusion(audio, visual, 1.0, tau)
    b = audio_only(audio, tau)
    assert torch.equal(a.targets, b.targets) and torch.equal(a.mask, b.mask)
    assert torch.equal(a.probs, b.probs)


@given(prob_pairs(), st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_ff2_mask_monotone_in_threshold(pair, alpha, t1, t2):
    audio, visual = pair
    lo, hi = sorted((t1, t2))
    assert bool(
        (
            weighted_fusion(audio, visual, alpha, hi).mask
            <= weighted_fusion(audio, visual, alpha, lo).mask
        ).all()
    )


def test_ff2_threshold_is_strict():
    p = torch.tensor([[0.9, 0.1]], dtype=torch.float64)
    assert not weighted_fusion(p, p, 0.5, 0.9).mask.item()
    assert not audio_only(p, 0.9).mask.item()


# --- audio / visual only ----------------------------------------------------------------


@given(prob_pairs(), st.floats(0.0, 1.0))
def test_audio_only_is_fixmatch(pair, tau):
    audio, _ = pair
    out = audio_only(audio, tau)
    for i, row in enumerate(audio.tolist()):
        assert out.targets[i].item() == argmax_list(row)
        assert out.mask[i].item() == (max(row) > tau)


def test_valid_mask_excludes_rows_and_skips_their_check():
    audio = make_probs(4, 3, 0, scale=20.0)
    visual = make_probs(4, 3, 1)
    visual[2] = 0.0  # no face: not a distribution
    valid = torch.tensor([True, True, False, True])
    with pytest.raises(ValueError, match="visual_probs"):
        weighted_fusion(audio, visual, 0.2, 0.0)
    for out in (
        weighted_fusion(audio, visual, 0.2, 0.0, valid=valid),
        consistent_and_random(audio, visual, 1.0, valid=valid),
        visual_only(visual, valid=valid),
    ):
        assert not out.mask[2].item()
        assert out.mask[[0, 1, 3]].all()


# --- masked cross-entropy ----------------------------------------------------------------


@given(prob_pairs(), st.integers(0, 2**31 - 1), st.floats(0.0, 1.0))
def test_masked_cross_entropy_matches_naive(pair, seed, tau):
    audio, _ = pair
    pseudo = audio_only(audio, tau)
    logits = torch.randn(audio.shape, generator=torch.Generator().manual_seed(seed)) * 4
    got = masked_cross_entropy(logits, pseudo)
    want = naive_masked_ce(logits, pseudo.targets.tolist(), pseudo.mask.tolist())
    assert got.item() == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert torch.isfinite(got)


def test_masked_cross_entropy_divides_by_batch_size_not_kept():
    logits = torch.zeros(4, 2)
    pseudo = PseudoLabels(
        torch.zeros(4, dtype=torch.long), torch.tensor([True, False, False, False])
    )
    # one kept example with loss log 2, divided by 4
    assert masked_cross_entropy(logits, pseudo).item() == pytest.approx(math.log(2) / 4)


def test_masked_cross_entropy_ignores_nonfinite_dropped_rows_and_gradient():
    logits = torch.tensor([[0.0, 1.0], [float("inf"), float("-inf")]], requires_grad=True)
    pseudo = PseudoLabels(torch.tensor([1, 1]), torch.tensor([True, False]))
    loss = masked_cross_entropy(logits, pseudo)
    assert torch.isfinite(loss)
    loss.backward()
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()  # the dropped, non-finite row gets 0, not NaN
    assert torch.equal(logits.grad[1], torch.zeros(2))


def test_masked_cross_entropy_under_autocast_is_float32():
    logits = torch.randn(8, 3)
    pseudo = visual_only(make_probs(8, 3, 0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = masked_cross_entropy(logits.bfloat16(), pseudo)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(masked_cross_entropy(logits, pseudo).item(), rel=0.05)


def test_empty_batch_everywhere():
    audio = torch.empty(0, 3)
    visual = torch.empty(0, 3)
    logits = torch.empty(0, 3, requires_grad=True)
    for pseudo in (
        consistent_and_random(audio, visual, 0.5),
        weighted_fusion(audio, visual, 0.2, 0.9),
        audio_only(audio, 0.9),
        visual_only(visual),
    ):
        assert pseudo.targets.shape == (0,) and pseudo.mask.shape == (0,)
        loss = masked_cross_entropy(logits, pseudo)
        assert loss.item() == 0.0
        assert pseudo.kept_fraction().item() == 0.0


# --- the callable classes and the protocol ----------------------------------------------


@pytest.mark.parametrize(
    ("rule", "reference"),
    [
        (ConsistentAndRandom(0.5), lambda a, v, g: consistent_and_random(a, v, 0.5, generator=g)),
        (WeightedFusion(0.2, 0.9), lambda a, v, g: weighted_fusion(a, v, 0.2, 0.9)),
        (AudioOnly(0.9), lambda a, v, g: audio_only(a, 0.9)),
        (VisualOnly(), lambda a, v, g: visual_only(v)),
    ],
)
def test_callable_rules_agree_with_functions(rule, reference):
    audio, visual = make_probs(32, 4, 0, 6.0), make_probs(32, 4, 1, 6.0)
    assert isinstance(rule, FusionFn)
    got = rule(audio, visual, generator=torch.Generator().manual_seed(7))
    want = reference(audio, visual, torch.Generator().manual_seed(7))
    assert torch.equal(got.targets, want.targets) and torch.equal(got.mask, want.mask)
    assert pickle.loads(pickle.dumps(rule)) == rule


def test_user_defined_rule_plugs_into_a_loop_taking_fusion_fn():
    """Runtime side of the protocol; tests/typecheck/fusion_protocol.py is the static side."""

    def mine(audio_probs, visual_probs, /, *, valid=None, generator=None) -> PseudoLabels:
        return visual_only(visual_probs, valid=valid)

    def loop(rule: FusionFn) -> PseudoLabels:
        return rule(make_probs(4, 3, 0), make_probs(4, 3, 1), valid=None, generator=None)

    assert isinstance(mine, FusionFn)
    assert loop(mine).mask.all()


def test_pseudo_labels_restrict_and_kept_fraction():
    p = PseudoLabels(torch.tensor([0, 1, 2, 0]), torch.tensor([True, True, False, True]))
    r = p.restrict(torch.tensor([True, False, True, True]))
    assert r.mask.tolist() == [True, False, False, True]
    assert r.kept_fraction().item() == pytest.approx(0.5)


# --- devices --------------------------------------------------------------------------


def test_fusion_runs_on_device(device):
    audio = make_probs(16, 3, 0).to(device)
    visual = make_probs(16, 3, 1).to(device)
    g = torch.Generator(device=device).manual_seed(0)
    out = consistent_and_random(audio, visual, 0.5, generator=g, validate=False)
    assert out.mask.device.type == device.type
    out2 = weighted_fusion(audio, visual, 0.2, 0.5, validate=False)
    logits = torch.randn(16, 3, device=device)
    assert masked_cross_entropy(logits, out2, validate=False).device.type == device.type
