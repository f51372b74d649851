"""Sample-selection masks for pseudo-labelling (paper Sec. 3.3-3.4, Eq. 4-6, 9).

Each function returns a bool ``(batch,)`` tensor: ``True`` keeps an unlabelled example in the
unlabelled loss, ``False`` drops it. The masks are combined with ``&`` and ``|`` and consumed by
[sertoolkit.fusion.masked_cross_entropy][] through a [sertoolkit.fusion.PseudoLabels][].

[lengths_to_mask][] converts the library's padded-sequence convention (valid frames first,
padding after them, ``lengths[i]`` valid frames in example ``i``) into a bool validity mask.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sertoolkit._validation import (
    check_generator,
    check_integer,
    check_lengths,
    check_non_negative_int,
    check_probs,
    check_rank,
    check_same_shape,
    check_unit_interval,
)

__all__ = ["agreement_mask", "confidence_mask", "lengths_to_mask", "random_mask"]


def confidence_mask(
    probs: Tensor, threshold: float = 0.9, *, inclusive: bool = False, validate: bool = True
) -> Tensor:
    r"""Keep examples whose most likely class is more probable than ``threshold``.

    The indicator of paper Eq. 4 and Eq. 9; the comparison is strict, as written there:

    $$
    \mathrm{mask}_i = \mathbf{1}\{\max_c p_{i,c} > \tau\}
    $$

    Args:
        probs: Class probabilities, rows summing to 1.
        threshold: $\tau$ in ``[0, 1]`` (the paper uses 0.9; USB's FixMatch 0.95), a
            number or a 0-D tensor (read once: a device sync on CUDA). With ``threshold=1``
            and a strict comparison no example is kept.
        inclusive: Keep ``max p >= threshold`` instead (USB / FixMatch code's comparison).
        validate: Check that ``probs`` holds probabilities (a device sync on CUDA). Shapes and
            dtypes are always checked.

    Shape:
        - probs: ``(batch, classes)``
        - output: ``(batch,)``, bool, on the device of ``probs``.

    Returns:
        The bool mask.

    Raises:
        ValueError: If ``probs`` is not a 2-D floating tensor of probabilities or ``threshold``
            is outside ``[0, 1]``.

    Examples:
        >>> import torch
        >>> confidence_mask(torch.tensor([[0.95, 0.05], [0.6, 0.4]]), 0.9)
        tensor([ True, False])
    """
    tau = check_unit_interval("threshold", threshold)
    check_probs("probs", probs, validate=validate)
    return exceeds(probs.amax(dim=1), tau, inclusive=inclusive)


def exceeds(values: Tensor, threshold: float, *, inclusive: bool = False) -> Tensor:
    """``values > threshold`` in float64, or ``values >= threshold`` in their dtype if inclusive.

    The strict comparison is the paper's: comparing it in the tensor's own dtype would round
    the threshold first (float32 rounds 0.99999999 to 1.0, so a probability of 1.0 would not
    pass a threshold below 1). The inclusive one is USB's ``max_probs >= p_cutoff``, kept
    bit-compatible: a float32 probability of 0.95 passes a threshold of 0.95.
    """
    if inclusive:
        return values >= threshold
    return values.double() > threshold


def agreement_mask(labels_a: Tensor, labels_b: Tensor) -> Tensor:
    r"""Keep examples on which two hard pseudo-labels agree (paper Eq. 5).

    $$
    \mathrm{mask}_i = \mathbf{1}\{\tilde y^a_i = \tilde y^v_i\}
    $$

    Args:
        labels_a: Hard labels from one source (the paper: audio, $\tilde y^a$).
        labels_b: Hard labels from the other (the paper: visual, $\tilde y^v$).

    Shape:
        - labels_a, labels_b: ``(batch,)``, integer.
        - output: ``(batch,)``, bool.

    Returns:
        The bool mask.

    Raises:
        ValueError: If the labels are not 1-D integer tensors of the same shape.

    Examples:
        >>> import torch
        >>> agreement_mask(torch.tensor([0, 1, 2]), torch.tensor([0, 2, 2]))
        tensor([ True, False,  True])
    """
    check_rank("labels_a", labels_a, 1, "(batch,)")
    check_rank("labels_b", labels_b, 1, "(batch,)")
    check_integer("labels_a", labels_a)
    check_integer("labels_b", labels_b)
    check_same_shape("labels_b", labels_b, "labels_a", labels_a)
    return labels_a == labels_b


def random_mask(
    batch_size: int,
    rate: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""Keep each example independently with probability ``rate`` (paper Eq. 6).

    $$
    \mathrm{mask}_i = \mathbf{1}\{w_i < \epsilon\}, \quad w_i \sim U(0, 1)
    $$

    ``torch.rand`` draws from ``[0, 1)``, so ``rate=0`` keeps nothing and ``rate=1`` keeps
    everything, exactly.

    Args:
        batch_size: Number of examples.
        rate: $\epsilon$ in ``[0, 1]``.
        generator: Source of randomness; when given, the global RNG is not touched. It must live
            on ``device``.
        device: Where the mask is created (default: the generator's device, else the CPU).

    Shape:
        - output: ``(batch_size,)``, bool.

    Returns:
        The bool mask.

    Raises:
        ValueError: If ``batch_size`` is negative or ``rate`` is outside ``[0, 1]``.
    """
    check_non_negative_int("batch_size", batch_size)
    eps = check_unit_interval("rate", rate)
    if generator is not None and not isinstance(generator, torch.Generator):  # pyright: ignore[reportUnnecessaryIsInstance]
        check_generator(generator, device)  # raises the TypeError
    if device is None and generator is not None:
        device = generator.device
    check_generator(generator, device)
    w = torch.rand(batch_size, generator=generator, device=device)
    return w < eps


def lengths_to_mask(lengths: Tensor, max_length: int, *, validate: bool = True) -> Tensor:
    """Turn valid lengths into a bool validity mask.

    The library's one padded layout: example ``i`` holds ``lengths[i]`` valid frames at
    positions ``0 .. lengths[i] - 1`` and padding after them. This is the layout that
    [sertoolkit.augment.spec_augment][] and the encoders read ``lengths`` in.

    Args:
        lengths: Number of valid frames per example, in ``[0, max_length]``.
        max_length: Number of frames in the padded tensor.
        validate: Check the values of ``lengths`` (a device sync on CUDA).

    Shape:
        - lengths: ``(batch,)``, integer.
        - output: ``(batch, max_length)``, bool, ``True`` on valid frames.

    Returns:
        The validity mask.

    Raises:
        ValueError: If ``lengths`` is not a 1-D integer tensor with values in
            ``[0, max_length]``.

    Examples:
        >>> import torch
        >>> lengths_to_mask(torch.tensor([2, 0, 3]), 3)
        tensor([[ True,  True, False],
                [False, False, False],
                [ True,  True,  True]])
    """
    check_non_negative_int("max_length", max_length)
    check_rank("lengths", lengths, 1, "(batch,)")
    check_lengths("lengths", lengths, lengths.shape[0], max_length, validate=validate)
    positions = torch.arange(max_length, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)
