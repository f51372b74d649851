"""Class sets and the maps between them (paper Sec. 3.2, 4.1, 4.3, 4.4 and Table 2).

The face-expression model predicts the 7 [EXPRESSIONS][] of RAF-DB; the speech tasks use 3
[SENTIMENTS][] (CH-SIMS) or 4 [IEMOCAP_EMOTIONS][]. A [LabelMap][] sends each
source class to a target class or to none, and [project][] carries a probability
distribution across it:

* [EXPRESSION_TO_SENTIMENT][] (Table 2) maps every expression, so probability mass is
  summed per sentiment and totals are preserved.
* [EXPRESSION_TO_IEMOCAP][] (Sec. 4.4: "we only select four categories") keeps neutral,
  happiness, anger and sadness and drops surprise, disgust and fear; the kept mass is
  renormalised. [maps_to_target][] tells which clips' visual label is one of the kept
  classes: the paper keeps only those clips for 4-class work.

Class order in every tuple is the index order used by tensors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast, overload

import torch
from torch import Tensor

from sertoolkit._validation import check_probs, describe, fail

__all__ = [
    "EXPRESSIONS",
    "EXPRESSION_TO_IEMOCAP",
    "EXPRESSION_TO_SENTIMENT",
    "IEMOCAP_EMOTIONS",
    "SENTIMENTS",
    "LabelMap",
    "maps_to_target",
    "project",
    "sentiment_from_score",
]

EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
)
"""The face model's 7 expressions, in the paper's order (Sec. 3.2)."""

IEMOCAP_EMOTIONS: tuple[str, ...] = ("neutral", "happy", "angry", "sad")
"""The 4 IEMOCAP classes of the paper (Sec. 4.1; excited is merged into happy)."""

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
"""The 3 CH-SIMS sentiment classes (Sec. 4.1)."""


@dataclass(frozen=True)
class LabelMap:
    """A map from source classes to target classes; a source class may map to none.

    Attributes:
        source: Source class names, in index order.
        target: Target class names, in index order.
        mapping: ``mapping[s]`` is the name of the target class of source class ``s``; source
            classes absent from it are dropped.

    Raises:
        ValueError: If names repeat or the mapping names an unknown class.
    """

    source: tuple[str, ...]
    target: tuple[str, ...]
    mapping: Mapping[str, str]
    _cache: dict[tuple[torch.dtype, torch.device], Tensor] = field(
        default_factory=dict[tuple[torch.dtype, torch.device], Tensor],
        init=False,
        repr=False,
        compare=False,
        hash=False,
    )

    def __post_init__(self) -> None:
        for name, names in (("source", self.source), ("target", self.target)):
            # a string is a sequence of one-letter names: refuse it rather than read "abc" as
            # the classes ("a", "b", "c")
            given = cast(object, names)
            if not isinstance(given, (tuple, list)) or not all(
                isinstance(n, str) for n in cast(list[object], given)
            ):
                raise TypeError(
                    f"Expected `{name}` to be a tuple of class names (str), but got "
                    f"{type(names).__name__}."
                )
            object.__setattr__(self, name, tuple(names))
        if not isinstance(self.mapping, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(
                f"Expected `mapping` to be a mapping of class names, but got "
                f"{type(self.mapping).__name__}."
            )
        for name, names in (("source", self.source), ("target", self.target)):
            if len(set(names)) != len(names) or not names:
                raise fail(name, "a non-empty tuple of distinct class names", names)
        for s, t in self.mapping.items():
            if s not in self.source:
                raise fail("mapping", f"keys among the source classes {self.source}", repr(s))
            if t not in self.target:
                raise fail("mapping", f"values among the target classes {self.target}", repr(t))

    @property
    def is_total(self) -> bool:
        """Whether every source class has a target (probability totals are then preserved)."""
        return all(s in self.mapping for s in self.source)

    def matrix(
        self, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
    ) -> Tensor:
        """The ``(source, target)`` 0/1 matrix, ``M[s, t] = 1`` iff ``s`` maps to ``t``.

        Built once per dtype and device and cached, so repeated calls copy nothing to the
        device.
        """
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"Expected `dtype` to be a floating torch.dtype, but got {dtype!r}.")
        key = (dtype, torch.device(device) if device is not None else torch.device("cpu"))
        if key not in self._cache:
            m = torch.zeros((len(self.source), len(self.target)), dtype=dtype)
            for s, t in self.mapping.items():
                m[self.source.index(s), self.target.index(t)] = 1.0
            self._cache[key] = m.to(key[1])
        return self._cache[key]

    def index_map(self) -> tuple[int, ...]:
        """Target index of each source class, ``-1`` for dropped classes."""
        return tuple(
            self.target.index(self.mapping[s]) if s in self.mapping else -1 for s in self.source
        )


EXPRESSION_TO_SENTIMENT = LabelMap(
    source=EXPRESSIONS,
    target=SENTIMENTS,
    mapping={
        "neutral": "neutral",
        "surprise": "positive",
        "happiness": "positive",
        "fear": "negative",
        "sadness": "negative",
        "anger": "negative",
        "disgust": "negative",
    },
)
"""Table 2: neutral -> neutral; surprise, happiness -> positive; the rest -> negative."""

EXPRESSION_TO_IEMOCAP = LabelMap(
    source=EXPRESSIONS,
    target=IEMOCAP_EMOTIONS,
    mapping={"neutral": "neutral", "happiness": "happy", "anger": "angry", "sadness": "sad"},
)
"""Sec. 4.4: the four expressions that are IEMOCAP classes; surprise, disgust, fear dropped."""


def _check_source(probs: Tensor, label_map: LabelMap, validate: bool) -> None:
    if not isinstance(label_map, LabelMap):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(
            f"Expected `label_map` to be a LabelMap, but got {type(label_map).__name__}."
        )
    check_probs("probs", probs, validate=validate)
    if probs.shape[1] != len(label_map.source):
        raise fail(
            "probs",
            f"a tensor with {len(label_map.source)} classes {label_map.source}",
            describe(probs),
        )


def project(probs: Tensor, label_map: LabelMap, *, validate: bool = True) -> Tensor:
    r"""Carry class probabilities from the source to the target classes of ``label_map``.

    $$
    q_t = \frac{\sum_{s \to t} p_s}{\sum_{s \text{ mapped}} p_s}
    $$

    For a total map (every source class mapped, e.g. Table 2) the denominator is 1 and mass is
    summed, so totals are preserved. For a partial map the dropped classes' mass is removed and
    the rest renormalised; a row whose entire mass is on dropped classes becomes all zeros (use
    [maps_to_target][] to exclude such clips).

    Args:
        probs: Source-class probabilities.
        label_map: The map.
        validate: Check probability values (a device sync on CUDA).

    Shape:
        - probs: ``(batch, len(label_map.source))``
        - output: ``(batch, len(label_map.target))``, same dtype (computed in at least float32).

    Returns:
        The target-class probabilities.

    Raises:
        ValueError: If ``probs`` is not a probability matrix over the map's source classes.

    Examples:
        >>> import torch
        >>> p = torch.tensor([[0.1, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1]])
        >>> project(p, EXPRESSION_TO_SENTIMENT)
        tensor([[0.4000, 0.1000, 0.5000]])
    """
    _check_source(probs, label_map, validate)
    work = torch.promote_types(probs.dtype, torch.float32)
    mapped = probs.to(work) @ label_map.matrix(dtype=work, device=probs.device)
    if not label_map.is_total:
        kept = mapped.sum(dim=1, keepdim=True)
        mapped = torch.where(kept > 0, mapped / kept.clamp(min=torch.finfo(work).tiny), 0.0)
    return mapped.to(probs.dtype)


def maps_to_target(probs: Tensor, label_map: LabelMap, *, validate: bool = True) -> Tensor:
    """Whether each row's most likely source class has a target class.

    With [EXPRESSION_TO_IEMOCAP][] this is the paper's selection of unlabelled clips for
    4-class work (Sec. 4.4): clips whose visual hard label is surprise, disgust or fear are
    left out. Always ``True`` for a total map.

    Args:
        probs: Source-class probabilities.
        label_map: The map.
        validate: Check probability values (a device sync on CUDA).

    Shape:
        - probs: ``(batch, len(label_map.source))``
        - output: ``(batch,)``, bool.

    Returns:
        The bool mask.

    Raises:
        ValueError: If ``probs`` is not a probability matrix over the map's source classes.
    """
    _check_source(probs, label_map, validate)
    has_target = label_map.matrix(device=probs.device).sum(dim=1) > 0
    return has_target[probs.argmax(dim=1)]


_BOUNDARY = 0.1


@overload
def sentiment_from_score(score: float, *, atol: float = ..., validate: bool = ...) -> int: ...
@overload
def sentiment_from_score(score: Tensor, *, atol: float = ..., validate: bool = ...) -> Tensor: ...
def sentiment_from_score(
    score: float | Tensor, *, atol: float = 1e-6, validate: bool = True
) -> int | Tensor:
    """Sentiment class index (into [SENTIMENTS][]) of a CH-SIMS score (paper Sec. 4.1).

    positive: score in (0.1, 1]; neutral: [-0.1, 0.1]; negative: [-1, -0.1).

    The paper writes the negative interval as ``[-1, -0.1]``, which overlaps the neutral one at
    -0.1. We read -0.1 as **neutral**: the neutral interval is closed on both sides, as the
    paper writes it, which makes the split symmetric about 0 (+0.1 is neutral too). CH-SIMS
    scores are means of five annotations, so values such as -0.1 occur and float rounding can
    move them by ~1e-16; scores within ``atol`` of +-0.1 count as on the boundary (neutral).

    Args:
        score: A score in ``[-1, 1]``, or a floating tensor of them.
        atol: Boundary tolerance (finite, >= 0); for a tensor at least the rounding error of
            0.1 in its dtype (``eps * 0.1``: 7.8e-4 in bfloat16, 9.8e-5 in float16).
        validate: Check that tensor scores are in range (a device sync on CUDA).

    Returns:
        An ``int`` for a number; a ``torch.long`` tensor of the input's shape for a tensor.

    Raises:
        ValueError: If a score is outside ``[-1 - atol, 1 + atol]`` or is NaN.

    Examples:
        >>> [SENTIMENTS[sentiment_from_score(s)] for s in (-0.5, -0.1, 0.1, 0.2)]
        ['negative', 'neutral', 'neutral', 'positive']
    """
    if isinstance(atol, bool) or not isinstance(atol, (int, float)):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"Expected `atol` to be a float, but got {type(atol).__name__}.")
    if not (math.isfinite(atol) and atol >= 0.0):
        raise fail("atol", "a finite number >= 0", atol)
    if isinstance(score, Tensor):
        if not score.is_floating_point():
            raise fail("score", "a floating-point tensor", describe(score))
        # +-0.1 is not exact in binary: in a low-precision dtype (bfloat16 stores 0.1 as
        # 0.10009765625) the boundary must absorb the dtype's rounding too
        atol = max(atol, torch.finfo(score.dtype).eps * _BOUNDARY)
        s = score.double()
        if (
            validate
            and s.numel() > 0
            and bool(((s < -1.0 - atol) | (s > 1.0 + atol) | s.isnan()).any())
        ):
            raise fail("score", "scores in [-1, 1]", f"values in [{s.min()}, {s.max()}]")
        out = torch.ones_like(s, dtype=torch.long)
        out = torch.where(s > _BOUNDARY + atol, 2, out)
        return torch.where(s < -_BOUNDARY - atol, 0, out)
    if isinstance(score, bool) or not isinstance(score, (int, float)):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"Expected `score` to be a float, but got {type(score).__name__}.")
    v = float(score)
    if not (-1.0 - atol <= v <= 1.0 + atol):
        raise fail("score", "in [-1, 1]", score)
    if v > _BOUNDARY + atol:
        return 2
    if v < -_BOUNDARY - atol:
        return 0
    return 1
