"""Every documented ValueError / TypeError path, with the argument named in the message."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from sertoolkit import augment, fusion, losses, masking, metrics, pooling, schedules, taxonomy

P = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
L = torch.tensor([0, 1])
X = torch.randn(2, 10, 4)


def _pseudo() -> fusion.PseudoLabels:
    return fusion.PseudoLabels(L, torch.tensor([True, False]))


CASES: list[tuple[str, Callable[[], object], str]] = [
    # masking
    ("threshold>1", lambda: masking.confidence_mask(P, 1.5), "threshold"),
    ("threshold nan", lambda: masking.confidence_mask(P, float("nan")), "threshold"),
    ("probs 1-D", lambda: masking.confidence_mask(P[0], 0.5), "probs"),
    ("probs int", lambda: masking.confidence_mask(L.view(1, 2), 0.5), "probs"),
    ("probs no class", lambda: masking.confidence_mask(torch.empty(2, 0), 0.5), "probs"),
    ("probs negative", lambda: masking.confidence_mask(torch.tensor([[1.5, -0.5]]), 0.5), "probs"),
    ("probs row sum", lambda: masking.confidence_mask(torch.tensor([[0.5, 0.1]]), 0.5), "probs"),
    ("labels_a float", lambda: masking.agreement_mask(L.float(), L), "labels_a"),
    ("labels_b 2-D", lambda: masking.agreement_mask(L, L.view(1, 2)), "labels_b"),
    ("labels shape", lambda: masking.agreement_mask(L, torch.tensor([0, 1, 2])), "labels_b"),
    ("batch_size<0", lambda: masking.random_mask(-1, 0.5), "batch_size"),
    ("rate>1", lambda: masking.random_mask(3, 1.01), "rate"),
    ("max_length<0", lambda: masking.lengths_to_mask(L, -1), "max_length"),
    ("lengths 2-D", lambda: masking.lengths_to_mask(L.view(1, 2), 3), "lengths"),
    ("lengths float", lambda: masking.lengths_to_mask(L.float(), 3), "lengths"),
    ("lengths > max", lambda: masking.lengths_to_mask(torch.tensor([4]), 3), "lengths"),
    ("lengths < 0", lambda: masking.lengths_to_mask(torch.tensor([-1]), 3), "lengths"),
    # augment
    ("p>1", lambda: augment.feature_dropout(X, 1.5), "p"),
    ("p<0", lambda: augment.feature_dropout(X, -0.1), "p"),
    ("x int dropout", lambda: augment.feature_dropout(L, 0.1), "x"),
    (
        "x 1-D",
        lambda: augment.spec_augment(
            X[0, 0], time_masks=1, time_width=2, freq_masks=1, freq_width=2
        ),
        "x",
    ),
    (
        "x int",
        lambda: augment.spec_augment(
            X.long(), time_masks=1, time_width=2, freq_masks=1, freq_width=2
        ),
        "x",
    ),
    (
        "time_masks<0",
        lambda: augment.spec_augment(X, time_masks=-1, time_width=2, freq_masks=1, freq_width=2),
        "time_masks",
    ),
    (
        "time_width<0",
        lambda: augment.spec_augment(X, time_masks=1, time_width=-2, freq_masks=1, freq_width=2),
        "time_width",
    ),
    (
        "freq_masks<0",
        lambda: augment.spec_augment(X, time_masks=1, time_width=2, freq_masks=-1, freq_width=2),
        "freq_masks",
    ),
    (
        "freq_width<0",
        lambda: augment.spec_augment(X, time_masks=1, time_width=2, freq_masks=1, freq_width=-2),
        "freq_width",
    ),
    (
        "lengths batch",
        lambda: augment.spec_augment(
            X, time_masks=1, time_width=2, freq_masks=1, freq_width=2, lengths=torch.tensor([3])
        ),
        "lengths",
    ),
    (
        "lengths too long",
        lambda: augment.spec_augment(
            X, time_masks=1, time_width=2, freq_masks=1, freq_width=2, lengths=torch.tensor([3, 11])
        ),
        "lengths",
    ),
    (
        "masks batch_size",
        lambda: augment.spec_augment_masks(
            -1, 3, 3, time_masks=1, time_width=1, freq_masks=1, freq_width=1
        ),
        "batch_size",
    ),
    (
        "masks num_frames",
        lambda: augment.spec_augment_masks(
            1, -3, 3, time_masks=1, time_width=1, freq_masks=1, freq_width=1
        ),
        "num_frames",
    ),
    (
        "masks num_bins",
        lambda: augment.spec_augment_masks(
            1, 3, -3, time_masks=1, time_width=1, freq_masks=1, freq_width=1
        ),
        "num_bins",
    ),
    (
        "masks device",
        lambda: augment.spec_augment_masks(
            2,
            10,
            3,
            time_masks=1,
            time_width=1,
            freq_masks=1,
            freq_width=1,
            lengths=L,
            device="meta",
        ),
        "device",
    ),
    (
        "apply out shape",
        lambda: augment.apply_spec_augment(
            X,
            augment.SpecAugmentMasks(
                torch.zeros(2, 10, dtype=torch.bool), torch.zeros(2, 4, dtype=torch.bool)
            ),
            out=torch.empty(2, 10, 5),
        ),
        "out",
    ),
    (
        "spec_augment out dtype",
        lambda: augment.spec_augment(
            X,
            time_masks=1,
            time_width=2,
            freq_masks=1,
            freq_width=1,
            out=torch.empty(2, 10, 4, dtype=torch.float64),
        ),
        "out",
    ),
    (
        "apply time shape",
        lambda: augment.apply_spec_augment(
            X,
            augment.SpecAugmentMasks(
                torch.zeros(2, 9, dtype=torch.bool), torch.zeros(2, 4, dtype=torch.bool)
            ),
        ),
        "masks.time",
    ),
    (
        "apply freq shape",
        lambda: augment.apply_spec_augment(
            X,
            augment.SpecAugmentMasks(
                torch.zeros(2, 10, dtype=torch.bool), torch.zeros(2, 5, dtype=torch.bool)
            ),
        ),
        "masks.freq",
    ),
    (
        "module width",
        lambda: augment.SpecAugment(time_masks=1, time_width=-1, freq_masks=1, freq_width=1),
        "time_width",
    ),
    ("module p", lambda: augment.FeatureDropout(2.0), "p"),
    (
        "module fill",
        lambda: augment.SpecAugment(
            time_masks=1, time_width=1, freq_masks=1, freq_width=1, fill=float("inf")
        ),
        "fill",
    ),
    (
        "fill overflows fp16",
        lambda: augment.spec_augment(
            X.half(), time_masks=1, time_width=2, freq_masks=1, freq_width=2, fill=1e6
        ),
        "fill",
    ),
    (
        "lengths device",
        lambda: augment.spec_augment(
            X, time_masks=1, time_width=2, freq_masks=1, freq_width=2, lengths=L.to("meta")
        ),
        "lengths",
    ),
    (
        "dropout generator device",
        lambda: augment.feature_dropout(X.to("meta"), 0.5, generator=torch.Generator()),
        "generator",
    ),
    (
        "masks generator device",
        lambda: augment.spec_augment_masks(
            2,
            10,
            3,
            time_masks=1,
            time_width=1,
            freq_masks=1,
            freq_width=1,
            device="meta",
            generator=torch.Generator(),
        ),
        "generator",
    ),
    (
        "random_mask generator device",
        lambda: masking.random_mask(3, 0.5, device="meta", generator=torch.Generator()),
        "generator",
    ),
    # fusion
    (
        "targets float",
        lambda: fusion.PseudoLabels(L.float(), torch.tensor([True, False])),
        "targets",
    ),
    ("mask not bool", lambda: fusion.PseudoLabels(L, torch.tensor([1, 0])), "mask"),
    ("mask shape", lambda: fusion.PseudoLabels(L, torch.tensor([True])), "mask"),
    ("probs rows", lambda: fusion.PseudoLabels(L, torch.tensor([True, False]), P[:1]), "probs"),
    ("restrict keep", lambda: _pseudo().restrict(torch.tensor([True])), "keep"),
    ("epsilon", lambda: fusion.consistent_and_random(P, P, 1.5), "epsilon"),
    ("visual shape", lambda: fusion.consistent_and_random(P, P[:1], 0.5), "visual_probs"),
    ("visual values", lambda: fusion.consistent_and_random(P, P * 2, 0.5), "visual_probs"),
    ("audio values", lambda: fusion.weighted_fusion(P * 2, P, 0.5, 0.9), "audio_probs"),
    (
        "valid shape",
        lambda: fusion.consistent_and_random(P, P, 0.5, valid=torch.tensor([True])),
        "valid",
    ),
    ("valid dtype", lambda: fusion.weighted_fusion(P, P, 0.5, 0.9, valid=L), "valid"),
    (
        "valid device",
        lambda: fusion.weighted_fusion(
            P, P, 0.5, 0.9, valid=torch.tensor([True, True], device="meta")
        ),
        "valid",
    ),
    ("visual device", lambda: fusion.consistent_and_random(P, P.to("meta"), 0.5), "visual_probs"),
    (
        "generator device",
        lambda: fusion.consistent_and_random(
            P.to("meta"), P.to("meta"), 0.5, generator=torch.Generator(), validate=False
        ),
        "generator",
    ),
    ("ce device", lambda: fusion.masked_cross_entropy(P.to("meta"), _pseudo()), "pseudo.targets"),
    ("alpha", lambda: fusion.weighted_fusion(P, P, -0.5, 0.9), "alpha"),
    ("threshold ff2", lambda: fusion.weighted_fusion(P, P, 0.5, 2.0), "threshold"),
    ("threshold audio", lambda: fusion.audio_only(P, 2.0), "threshold"),
    ("visual_only valid", lambda: fusion.visual_only(P, valid=torch.tensor([True])), "valid"),
    ("visual_only rank", lambda: fusion.visual_only(P[0]), "visual_probs"),
    ("ce logits rank", lambda: fusion.masked_cross_entropy(P[0], _pseudo()), "logits"),
    ("ce logits int", lambda: fusion.masked_cross_entropy(L.view(2, 1), _pseudo()), "logits"),
    ("ce batch", lambda: fusion.masked_cross_entropy(torch.randn(3, 2), _pseudo()), "logits"),
    (
        "ce targets range",
        lambda: fusion.masked_cross_entropy(torch.randn(2, 1), _pseudo()),
        "pseudo.targets",
    ),
    ("class epsilon", lambda: fusion.ConsistentAndRandom(2.0), "epsilon"),
    ("class alpha", lambda: fusion.WeightedFusion(-1.0), "alpha"),
    ("class threshold", lambda: fusion.WeightedFusion(0.5, 1.5), "threshold"),
    ("audio class threshold", lambda: fusion.AudioOnly(1.5), "threshold"),
    ("audio class visual shape", lambda: fusion.AudioOnly()(P, P[:1]), "visual_probs"),
    ("visual class audio shape", lambda: fusion.VisualOnly()(P[:1], P), "audio_probs"),
    # pooling
    ("num_frames<0", lambda: pooling.frame_indices(-1), "num_frames"),
    ("fps 0", lambda: pooling.frame_indices(10, fps=0.0), "fps"),
    ("interval<0", lambda: pooling.frame_indices(10, interval=-0.24), "interval"),
    ("interval inf", lambda: pooling.frame_indices(10, interval=float("inf")), "interval"),
    ("frame_probs rank", lambda: pooling.pool_frames(P), "frame_probs"),
    ("frame_probs int", lambda: pooling.pool_frames(L.view(1, 1, 2)), "frame_probs"),
    ("frame_probs no class", lambda: pooling.pool_frames(torch.empty(1, 2, 0)), "frame_probs"),
    ("method", lambda: pooling.pool_frames(P.view(1, 2, 2), method="median"), "method"),  # type: ignore[arg-type]
    (
        "pool mask shape",
        lambda: pooling.pool_frames(P.view(1, 2, 2), torch.ones(1, 3, dtype=torch.bool)),
        "mask",
    ),
    ("pool mask dtype", lambda: pooling.pool_frames(P.view(1, 2, 2), torch.ones(1, 2)), "mask"),
    (
        "pool mask rank",
        lambda: pooling.pool_frames(P.view(1, 2, 2), torch.ones(2, dtype=torch.bool)),
        "mask",
    ),
    (
        "pool mask device",
        lambda: pooling.pool_frames(
            P.view(1, 2, 2), torch.ones(1, 2, dtype=torch.bool, device="meta")
        ),
        "mask",
    ),
    ("pool frame values", lambda: pooling.pool_frames(torch.full((1, 2, 2), 0.9)), "frame_probs"),
    # taxonomy
    ("labelmap dup", lambda: taxonomy.LabelMap(("a", "a"), ("x",), {}), "source"),
    ("labelmap empty", lambda: taxonomy.LabelMap(("a",), (), {}), "target"),
    ("labelmap key", lambda: taxonomy.LabelMap(("a",), ("x",), {"b": "x"}), "mapping"),
    ("labelmap value", lambda: taxonomy.LabelMap(("a",), ("x",), {"a": "y"}), "mapping"),
    ("project classes", lambda: taxonomy.project(P, taxonomy.EXPRESSION_TO_SENTIMENT), "probs"),
    (
        "project values",
        lambda: taxonomy.project(torch.full((1, 7), 0.5), taxonomy.EXPRESSION_TO_SENTIMENT),
        "probs",
    ),
    (
        "maps_to_target classes",
        lambda: taxonomy.maps_to_target(P, taxonomy.EXPRESSION_TO_IEMOCAP),
        "probs",
    ),
    ("score>1", lambda: taxonomy.sentiment_from_score(1.5), "score"),
    ("score tensor", lambda: taxonomy.sentiment_from_score(torch.tensor([0.0, -2.0])), "score"),
    ("score nan", lambda: taxonomy.sentiment_from_score(torch.tensor([float("nan")])), "score"),
    ("score nan float", lambda: taxonomy.sentiment_from_score(float("nan")), "score"),
    ("score int tensor", lambda: taxonomy.sentiment_from_score(torch.tensor([0])), "score"),
    # losses
    ("fixmatch threshold", lambda: losses.fixmatch_loss(P, P, 1.2), "threshold"),
    ("fixmatch shape", lambda: losses.fixmatch_loss(P, P[:1], 0.9), "strong_logits"),
    ("fixmatch rank", lambda: losses.fixmatch_loss(P[0], P[0], 0.9), "weak_logits"),
    ("pi shape", lambda: losses.pi_model_loss(P, P[:1]), "logits_b"),
    ("pi int", lambda: losses.pi_model_loss(L.view(1, 2), P), "logits_a"),
    ("rampup step", lambda: losses.sigmoid_rampup(-1, 10), "step"),
    ("rampup length", lambda: losses.sigmoid_rampup(1, float("nan")), "rampup_length"),
    ("rampup step inf", lambda: losses.sigmoid_rampup(float("inf"), 3), "step"),
    ("fixmatch device", lambda: losses.fixmatch_loss(P, P.to("meta"), 0.9), "strong_logits"),
    ("pi device", lambda: losses.pi_model_loss(P, P.to("meta")), "logits_b"),
    ("te examples", lambda: losses.TemporalEnsembling(0, 3), "num_examples"),
    ("te classes", lambda: losses.TemporalEnsembling(3, 0), "num_classes"),
    ("te alpha", lambda: losses.TemporalEnsembling(3, 3, alpha=1.0), "alpha"),
    ("te ids float", lambda: losses.TemporalEnsembling(3, 2).targets(L.float()), "ids"),
    ("te probs shape", lambda: losses.TemporalEnsembling(3, 3).update(L, P), "probs"),
    ("te logits shape", lambda: losses.TemporalEnsembling(3, 3).loss(P, L), "logits"),
    (
        "te ids negative",
        lambda: losses.TemporalEnsembling(3, 2).update(torch.tensor([-1]), P[:1]),
        "ids",
    ),
    ("te ids too large", lambda: losses.TemporalEnsembling(3, 2).targets(torch.tensor([3])), "ids"),
    ("te ids rank", lambda: losses.TemporalEnsembling(3, 2).seen(L.view(1, 2)), "ids"),
    ("te ids device", lambda: losses.TemporalEnsembling(3, 2).loss(P, L.to("meta")), "ids"),
    ("te probs rank", lambda: losses.TemporalEnsembling(3, 2).update(L, P[0]), "probs"),
    (
        "te probs int",
        lambda: losses.TemporalEnsembling(3, 2).update(L, L.view(2, 1).expand(2, 2)),
        "probs",
    ),
    # metrics
    ("num_classes 0", lambda: metrics.confusion_matrix(L, L, 0), "num_classes"),
    ("preds range", lambda: metrics.confusion_matrix(torch.tensor([0, 5]), L, 2), "preds"),
    ("targets range", lambda: metrics.unweighted_accuracy(L, torch.tensor([-1, 0]), 2), "targets"),
    ("preds float", lambda: metrics.weighted_accuracy(L.float(), L), "preds"),
    ("targets shape", lambda: metrics.weighted_f1(L, torch.tensor([0]), 2), "targets"),
    ("confusion square", lambda: metrics.accuracy_from_confusion(torch.zeros(2, 3)), "confusion"),
    ("confusion rank", lambda: metrics.weighted_f1_from_confusion(torch.zeros(2)), "confusion"),
    (
        "confusion empty",
        lambda: metrics.unweighted_accuracy_from_confusion(torch.zeros(0, 0)),
        "confusion",
    ),
    ("metrics device", lambda: metrics.weighted_accuracy(L, L.to("meta")), "targets"),
    # schedules
    ("steps_per_epoch", lambda: schedules.PaperSchedule(0), "steps_per_epoch"),
    ("start>peak", lambda: schedules.PaperSchedule(1, start_lr=0.1, peak_lr=0.01), "start_lr"),
    ("peak<=0", lambda: schedules.PaperSchedule(1, peak_lr=0.0), "peak_lr"),
    ("decay<1", lambda: schedules.PaperSchedule(1, decay=0.5), "decay"),
    ("decay_every", lambda: schedules.PaperSchedule(1, decay_every=0), "decay_every"),
    ("warmup<0", lambda: schedules.PaperSchedule(1, warmup_epochs=-1), "warmup_epochs"),
    ("step<0", lambda: schedules.PaperSchedule(1).lr(-1), "step"),
    ("start_lr 0", lambda: schedules.PaperSchedule(1, start_lr=0.0), "start_lr"),
]


@pytest.mark.parametrize(("case", "call", "arg"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_naming_the_argument(case, call, arg):
    with pytest.raises(ValueError, match=f"Expected `{arg}` to be") as info:
        call()
    assert "but got" in str(info.value)


TYPE_CASES: list[tuple[str, Callable[[], object], str]] = [
    ("x not tensor", lambda: augment.feature_dropout([1.0], 0.5), "x"),  # type: ignore[arg-type]
    ("rate str", lambda: masking.random_mask(2, "0.5"), "rate"),  # type: ignore[arg-type]
    ("batch float", lambda: masking.random_mask(2.0, 0.5), "batch_size"),  # type: ignore[arg-type]
    ("probs list", lambda: masking.confidence_mask([[1.0]], 0.5), "probs"),  # type: ignore[arg-type]
    ("score str", lambda: taxonomy.sentiment_from_score("0.5"), "score"),  # type: ignore[arg-type]
    ("rampup str", lambda: losses.sigmoid_rampup("1", 2), "step"),  # type: ignore[arg-type]
    (
        "schedule type",
        lambda: schedules.paper_lr_scheduler(
            torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), 3
        ),
        "schedule",
    ),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("case", "call", "arg"), TYPE_CASES, ids=[c[0] for c in TYPE_CASES])
def test_wrong_python_type_raises_type_error(case, call, arg):
    with pytest.raises(TypeError, match=f"Expected `{arg}` to be"):
        call()
