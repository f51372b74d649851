r"""Pseudo-label fusion rules: audio (FixMatch), visual (CMKT), FF1 and FF2 (paper Sec. 3.3-3.4).

Every rule maps the audio model's class probabilities on the *weakly* augmented unlabelled
batch, :math:`\tilde p^a` (Eq. 3), and the face model's pooled probabilities,
:math:`\tilde p^v` (Sec. 3.2), to a :class:`PseudoLabels`: one hard target per example and a
bool mask of the examples that train. :func:`masked_cross_entropy` then scores the model's
logits on the *strongly* augmented batch against it, which is the unlabelled loss
:math:`\mathcal L(\mathcal B^U)` of Eq. 4, 7 and 9.

A FixMatch-style loop needs nothing else::

    with torch.no_grad():
        audio_probs = model(weak(x_u)).softmax(dim=-1)
    pseudo = weighted_fusion(audio_probs, visual_probs, alpha=0.2, threshold=0.9)
    loss_u = masked_cross_entropy(model(strong(x_u)), pseudo)

The callable classes (:class:`ConsistentAndRandom`, :class:`WeightedFusion`,
:class:`AudioOnly`, :class:`VisualOnly`) hold a rule's settings and satisfy the
:class:`FusionFn` protocol, so a training loop can take "the fusion rule" as one argument.

Examples whose visual evidence is missing (no face frame survived, see
:func:`sertoolkit.pooling.pool_frames`) are passed as ``valid=False``: they never train, and
their visual rows are exempt from the probability check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from sertoolkit._validation import (
    check_finite,
    check_floating,
    check_generator,
    check_labels,
    check_mask,
    check_probs,
    check_rank,
    check_same_device,
    check_same_shape,
    check_tensor,
    check_unit_interval,
    describe,
    fail,
)
from sertoolkit.masking import agreement_mask, exceeds, random_mask

__all__ = [
    "AudioOnly",
    "ConsistentAndRandom",
    "FusionFn",
    "PseudoLabels",
    "VisualOnly",
    "WeightedFusion",
    "audio_only",
    "consistent_and_random",
    "masked_cross_entropy",
    "visual_only",
    "weighted_fusion",
]


@dataclass(frozen=True)
class PseudoLabels:
    """Hard pseudo-labels for an unlabelled batch and which of them train.

    Attributes:
        targets: Class index per example, ``(batch,)``, ``torch.long``.
        mask: ``True`` where the example enters the unlabelled loss, ``(batch,)``, bool.
        probs: The distribution the targets were read from, ``(batch, classes)``, detached
            (visual for FF1 and CMKT, fused for FF2, audio for FixMatch), or ``None``.

    No gradient flows through pseudo-labels: ``targets`` are integers and ``probs`` is
    detached by the fusion functions.

    Raises:
        ValueError: If the fields do not have the shapes and dtypes above.
    """

    targets: Tensor
    mask: Tensor
    probs: Tensor | None = None

    def __post_init__(self) -> None:
        check_rank("targets", self.targets, 1, "(batch,)")
        if self.targets.dtype != torch.long:
            raise fail("targets", "a torch.long tensor", describe(self.targets))
        check_mask("mask", self.mask, self.targets.shape[0])
        check_same_device("mask", self.mask, "targets", self.targets)
        if self.probs is not None:
            check_rank("probs", self.probs, 2, "(batch, classes)")
            check_floating("probs", self.probs)
            if self.probs.shape[0] != self.targets.shape[0]:
                raise fail(
                    "probs",
                    f"a tensor with {self.targets.shape[0]} rows, one per target",
                    describe(self.probs),
                )

    @property
    def batch_size(self) -> int:
        """Number of examples (kept or not)."""
        return self.targets.shape[0]

    def restrict(self, keep: Tensor) -> PseudoLabels:
        """Return a copy whose mask is ``self.mask & keep``.

        Args:
            keep: Bool ``(batch,)`` mask of examples allowed to train.

        Returns:
            The restricted pseudo-labels.

        Raises:
            ValueError: If ``keep`` is not a bool ``(batch,)`` tensor.
        """
        check_mask("keep", keep, self.batch_size)
        return PseudoLabels(self.targets, self.mask & keep, self.probs)

    def kept_fraction(self) -> Tensor:
        """Fraction of examples that train, as a 0-D float tensor (no host sync; 0 if empty)."""
        return self.mask.float().sum() / max(self.batch_size, 1)


@runtime_checkable
class FusionFn(Protocol):
    """Anything that turns audio and visual probabilities into :class:`PseudoLabels`.

    ``audio_probs`` and ``visual_probs`` are ``(batch, classes)``; ``valid`` is an optional bool
    ``(batch,)`` mask of examples with usable visual evidence; ``generator`` feeds rules that
    draw random numbers (others ignore it).
    """

    def __call__(
        self,
        audio_probs: Tensor,
        visual_probs: Tensor,
        /,
        *,
        valid: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PseudoLabels:
        """Fuse one batch."""
        ...


def _check_ignored(name: str, x: Tensor, ref_name: str, ref: Tensor) -> None:
    """An input a rule does not read: its shape, dtype and device are checked, not its values."""
    check_rank(name, x, 2, "(batch, classes)")
    check_floating(name, x)
    check_same_shape(name, x, ref_name, ref)
    check_same_device(name, x, ref_name, ref)


def _check_valid(valid: Tensor | None, ref: Tensor) -> None:
    if valid is not None:
        check_mask("valid", valid, ref.shape[0])
        check_same_device("valid", valid, "visual_probs", ref)


def _check_pair(
    audio_probs: Tensor, visual_probs: Tensor, valid: Tensor | None, validate: bool
) -> None:
    check_probs("audio_probs", audio_probs, validate=validate)
    check_rank("visual_probs", visual_probs, 2, "(batch, classes)")
    check_same_shape("visual_probs", visual_probs, "audio_probs", audio_probs)
    check_same_device("visual_probs", visual_probs, "audio_probs", audio_probs)
    if valid is not None:
        check_mask("valid", valid, audio_probs.shape[0])
        check_same_device("valid", valid, "audio_probs", audio_probs)
    check_probs("visual_probs", visual_probs, validate=validate, rows=valid)


def consistent_and_random(
    audio_probs: Tensor,
    visual_probs: Tensor,
    epsilon: float,
    *,
    valid: Tensor | None = None,
    generator: torch.Generator | None = None,
    validate: bool = True,
) -> PseudoLabels:
    r"""FF1, *Consistent & Random* (paper Eq. 5-7).

    The target is the visual hard label; an example trains when the audio and visual hard
    labels agree, or when its random weight falls below ``epsilon``:

    .. math::
        \mathrm{mask}_i = \mathbf{1}\{\tilde y^a_i = \tilde y^v_i \ \text{or}\ w_i < \epsilon\},
        \quad w_i \sim U(0, 1), \quad \text{target}_i = \tilde y^v_i

    ``epsilon=0`` keeps exactly the agreeing examples; ``epsilon=1`` keeps all of them and
    equals :func:`visual_only` (direct CMKT). Hard labels are ``argmax`` (first index on ties).
    One weight is drawn per example whatever the data, so a seeded ``generator`` replays.

    Args:
        audio_probs: :math:`\tilde p^a`, the model's probabilities on the weakly augmented audio.
        visual_probs: :math:`\tilde p^v`, the pooled face-expression probabilities mapped to
            the target classes.
        epsilon: :math:`\epsilon` in ``[0, 1]`` (the paper's best: 0.5).
        valid: Optional bool mask; ``False`` rows never train and their ``visual_probs`` are
            not checked.
        generator: Source of the random weights (on the device of ``audio_probs``); when given,
            the global RNG is not touched.
        validate: Check probability values (a device sync on CUDA). Shapes are always checked.

    Shape:
        - audio_probs, visual_probs: ``(batch, classes)``
        - valid: ``(batch,)``
        - output: targets and mask ``(batch,)``; probs ``(batch, classes)`` (the visual ones).

    Returns:
        The pseudo-labels.

    Raises:
        ValueError: On inputs of the wrong shape, dtype, device or values, or ``epsilon``
            outside ``[0, 1]``.
    """
    eps = check_unit_interval("epsilon", epsilon)
    _check_pair(audio_probs, visual_probs, valid, validate)
    check_generator(generator, audio_probs.device)
    audio_labels = audio_probs.argmax(dim=1)
    visual_labels = visual_probs.argmax(dim=1)
    mask = agreement_mask(audio_labels, visual_labels) | random_mask(
        audio_probs.shape[0], eps, generator=generator, device=audio_probs.device
    )
    if valid is not None:
        mask = mask & valid
    return PseudoLabels(visual_labels, mask, visual_probs.detach())


def weighted_fusion(
    audio_probs: Tensor,
    visual_probs: Tensor,
    alpha: float,
    threshold: float,
    *,
    valid: Tensor | None = None,
    validate: bool = True,
) -> PseudoLabels:
    r"""FF2, *Weighted Fusion* (paper Eq. 8-9).

    .. math::
        \tilde p^{av}_i = \alpha \tilde p^a_i + (1 - \alpha) \tilde p^v_i, \quad
        \text{target}_i = \arg\max \tilde p^{av}_i, \quad
        \mathrm{mask}_i = \mathbf{1}\{\max \tilde p^{av}_i > \tau\}

    ``alpha=1`` is FixMatch (:func:`audio_only`); ``alpha=0`` thresholds the visual
    distribution alone.

    Args:
        audio_probs: :math:`\tilde p^a`, the model's probabilities on the weakly augmented audio.
        visual_probs: :math:`\tilde p^v`, the pooled, mapped face-expression probabilities.
        alpha: :math:`\alpha` in ``[0, 1]``, the weight of the audio distribution (paper's
            best: 0.2).
        threshold: :math:`\tau` in ``[0, 1]`` (paper: 0.9); the comparison is strict.
        valid: Optional bool mask; ``False`` rows never train and their ``visual_probs`` are
            not checked.
        validate: Check probability values (a device sync on CUDA).

    Shape:
        - audio_probs, visual_probs: ``(batch, classes)``
        - output: targets and mask ``(batch,)``; probs ``(batch, classes)`` (the fused ones).

    Returns:
        The pseudo-labels.

    Raises:
        ValueError: On inputs of the wrong shape, dtype, device or values, or ``alpha`` or
            ``threshold`` outside ``[0, 1]``.
    """
    a = check_unit_interval("alpha", alpha)
    tau = check_unit_interval("threshold", threshold)
    _check_pair(audio_probs, visual_probs, valid, validate)
    fused = (a * audio_probs + (1.0 - a) * visual_probs).detach()
    confidence, targets = fused.max(dim=1)
    mask = exceeds(confidence, tau)
    if valid is not None:
        mask = mask & valid
    return PseudoLabels(targets, mask, fused)


def audio_only(audio_probs: Tensor, threshold: float, *, validate: bool = True) -> PseudoLabels:
    r"""FixMatch pseudo-labels from the audio model alone (paper Eq. 3-4).

    .. math::
        \text{target}_i = \arg\max \tilde p^a_i, \quad
        \mathrm{mask}_i = \mathbf{1}\{\max \tilde p^a_i > \tau\}

    Equal to :func:`weighted_fusion` with ``alpha=1``.

    Args:
        audio_probs: :math:`\tilde p^a`, the model's probabilities on the weakly augmented audio.
        threshold: :math:`\tau` in ``[0, 1]`` (paper: 0.9); the comparison is strict.
        validate: Check probability values (a device sync on CUDA).

    Shape:
        - audio_probs: ``(batch, classes)``
        - output: targets and mask ``(batch,)``; probs ``(batch, classes)``.

    Returns:
        The pseudo-labels.

    Raises:
        ValueError: On a malformed ``audio_probs`` or ``threshold`` outside ``[0, 1]``.
    """
    tau = check_unit_interval("threshold", threshold)
    check_probs("audio_probs", audio_probs, validate=validate)
    probs = audio_probs.detach()
    confidence, targets = probs.max(dim=1)
    return PseudoLabels(targets, exceeds(confidence, tau), probs)


def visual_only(
    visual_probs: Tensor, *, valid: Tensor | None = None, validate: bool = True
) -> PseudoLabels:
    r"""Direct cross-modal knowledge transfer: every example trains on its visual hard label.

    .. math:: \text{target}_i = \arg\max \tilde p^v_i, \quad \mathrm{mask}_i = 1

    Equal to :func:`consistent_and_random` with ``epsilon=1``. This is the pseudo-labelling of
    the paper's DCMKT baseline and of "adding data with CMKT pseudo-labels" (Table 4).

    Args:
        visual_probs: :math:`\tilde p^v`, the pooled, mapped face-expression probabilities.
        valid: Optional bool mask; ``False`` rows never train and are not checked.
        validate: Check probability values (a device sync on CUDA).

    Shape:
        - visual_probs: ``(batch, classes)``
        - output: targets and mask ``(batch,)``; probs ``(batch, classes)``.

    Returns:
        The pseudo-labels.

    Raises:
        ValueError: On a malformed ``visual_probs`` or ``valid``.
    """
    check_rank("visual_probs", visual_probs, 2, "(batch, classes)")
    if valid is not None:
        check_mask("valid", valid, visual_probs.shape[0])
        check_same_device("valid", valid, "visual_probs", visual_probs)
    check_probs("visual_probs", visual_probs, validate=validate, rows=valid)
    targets = visual_probs.argmax(dim=1)
    mask = (
        valid.clone()
        if valid is not None
        else torch.ones(targets.shape, dtype=torch.bool, device=targets.device)
    )
    return PseudoLabels(targets, mask, visual_probs.detach())


def masked_cross_entropy(logits: Tensor, pseudo: PseudoLabels, *, validate: bool = True) -> Tensor:
    r"""Unlabelled loss: cross-entropy on kept examples, divided by the *batch size*.

    The loss of paper Eq. 4, 7 and 9:

    .. math::
        \mathcal L(\mathcal B^U) = -\frac{1}{|\mathcal B^U|} \sum_{i \in \mathcal B^U}
        \mathrm{mask}_i \log \operatorname{softmax}(f_i)[\text{target}_i]

    The divisor is :math:`|\mathcal B^U|`, all examples, not the number kept: a batch in
    which few examples pass the mask contributes a small loss, as in FixMatch. A batch of
    size 0 gives 0 (not NaN). Dropped examples contribute exactly 0, to the loss and to the
    gradient, even if their logits are not finite. Under autocast the cross-entropy runs in float32.

    Args:
        logits: The model's scores on the strongly augmented batch, :math:`f = M_\theta(SA(x))`
            before the softmax.
        pseudo: Targets and mask from a fusion rule.
        validate: Check that the targets are in range and the kept rows' logits finite (a
            device sync on CUDA).

    Shape:
        - logits: ``(batch, classes)``
        - output: ``()``, a scalar with gradient to ``logits``.

    Returns:
        The loss.

    Raises:
        TypeError: If ``pseudo`` is not a :class:`PseudoLabels`.
        ValueError: If ``logits`` is not ``(batch, classes)`` floating, does not match the
            pseudo-labels' batch size or device, or (with ``validate``) a target is out of range.
    """
    if not isinstance(pseudo, PseudoLabels):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"Expected `pseudo` to be a PseudoLabels, but got {type(pseudo).__name__}.")
    check_rank("logits", logits, 2, "(batch, classes)")
    check_floating("logits", logits)
    if logits.shape[0] != pseudo.batch_size:
        raise fail(
            "logits",
            f"a tensor with {pseudo.batch_size} rows, one per pseudo-label",
            describe(logits),
        )
    check_same_device("pseudo.targets", pseudo.targets, "logits", logits)
    check_labels("pseudo.targets", pseudo.targets, logits.shape[1], validate=validate)
    check_finite("logits", logits, validate=validate, where=pseudo.mask.unsqueeze(1))
    # Dropped rows are replaced by zeros *before* the cross-entropy: a non-finite dropped row
    # then contributes 0 to the loss and 0 (not NaN) to the gradient.
    keep = pseudo.mask.unsqueeze(1)
    safe = torch.where(keep, logits, torch.zeros((), dtype=logits.dtype, device=logits.device))
    per_example = F.cross_entropy(safe, pseudo.targets, reduction="none")
    kept = torch.where(pseudo.mask, per_example, torch.zeros_like(per_example))
    return kept.sum() / max(pseudo.batch_size, 1)


def _check_setting(cls: str, name: str, value: float) -> None:
    try:
        check_unit_interval(name, value)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{cls}: {err}") from None


@dataclass(frozen=True)
class ConsistentAndRandom:
    """FF1 as a :class:`FusionFn`: see :func:`consistent_and_random` (paper Eq. 5-7).

    Attributes:
        epsilon: Random keep rate in ``[0, 1]``.
        validate: Check probability values on every call.
    """

    epsilon: float
    validate: bool = True

    def __post_init__(self) -> None:
        _check_setting("ConsistentAndRandom", "epsilon", self.epsilon)

    def __call__(
        self,
        audio_probs: Tensor,
        visual_probs: Tensor,
        /,
        *,
        valid: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PseudoLabels:
        """Fuse one batch."""
        return consistent_and_random(
            audio_probs,
            visual_probs,
            self.epsilon,
            valid=valid,
            generator=generator,
            validate=self.validate,
        )


@dataclass(frozen=True)
class WeightedFusion:
    """FF2 as a :class:`FusionFn`: see :func:`weighted_fusion` (paper Eq. 8-9).

    Attributes:
        alpha: Weight of the audio distribution in ``[0, 1]``.
        threshold: Confidence threshold in ``[0, 1]`` (paper: 0.9).
        validate: Check probability values on every call.
    """

    alpha: float
    threshold: float = 0.9
    validate: bool = True

    def __post_init__(self) -> None:
        _check_setting("WeightedFusion", "alpha", self.alpha)
        _check_setting("WeightedFusion", "threshold", self.threshold)

    def __call__(
        self,
        audio_probs: Tensor,
        visual_probs: Tensor,
        /,
        *,
        valid: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PseudoLabels:
        """Fuse one batch (``generator`` is checked, not used: the rule is deterministic)."""
        check_tensor("audio_probs", audio_probs)
        check_generator(generator, audio_probs.device)
        return weighted_fusion(
            audio_probs,
            visual_probs,
            self.alpha,
            self.threshold,
            valid=valid,
            validate=self.validate,
        )


@dataclass(frozen=True)
class AudioOnly:
    """FixMatch as a :class:`FusionFn`: see :func:`audio_only` (paper Eq. 3-4).

    The visual input is not read (its shape, dtype and device are checked, not its values),
    and ``valid`` is checked but not used: FixMatch needs no visual evidence.

    Attributes:
        threshold: Confidence threshold in ``[0, 1]`` (paper: 0.9).
        validate: Check probability values on every call.
    """

    threshold: float = 0.9
    validate: bool = True

    def __post_init__(self) -> None:
        _check_setting("AudioOnly", "threshold", self.threshold)

    def __call__(
        self,
        audio_probs: Tensor,
        visual_probs: Tensor,
        /,
        *,
        valid: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PseudoLabels:
        """Pseudo-label one batch from the audio alone."""
        check_rank("audio_probs", audio_probs, 2, "(batch, classes)")
        _check_ignored("visual_probs", visual_probs, "audio_probs", audio_probs)
        _check_valid(valid, audio_probs)
        check_generator(generator, audio_probs.device)
        return audio_only(audio_probs, self.threshold, validate=self.validate)


@dataclass(frozen=True)
class VisualOnly:
    """Direct CMKT as a :class:`FusionFn`: see :func:`visual_only`.

    Attributes:
        validate: Check probability values on every call.
    """

    validate: bool = True

    def __call__(
        self,
        audio_probs: Tensor,
        visual_probs: Tensor,
        /,
        *,
        valid: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PseudoLabels:
        """Pseudo-label one batch from the face model alone."""
        check_rank("visual_probs", visual_probs, 2, "(batch, classes)")
        _check_ignored("audio_probs", audio_probs, "visual_probs", visual_probs)
        check_generator(generator, visual_probs.device)
        return visual_only(visual_probs, valid=valid, validate=self.validate)
