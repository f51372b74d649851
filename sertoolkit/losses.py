"""Unlabelled losses of the semi-supervised baselines (paper Sec. 2.3 and 4.3).

* [fixmatch_loss][]: FixMatch (Sohn et al. 2020), the paper's SSL branch (Eq. 3-4).
* [pi_model_loss][]: the Pi-model (Laine & Aila 2017).
* [TemporalEnsembling][]: temporal ensembling (Laine & Aila 2017), a per-example EMA of
  predictions kept as module buffers so it checkpoints with ``state_dict``.
* [sigmoid_rampup][]: the consistency-weight ramp-up both Laine & Aila methods use.
* [cmkt_ssl_loss][]: the whole labelled + unlabelled loss of one step of Algorithm 1
  (augment, one concatenated forward, weak-view pseudo-labels, fusion, Eq. 1 + 4/7/9), the
  fast path for any [FusionFn][sertoolkit.fusion.FusionFn].

The cross-modal rules (FF1, FF2, direct CMKT) produce [sertoolkit.fusion.PseudoLabels][]
and are scored with [sertoolkit.fusion.masked_cross_entropy][].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol, cast

import torch
from torch import Tensor, nn

from sertoolkit._validation import (
    check_finite,
    check_floating,
    check_generator,
    check_integer,
    check_labels,
    check_lengths,
    check_mask,
    check_positive_int,
    check_probs,
    check_rank,
    check_same_device,
    check_same_shape,
    check_unit_interval,
    describe,
    fail,
)
from sertoolkit.fusion import FusionFn, PseudoLabels, audio_only, masked_cross_entropy
from sertoolkit.masking import lengths_to_mask

__all__ = [
    "Augmentation",
    "SSLModel",
    "SSLStep",
    "TemporalEnsembling",
    "cmkt_ssl_loss",
    "fixmatch_loss",
    "pi_model_loss",
    "sigmoid_rampup",
]


def _check_logits(name: str, logits: Tensor) -> None:
    check_rank(name, logits, 2, "(batch, classes)")
    check_floating(name, logits)


def fixmatch_loss(
    weak_logits: Tensor,
    strong_logits: Tensor,
    threshold: float = 0.9,
    *,
    inclusive: bool = False,
    validate: bool = True,
) -> Tensor:
    r"""FixMatch's unlabelled loss (paper Eq. 3-4).

    $$
    \mathcal L(\mathcal B^U) = -\frac{1}{|\mathcal B^U|} \sum_i
    \mathbf{1}\{\max \tilde p^a_i > \tau\} \log \tilde p_i[\arg\max \tilde p^a_i],
    \quad \tilde p^a = \operatorname{softmax}(\text{weak}), \
    \tilde p = \operatorname{softmax}(\text{strong})
    $$

    The weak branch is detached (it only supplies targets). Equal to
    ``masked_cross_entropy(strong_logits, audio_only(weak_logits.softmax(1), threshold))``.

    Args:
        weak_logits: Logits on the weakly augmented batch.
        strong_logits: Logits on the strongly augmented batch (gradient flows here).
        threshold: $\tau$ in ``[0, 1]`` (paper: 0.9; USB: 0.95), strict unless
            ``inclusive``.
        inclusive: Keep ``max p >= threshold`` (USB's comparison).
        validate: Check that every weak row and every kept strong row is finite (a device
            sync on CUDA). A non-finite weak row would otherwise never be kept, silently.

    Shape:
        - weak_logits, strong_logits: ``(batch, classes)``
        - output: ``()``; 0 for an empty batch.

    Returns:
        The loss.

    Raises:
        ValueError: If the logits are malformed or differ in shape, ``threshold`` is outside
            ``[0, 1]``, or (with ``validate``) a weak or kept strong row is not finite.
    """
    tau = check_unit_interval("threshold", threshold)
    _check_logits("weak_logits", weak_logits)
    _check_logits("strong_logits", strong_logits)
    check_same_shape("strong_logits", strong_logits, "weak_logits", weak_logits)
    check_same_device("strong_logits", strong_logits, "weak_logits", weak_logits)
    check_finite("weak_logits", weak_logits, validate=validate)
    weak_probs = weak_logits.detach().float().softmax(dim=1)
    pseudo = audio_only(weak_probs, tau, inclusive=inclusive, validate=False)
    if validate:
        check_finite("strong_logits", strong_logits, validate=True, where=pseudo.mask.unsqueeze(1))
    return masked_cross_entropy(strong_logits, pseudo, validate=False)


def pi_model_loss(logits_a: Tensor, logits_b: Tensor, *, validate: bool = True) -> Tensor:
    r"""Pi-model consistency loss (Laine & Aila 2017, Sec. 2.1).

    The squared difference of the softmaxes of two stochastic forward passes of the same
    batch, averaged over examples and classes:

    $$
    \frac{1}{C |\mathcal B|} \sum_i \lVert \operatorname{softmax}(z_i) -
    \operatorname{softmax}(\tilde z_i) \rVert_2^2
    $$

    As in the original, gradient flows through both passes. Multiply by
    [sigmoid_rampup][] times the maximum weight.

    Args:
        logits_a: Logits of the first pass.
        logits_b: Logits of the second pass.
        validate: Check that both are finite (a device sync on CUDA).

    Shape:
        - logits_a, logits_b: ``(batch, classes)``
        - output: ``()``; 0 for an empty batch. Computed in at least float32.

    Returns:
        The loss.

    Raises:
        ValueError: If the logits are malformed, differ in shape or (with ``validate``) are
            not finite.
    """
    _check_logits("logits_a", logits_a)
    _check_logits("logits_b", logits_b)
    check_same_shape("logits_b", logits_b, "logits_a", logits_a)
    check_same_device("logits_b", logits_b, "logits_a", logits_a)
    check_finite("logits_a", logits_a, validate=validate)
    check_finite("logits_b", logits_b, validate=validate)
    pa = logits_a.float().softmax(dim=1)
    pb = logits_b.float().softmax(dim=1)
    return (pa - pb).square().sum() / max(pa.numel(), 1)


def sigmoid_rampup(step: int | float, rampup_length: int | float) -> float:
    r"""The sigmoid-shaped ramp-up of Laine & Aila (2017): $e^{-5 (1 - t)^2}$.

    $t = \min(\text{step} / \text{rampup\_length}, 1)$; rises from
    $e^{-5} \approx 0.0067$ at step 0 to 1 at ``rampup_length`` and stays at 1.
    ``rampup_length=0`` means no ramp-up (always 1).

    Args:
        step: Current step or epoch (>= 0).
        rampup_length: Length of the ramp-up in the same unit (>= 0).

    Returns:
        The weight in ``(0, 1]``.

    Raises:
        ValueError: If ``step`` or ``rampup_length`` is negative or not finite.

    Examples:
        >>> round(sigmoid_rampup(0, 80), 4), sigmoid_rampup(80, 80), sigmoid_rampup(500, 80)
        (0.0067, 1.0, 1.0)
    """
    for name, value in (("step", step), ("rampup_length", rampup_length)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"Expected `{name}` to be a number, but got {type(value).__name__}.")
        if not (math.isfinite(value) and value >= 0):
            raise fail(name, "a finite number >= 0", value)
    if rampup_length == 0:
        return 1.0
    t = min(float(step) / float(rampup_length), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)


class TemporalEnsembling(nn.Module):
    r"""Temporal ensembling targets (Laine & Aila 2017, Sec. 2.2), kept per example.

    For every unlabelled example ``i`` (a global example id in ``[0, num_examples)``) it keeps
    an exponential moving average of the model's predicted distributions and the number of
    updates $n_i$; the bias-corrected target is

    $$
    Z_i \leftarrow \alpha Z_i + (1 - \alpha) z_i, \qquad
    \tilde z_i = Z_i / (1 - \alpha^{n_i})
    $$

    The original updates every example once per epoch from that epoch's predictions; updating
    an example each time it is seen, as here, is the same when every example is seen once per
    epoch, and stays correct when batches are sampled with replacement or sharded, because the
    correction uses each example's own count. State lives in buffers (``ensemble``, ``count``),
    so ``state_dict`` checkpoints it. No host sync with ``validate=False``.

    Args:
        num_examples: Number of unlabelled examples (size of the id space).
        num_classes: Number of classes.
        alpha: EMA momentum in ``[0, 1)`` (Laine & Aila: 0.6).

    Raises:
        ValueError: On a non-positive size or ``alpha`` outside ``[0, 1)``.

    Examples:
        >>> te = TemporalEnsembling(num_examples=100, num_classes=4)
        >>> ids = torch.tensor([3, 7])
        >>> logits = torch.randn(2, 4, requires_grad=True)
        >>> loss = te.loss(logits, ids)          # 0 at first: nothing ensembled yet
        >>> te.update(ids, logits.softmax(1))    # after the step
        >>> round(te.targets(ids)[1].sum().item(), 5)  # bias-corrected: a distribution
        1.0
    """

    ensemble: Tensor
    count: Tensor

    def __init__(self, num_examples: int, num_classes: int, alpha: float = 0.6) -> None:
        super().__init__()
        self.num_examples = check_positive_int("num_examples", num_examples)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.alpha = check_unit_interval("alpha", alpha, open_right=True)
        self.register_buffer("ensemble", torch.zeros(num_examples, num_classes))
        self.register_buffer("count", torch.zeros(num_examples, dtype=torch.long))

    def _check_ids(self, ids: Tensor, validate: bool) -> None:
        check_rank("ids", ids, 1, "(batch,)")
        check_integer("ids", ids)
        check_same_device("ids", ids, "ensemble", self.ensemble)
        check_labels("ids", ids, self.num_examples, validate=validate)

    def targets(self, ids: Tensor, *, validate: bool = True) -> Tensor:
        """Bias-corrected ensemble targets of examples ``ids``; zeros for unseen examples.

        Args:
            ids: Global example ids in ``[0, num_examples)``.
            validate: Check that the ids are in range (a device sync on CUDA).

        Shape:
            - ids: ``(batch,)`` integer; output ``(batch, classes)``.
        """
        self._check_ids(ids, validate)
        z = self.ensemble[ids]
        n = self.count[ids]
        correction = 1.0 - torch.pow(self.alpha, n.to(z.dtype))
        return torch.where((n > 0).unsqueeze(1), z / correction.clamp(min=1e-12).unsqueeze(1), 0.0)

    def seen(self, ids: Tensor, *, validate: bool = True) -> Tensor:
        """Bool ``(batch,)``: whether each example has been updated at least once."""
        self._check_ids(ids, validate)
        return self.count[ids] > 0

    @torch.no_grad()
    def update(self, ids: Tensor, probs: Tensor, *, validate: bool = True) -> None:
        """Fold the predicted distributions ``probs`` of examples ``ids`` into the ensemble.

        If an id repeats within a batch, one of its rows is used (which one is unspecified).

        Args:
            ids: Global example ids in ``[0, num_examples)``.
            probs: The model's predicted distributions for them (probabilities, not logits).
            validate: Check that the ids are in range and ``probs`` rows are distributions
                (a device sync on CUDA); a NaN stored here would stay in the ensemble.

        Shape:
            - ids: ``(batch,)`` integer; probs: ``(batch, classes)``.

        Raises:
            ValueError: On malformed ``ids`` or ``probs``.
        """
        self._check_ids(ids, validate)
        check_rank("probs", probs, 2, "(batch, classes)")
        check_floating("probs", probs)
        if tuple(probs.shape) != (ids.shape[0], self.num_classes):
            raise fail("probs", f"of shape {(ids.shape[0], self.num_classes)}", describe(probs))
        check_same_device("probs", probs, "ensemble", self.ensemble)
        check_probs("probs", probs, validate=validate)
        z = probs.detach().to(self.ensemble.dtype)
        new = self.alpha * self.ensemble[ids] + (1.0 - self.alpha) * z
        self.ensemble[ids] = new
        self.count[ids] = self.count[ids] + 1

    def loss(self, logits: Tensor, ids: Tensor, *, validate: bool = True) -> Tensor:
        r"""Squared difference between the current predictions and the ensemble targets.

        $$
        \frac{1}{C |\mathcal B|} \sum_{i \text{ seen}}
        \lVert \operatorname{softmax}(z_i) - \tilde z_i \rVert_2^2
        $$

        Examples never updated yet have no target and contribute 0; the divisor is the whole
        batch (as for the other unlabelled losses). Multiply by [sigmoid_rampup][].

        Args:
            logits: The model's logits for examples ``ids``.
            ids: Global example ids in ``[0, num_examples)``.
            validate: Check that the ids are in range and the logits finite (a device sync
                on CUDA).

        Shape:
            - logits: ``(batch, classes)``; ids: ``(batch,)``; output ``()``.
        """
        _check_logits("logits", logits)
        self._check_ids(ids, validate)
        check_finite("logits", logits, validate=validate)
        if tuple(logits.shape) != (ids.shape[0], self.num_classes):
            raise fail("logits", f"of shape {(ids.shape[0], self.num_classes)}", describe(logits))
        probs = logits.float().softmax(dim=1)
        diff = (probs - self.targets(ids, validate=False)).square().sum(dim=1)
        diff = torch.where(self.seen(ids, validate=False), diff, 0.0)
        return diff.sum() / max(probs.numel(), 1)

    def extra_repr(self) -> str:
        """Show the settings."""
        return (
            f"num_examples={self.num_examples}, num_classes={self.num_classes}, alpha={self.alpha}"
        )


class SSLModel(Protocol):
    """A sequence classifier called as ``model(x, lengths, validate=False) -> logits``.

    [sertoolkit.encoders.TransformerSER][] is one. A model may also return a mapping
    with a ``"logits"`` entry (USB's ``{"logits", "feat"}``), or anything a ``logits_of``
    callable reads the logits from (see [cmkt_ssl_loss][]).
    """

    def __call__(self, x: Tensor, lengths: Tensor, *, validate: bool = ...) -> Any:
        """Logits ``(batch, classes)`` of ``(batch, time, dim)`` features, or an output."""
        ...


def _read_logits(out: object, logits_of: Callable[[Any], Tensor] | None) -> Tensor:
    """The logits in a model's output (see ``cmkt_ssl_loss``'s ``logits_of``)."""
    if logits_of is not None:
        out = logits_of(out)
    elif isinstance(out, Mapping) and "logits" in out:
        out = cast(Mapping[str, object], out)["logits"]
    if not isinstance(out, Tensor):
        kind = type(cast(object, out)).__name__
        names: list[str] = []
        if isinstance(out, Mapping):
            names = sorted(str(k) for k in cast(Mapping[object, object], out))
        keys = f" with keys {names}" if names else ""
        raise TypeError(
            "Expected `model` to return a tensor of logits or a mapping with a 'logits' entry, "
            f"but got {kind}{keys}; pass logits_of= to read the logits from it."
        )
    return out


class Augmentation(Protocol):
    """An augmentation called as ``aug(x, lengths, generator=g)``.

    [sertoolkit.augment.SpecAugment][] and [sertoolkit.augment.FeatureDropout][] are.
    """

    def __call__(
        self, x: Tensor, lengths: Tensor, /, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """The augmented ``(batch, time, dim)`` features."""
        ...


class SSLStep(NamedTuple):
    r"""What [cmkt_ssl_loss][] returns: the loss to backpropagate and its parts.

    Attributes:
        loss: $\mathcal L_l + \lambda_u \mathcal L_u$, a scalar with gradient.
        labelled: $\mathcal L_l$ (Eq. 1), with gradient (e.g. to reweight it when a
            data-parallel rank holds an uneven share of the batch).
        unlabelled: $\mathcal L_u$ (Eq. 4, 7 or 9 by the fusion rule), with gradient.
        pseudo: The fused pseudo-labels of the unlabelled batch (for telemetry; on device).
    """

    loss: Tensor
    labelled: Tensor
    unlabelled: Tensor
    pseudo: PseudoLabels


def _pad_time(x: Tensor, time: int) -> Tensor:
    if x.shape[1] == time:
        return x
    return nn.functional.pad(x, (0, 0, 0, time - x.shape[1]))


def _check_batch(name: str, x: Tensor, len_name: str, lengths: Tensor, validate: bool) -> None:
    check_rank(name, x, 3, "(batch, time, dim)")
    check_floating(name, x)
    check_lengths(len_name, lengths, x.shape[0], x.shape[1], validate=validate)
    check_same_device(len_name, lengths, name, x)
    if validate:
        valid = lengths_to_mask(lengths, x.shape[1], validate=False)
        check_finite(name, x, validate=True, where=valid.unsqueeze(2))


def cmkt_ssl_loss(
    model: SSLModel,
    x_l: Tensor,
    lengths_l: Tensor,
    y_l: Tensor,
    x_u: Tensor,
    lengths_u: Tensor,
    visual_probs: Tensor,
    fusion: FusionFn,
    *,
    weak: Augmentation,
    strong: Augmentation,
    visual_valid: Tensor | None = None,
    lambda_u: float = 0.1,
    generator: torch.Generator | None = None,
    concatenate: bool = True,
    soft_targets: bool = False,
    logits_of: Callable[[Any], Tensor] | None = None,
    validate: bool = True,
) -> SSLStep:
    r"""The loss of one training step of Algorithm 1: labelled CE plus fused unlabelled CE.

    $$
    \mathcal L = \frac{1}{|\mathcal B^L|} \sum_{i \in \mathcal B^L}
    \mathrm{CE}\big(y_i, M_\theta(SA(x_i))\big)
    + \lambda_u \, \mathcal L_u\big(M_\theta(SA(u)), \mathrm{fuse}(
    \operatorname{softmax} M_\theta(WA(u)), p^v)\big)
    $$

    Eq. 1 for the labelled term; the unlabelled term is
    [masked_cross_entropy][sertoolkit.fusion.masked_cross_entropy] on the pseudo-labels of
    ``fusion`` (Eq. 4 FixMatch, Eq. 7 FF1, Eq. 9 FF2, or any
    [FusionFn][sertoolkit.fusion.FusionFn]).

    Order of work, which fixes the order random numbers are drawn in: ``strong(x_l)``,
    ``strong(x_u)``, ``weak(x_u)`` from ``generator``; then one forward pass of both strongly
    augmented batches (concatenated along the batch, the shorter one zero-padded in time, so the
    encoder runs once on 2B examples), then the weak view's forward without gradient (it only
    labels; the model stays in its current mode, as in FixMatch), then fusion and the losses.

    With ``validate=False`` no host-device synchronisation happens here: no ``.item()``, no
    branching on values; masks stay on the device, and the library calls inside run with
    ``validate=False``. Shapes, dtypes and Python types are checked either way; the default
    ``validate=True`` also checks values (lengths and labels in range, finite valid frames,
    visual rows that are distributions), which costs a few syncs per call: switch it off in
    a training loop once the data are known to be clean.

    Args:
        model: The classifier ([SSLModel][]), e.g.
            [TransformerSER][sertoolkit.encoders.TransformerSER].
        x_l: Labelled features.
        lengths_l: Valid frames of ``x_l`` (valid frames first).
        y_l: Labels of ``x_l``.
        x_u: Unlabelled features.
        lengths_u: Valid frames of ``x_u``.
        visual_probs: Utterance-level visual class probabilities of the unlabelled clips.
        fusion: The pseudo-labelling rule.
        weak: Weak augmentation (paper: feature dropout).
        strong: Strong augmentation (paper: SpecAugment).
        visual_valid: Which unlabelled clips have visual evidence (``None``: all).
        lambda_u: Weight of the unlabelled term (paper: 0.1).
        generator: Source of the augmentations' and the fusion rule's randomness.
        concatenate: One forward for both strong views (``False``: two forwards; the same
            result, for models whose batch statistics must not mix, e.g. batch norm).
        soft_targets: Train the unlabelled term on the rule's distribution (``pseudo.probs``:
            the fused one for FF2) instead of its argmax (``soft`` of
            [masked_cross_entropy][sertoolkit.fusion.masked_cross_entropy]).
        logits_of: Reads the logits from the model's output when it is not a tensor. By
            default a tensor is the logits and a mapping's ``"logits"`` entry is (USB's
            models return ``{"logits": ..., "feat": ...}``); any other output is a
            ``TypeError`` that says what came back.
        validate: Check input values too (see above).

    Shape:
        - x_l: ``(B_l, T_l, D)``; lengths_l, y_l: ``(B_l,)``
        - x_u: ``(B_u, T_u, D)``; lengths_u, visual_valid: ``(B_u,)``
        - visual_probs: ``(B_u, classes)``

    An empty labelled batch gives a labelled term of 0 (not NaN), as an empty unlabelled batch
    already does.

    Returns:
        An [SSLStep][]; call ``.loss.backward()``.

    Raises:
        TypeError: If an argument has the wrong Python type (``fusion``, ``weak`` and
            ``strong`` must be callable).
        ValueError: If a tensor has the wrong rank or dtype, the batch sizes or feature
            dimensions disagree, ``lambda_u`` is negative or not finite, or (with
            ``validate``) a value is out of range.
    """
    _check_batch("x_l", x_l, "lengths_l", lengths_l, validate)
    _check_batch("x_u", x_u, "lengths_u", lengths_u, validate)
    if x_l.shape[2] != x_u.shape[2]:
        raise fail("x_u", f"features of dimension {x_l.shape[2]} like `x_l`", describe(x_u))
    if x_u.dtype != x_l.dtype:
        raise fail("x_u", f"of the dtype of `x_l` ({x_l.dtype})", describe(x_u))
    check_labels("y_l", y_l, None, validate=False)
    if y_l.shape[0] != x_l.shape[0]:
        raise fail("y_l", f"of shape ({x_l.shape[0]},), one label per example", describe(y_l))
    check_same_device("y_l", y_l, "x_l", x_l)
    check_rank("visual_probs", visual_probs, 2, "(batch, classes)")
    check_floating("visual_probs", visual_probs)
    if visual_probs.shape[0] != x_u.shape[0]:
        raise fail("visual_probs", f"a tensor with {x_u.shape[0]} rows", describe(visual_probs))
    if visual_valid is not None:
        check_mask("visual_valid", visual_valid, x_u.shape[0])
    check_probs("visual_probs", visual_probs, validate=validate, rows=visual_valid)
    for name, fn in (("model", model), ("fusion", fusion), ("weak", weak), ("strong", strong),
                     ("logits_of", logits_of if logits_of is not None else len)):  # fmt: skip
        if not callable(fn):
            raise TypeError(f"Expected `{name}` to be callable, but got {type(fn).__name__}.")
    if isinstance(lambda_u, bool) or not isinstance(lambda_u, (int, float)):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"Expected `lambda_u` to be a float, but got {type(lambda_u).__name__}.")
    lam = float(lambda_u)
    if not (math.isfinite(lam) and lam >= 0):
        raise fail("lambda_u", "a finite number >= 0", lambda_u)
    check_generator(generator, x_l.device)
    strong_l = strong(x_l, lengths_l, generator=generator)
    strong_u = strong(x_u, lengths_u, generator=generator)
    weak_u = weak(x_u, lengths_u, generator=generator)
    if concatenate:
        time = max(x_l.shape[1], x_u.shape[1])
        logits = _read_logits(
            model(
                torch.cat([_pad_time(strong_l, time), _pad_time(strong_u, time)]),
                torch.cat([lengths_l, lengths_u]),
                validate=False,
            ),
            logits_of,
        )
        logits_l, logits_u = logits[: x_l.shape[0]], logits[x_l.shape[0] :]
    else:
        logits_l = _read_logits(model(strong_l, lengths_l, validate=False), logits_of)
        logits_u = _read_logits(model(strong_u, lengths_u, validate=False), logits_of)
    with torch.no_grad():
        weak_out = _read_logits(model(weak_u, lengths_u, validate=False), logits_of)
        audio = weak_out.float().softmax(dim=-1)
    pseudo = fusion(audio, visual_probs.to(audio.dtype), valid=visual_valid, generator=generator)
    if validate:
        check_labels("y_l", y_l, logits_l.shape[1], validate=True)
    # the mean over the labelled batch; an empty batch gives 0, not 0 / 0
    loss_l = nn.functional.cross_entropy(logits_l.float(), y_l, reduction="sum") / max(
        y_l.shape[0], 1
    )
    loss_u = masked_cross_entropy(logits_u, pseudo, soft=soft_targets, validate=False)
    return SSLStep(loss_l + lam * loss_u, loss_l, loss_u, pseudo)
