r"""Pseudo-label fusion rules: audio (FixMatch), visual (CMKT), FF1 and FF2 (paper Sec. 3.3-3.4).

Every rule maps the audio model's class probabilities on the *weakly* augmented unlabelled
batch, $\tilde p^a$ (Eq. 3), and the face model's pooled probabilities,
$\tilde p^v$ (Sec. 3.2), to a [PseudoLabels][]: one hard target per example and a
bool mask of the examples that train. [masked_cross_entropy][] then scores the model's
logits on the *strongly* augmented batch against it, which is the unlabelled loss
$\mathcal L(\mathcal B^U)$ of Eq. 4, 7 and 9.

A FixMatch-style loop needs nothing else::

    with torch.no_grad():
        audio_probs = model(weak(x_u)).softmax(dim=-1)
    pseudo = weighted_fusion(audio_probs, visual_probs, alpha=0.2, threshold=0.9)
    loss_u = masked_cross_entropy(model(strong(x_u)), pseudo)

The callable classes ([ConsistentAndRandom][], [WeightedFusion][],
[AudioOnly][], [VisualOnly][]) hold a rule's settings and satisfy the
[FusionFn][] protocol, so a training loop can take "the fusion rule" as one argument.

Examples whose visual evidence is missing (no face frame survived, see
[sertoolkit.pooling.pool_frames][]) are passed as ``valid=False``: they never train, and
their visual rows are exempt from the probability check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sertoolkit._validation import (
    check_finite,
    check_floating,
    check_generator,
    check_in_range,
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
from sertoolkit.taxonomy import LabelMap, maps_to_target, project

if TYPE_CHECKING:
    from sertoolkit.datasets import VisualEvidence

__all__ = [
    "AudioOnly",
    "ConsistentAndRandom",
    "FusionFn",
    "PseudoLabels",
    "VisualBank",
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
        mask: Which examples enter the unlabelled loss, ``(batch,)``: bool (``True`` trains;
            what every rule here returns), or floating per-example weights in ``[0, 1]``
            (USB's float masks, SoftMatch / FreeMatch soft weights; checked by
            [masked_cross_entropy][] with ``validate``).
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
        check_rank("mask", self.mask, 1, "(batch,)")
        if self.mask.dtype != torch.bool and not self.mask.is_floating_point():
            raise fail("mask", "a bool or floating (weights in [0, 1]) tensor", describe(self.mask))
        if self.mask.shape[0] != self.targets.shape[0]:
            raise fail(
                "mask",
                f"of shape ({self.targets.shape[0]},), one flag per example",
                describe(self.mask),
            )
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
            The restricted pseudo-labels (float weights are zeroed where ``keep`` is False).

        Raises:
            ValueError: If ``keep`` is not a bool ``(batch,)`` tensor.
        """
        check_mask("keep", keep, self.batch_size)
        if self.mask.dtype == torch.bool:
            return PseudoLabels(self.targets, self.mask & keep, self.probs)
        return PseudoLabels(self.targets, self.mask * keep.to(self.mask.dtype), self.probs)

    def kept_fraction(self) -> Tensor:
        """Fraction (total weight) of examples that train: 0-D float, no host sync, 0 if empty."""
        return self.mask.float().sum() / max(self.batch_size, 1)


