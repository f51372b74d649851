"""Baseline losses against naive transcriptions."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sertoolkit.fusion import audio_only, masked_cross_entropy
from sertoolkit.losses import TemporalEnsembling, fixmatch_loss, pi_model_loss, sigmoid_rampup


def softmax(row: list[float]) -> list[float]:
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


@st.composite
def logit_pairs(draw: st.DrawFn):
    batch = draw(st.integers(0, 20))
    classes = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 10**6))
    g = torch.Generator().manual_seed(seed)
    scale = draw(st.floats(0.0, 8.0))
    return torch.randn(batch, classes, generator=g) * scale, torch.randn(
        batch, classes, generator=g
    ) * scale


@given(logit_pairs(), st.floats(0.0, 1.0))
def test_fixmatch_loss_matches_eq4(pair, tau):
    weak, strong = pair
    total = 0.0
    for w, s in zip(weak.double().tolist(), strong.double().tolist()):
        pw = softmax(w)
        y = max(range(len(pw)), key=lambda j: (pw[j], -j))
        if max(pw) > tau:
            total += -math.log(softmax(s)[y])
    want = total / max(len(weak), 1)
    got = fixmatch_loss(weak, strong, tau)
    assert got.item() == pytest.approx(want, rel=1e-4, abs=1e-5)
    ref = masked_cross_entropy(strong, audio_only(weak.softmax(1), tau, validate=False))
    assert got.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)


def test_fixmatch_loss_gradient_only_through_strong():
    weak = torch.randn(8, 3, requires_grad=True)
    strong = torch.randn(8, 3, requires_grad=True)
    fixmatch_loss(weak * 10, strong, 0.0).backward()
    assert weak.grad is None or torch.count_nonzero(weak.grad) == 0
    assert strong.grad is not None and torch.count_nonzero(strong.grad) > 0


@given(logit_pairs())
def test_pi_model_loss_matches_definition(pair):
    a, b = pair
    total = 0.0
    count = 0
    for ra, rb in zip(a.double().tolist(), b.double().tolist()):
        pa, pb = softmax(ra), softmax(rb)
        total += sum((x - y) ** 2 for x, y in zip(pa, pb))
        count += len(pa)
    want = total / max(count, 1)
    assert pi_model_loss(a, b).item() == pytest.approx(want, rel=1e-4, abs=1e-7)


def test_pi_model_loss_zero_for_identical_and_grads_both():
    a = torch.randn(4, 3, requires_grad=True)
    assert pi_model_loss(a, a.detach()).item() == 0.0
    b = torch.randn(4, 3, requires_grad=True)
    pi_model_loss(a, b).backward()
    assert a.grad is not None and b.grad is not None


def test_sigmoid_rampup():
    assert sigmoid_rampup(0, 10) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(5, 10) == pytest.approx(math.exp(-5 * 0.25))
    assert sigmoid_rampup(10, 10) == 1.0 and sigmoid_rampup(11, 10) == 1.0
    assert sigmoid_rampup(3, 0) == 1.0
    values = [sigmoid_rampup(i, 30) for i in range(40)]
    assert values == sorted(values)


def test_temporal_ensembling_matches_naive_ema():
    alpha = 0.6
    te = TemporalEnsembling(num_examples=5, num_classes=3, alpha=alpha)
    g = torch.Generator().manual_seed(0)
    naive_z = [[0.0] * 3 for _ in range(5)]
    naive_n = [0] * 5
    for _ in range(6):
        ids = torch.randperm(5, generator=g)[:3]
        probs = torch.rand(3, 3, generator=g).softmax(1)
        te.update(ids, probs)
        for i, p in zip(ids.tolist(), probs.tolist()):
            naive_z[i] = [alpha * z + (1 - alpha) * v for z, v in zip(naive_z[i], p)]
            naive_n[i] += 1
    ids = torch.arange(5)
    got = te.targets(ids)
    for i in range(5):
        if naive_n[i] == 0:
            assert got[i].tolist() == [0.0, 0.0, 0.0]
        else:
            want = [z / (1 - alpha ** naive_n[i]) for z in naive_z[i]]
            assert got[i].tolist() == pytest.approx(want, rel=1e-5)
    assert te.seen(ids).tolist() == [n > 0 for n in naive_n]


def test_temporal_ensembling_bias_correction_constant_predictions():
    te = TemporalEnsembling(num_examples=2, num_classes=2, alpha=0.9)
    p = torch.tensor([[0.3, 0.7]])
    for _ in range(3):
        te.update(torch.tensor([1]), p)
    assert te.targets(torch.tensor([1])).tolist()[0] == pytest.approx([0.3, 0.7])


def test_temporal_ensembling_loss_and_state_dict():
    te = TemporalEnsembling(num_examples=4, num_classes=2)
    logits = torch.randn(2, 2, requires_grad=True)
    ids = torch.tensor([0, 3])
    assert te.loss(logits, ids).item() == 0.0  # nothing seen yet
    te.update(ids[:1], torch.tensor([[1.0, 0.0]]))
    loss = te.loss(logits, ids)
    p = logits.softmax(1)[0]
    assert loss.item() == pytest.approx(((p - torch.tensor([1.0, 0.0])) ** 2).sum().item() / 4)
    loss.backward()
    clone = TemporalEnsembling(num_examples=4, num_classes=2)
    clone.load_state_dict(te.state_dict())
    assert torch.equal(clone.targets(ids), te.targets(ids))


def test_losses_empty_batch():
    e = torch.empty(0, 3)
    assert fixmatch_loss(e, e, 0.9).item() == 0.0
    assert pi_model_loss(e, e).item() == 0.0
    te = TemporalEnsembling(3, 3)
    assert te.loss(e, torch.empty(0, dtype=torch.long)).item() == 0.0


@given(
    st.integers(1, 6),
    st.integers(1, 4),
    st.floats(0.0, 0.95),
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10**6)), max_size=25),
)
def test_temporal_ensembling_property_matches_naive(num_examples, classes, alpha, updates):
    te = TemporalEnsembling(num_examples, classes, alpha=alpha).double()
    z = [[0.0] * classes for _ in range(num_examples)]
    n = [0] * num_examples
    for raw_id, seed in updates:
        i = raw_id % num_examples
        p = torch.rand(
            1, classes, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
        )
        p = p / p.sum()
        te.update(torch.tensor([i]), p)
        z[i] = [alpha * a + (1 - alpha) * b for a, b in zip(z[i], p[0].tolist())]
        n[i] += 1
    got = te.targets(torch.arange(num_examples))
    for i in range(num_examples):
        want = [v / (1 - alpha ** n[i]) for v in z[i]] if n[i] else [0.0] * classes
        assert got[i].tolist() == pytest.approx(want, rel=1e-9, abs=1e-12)
        if n[i]:
            assert got[i].sum().item() == pytest.approx(1.0)


def test_temporal_ensembling_half_precision_update():
    te = TemporalEnsembling(4, 2).half()
    te.update(torch.tensor([1]), torch.tensor([[0.25, 0.75]], dtype=torch.float32))
    assert te.targets(torch.tensor([1])).dtype == torch.float16


# --- cmkt_ssl_loss: the whole step's loss against a naive transcription of Algorithm 1 --------


def _step_inputs(seed: int, t_l: int = 12, t_u: int = 12):
    from sertoolkit.encoders import TransformerSER

    g = torch.Generator().manual_seed(seed)
    model = TransformerSER(8, 3, d_model=16, num_heads=2, num_layers=1, dropout=0.0)
    x_l, x_u = torch.randn(5, t_l, 8, generator=g), torch.randn(6, t_u, 8, generator=g)
    len_l = torch.randint(1, t_l + 1, (5,), generator=g)
    len_u = torch.randint(1, t_u + 1, (6,), generator=g)
    y_l = torch.randint(0, 3, (5,), generator=g)
    visual = torch.rand(6, 3, generator=g).softmax(-1)
    valid = torch.rand(6, generator=g) > 0.3
    return model, x_l, len_l, y_l, x_u, len_u, visual, valid


@given(st.integers(0, 10**6), st.sampled_from([0.0, 0.5, 0.9]), st.booleans())
def test_cmkt_ssl_loss_matches_a_naive_transcription(seed: int, epsilon: float, concat: bool):
    from sertoolkit.augment import FeatureDropout, SpecAugment, feature_dropout, spec_augment
    from sertoolkit.fusion import ConsistentAndRandom, consistent_and_random
    from sertoolkit.losses import cmkt_ssl_loss

    model, x_l, len_l, y_l, x_u, len_u, visual, valid = _step_inputs(seed)
    strong = SpecAugment(time_masks=2, time_width=3, freq_masks=1, freq_width=2)
    out = cmkt_ssl_loss(
        model, x_l, len_l, y_l, x_u, len_u, visual, ConsistentAndRandom(epsilon),
        weak=FeatureDropout(0.1), strong=strong, visual_valid=valid, lambda_u=0.3,
        generator=torch.Generator().manual_seed(7), concatenate=concat,
    )  # fmt: skip
    # Algorithm 1 written out: SA(x_l), SA(u), WA(u) drawn in that order, separate forwards,
    # Eq. 1 per example, FF1 (Eq. 5-7), masked CE divided by |B_u|
    g = torch.Generator().manual_seed(7)
    sa_l = spec_augment(x_l, time_masks=2, time_width=3, freq_masks=1, freq_width=2,
                        lengths=len_l, generator=g)  # fmt: skip
    sa_u = spec_augment(x_u, time_masks=2, time_width=3, freq_masks=1, freq_width=2,
                        lengths=len_u, generator=g)  # fmt: skip
    wa_u = feature_dropout(x_u, 0.1, generator=g)
    loss_l = (
        sum(-model(sa_l[i : i + 1], len_l[i : i + 1]).log_softmax(-1)[0, y_l[i]] for i in range(5))
        / 5
    )
    with torch.no_grad():
        audio = model(wa_u, len_u).softmax(-1)
    pseudo = consistent_and_random(audio, visual, epsilon=epsilon, valid=valid, generator=g)
    logits_u = model(sa_u, len_u)
    loss_u = (
        sum(-logits_u[i].log_softmax(-1)[pseudo.targets[i]] for i in range(6) if pseudo.mask[i]) / 6
    )
    assert torch.equal(out.pseudo.mask, pseudo.mask)
    assert torch.equal(out.pseudo.targets[pseudo.mask], pseudo.targets[pseudo.mask])
    torch.testing.assert_close(out.labelled.detach(), torch.as_tensor(loss_l).detach())
    torch.testing.assert_close(
        out.unlabelled.detach(), torch.as_tensor(loss_u, dtype=torch.float32).detach()
    )
    torch.testing.assert_close(out.loss.detach(), (out.labelled + 0.3 * out.unlabelled).detach())


def test_cmkt_ssl_loss_one_forward_equals_two_with_different_lengths_in_time():
    from sertoolkit.augment import FeatureDropout, SpecAugment
    from sertoolkit.fusion import WeightedFusion
    from sertoolkit.losses import cmkt_ssl_loss

    model, x_l, len_l, y_l, x_u, len_u, visual, valid = _step_inputs(3, t_l=9, t_u=14)
    grads = []
    for concat in (True, False):
        model.zero_grad()
        out = cmkt_ssl_loss(
            model, x_l, len_l, y_l, x_u, len_u, visual, WeightedFusion(0.2, 0.0),
            weak=FeatureDropout(0.1), strong=SpecAugment(time_masks=1, time_width=2,
            freq_masks=1, freq_width=2), visual_valid=valid,
            generator=torch.Generator().manual_seed(1), concatenate=concat,
        )  # fmt: skip
        out.loss.backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    for a, b in zip(grads[0], grads[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_cmkt_ssl_loss_rejects_mismatched_features_and_negative_weight():
    from sertoolkit.augment import FeatureDropout, SpecAugment
    from sertoolkit.fusion import AudioOnly
    from sertoolkit.losses import cmkt_ssl_loss

    model, x_l, len_l, y_l, x_u, len_u, visual, _ = _step_inputs(0)
    aug = {"weak": FeatureDropout(0.1), "strong": SpecAugment(time_masks=0, time_width=0,
           freq_masks=0, freq_width=0)}  # fmt: skip
    with pytest.raises(ValueError, match="`x_u`"):
        cmkt_ssl_loss(model, x_l, len_l, y_l, x_u[:, :, :4], len_u, visual, AudioOnly(0.9), **aug)
    with pytest.raises(ValueError, match="`lambda_u`"):
        cmkt_ssl_loss(
            model, x_l, len_l, y_l, x_u, len_u, visual, AudioOnly(0.9), lambda_u=-1.0, **aug
        )
