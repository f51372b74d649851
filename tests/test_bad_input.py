"""One harness for the bad-input behaviour of every public callable (issue #13).

Each public callable gets a :class:`Spec`: how to build a valid call from a hypothesis draw, and
the role of each argument (:class:`T` for a tensor, :class:`S` for a Python scalar). The harness
derives the bad inputs from the roles -- wrong rank, dtype and Python type, NaN and inf,
out-of-range values, empty and single-example batches, half precision, non-contiguous and
expanded tensors, ``generator=0`` -- and checks that each call ends in one of the outcomes the
library promises (``docs/pages/concepts.md``, "Bad input"):

* a ``ValueError`` or ``TypeError`` whose message names the argument (```name```), or
* a result that is finite and correct: the same as for the contiguous tensor, the same as the
  float32 computation on the same (rounded) values, and never NaN.

Any other exception type fails the test, and so does a silent NaN. The list of callables is
checked against every module's ``__all__``, so a new public name without a spec fails
:func:`test_every_public_callable_has_a_spec`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import Tensor

from sertoolkit import (
    augment,
    datasets,
    encoders,
    features,
    fusion,
    losses,
    masking,
    metrics,
    pooling,
    schedules,
    taxonomy,
)

MODULES = (
    augment,
    datasets,
    encoders,
    features,
    fusion,
    losses,
    masking,
    metrics,
    pooling,
    schedules,
    taxonomy,
)

# Public names that are not callables with arguments to check: constants, typing aliases and
# protocols (their implementations are checked instead).
NOT_CALLABLE = {
    "features.TARGET_SAMPLE_RATE",
    "features.VIDEO_SUFFIXES",
    "features.FixSide",
    "datasets.IEMOCAP_LABELS",
    "datasets.IEMOCAP_OTHER_LABELS",
    "datasets.IEMOCAP_PAPER_COUNTS",
    "datasets.IMAGE_SUFFIXES",
    "datasets.CHSIMSAnnotation",
    "datasets.Split",
    "datasets.VisualKind",
    "datasets.DatasetCountWarning",
    "fusion.FusionFn",
    "losses.Augmentation",
    "losses.SSLModel",
    "pooling.PoolMethod",
    "taxonomy.EXPRESSIONS",
    "taxonomy.EXPRESSION_TO_IEMOCAP",
    "taxonomy.EXPRESSION_TO_SENTIMENT",
    "taxonomy.IEMOCAP_EMOTIONS",
    "taxonomy.SENTIMENTS",
    "encoders.FrameEmotionModel",
}


@dataclass(frozen=True)
class Draw:
    """The sizes and seed of one valid call."""

    seed: int
    batch: int
    classes: int
    time: int
    dim: int

    def gen(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)


BadValues = tuple[float, ...] | Callable[[Draw], tuple[float, ...]]


@dataclass(frozen=True)
class T:
    """Role of a tensor argument.

    ``rank`` is the exact number of dimensions (``None``: any). ``batch`` says dim 0 is the
    batch. ``bad`` are values that are out of range at any position (a ``ValueError``).
    ``finite``: a NaN or inf at the first valid position raises ``ValueError`` naming the
    argument (the library's non-finite policy with ``validate=True``).
    """

    kind: Literal["float", "int", "bool", "weights"]
    rank: int | tuple[int, int] | None  # exact, or (lowest, highest) accepted
    batch: bool = True
    bad: BadValues = ()
    finite: bool = True
    optional: bool = False
    dtypes: bool = True  # a wrong dtype is refused (False: any dtype is data, e.g. fix_length)


@dataclass(frozen=True)
class S:
    """Role of a Python scalar argument: ``bad`` values raise ``ValueError``; a value of the
    wrong Python type (``"text"``, ``[value]``, ``None`` unless ``optional``) raises
    ``TypeError``."""

    bad: tuple[object, ...] = ()
    optional: bool = False
    wrong_types: tuple[object, ...] = ("text", [0.5])


@dataclass(frozen=True)
class Spec:
    """How to call one public callable and what each argument means."""

    name: str
    call: Callable[..., object]
    make: Callable[[Draw], dict[str, Any]]
    tensors: Mapping[str, T] = field(default_factory=dict)
    scalars: Mapping[str, S] = field(default_factory=dict)
    random: bool = False  # takes ``generator=``
    examples: int = 3
    batched: bool = True  # ``Draw.batch`` sizes the call (empty and single-example cases)
    paths: tuple[str, ...] = ()  # path arguments: an int is a TypeError
    documented: tuple[type[Exception], ...] = ()  # other documented outcomes (a missing file)


def g(d: Draw) -> torch.Generator:
    return d.gen()


def probs(d: Draw, rows: int | None = None, classes: int | None = None) -> Tensor:
    b = d.batch if rows is None else rows
    return torch.randn(b, classes or d.classes, generator=g(d)).mul(3).softmax(-1)


def confident(d: Draw) -> Tensor:
    """Probabilities where about half the rows are above 0.9 (so masks keep some)."""
    gen = g(d)
    logits = torch.randn(d.batch, d.classes, generator=gen)
    logits[::2, 0] += 8.0
    return logits.softmax(-1)


def labels(d: Draw, offset: int = 0) -> Tensor:
    return torch.randint(
        0, d.classes, (d.batch,), generator=torch.Generator().manual_seed(d.seed + offset)
    )


def feats(d: Draw) -> Tensor:
    return torch.randn(d.batch, d.time, d.dim, generator=g(d))


def lens(d: Draw) -> Tensor:
    return torch.randint(
        1, d.time + 1, (d.batch,), generator=torch.Generator().manual_seed(d.seed + 7)
    )


UNIT = S(bad=(-0.1, 1.5, math.nan, math.inf))
UNIT_OPEN = S(bad=(-0.1, 1.0, math.nan, math.inf))
POS_INT = S(bad=(0, -1), wrong_types=("text", 1.5, True))
NONNEG_INT = S(bad=(-1,), wrong_types=("text", 1.5, True))
POS_FLOAT = S(bad=(0.0, -1.0, math.nan, math.inf))
FINITE = S(bad=(math.nan, math.inf, -math.inf))
PROBS = T("float", 2, bad=(-0.5, 1.5))
LOGITS = T("float", 2)
LABELS = T("int", 1, bad=lambda d: (-1, d.classes))
PREDS = T("int", 1, bad=lambda d: (-1, d.classes))
LENGTHS = T("int", 1, bad=lambda d: (-1, d.time + 1))
MASK = T("bool", 1)
VALID = T("bool", 1, optional=True)
IGNORED = T("float", 2, finite=False)  # a rule's input it does not read: shape and dtype only


def _tiny_ser(d: Draw) -> encoders.TransformerSER:
    torch.manual_seed(0)
    return encoders.TransformerSER(
        d.dim, d.classes, d_model=8, num_heads=2, num_layers=1, dim_feedforward=16
    ).eval()


_FACE: dict[str, encoders.MobileNetV2FaceModel] = {}


def _face() -> encoders.MobileNetV2FaceModel:
    if "m" not in _FACE:
        torch.manual_seed(0)
        _FACE["m"] = encoders.MobileNetV2FaceModel(3, width_mult=0.25).eval()
    return _FACE["m"]


def _frames(d: Draw) -> Tensor:
    return torch.rand(d.batch, 3, 32, 32, generator=g(d))


def _masks(d: Draw) -> augment.SpecAugmentMasks:
    return augment.spec_augment_masks(
        d.batch,
        d.time,
        d.dim,
        time_masks=1,
        time_width=2,
        freq_masks=1,
        freq_width=2,
        generator=g(d),
    )


def _label_map() -> taxonomy.LabelMap:
    return taxonomy.LabelMap(("a", "b", "c"), ("x", "y"), {"a": "x", "b": "y"})


def _pseudo(d: Draw) -> fusion.PseudoLabels:
    return fusion.PseudoLabels(labels(d, 3), torch.arange(d.batch) % 2 == 0)


def _rule_call(rule: Callable[..., fusion.PseudoLabels]) -> Callable[..., object]:
    def call(audio_probs: Tensor, visual_probs: Tensor, **kw: Any) -> object:
        return rule(audio_probs, visual_probs, **kw)

    return call


def _identity_aug(
    x: Tensor, lengths: Tensor, /, *, generator: torch.Generator | None = None
) -> Tensor:
    return x


def _cmkt(**kw: Any) -> object:
    model = kw.pop("model")
    return losses.cmkt_ssl_loss(model, weak=_identity_aug, strong=_identity_aug, **kw)


def _te(d: Draw) -> losses.TemporalEnsembling:
    te = losses.TemporalEnsembling(max(d.batch, 1) + 2, d.classes)
    return te


def _te_updated(d: Draw) -> losses.TemporalEnsembling:
    te = _te(d)
    if d.batch:
        te.update(torch.arange(d.batch), probs(d))
    return te


def _ids(d: Draw) -> Tensor:
    return torch.arange(d.batch)


IDS = T("int", 1, bad=lambda d: (-1, d.batch + 2))


def _sched() -> schedules.PaperSchedule:
    return schedules.PaperSchedule(10)


def _features_set(d: Draw) -> datasets.FeatureSet:
    n = max(d.batch, 1)
    return datasets.FeatureSet(
        np.zeros((n, d.time, d.dim), np.float16), np.full(n, d.time), np.ones(n, bool)
    )


def _dataset() -> datasets.LabelledDataset:
    u = datasets.Utterance("Ses01F_impro01_F000", Path("a.wav"), 0, "train", "Ses01F")
    return datasets.LabelledDataset("iemocap", ("neu", "hap", "sad", "ang"), [u])


SPECS: list[Spec] = [
    # ----------------------------------------------------------------- masking
    Spec(
        "masking.confidence_mask",
        masking.confidence_mask,
        lambda d: {"probs": confident(d), "threshold": 0.9},
        {"probs": PROBS},
        {"threshold": UNIT},
    ),
    Spec(
        "masking.agreement_mask",
        masking.agreement_mask,
        lambda d: {"labels_a": labels(d), "labels_b": labels(d, 1)},
        {"labels_a": T("int", 1), "labels_b": T("int", 1)},
    ),
    Spec(
        "masking.lengths_to_mask",
        masking.lengths_to_mask,
        lambda d: {"lengths": lens(d), "max_length": d.time},
        {"lengths": LENGTHS},
        {"max_length": NONNEG_INT},
    ),
    Spec(
        "masking.random_mask",
        masking.random_mask,
        lambda d: {"batch_size": d.batch, "rate": 0.5, "generator": g(d)},
        scalars={"batch_size": NONNEG_INT, "rate": UNIT},
        random=True,
    ),
    # ----------------------------------------------------------------- augment
    Spec(
        "augment.feature_dropout",
        augment.feature_dropout,
        lambda d: {"x": feats(d), "p": 0.3, "generator": g(d)},
        {"x": T("float", None)},
        {"p": UNIT},
        random=True,
    ),
    Spec(
        "augment.FeatureDropout",
        augment.FeatureDropout,
        lambda d: {"p": 0.3},
        scalars={"p": UNIT},
        batched=False,
    ),
    Spec(
        "augment.FeatureDropout.forward",
        lambda **kw: augment.FeatureDropout(0.3)(**kw),
        lambda d: {"x": feats(d), "lengths": lens(d), "generator": g(d)},
        {"x": T("float", 3), "lengths": T("int", 1, bad=lambda d: (-1, d.time + 1), optional=True)},
        random=True,
    ),
    Spec(
        "augment.spec_augment",
        augment.spec_augment,
        lambda d: {
            "x": feats(d),
            "time_masks": 1,
            "time_width": 2,
            "freq_masks": 1,
            "freq_width": 2,
            "lengths": lens(d),
            "fill": 0.0,
            "generator": g(d),
        },
        {
            "x": T("float", (2, 3)),
            "lengths": T("int", 1, bad=lambda d: (-1, d.time + 1), optional=True),
        },
        {
            "time_masks": NONNEG_INT,
            "time_width": NONNEG_INT,
            "freq_masks": NONNEG_INT,
            "freq_width": NONNEG_INT,
            "fill": FINITE,
        },
        random=True,
    ),
    Spec(
        "augment.SpecAugment",
        augment.SpecAugment,
        lambda d: {"time_masks": 1, "time_width": 2, "freq_masks": 1, "freq_width": 2, "fill": 0.0},
        scalars={
            "time_masks": NONNEG_INT,
            "time_width": NONNEG_INT,
            "freq_masks": NONNEG_INT,
            "freq_width": NONNEG_INT,
            "fill": FINITE,
        },
        batched=False,
    ),
    Spec(
        "augment.SpecAugment.forward",
        lambda **kw: augment.SpecAugment(time_masks=1, time_width=2, freq_masks=1, freq_width=2)(
            **kw
        ),
        lambda d: {"x": feats(d), "lengths": lens(d), "generator": g(d)},
        {
            "x": T("float", (2, 3)),
            "lengths": T("int", 1, bad=lambda d: (-1, d.time + 1), optional=True),
        },
        random=True,
    ),
    Spec(
        "augment.spec_augment_masks",
        augment.spec_augment_masks,
        lambda d: {
            "batch_size": d.batch,
            "num_frames": d.time,
            "num_bins": d.dim,
            "time_masks": 1,
            "time_width": 2,
            "freq_masks": 1,
            "freq_width": 2,
            "lengths": lens(d),
            "generator": g(d),
        },
        {"lengths": T("int", 1, bad=lambda d: (-1, d.time + 1), optional=True)},
        {
            "batch_size": NONNEG_INT,
            "num_frames": NONNEG_INT,
            "num_bins": NONNEG_INT,
            "time_masks": NONNEG_INT,
            "time_width": NONNEG_INT,
            "freq_masks": NONNEG_INT,
            "freq_width": NONNEG_INT,
        },
        random=True,
    ),
    Spec(
        "augment.SpecAugmentMasks",
        augment.SpecAugmentMasks,
        lambda d: {"time": _masks(d).time, "freq": _masks(d).freq},
        {"time": T("bool", 2), "freq": T("bool", 2)},
    ),
    Spec(
        "augment.apply_spec_augment",
        augment.apply_spec_augment,
        lambda d: {"x": feats(d), "masks": _masks(d), "lengths": lens(d), "fill": 0.0},
        {"x": T("float", 3), "lengths": T("int", 1, bad=lambda d: (-1, d.time + 1), optional=True)},
        {"masks": S(wrong_types=("text", (1, 2))), "fill": FINITE},
    ),
    # ----------------------------------------------------------------- fusion
    Spec(
        "fusion.audio_only",
        fusion.audio_only,
        lambda d: {"audio_probs": confident(d), "threshold": 0.9},
        {"audio_probs": PROBS},
        {"threshold": UNIT},
    ),
    Spec(
        "fusion.visual_only",
        fusion.visual_only,
        lambda d: {"visual_probs": probs(d), "valid": torch.arange(d.batch) % 3 != 1},
        {"visual_probs": PROBS, "valid": VALID},
    ),
    Spec(
        "fusion.consistent_and_random",
        fusion.consistent_and_random,
        lambda d: {
            "audio_probs": confident(d),
            "visual_probs": probs(d),
            "epsilon": 0.5,
            "valid": torch.arange(d.batch) % 3 != 1,
            "generator": g(d),
        },
        {"audio_probs": PROBS, "visual_probs": PROBS, "valid": VALID},
        {"epsilon": UNIT},
        random=True,
    ),
    Spec(
        "fusion.weighted_fusion",
        fusion.weighted_fusion,
        lambda d: {
            "audio_probs": confident(d),
            "visual_probs": probs(d),
            "alpha": 0.6,
            "threshold": 0.5,
            "valid": torch.arange(d.batch) % 3 != 1,
        },
        {"audio_probs": PROBS, "visual_probs": PROBS, "valid": VALID},
        {"alpha": UNIT, "threshold": UNIT},
    ),
    *[
        Spec(
            f"fusion.{rule_name}.__call__",
            _rule_call(rule),
            lambda d: {
                "audio_probs": confident(d),
                "visual_probs": probs(d),
                "valid": torch.arange(d.batch) % 3 != 1,
                "generator": g(d),
            },
            {
                "audio_probs": PROBS if rule_name != "VisualOnly" else IGNORED,
                "visual_probs": PROBS if rule_name != "AudioOnly" else IGNORED,
                "valid": VALID,
            },
            random=True,
        )
        for rule_name, rule in [
            ("AudioOnly", fusion.AudioOnly(0.9)),
            ("VisualOnly", fusion.VisualOnly()),
            ("ConsistentAndRandom", fusion.ConsistentAndRandom(0.5)),
            ("WeightedFusion", fusion.WeightedFusion(0.6, 0.5)),
        ]
    ],
    Spec(
        "fusion.AudioOnly",
        fusion.AudioOnly,
        lambda d: {"threshold": 0.9},
        scalars={"threshold": UNIT},
        batched=False,
    ),
    Spec("fusion.VisualOnly", fusion.VisualOnly, lambda d: {}, batched=False),
    Spec(
        "fusion.ConsistentAndRandom",
        fusion.ConsistentAndRandom,
        lambda d: {"epsilon": 0.5},
        scalars={"epsilon": UNIT},
        batched=False,
    ),
    Spec(
        "fusion.WeightedFusion",
        fusion.WeightedFusion,
        lambda d: {"alpha": 0.5, "threshold": 0.9},
        scalars={"alpha": UNIT, "threshold": UNIT},
        batched=False,
    ),
    Spec(
        "fusion.PseudoLabels",
        fusion.PseudoLabels,
        lambda d: {"targets": labels(d), "mask": torch.arange(d.batch) % 2 == 0, "probs": probs(d)},
        {
            "targets": T("int", 1),
            "mask": T("weights", 1),
            "probs": T("float", 2, optional=True, finite=False),
        },
    ),
    Spec(
        "fusion.PseudoLabels.restrict",
        lambda **kw: kw.pop("pseudo").restrict(**kw),
        lambda d: {"pseudo": _pseudo(d), "keep": torch.arange(d.batch) % 3 == 0},
        {"keep": MASK},
    ),
    Spec(
        "fusion.PseudoLabels.kept_fraction",
        lambda **kw: kw["pseudo"].kept_fraction(),
        lambda d: {"pseudo": _pseudo(d)},
    ),
    Spec(
        "fusion.masked_cross_entropy",
        fusion.masked_cross_entropy,
        lambda d: {"logits": torch.randn(d.batch, d.classes, generator=g(d)), "pseudo": _pseudo(d)},
        {"logits": LOGITS},
        {"pseudo": S(wrong_types=("text", (1, 2)))},
    ),
    # ----------------------------------------------------------------- losses
    Spec(
        "losses.fixmatch_loss",
        losses.fixmatch_loss,
        lambda d: {
            "weak_logits": confident(d).log(),
            "strong_logits": torch.randn(d.batch, d.classes, generator=g(d)),
            "threshold": 0.9,
        },
        {"weak_logits": LOGITS, "strong_logits": LOGITS},
        {"threshold": UNIT},
    ),
    Spec(
        "losses.pi_model_loss",
        losses.pi_model_loss,
        lambda d: {
            "logits_a": torch.randn(d.batch, d.classes, generator=g(d)),
            "logits_b": torch.randn(
                d.batch, d.classes, generator=torch.Generator().manual_seed(d.seed + 1)
            ),
        },
        {"logits_a": LOGITS, "logits_b": LOGITS},
    ),
    Spec(
        "losses.sigmoid_rampup",
        losses.sigmoid_rampup,
        lambda d: {"step": d.seed % 20, "rampup_length": 10},
        scalars={
            "step": S(bad=(-1, math.nan, math.inf)),
            "rampup_length": S(bad=(-1, math.nan, math.inf)),
        },
        batched=False,
    ),
    Spec(
        "losses.TemporalEnsembling",
        losses.TemporalEnsembling,
        lambda d: {"num_examples": 5, "num_classes": d.classes, "alpha": 0.6},
        scalars={"num_examples": POS_INT, "num_classes": POS_INT, "alpha": UNIT_OPEN},
        batched=False,
    ),
    Spec(
        "losses.TemporalEnsembling.update",
        lambda **kw: kw.pop("te").update(**kw),
        lambda d: {"te": _te(d), "ids": _ids(d), "probs": probs(d)},
        {"ids": IDS, "probs": PROBS},
    ),
    Spec(
        "losses.TemporalEnsembling.targets",
        lambda **kw: kw.pop("te").targets(**kw),
        lambda d: {"te": _te_updated(d), "ids": _ids(d)},
        {"ids": IDS},
    ),
    Spec(
        "losses.TemporalEnsembling.seen",
        lambda **kw: kw.pop("te").seen(**kw),
        lambda d: {"te": _te_updated(d), "ids": _ids(d)},
        {"ids": IDS},
    ),
    Spec(
        "losses.TemporalEnsembling.loss",
        lambda **kw: kw.pop("te").loss(**kw),
        lambda d: {
            "te": _te_updated(d),
            "logits": torch.randn(d.batch, d.classes, generator=g(d)),
            "ids": _ids(d),
        },
        {"logits": LOGITS, "ids": IDS},
    ),
    Spec(
        "losses.cmkt_ssl_loss",
        _cmkt,
        lambda d: {
            "model": _tiny_ser(d),
            "x_l": feats(d),
            "lengths_l": lens(d),
            "y_l": labels(d),
            "x_u": feats(d).flip(0),
            "lengths_u": lens(d).flip(0),
            "visual_probs": probs(d),
            "fusion": fusion.VisualOnly(),
            "visual_valid": torch.arange(d.batch) % 3 != 1,
            "lambda_u": 0.1,
            "generator": g(d),
        },
        {
            "x_l": T("float", 3),
            "lengths_l": LENGTHS,
            "y_l": LABELS,
            "x_u": T("float", 3),
            "lengths_u": LENGTHS,
            "visual_probs": PROBS,
            "visual_valid": VALID,
        },
        {"lambda_u": S(bad=(-1.0, math.nan, math.inf)), "fusion": S(wrong_types=("text",))},
        random=True,
        examples=3,
    ),
    Spec(
        "losses.SSLStep",
        losses.SSLStep,
        lambda d: {
            "loss": torch.tensor(1.0),
            "labelled": torch.tensor(1.0),
            "unlabelled": torch.tensor(0.0),
            "pseudo": _pseudo(d),
        },
        batched=False,
    ),
    # ----------------------------------------------------------------- metrics
    *[
        Spec(
            f"metrics.{name}",
            fn,
            lambda d: {"preds": labels(d, 1), "targets": labels(d), "num_classes": d.classes},
            {"preds": PREDS, "targets": LABELS},
            {"num_classes": POS_INT},
        )
        for name, fn in [
            ("confusion_matrix", metrics.confusion_matrix),
            ("unweighted_accuracy", metrics.unweighted_accuracy),
            ("weighted_f1", metrics.weighted_f1),
        ]
    ],
    Spec(
        "metrics.weighted_accuracy",
        metrics.weighted_accuracy,
        lambda d: {"preds": labels(d, 1), "targets": labels(d)},
        {"preds": T("int", 1, bad=(-1,)), "targets": T("int", 1, bad=(-1,))},
    ),
    *[
        Spec(
            f"metrics.{name}",
            fn,
            lambda d: {"confusion": metrics.confusion_matrix(labels(d, 1), labels(d), d.classes)},
            {"confusion": T("int", 2, batch=False, bad=(-1,))},
            batched=False,
        )
        for name, fn in [
            ("accuracy_from_confusion", metrics.accuracy_from_confusion),
            ("unweighted_accuracy_from_confusion", metrics.unweighted_accuracy_from_confusion),
            ("weighted_f1_from_confusion", metrics.weighted_f1_from_confusion),
        ]
    ],
    # ----------------------------------------------------------------- pooling
    Spec(
        "pooling.frame_indices",
        pooling.frame_indices,
        lambda d: {"num_frames": d.time * 6, "fps": 25.0, "interval": 0.24},
        scalars={
            "num_frames": NONNEG_INT,
            "fps": POS_FLOAT,
            "interval": POS_FLOAT,
        },
        batched=False,
    ),
    *[
        Spec(
            f"pooling.pool_frames[{method}]",
            lambda method=method, **kw: pooling.pool_frames(method=method, **kw),
            lambda d: {
                "frame_probs": torch.randn(d.batch, d.time, d.classes, generator=g(d)).softmax(-1),
                "mask": torch.arange(d.time).expand(d.batch, d.time) < lens(d)[:, None],
            },
            {"frame_probs": T("float", 3, bad=(-0.5, 1.5)), "mask": T("bool", 2, optional=True)},
        )
        for method in ("mean", "max", "geometric")
    ],
    # ----------------------------------------------------------------- schedules
    Spec(
        "schedules.PaperSchedule",
        schedules.PaperSchedule,
        lambda d: {
            "steps_per_epoch": 10,
            "start_lr": 0.0025,
            "peak_lr": 0.01,
            "warmup_epochs": 4,
            "decay": 1.17,
            "decay_every": 4,
        },
        scalars={
            "steps_per_epoch": POS_INT,
            "start_lr": S(bad=(-1.0, math.nan, math.inf)),
            "peak_lr": POS_FLOAT,
            "warmup_epochs": NONNEG_INT,
            "decay": S(bad=(0.0, -1.0, math.nan, math.inf)),
            "decay_every": POS_INT,
        },
        batched=False,
    ),
    Spec(
        "schedules.PaperSchedule.lr",
        lambda **kw: _sched().lr(**kw),
        lambda d: {"step": d.seed * 7},
        scalars={"step": NONNEG_INT},
        batched=False,
    ),
    Spec(
        "schedules.paper_lr_scheduler",
        schedules.paper_lr_scheduler,
        lambda d: {
            "optimizer": torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0),
            "schedule": _sched(),
        },
        scalars={"optimizer": S(wrong_types=("text",)), "schedule": S(wrong_types=("text", 3))},
        batched=False,
    ),
    # ----------------------------------------------------------------- taxonomy
    Spec(
        "taxonomy.LabelMap",
        taxonomy.LabelMap,
        lambda d: {
            "source": ("a", "b", "c"),
            "target": ("x", "y"),
            "mapping": {"a": "x", "b": "y"},
        },
        scalars={
            "source": S(wrong_types=("abc", 3)),
            "target": S(wrong_types=("xy", 3)),
            "mapping": S(wrong_types=("text", 3)),
        },
        batched=False,
    ),
    Spec(
        "taxonomy.LabelMap.matrix",
        lambda **kw: _label_map().matrix(**kw),
        lambda d: {"dtype": torch.float32},
        scalars={"dtype": S(wrong_types=("float32", 3))},
        batched=False,
    ),
    Spec(
        "taxonomy.LabelMap.index_map", lambda: _label_map().index_map(), lambda d: {}, batched=False
    ),
    *[
        Spec(
            f"taxonomy.{name}",
            fn,
            lambda d: {"probs": probs(d, classes=3), "label_map": _label_map()},
            {"probs": PROBS},
            {"label_map": S(wrong_types=("text", {"a": "x"}))},
        )
        for name, fn in [("project", taxonomy.project), ("maps_to_target", taxonomy.maps_to_target)]
    ],
    Spec(
        "taxonomy.sentiment_from_score",
        taxonomy.sentiment_from_score,
        lambda d: {"score": torch.tensor([-0.8, -0.1, 0.0, 0.1, 0.6])[: d.batch], "atol": 1e-6},
        {"score": T("float", None, bad=(-1.5, 1.5))},
        {"atol": S(bad=(-1.0, math.nan, math.inf))},
    ),
    # ----------------------------------------------------------------- encoders
    Spec(
        "encoders.TransformerSER",
        encoders.TransformerSER,
        lambda d: {
            "input_dim": d.dim,
            "num_classes": d.classes,
            "d_model": 8,
            "num_heads": 2,
            "num_layers": 1,
            "dim_feedforward": 16,
            "dropout": 0.1,
        },
        scalars={
            "input_dim": POS_INT,
            "num_classes": POS_INT,
            "d_model": POS_INT,
            "num_heads": POS_INT,
            "num_layers": NONNEG_INT,
            "dim_feedforward": POS_INT,
            "dropout": UNIT_OPEN,
        },
        batched=False,
        examples=2,
    ),
    *[
        Spec(
            f"encoders.TransformerSER.{meth}",
            lambda meth=meth, **kw: getattr(kw.pop("model"), meth)(**kw),
            lambda d: {"model": _tiny_ser(d), "x": feats(d), "lengths": lens(d)},
            {
                "x": T("float", 3),
                "lengths": T("int", 1, bad=lambda d: (-1, d.time + 1), optional=True),
            },
            examples=4,
        )
        for meth in ("forward", "embed")
    ],
    Spec(
        "encoders.MobileNetV2FaceModel",
        encoders.MobileNetV2FaceModel,
        lambda d: {"num_classes": 3, "width_mult": 0.25, "dropout": 0.2},
        scalars={"num_classes": POS_INT, "width_mult": POS_FLOAT, "dropout": UNIT_OPEN},
        batched=False,
        examples=2,
    ),
    Spec(
        "encoders.MobileNetV2FaceModel.forward",
        lambda **kw: _face()(**kw),
        lambda d: {"frames": _frames(d)},
        {"frames": T("float", 4, bad=(-0.5, 1.5))},
        examples=3,
    ),
    Spec(
        "encoders.frame_probabilities",
        encoders.frame_probabilities,
        lambda d: {"model": _face(), "frames": _frames(d), "batch_size": 2},
        {"frames": T("float", 4, bad=(-0.5, 1.5))},
        {"batch_size": POS_INT, "model": S(wrong_types=("text",))},
        examples=3,
    ),
    Spec(
        "encoders.sinusoidal_positions",
        encoders.sinusoidal_positions,
        lambda d: {"length": d.time, "dim": 2 * d.dim},
        scalars={"length": NONNEG_INT, "dim": POS_INT},
        batched=False,
    ),
    # ----------------------------------------------------------------- features
    Spec(
        "features.fix_length",
        features.fix_length,
        lambda d: {"x": feats(d), "length": d.time - 1, "lengths": lens(d), "value": 0.0},
        {
            "x": T("float", None, dtypes=False),
            "lengths": T("int", 1, bad=lambda d: (-1, d.time + 1), optional=True),
        },
        {"length": NONNEG_INT, "value": FINITE},
    ),
    Spec(
        "features.SpectrogramFeatures",
        features.SpectrogramFeatures,
        lambda d: {"sample_rate": 16000},
        scalars={"sample_rate": S(bad=(0, -1), wrong_types=("text", 1.5, True))},
        batched=False,
    ),
    Spec(
        "features.SpectrogramFeatures.forward",
        lambda **kw: features.SpectrogramFeatures()(**kw),
        lambda d: {
            "waveforms": torch.randn(d.batch, 800 * d.time, generator=g(d)) * 0.1,
            "lengths": lens(d) * 800,
        },
        {
            "waveforms": T("float", 2),
            "lengths": T("int", 1, bad=lambda d: (-1, 800 * d.time + 1), optional=True),
        },
        examples=4,
    ),
    Spec(
        "features.load_audio",
        features.load_audio,
        lambda d: {"path": "/nonexistent/a.wav", "sample_rate": 16000},
        scalars={"sample_rate": S(bad=(0, -1), wrong_types=("text", 1.5, True))},
        batched=False,
        documented=(FileNotFoundError,),
        paths=("path",),
        examples=1,
    ),
    # ----------------------------------------------------------------- datasets
    Spec(
        "datasets.iemocap_speaker",
        datasets.iemocap_speaker,
        lambda d: {"utterance_id": "Ses01F_impro01_F000"},
        scalars={"utterance_id": S(bad=("nonsense", ""), wrong_types=(3, None))},
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.read_iemocap",
        datasets.read_iemocap,
        lambda d: {"root": "/nonexistent"},
        batched=False,
        documented=(FileNotFoundError,),
        paths=("root",),
        examples=1,
    ),
    Spec(
        "datasets.read_chsims",
        datasets.read_chsims,
        lambda d: {"root": "/nonexistent", "annotation": "label_A"},
        scalars={"annotation": S(bad=("label_X",), wrong_types=(3,))},
        batched=False,
        documented=(FileNotFoundError,),
        paths=("root",),
        examples=1,
    ),
    Spec(
        "datasets.read_manifest",
        datasets.read_manifest,
        lambda d: {"path": "/nonexistent.csv"},
        batched=False,
        documented=(FileNotFoundError,),
        paths=("path",),
        examples=1,
    ),
    Spec(
        "datasets.expression_probabilities",
        datasets.expression_probabilities,
        lambda d: {"clips": [], "face_model": _face(), "interval": 0.24, "channels": 3},
        scalars={
            "interval": POS_FLOAT,
            "channels": S(bad=(2,), wrong_types=("3",)),
            "clips": S(wrong_types=(3,)),
        },
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.extract_features",
        datasets.extract_features,
        lambda d: {
            "files": [],
            "extractor": features.SpectrogramFeatures(),
            "cache_dir": "/tmp/sertoolkit-bad-input-cache",
            "max_frames": 10,
            "batch_size": 4,
            "shard_size": 8,
        },
        scalars={
            "max_frames": POS_INT,
            "batch_size": POS_INT,
            "shard_size": POS_INT,
            "files": S(wrong_types=(3,)),
            "extractor": S(wrong_types=("text",)),
        },
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.FeatureSet.tensors",
        lambda **kw: kw.pop("fs").tensors(**kw),
        lambda d: {"fs": _features_set(dataclasses.replace(d, batch=2)), "index": [0]},
        scalars={"index": S(bad=([5], [-1]), wrong_types=("text", 1.5), optional=True)},
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.LabelledDataset.select",
        lambda **kw: _dataset().select(**kw),
        lambda d: {"split": "train"},
        scalars={"split": S(bad=("nonsense",), wrong_types=(3,))},
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.LabelledDataset.counts",
        lambda **kw: _dataset().counts(**kw),
        lambda d: {"split": "train"},
        scalars={"split": S(bad=("nonsense",), wrong_types=(3,), optional=True)},
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.Utterance",
        datasets.Utterance,
        lambda d: {"id": "u1", "audio": Path("a.wav"), "label": 0, "split": "train"},
        scalars={
            "label": S(bad=(-1,), wrong_types=("0", 1.5)),
            "split": S(bad=("nonsense",), wrong_types=(3,)),
        },
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.UnlabelledClip",
        datasets.UnlabelledClip,
        lambda d: {
            "id": "c1",
            "audio": Path("a.wav"),
            "visual": Path("v"),
            "visual_kind": "faces",
            "fps": 25.0,
        },
        scalars={"fps": POS_FLOAT, "visual_kind": S(bad=("nonsense",), wrong_types=(3,))},
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.Skipped",
        datasets.Skipped,
        lambda d: {"path": Path("a.wav"), "reason": "unreadable"},
        scalars={"reason": S(wrong_types=(3,))},
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.DatasetFormatError",
        datasets.DatasetFormatError,
        lambda d: {"file": Path("a.txt"), "line": 3, "message": "bad"},
        scalars={"line": S(bad=(0, -1), wrong_types=("3", 1.5), optional=True)},
        batched=False,
        examples=1,
    ),
]


_W2V: dict[str, features.Wav2VecFeatures] = {}


def _w2v() -> features.Wav2VecFeatures:
    if "m" not in _W2V:
        torch.manual_seed(0)
        _W2V["m"] = features.Wav2VecFeatures(random_init=True).eval()
    return _W2V["m"]


SPECS += [
    Spec(
        "schedules.PaperSchedule.__call__",
        lambda **kw: _sched()(**kw),
        lambda d: {"step": d.seed * 7},
        scalars={"step": NONNEG_INT},
        batched=False,
    ),
    Spec(
        "datasets.FeatureSet",
        datasets.FeatureSet,
        lambda d: {
            "features": np.zeros((d.batch, d.time, d.dim), np.float16),
            "lengths": np.full(d.batch, d.time),
            "ok": np.ones(d.batch, bool),
        },
        scalars={
            "features": S(wrong_types=("text", [0.0])),
            "lengths": S(wrong_types=("text", [1])),
            "ok": S(wrong_types=("text",)),
        },
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.LabelledDataset",
        datasets.LabelledDataset,
        lambda d: {"name": "x", "classes": ("a", "b"), "utterances": _dataset().utterances[:0]},
        scalars={
            "name": S(wrong_types=(3,)),
            "classes": S(wrong_types=("ab", 3)),
            "utterances": S(wrong_types=("text", [3])),
        },
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.Manifest",
        datasets.Manifest,
        lambda d: {"path": Path("m.csv"), "clips": []},
        scalars={"clips": S(wrong_types=("text", [3]))},
        paths=("path",),
        batched=False,
        examples=1,
    ),
    Spec(
        "datasets.VisualEvidence",
        datasets.VisualEvidence,
        lambda d: {
            "probs": torch.full((d.batch, 7), 1 / 7),
            "has_face": torch.ones(d.batch, dtype=torch.bool),
            "frames": torch.ones(d.batch, dtype=torch.long),
            "skipped": [],
        },
        {"probs": T("float", 2, finite=False), "has_face": MASK, "frames": T("int", 1)},
        {"skipped": S(wrong_types=("text", [3]))},
        examples=1,
    ),
    Spec(
        "features.Wav2VecFeatures",
        features.Wav2VecFeatures,
        lambda d: {"checkpoint": "/nonexistent.pt", "architecture": "base", "sample_rate": 16000},
        scalars={
            "architecture": S(bad=("huge",), wrong_types=(3,)),
            "sample_rate": S(bad=(0, -1), wrong_types=("text", 1.5, True)),
        },
        paths=("checkpoint",),
        documented=(FileNotFoundError,),
        batched=False,
        examples=1,
    ),
    Spec(
        "features.Wav2VecFeatures.forward",
        lambda **kw: _w2v()(**kw),
        lambda d: {
            "waveforms": torch.randn(d.batch, 400 * d.time, generator=g(d)) * 0.1,
            "lengths": lens(d) * 400,
        },
        {
            "waveforms": T("float", 2),
            "lengths": T("int", 1, bad=lambda d: (-1, 400 * d.time + 1), optional=True),
        },
        examples=1,
    ),
]


def _bank(d: Draw) -> fusion.VisualBank:
    return fusion.VisualBank(probs(d), torch.arange(d.batch) % 3 != 1)


def _expressions(d: Draw) -> Tensor:
    return torch.randn(d.batch, 7, generator=g(d)).mul(2).softmax(-1)


def _weighted_pseudo(d: Draw) -> fusion.PseudoLabels:
    weights = torch.rand(d.batch, generator=g(d)) * (torch.arange(d.batch) % 2 == 0)
    return fusion.PseudoLabels(labels(d, 3), weights, probs(d))


SPECS += [
    Spec(
        "fusion.VisualBank",
        fusion.VisualBank,
        lambda d: {"probs": probs(d), "valid": torch.arange(d.batch) % 3 != 1},
        {"probs": PROBS, "valid": MASK},
    ),
    Spec(
        "fusion.VisualBank.forward",
        lambda **kw: kw.pop("bank")(**kw),
        lambda d: {"bank": _bank(dataclasses.replace(d, batch=5)), "ids": _ids(d)},
        {"ids": T("int", 1, bad=(-1, 5))},
    ),
    Spec(
        "fusion.VisualBank.from_expressions",
        fusion.VisualBank.from_expressions,
        lambda d: {
            "expression_probs": _expressions(d),
            "has_face": torch.arange(d.batch) % 3 != 1,
            "label_map": taxonomy.EXPRESSION_TO_IEMOCAP,
        },
        {"expression_probs": PROBS, "has_face": MASK},
        {"label_map": S(wrong_types=("text", {"a": "x"}))},
    ),
    Spec(
        "fusion.VisualBank.from_evidence",
        fusion.VisualBank.from_evidence,
        lambda d: {
            "evidence": datasets.VisualEvidence(
                _expressions(d),
                torch.arange(d.batch) % 3 != 1,
                torch.ones(d.batch, dtype=torch.long),
                [],
            ),
            "label_map": taxonomy.EXPRESSION_TO_SENTIMENT,
        },
        scalars={"evidence": S(wrong_types=("text", 3)), "label_map": S(wrong_types=("text",))},
    ),
    Spec(
        "fusion.masked_cross_entropy[soft, weighted]",
        lambda **kw: fusion.masked_cross_entropy(soft=True, **kw),
        lambda d: {
            "logits": torch.randn(d.batch, d.classes, generator=g(d)),
            "pseudo": _weighted_pseudo(d),
        },
        {"logits": LOGITS},
        {"pseudo": S(wrong_types=("text", (1, 2)))},
    ),
]


# --------------------------------------------------------------------------- the harness


def _tensors(result: object) -> list[Tensor]:
    """Every tensor in a result (tuples, named tuples, dataclasses, modules' outputs)."""
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        return [t for item in result for t in _tensors(item)]
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return [t for f in dataclasses.fields(result) for t in _tensors(getattr(result, f.name))]
    return []


def _check_finite(spec: Spec, result: object) -> None:
    for t in _tensors(result):
        if t.is_floating_point() and t.numel():
            assert bool(torch.isfinite(t.detach()).all()), (
                f"{spec.name} returned a non-finite value: {t}"
            )
    if isinstance(result, float):
        assert math.isfinite(result), f"{spec.name} returned {result}"


def _same(spec: Spec, got: object, want: object, *, loose: bool = False) -> None:
    a, b = _tensors(got), _tensors(want)
    assert len(a) == len(b), spec.name
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape, f"{spec.name}: shape {tuple(x.shape)} != {tuple(y.shape)}"
        if x.is_floating_point():
            tol = {"rtol": 2e-2, "atol": 2e-2} if loose else {"rtol": 1e-5, "atol": 1e-6}
            torch.testing.assert_close(
                x.detach().float(), y.detach().float(), **tol, equal_nan=False
            )
        else:
            assert torch.equal(x, y), f"{spec.name}: {x} != {y}"
    if isinstance(got, float) and isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6), spec.name


Outcome = Literal["raised", "returned"]


def _outcome(
    spec: Spec, call: Callable[[], object], names: tuple[str, ...]
) -> tuple[Outcome, object]:
    """Run ``call``: a ValueError/TypeError must name one of ``names``; other types fail."""
    message: str | None = None
    try:
        result = call()
    except spec.documented:
        return "raised", None
    except (ValueError, TypeError) as err:
        message = f"{type(err).__name__}: {err}"
    except Exception as err:
        pytest.fail(f"{spec.name}: undocumented {type(err).__name__}: {err}")
    if message is not None:
        assert any(f"`{n}`" in message for n in names), (
            f"{spec.name}: the error names none of {names}: {message}"
        )
        return "raised", None
    return "returned", result


def _must_raise(spec: Spec, call: Callable[[], object], name: str, kind: type[Exception]) -> None:
    message: str | None = None
    try:
        call()
    except kind as err:
        message = str(err)
    except Exception as err:
        pytest.fail(
            f"{spec.name}: {name}: expected {kind.__name__}, got {type(err).__name__}: {err}"
        )
    if message is None:
        pytest.fail(f"{spec.name}: a bad `{name}` was accepted")
    assert f"`{name}`" in message, f"{spec.name}: {kind.__name__} does not name `{name}`: {message}"


def _bad_values(role: T, d: Draw) -> tuple[float, ...]:
    return role.bad(d) if callable(role.bad) else role.bad


def _first(x: Tensor) -> tuple[int, ...]:
    return (0,) * x.dim()


def _set_first(x: Tensor, value: float) -> Tensor:
    y = x.clone()
    if y.numel():
        y[_first(y)] = value
    return y


WRONG_DTYPES: dict[str, tuple[torch.dtype, ...]] = {
    "float": (torch.long, torch.bool, torch.complex64),
    "int": (torch.float32, torch.bool),
    "bool": (torch.float32, torch.long),
    "weights": (torch.long, torch.complex64),  # bool or float weights are both accepted
}


def _cases(spec: Spec) -> list[str]:
    cases: list[str] = ["valid"]
    for name, role in spec.tensors.items():
        if role.rank is not None:
            cases += [f"{name}:rank+1", f"{name}:rank-1"]
        cases += [f"{name}:dtype"] if role.dtypes else []
        cases += [f"{name}:pytype"]
        if role.kind == "float":
            cases += [f"{name}:nan", f"{name}:inf", f"{name}:float16", f"{name}:bfloat16"]
        if role.bad:
            cases.append(f"{name}:range")
        if role.rank != 0:
            cases.append(f"{name}:noncontiguous")
        if role.batch and spec.batched:
            cases.append(f"{name}:expanded")
    for name in spec.scalars:
        cases += [f"{name}:pytype"] + ([f"{name}:range"] if spec.scalars[name].bad else [])
    for name in spec.paths:
        cases += [f"{name}:pytype"]
    if spec.batched and spec.tensors:
        cases += ["empty", "single"]
    if spec.random:
        cases.append("generator:pytype")
    return cases


PARAMS = [
    pytest.param(spec, case, id=f"{spec.name}-{case}") for spec in SPECS for case in _cases(spec)
]


def _draws(spec: Spec) -> st.SearchStrategy[Draw]:
    return st.builds(
        Draw,
        seed=st.integers(0, 2**16),
        batch=st.integers(2, 5),
        classes=st.integers(2, 5),
        time=st.integers(3, 8),
        dim=st.integers(2, 5),
    )


@pytest.mark.parametrize(("spec", "case"), PARAMS)
def test_bad_input(spec: Spec, case: str) -> None:
    @settings(
        max_examples=spec.examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(d=_draws(spec))
    def check(d: Draw) -> None:
        _check_case(spec, case, d)

    check()


def _check_case(spec: Spec, case: str, d: Draw) -> None:
    kw = spec.make(d)
    everything = (*spec.tensors, *spec.scalars, *spec.paths, "generator", *kw)

    def with_(**changes: object) -> Callable[[], object]:
        fresh = spec.make(d)
        fresh.update(changes)
        return lambda: spec.call(**fresh)

    if case == "valid":
        outcome, result = _outcome(spec, lambda: spec.call(**kw), everything)
        assert outcome == "returned" or spec.documented, f"{spec.name}: a valid call raised"
        _check_finite(spec, result)
        return
    if case in ("empty", "single"):
        small = dataclasses.replace(d, batch=0 if case == "empty" else 1)
        fresh = spec.make(small)
        outcome, result = _outcome(spec, lambda: spec.call(**fresh), everything)
        if outcome == "returned":
            _check_finite(spec, result)
        return
    name, what = case.split(":")
    if name == "generator":
        _must_raise(spec, with_(generator=0), "generator", TypeError)
        return
    if name in spec.paths:
        _must_raise(spec, with_(**{name: 3}), name, TypeError)
        return
    if name in spec.scalars:
        role_s = spec.scalars[name]
        if what == "pytype":
            wrong = role_s.wrong_types + (() if role_s.optional else (None,))
            for value in wrong:
                _must_raise(spec, with_(**{name: value}), name, TypeError)
        else:
            for value in role_s.bad:
                _must_raise(spec, with_(**{name: value}), name, ValueError)
        return
    role = spec.tensors[name]
    x = kw[name]
    assert isinstance(x, Tensor)
    if what == "rank+1":
        high = role.rank[1] if isinstance(role.rank, tuple) else x.dim()
        wider = x.reshape(*x.shape, *([1] * (high + 1 - x.dim())))
        _must_raise(spec, with_(**{name: wider}), name, ValueError)
    elif what == "rank-1":
        low = role.rank[0] if isinstance(role.rank, tuple) else x.dim()
        narrower = x if x.dim() >= low else x.sum()
        while narrower.dim() > low - 1:
            narrower = narrower[0] if narrower.shape[0] else narrower.sum(0)
        _must_raise(spec, with_(**{name: narrower}), name, ValueError)
    elif what == "dtype":
        for dtype in WRONG_DTYPES[role.kind]:
            _must_raise(spec, with_(**{name: x.to(dtype)}), name, ValueError)
    elif what == "pytype":
        wrong: list[object] = [x.tolist(), x.numpy(), "text"]
        if not role.optional:
            wrong.append(None)
        for value in wrong:
            _must_raise(spec, with_(**{name: value}), name, TypeError)
    elif what in ("nan", "inf"):
        bad = _set_first(x, math.nan if what == "nan" else math.inf)
        if role.finite:
            _must_raise(spec, with_(**{name: bad}), name, ValueError)
        else:  # documented: the value passes through to the same position only
            outcome, result = _outcome(spec, with_(**{name: bad}), everything)
            assert outcome == "returned"
    elif what == "range":
        for value in _bad_values(role, d):
            _must_raise(spec, with_(**{name: _set_first(x, value)}), name, ValueError)
    elif what in ("float16", "bfloat16"):
        dtype = torch.float16 if what == "float16" else torch.bfloat16
        low = x.to(dtype)
        outcome, result = _outcome(spec, with_(**{name: low}), everything)
        if outcome == "returned":
            _check_finite(spec, result)
            _same(spec, result, with_(**{name: x})(), loose=True)
    elif what == "noncontiguous":
        strided = torch.stack([x, torch.zeros_like(x)], dim=-1)[..., 0]
        assert not strided.is_contiguous() or x.numel() <= 1
        _, want = _outcome(spec, with_(**{name: x.clone()}), everything)
        outcome, got = _outcome(spec, with_(**{name: strided}), everything)
        assert outcome == "returned", f"{spec.name}: a non-contiguous `{name}` was refused"
        _same(spec, got, want)
    elif what == "expanded":
        one = x[:1]
        expanded = one.expand(x.shape)
        _, want = _outcome(spec, with_(**{name: expanded.contiguous()}), everything)
        outcome, got = _outcome(spec, with_(**{name: expanded}), everything)
        if outcome == "returned":
            _same(spec, got, want)
    else:  # pragma: no cover
        raise AssertionError(case)


def test_every_public_callable_has_a_spec() -> None:
    """A public name without a spec (or a listed exemption) fails here."""
    covered = {s.name.split("[")[0] for s in SPECS}
    missing = []
    for module in MODULES:
        short = module.__name__.split(".")[-1]
        for name in module.__all__:
            full = f"{short}.{name}"
            obj = getattr(module, name)
            if full in NOT_CALLABLE:
                continue
            if full not in covered:
                missing.append(full)
            if inspect.isclass(obj):
                for meth, fn in vars(obj).items():
                    if meth.startswith("_") and meth != "__call__":
                        continue
                    if not callable(fn) or meth in ("extra_repr", "summary"):
                        continue
                    if f"{full}.{meth}" not in covered:
                        missing.append(f"{full}.{meth}")
    assert not missing, f"public callables without a bad-input spec: {missing}"


def test_the_harness_covers_enough() -> None:
    """The counts the closing note of issue #13 reports; fails if the harness shrinks."""
    assert len(SPECS) >= 70
    assert len(PARAMS) >= 600


# --------------------------------------------------------------------------- the examples
# Each of these gave a silent NaN, a silently wrong value or an undocumented exception before
# issue #13; each test failed on that code.


def test_masked_cross_entropy_refuses_inf_logits_on_kept_rows_only() -> None:
    pseudo = fusion.PseudoLabels(torch.tensor([0, 1]), torch.tensor([True, False]))
    with pytest.raises(ValueError, match="`logits`"):
        fusion.masked_cross_entropy(torch.tensor([[math.inf, 0.0], [0.0, 0.0]]), pseudo)
    dropped = torch.tensor([[1.0, 0.0], [math.nan, math.inf]])  # documented: dropped rows are free
    assert torch.isfinite(fusion.masked_cross_entropy(dropped, pseudo))


def test_fixmatch_loss_refuses_a_nan_weak_row() -> None:
    weak = torch.tensor([[9.0, 0.0], [math.nan, 0.0]])
    with pytest.raises(ValueError, match="`weak_logits`"):
        losses.fixmatch_loss(weak, torch.zeros(2, 2), 0.9)


def test_temporal_ensembling_refuses_nan_and_logits() -> None:
    te = losses.TemporalEnsembling(3, 3)
    with pytest.raises(ValueError, match="`probs`"):
        te.update(torch.tensor([0]), torch.tensor([[5.0, -3.0, 2.0]]))
    with pytest.raises(ValueError, match="`probs`"):
        te.update(torch.tensor([1]), torch.tensor([[math.nan, 0.5, 0.5]]))
    assert not te.seen(torch.tensor([0, 1])).any()  # nothing was stored


def test_fix_length_value_must_be_finite_and_fit_the_dtype() -> None:
    x = torch.ones(1, 3, 2)
    with pytest.raises(ValueError, match="`value`"):
        features.fix_length(x, 5, value=math.nan)
    with pytest.raises(ValueError, match="`value`"):
        features.fix_length(x.half(), 5, value=1e6)
    with pytest.raises(TypeError, match="`x`"):
        features.fix_length([[1.0]], 2)  # type: ignore[arg-type]
    out, _ = features.fix_length(torch.ones(1, 3, dtype=torch.long), 5, value=-1)
    assert out.tolist() == [[1, 1, 1, -1, -1]]


def test_cmkt_ssl_loss_empty_labelled_batch_is_finite_and_labels_are_named() -> None:
    d = Draw(0, 3, 3, 5, 4)
    kw = SPECS_BY_NAME["losses.cmkt_ssl_loss"].make(d)
    empty = {**kw, "x_l": kw["x_l"][:0], "lengths_l": kw["lengths_l"][:0], "y_l": kw["y_l"][:0]}
    out = _cmkt(**empty)
    assert isinstance(out, losses.SSLStep)
    assert float(out.labelled.detach()) == 0.0 and torch.isfinite(out.loss)
    for bad in (torch.tensor([0, 1, 3]), torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0, 1])):
        with pytest.raises(ValueError, match="`y_l`"):
            _cmkt(**{**kw, "y_l": bad})