@runtime_checkable
class FusionFn(Protocol):
    """Anything that turns audio and visual probabilities into [PseudoLabels][].

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


def _check_valid(valid: Tensor | None, ref_name: str, ref: Tensor) -> None:
    """The optional bool ``(batch,)`` ``valid`` mask, on the device of ``ref``."""
    if valid is not None:
        check_mask("valid", valid, ref.shape[0])
        check_same_device("valid", valid, ref_name, ref)


def _check_pair(
    audio_probs: Tensor, visual_probs: Tensor, valid: Tensor | None, validate: bool
) -> None:
    check_probs("audio_probs", audio_probs, validate=validate)
    check_rank("visual_probs", visual_probs, 2, "(batch, classes)")
    check_same_shape("visual_probs", visual_probs, "audio_probs", audio_probs)
    check_same_device("visual_probs", visual_probs, "audio_probs", audio_probs)
    _check_valid(valid, "audio_probs", audio_probs)
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

    $$
    \mathrm{mask}_i = \mathbf{1}\{\tilde y^a_i = \tilde y^v_i \ \text{or}\ w_i < \epsilon\},
    \quad w_i \sim U(0, 1), \quad \text{target}_i = \tilde y^v_i
    $$

    ``epsilon=0`` keeps exactly the agreeing examples; ``epsilon=1`` keeps all of them and
    equals [visual_only][] (direct CMKT). Hard labels are ``argmax`` (first index on ties).
    One weight is drawn per example whatever the data, so a seeded ``generator`` replays.

    Args:
        audio_probs: $\tilde p^a$, the model's probabilities on the weakly augmented audio.
        visual_probs: $\tilde p^v$, the pooled face-expression probabilities mapped to
            the target classes.
        epsilon: $\epsilon$ in ``[0, 1]`` (the paper's best: 0.5).
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

    Examples:
        Clips 0 and 2 agree (audio and face both say class 0, then 1) and train; clip 1
        disagrees and trains only if its random weight falls below ``epsilon``; clip 3 has
        no face:

        >>> import torch
        >>> audio = torch.tensor([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1],
        ...                       [0.1, 0.8, 0.1], [0.9, 0.05, 0.05]])
        >>> visual = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8],
        ...                        [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
        >>> pseudo = consistent_and_random(
        ...     audio, visual, 0.0, valid=torch.tensor([True, True, True, False]))
        >>> pseudo.targets, pseudo.mask
        (tensor([0, 2, 1, 2]), tensor([ True, False,  True, False]))
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
    threshold: float = 0.9,
    *,
    valid: Tensor | None = None,
    inclusive: bool = False,
    generator: torch.Generator | None = None,
    validate: bool = True,
) -> PseudoLabels:
    r"""FF2, *Weighted Fusion* (paper Eq. 8-9).

    $$
    \tilde p^{av}_i = \alpha \tilde p^a_i + (1 - \alpha) \tilde p^v_i, \quad
    \text{target}_i = \arg\max \tilde p^{av}_i, \quad
    \mathrm{mask}_i = \mathbf{1}\{\max \tilde p^{av}_i > \tau\}
    $$

    ``alpha=1`` is FixMatch ([audio_only][]); ``alpha=0`` thresholds the visual
    distribution alone.

    Args:
        audio_probs: $\tilde p^a$, the model's probabilities on the weakly augmented audio.
        visual_probs: $\tilde p^v$, the pooled, mapped face-expression probabilities.
        alpha: $\alpha$ in ``[0, 1]``, the weight of the audio distribution (paper's
            best: 0.2).
        threshold: $\tau$ in ``[0, 1]`` (paper: 0.9; USB: 0.95), a number or a 0-D
            tensor; the comparison is strict unless ``inclusive``.
        valid: Optional bool mask; ``False`` rows never train and their ``visual_probs`` are
            not checked.
        inclusive: Keep ``max p >= threshold`` (USB's comparison) instead of the paper's ``>``.
        generator: Accepted (and type-checked) so that every rule is called alike; unused,
            the rule is deterministic.
        validate: Check probability values (a device sync on CUDA).

    Shape:
        - audio_probs, visual_probs: ``(batch, classes)``
        - output: targets and mask ``(batch,)``; probs ``(batch, classes)`` (the fused ones).

    Returns:
        The pseudo-labels.

    Raises:
        ValueError: On inputs of the wrong shape, dtype, device or values, or ``alpha`` or
            ``threshold`` outside ``[0, 1]``.

    Examples:
        The face is sure of clip 0 and the fused distribution passes 0.9; clip 1's is not:

        >>> import torch
        >>> audio = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1]])
        >>> visual = torch.tensor([[0.98, 0.01, 0.01], [0.1, 0.2, 0.7]])
        >>> pseudo = weighted_fusion(audio, visual, alpha=0.2, threshold=0.9)
        >>> pseudo.targets, pseudo.mask
        (tensor([0, 2]), tensor([ True, False]))
        >>> pseudo.probs[0]  # 0.2 * audio + 0.8 * visual
        tensor([0.9240, 0.0480, 0.0280])
    """
    a = check_unit_interval("alpha", alpha)
    tau = check_unit_interval("threshold", threshold)
    _check_pair(audio_probs, visual_probs, valid, validate)
    check_generator(generator, audio_probs.device)
    fused = (a * audio_probs + (1.0 - a) * visual_probs).detach()
    confidence, targets = fused.max(dim=1)
    mask = exceeds(confidence, tau, inclusive=inclusive)
    if valid is not None:
        mask = mask & valid
    return PseudoLabels(targets, mask, fused)


def audio_only(
    audio_probs: Tensor,
    threshold: float = 0.9,
    *,
    inclusive: bool = False,
    generator: torch.Generator | None = None,
    validate: bool = True,
) -> PseudoLabels:
    r"""FixMatch pseudo-labels from the audio model alone (paper Eq. 3-4).

    $$
    \text{target}_i = \arg\max \tilde p^a_i, \quad
    \mathrm{mask}_i = \mathbf{1}\{\max \tilde p^a_i > \tau\}
    $$

    Equal to [weighted_fusion][] with ``alpha=1``.

    Args:
        audio_probs: $\tilde p^a$, the model's probabilities on the weakly augmented audio.
        threshold: $\tau$ in ``[0, 1]`` (paper: 0.9; USB: 0.95), a number or a 0-D
            tensor; the comparison is strict unless ``inclusive``.
        inclusive: Keep ``max p >= threshold`` (USB's comparison) instead of the paper's ``>``.
        generator: Accepted (and type-checked) so that every rule is called alike; unused.
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
    check_generator(generator, audio_probs.device)
    probs = audio_probs.detach()
    confidence, targets = probs.max(dim=1)
    return PseudoLabels(targets, exceeds(confidence, tau, inclusive=inclusive), probs)


def visual_only(
    visual_probs: Tensor,
    *,
    valid: Tensor | None = None,
    generator: torch.Generator | None = None,
    validate: bool = True,
) -> PseudoLabels:
    r"""Direct cross-modal knowledge transfer: every example trains on its visual hard label.

    $$
    \text{target}_i = \arg\max \tilde p^v_i, \quad \mathrm{mask}_i = 1
    $$

    Equal to [consistent_and_random][] with ``epsilon=1``. This is the pseudo-labelling of
    the paper's DCMKT baseline and of "adding data with CMKT pseudo-labels" (Table 4).

    Args:
        visual_probs: $\tilde p^v$, the pooled, mapped face-expression probabilities.
        valid: Optional bool mask; ``False`` rows never train and are not checked.
        generator: Accepted (and type-checked) so that every rule is called alike; unused.
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
    _check_valid(valid, "visual_probs", visual_probs)
    check_probs("visual_probs", visual_probs, validate=validate, rows=valid)
    check_generator(generator, visual_probs.device)
    targets = visual_probs.argmax(dim=1)
    mask = (
        valid.clone()
        if valid is not None
        else torch.ones(targets.shape, dtype=torch.bool, device=targets.device)
    )
    return PseudoLabels(targets, mask, visual_probs.detach())


def masked_cross_entropy(
    logits: Tensor, pseudo: PseudoLabels, *, soft: bool = False, validate: bool = True
) -> Tensor:
    r"""Unlabelled loss: cross-entropy on kept examples, divided by the *batch size*.

    The loss of paper Eq. 4, 7 and 9:

    $$
    \mathcal L(\mathcal B^U) = -\frac{1}{|\mathcal B^U|} \sum_{i \in \mathcal B^U}
    \mathrm{mask}_i \log \operatorname{softmax}(f_i)[\text{target}_i]
    $$

    The divisor is $|\mathcal B^U|$, all examples, not the number kept: a batch in
    which few examples pass the mask contributes a small loss, as in FixMatch. A batch of
    size 0 gives 0 (not NaN). Dropped examples (mask ``False`` or weight 0) contribute exactly
    0, to the loss and to the gradient, even if their logits are not finite. A float mask
    weighs each example's term (``mask_i`` in ``[0, 1]`` above), the divisor unchanged. Under
    autocast the cross-entropy runs in float32.

    With ``soft=True`` each kept example trains on the whole distribution
    ``pseudo.probs`` instead of its argmax, $-\sum_c q_{i,c} \log
    \operatorname{softmax}(f_i)_c$ (USB's ``hard_label=False``; for FF2 the fused
    distribution of Eq. 8).

    Args:
        logits: The model's scores on the strongly augmented batch, $f = M_\theta(SA(x))$
            before the softmax.
        pseudo: Targets and mask from a fusion rule.
        soft: Train on ``pseudo.probs`` (soft targets) rather than ``pseudo.targets``.
        validate: Check that the targets are in range, the kept rows' logits finite, a float
            mask's weights in ``[0, 1]`` and (``soft``) the kept rows of ``pseudo.probs``
            distributions (a device sync on CUDA).

    Shape:
        - logits: ``(batch, classes)``
        - output: ``()``, a scalar with gradient to ``logits``.

    Returns:
        The loss.

    Raises:
        TypeError: If ``pseudo`` is not a [PseudoLabels][].
        ValueError: If ``logits`` is not ``(batch, classes)`` floating, does not match the
            pseudo-labels' batch size or device, ``soft`` is asked of pseudo-labels without
            ``probs``, or (with ``validate``) a value is out of range.
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
    weighted = pseudo.mask.dtype != torch.bool
    trains = pseudo.mask > 0 if weighted else pseudo.mask
    if weighted and validate:
        check_in_range("pseudo.mask", pseudo.mask, 0.0, 1.0, validate=True)
    if soft:
        if pseudo.probs is None:
            raise fail("pseudo.probs", "a distribution per example for soft=True", None)
        check_same_shape("pseudo.probs", pseudo.probs, "logits", logits)
        check_probs("pseudo.probs", pseudo.probs, validate=validate, rows=trains)
    else:
        check_labels("pseudo.targets", pseudo.targets, logits.shape[1], validate=validate)
    check_finite("logits", logits, validate=validate, where=trains.unsqueeze(1))
    # Dropped rows are replaced by zeros *before* the cross-entropy: a non-finite dropped row
    # then contributes 0 to the loss and 0 (not NaN) to the gradient.
    keep = trains.unsqueeze(1)
    safe = torch.where(keep, logits, torch.zeros((), dtype=logits.dtype, device=logits.device))
    if soft:
        assert pseudo.probs is not None
        target = torch.where(keep, pseudo.probs.detach().float(), 0.0)
        per_example = -(target * F.log_softmax(safe.float(), dim=1)).sum(dim=1)
    else:
        per_example = F.cross_entropy(safe, pseudo.targets, reduction="none")
    if weighted:
        per_example = per_example * pseudo.mask.to(per_example.dtype)
    kept = torch.where(trains, per_example, torch.zeros_like(per_example))
    return kept.sum() / max(pseudo.batch_size, 1)


def _check_setting(rule: object, name: str, value: float) -> None:
    """Check a rule's setting and store it as a float (a 0-D tensor is read once, here)."""
    try:
        v = check_unit_interval(name, value)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{type(rule).__name__}: {err}") from None
    object.__setattr__(rule, name, v)


@dataclass(frozen=True)
class ConsistentAndRandom:
    """FF1 as a [FusionFn][]: see [consistent_and_random][] (paper Eq. 5-7).

    Attributes:
        epsilon: Random keep rate in ``[0, 1]``.
        validate: Check probability values on every call.
    """

    epsilon: float
    validate: bool = True

    def __post_init__(self) -> None:
        _check_setting(self, "epsilon", self.epsilon)

    def __call__(
        self,
        audio_probs: Tensor,
        visual_probs: Tensor,
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
    """FF2 as a [FusionFn][]: see [weighted_fusion][] (paper Eq. 8-9).

    Attributes:
        alpha: Weight of the audio distribution in ``[0, 1]``.
        threshold: Confidence threshold in ``[0, 1]`` (paper: 0.9; USB: 0.95).
        validate: Check probability values on every call.
        inclusive: Keep ``max p >= threshold`` (USB's comparison) instead of ``>``.
    """

    alpha: float
    threshold: float = 0.9
    validate: bool = True
    inclusive: bool = False

    def __post_init__(self) -> None:
        _check_setting(self, "alpha", self.alpha)
        _check_setting(self, "threshold", self.threshold)

    def __call__(
        self,
        audio_probs: Tensor,
        visual_probs: Tensor,
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
            inclusive=self.inclusive,
            validate=self.validate,
        )


@dataclass(frozen=True)
class AudioOnly:
    """FixMatch as a [FusionFn][]: see [audio_only][] (paper Eq. 3-4).

    The visual input is not read (its shape, dtype and device are checked, not its values),
    and ``valid`` is checked but not used: FixMatch needs no visual evidence.

    Attributes:
        threshold: Confidence threshold in ``[0, 1]`` (paper: 0.9; USB: 0.95).
        validate: Check probability values on every call.
        inclusive: Keep ``max p >= threshold`` (USB's comparison) instead of ``>``.
    """

    threshold: float = 0.9
    validate: bool = True
    inclusive: bool = False

    def __post_init__(self) -> None:
        _check_setting(self, "threshold", self.threshold)

    def __call__(
        self,
        audio_probs: Tensor,
        visual_probs: Tensor,
        *,
        valid: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PseudoLabels:
        """Pseudo-label one batch from the audio alone."""
        check_rank("audio_probs", audio_probs, 2, "(batch, classes)")
        _check_ignored("visual_probs", visual_probs, "audio_probs", audio_probs)
        _check_valid(valid, "audio_probs", audio_probs)
        check_generator(generator, audio_probs.device)
        return audio_only(
            audio_probs, self.threshold, inclusive=self.inclusive, validate=self.validate
        )


@dataclass(frozen=True)
class VisualOnly:
    """Direct CMKT as a [FusionFn][]: see [visual_only][].

    Attributes:
        validate: Check probability values on every call.
    """

    validate: bool = True

    def __call__(
        self,
        audio_probs: Tensor,
        visual_probs: Tensor,
        *,
        valid: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PseudoLabels:
        """Pseudo-label one batch from the face model alone."""
        check_rank("visual_probs", visual_probs, 2, "(batch, classes)")
        _check_ignored("audio_probs", audio_probs, "visual_probs", visual_probs)
        check_generator(generator, visual_probs.device)
        return visual_only(visual_probs, valid=valid, validate=self.validate)


class VisualBank(nn.Module):
    """The visual evidence of a whole unlabelled set, looked up by example id.

    A semi-supervised loop (USB's ``train_step`` among them) receives the dataset indices of
    its unlabelled batch; ``bank(ids)`` returns those examples' pooled, mapped visual
    probabilities and their ``valid`` flags, ready for any [FusionFn][]. Both live in
    buffers, so they move with ``.to(device)`` and are saved in ``state_dict``.

    Args:
        probs: Target-class probabilities per example (rows of invalid examples are not read).
        valid: Which examples have usable visual evidence.
        validate: Check that the valid rows of ``probs`` are distributions.

    Shape:
        - probs: ``(examples, classes)`` floating; valid: ``(examples,)`` bool.

    Raises:
        ValueError: On malformed or (with ``validate``) out-of-range inputs.

    Examples:
        >>> import torch
        >>> from sertoolkit.taxonomy import EXPRESSION_TO_IEMOCAP
        >>> faces = torch.tensor([[0.1, 0.0, 0.0, 0.7, 0.1, 0.1, 0.0],   # happiness
        ...                       [0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.1]])  # surprise: unmapped
        >>> bank = VisualBank.from_expressions(faces, torch.tensor([True, True]),
        ...                                    EXPRESSION_TO_IEMOCAP)
        >>> probs, valid = bank(torch.tensor([1, 0]))
        >>> valid
        tensor([False,  True])
    """

    probs: Tensor
    valid: Tensor

    def __init__(self, probs: Tensor, valid: Tensor, *, validate: bool = True) -> None:
        super().__init__()
        check_rank("probs", probs, 2, "(examples, classes)")
        check_floating("probs", probs)
        check_tensor("valid", valid)
        _check_valid(valid, "probs", probs)
        check_probs("probs", probs, validate=validate, rows=valid)
        uniform = torch.full_like(probs, 1.0 / max(probs.shape[1], 1))
        # invalid rows become uniform: never read by a rule, but never NaN either
        self.register_buffer("probs", torch.where(valid.unsqueeze(1), probs, uniform).detach())
        self.register_buffer("valid", valid.clone())

    @classmethod
    def from_expressions(
        cls,
        expression_probs: Tensor,
        has_face: Tensor,
        label_map: LabelMap,
        *,
        validate: bool = True,
    ) -> VisualBank:
        """Build the bank from pooled face-expression probabilities and a label map.

        An example is valid when it had a face and its most likely expression maps to a
        target class ([maps_to_target][sertoolkit.taxonomy.maps_to_target]); its probabilities are
        [project][sertoolkit.taxonomy.project]-ed onto the target classes.

        Shape:
            - expression_probs: ``(examples, len(label_map.source))``; has_face
              ``(examples,)`` bool. Rows without a face are not read.
        """
        if not isinstance(label_map, LabelMap):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(
                f"Expected `label_map` to be a LabelMap, but got {type(label_map).__name__}."
            )
        check_rank("expression_probs", expression_probs, 2, "(examples, expressions)")
        check_floating("expression_probs", expression_probs)
        check_mask("has_face", has_face, expression_probs.shape[0])
        check_same_device("has_face", has_face, "expression_probs", expression_probs)
        if expression_probs.shape[1] != len(label_map.source):
            raise fail(
                "expression_probs",
                f"a tensor with {len(label_map.source)} classes {label_map.source}",
                describe(expression_probs),
            )
        check_probs("expression_probs", expression_probs, validate=validate, rows=has_face)
        n, classes = expression_probs.shape[0], len(label_map.target)
        faces = expression_probs[has_face]
        mapped = torch.full(
            (n, classes), 1.0 / classes, dtype=expression_probs.dtype, device=has_face.device
        )
        mapped[has_face] = project(faces, label_map, validate=False)
        valid = has_face.clone()
        valid[has_face] = maps_to_target(faces, label_map, validate=False)
        return cls(mapped, valid, validate=False)

    @classmethod
    def from_evidence(
        cls, evidence: VisualEvidence, label_map: LabelMap, *, validate: bool = True
    ) -> VisualBank:
        """Build the bank from [sertoolkit.datasets.expression_probabilities][]' result."""
        probs, has_face = getattr(evidence, "probs", None), getattr(evidence, "has_face", None)
        if not isinstance(probs, Tensor) or not isinstance(has_face, Tensor):
            raise TypeError(
                "Expected `evidence` to be a VisualEvidence (with `probs` and `has_face`), "
                f"but got {type(evidence).__name__}."
            )
        return cls.from_expressions(probs, has_face, label_map, validate=validate)

    def forward(self, ids: Tensor, *, validate: bool = True) -> tuple[Tensor, Tensor]:
        """``(probs, valid)`` of examples ``ids`` (``(batch, classes)`` and ``(batch,)``).

        ``validate`` checks that the ids are in range (a device sync on CUDA).
        """
        check_labels("ids", ids, self.probs.shape[0], validate=validate)
        check_same_device("ids", ids, "probs", self.probs)
        return self.probs[ids], self.valid[ids]

    def extra_repr(self) -> str:
        """Show the size."""
        return f"examples={self.probs.shape[0]}, classes={self.probs.shape[1]}"
