"""Static check (basedpyright, in CI) that user-defined rules fit `FusionFn`, and misfits fail.

Not a pytest module: it is only type-checked. Each ``pyright: ignore`` below must be needed,
because CI runs with ``reportUnnecessaryTypeIgnoreComment``: if the protocol stopped rejecting
a misfit, the unneeded ignore would fail CI.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sertoolkit.fusion import (
    AudioOnly,
    ConsistentAndRandom,
    FusionFn,
    PseudoLabels,
    VisualOnly,
    WeightedFusion,
    visual_only,
)


def run(rule: FusionFn, audio: Tensor, visual: Tensor) -> PseudoLabels:
    return rule(audio, visual, valid=None, generator=torch.Generator())


def my_rule(
    audio_probs: Tensor,
    visual_probs: Tensor,
    /,
    *,
    valid: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> PseudoLabels:
    del audio_probs, generator
    return visual_only(visual_probs, valid=valid)


def no_keywords(audio_probs: Tensor, visual_probs: Tensor, /) -> PseudoLabels:
    return visual_only(visual_probs)


def wrong_result(
    audio_probs: Tensor,
    visual_probs: Tensor,
    /,
    *,
    valid: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    return audio_probs


def check(audio: Tensor, visual: Tensor) -> None:
    for rule in (ConsistentAndRandom(0.5), WeightedFusion(0.2), AudioOnly(), VisualOnly()):
        run(rule, audio, visual)
    run(my_rule, audio, visual)
    run(no_keywords, audio, visual)  # pyright: ignore[reportArgumentType]
    run(wrong_result, audio, visual)  # pyright: ignore[reportArgumentType]