def test_sentiment_from_score_checks_atol_and_reads_bf16_boundaries_as_neutral() -> None:
    for atol in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="`atol`"):
            taxonomy.sentiment_from_score(0.5, atol=atol)
    scores = torch.tensor([-0.1, 0.1, -0.5, 0.5], dtype=torch.bfloat16)
    assert taxonomy.sentiment_from_score(scores).tolist() == [1, 1, 0, 2]
    assert taxonomy.sentiment_from_score(scores.half()).tolist() == [1, 1, 0, 2]


def test_frame_indices_with_a_huge_interval_is_the_first_frame() -> None:
    assert pooling.frame_indices(10, interval=1e300).tolist() == [0]


def test_paper_schedule_decays_to_zero_instead_of_overflowing() -> None:
    s = schedules.PaperSchedule(1, decay_every=1)
    assert s.lr(5000) == 0.0
    assert s(5000) == 0.0
    assert s.lr(40) == pytest.approx(0.01 / 1.17**36)


def test_confusion_metrics_refuse_negative_complex_and_float_matrices() -> None:
    for bad in (
        torch.tensor([[2, -1], [0, 1]]),
        torch.tensor([[2, 1], [0, 1]], dtype=torch.complex64),
        torch.tensor([[2.0, math.nan], [0.0, 1.0]]),
    ):
        for fn in (
            metrics.accuracy_from_confusion,
            metrics.unweighted_accuracy_from_confusion,
            metrics.weighted_f1_from_confusion,
        ):
            with pytest.raises(ValueError, match="`confusion`"):
                fn(bad)


def test_weighted_accuracy_refuses_negative_labels() -> None:
    with pytest.raises(ValueError, match="`preds`"):
        metrics.weighted_accuracy(torch.tensor([-1, 0]), torch.tensor([-1, 0]))


def test_spec_augment_masks_must_be_bool() -> None:
    masks = augment.spec_augment_masks(
        2, 6, 4, time_masks=1, time_width=3, freq_masks=1, freq_width=2,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    for dtype in (torch.long, torch.float32):
        with pytest.raises(ValueError, match="`time`"):
            augment.SpecAugmentMasks(masks.time.to(dtype), masks.freq)
    with pytest.raises(TypeError, match="`masks`"):
        augment.apply_spec_augment(torch.ones(2, 6, 4), (masks.time, masks.freq))  # type: ignore[arg-type]
    time, freq = masks  # still a named tuple
    assert torch.equal(time, masks.time) and torch.equal(freq, masks.freq)


def test_label_map_refuses_a_string_and_project_a_dict() -> None:
    with pytest.raises(TypeError, match="`source`"):
        taxonomy.LabelMap("abc", ("x",), {"a": "x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`label_map`"):
        taxonomy.project(torch.full((1, 3), 1 / 3), {"a": "x"})  # type: ignore[arg-type]


def test_extract_features_refuses_a_bool_batch_size(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="`batch_size`"):
        datasets.extract_features(
            [], features.SpectrogramFeatures(), tmp_path, max_frames=4, batch_size=True
        )


def test_face_model_refuses_frames_outside_the_unit_interval() -> None:
    with pytest.raises(ValueError, match="`frames`"):
        _face()(torch.full((1, 3, 32, 32), 2.0))
    with pytest.raises(ValueError, match="`frames`"):
        encoders.frame_probabilities(_face(), torch.full((1, 3, 32, 32), -0.5))
    assert _face()(torch.full((1, 3, 32, 32), 2.0), validate=False).shape == (1, 3)


def test_wrong_python_types_name_the_argument() -> None:
    with pytest.raises(TypeError, match="`generator`"):
        masking.random_mask(3, 0.5, generator=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`pseudo`"):
        fusion.masked_cross_entropy(
            torch.zeros(2, 2), (torch.tensor([0, 1]), torch.tensor([True, True]))
        )  # type: ignore[arg-type]


SPECS_BY_NAME = {s.name: s for s in SPECS}
