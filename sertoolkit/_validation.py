"""Argument checks shared by the public functions.

Every check raises `ValueError` (or `TypeError` for a wrong Python type) whose
message names the argument, what was expected and what was received, in the form
``Expected `name` to be ..., but got ...``.

Checks on tensor *shapes* and *dtypes* are free (no device work). Checks on tensor *values*
(probabilities in ``[0, 1]``, labels in range, ...) need the values on the host, which is a
device synchronisation on CUDA; the public functions run them only when called with
``validate=True`` (the default) so that a training loop can switch them off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__: list[str] = []


def fail(name: str, expected: str, got: object) -> ValueError:
    """Build the library's standard error for argument ``name``."""
    return ValueError(f"Expected `{name}` to be {expected}, but got {got}.")


def describe(x: Tensor) -> str:
    """Short description of a tensor for error messages."""
    return f"a tensor of shape {tuple(x.shape)} and dtype {x.dtype}"


def check_tensor(name: str, x: object) -> Tensor:
    """Raise `TypeError` unless ``x`` is a tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"Expected `{name}` to be a torch.Tensor, but got {type(x).__name__}.")
    return x


def check_finite(name: str, x: Tensor, *, validate: bool, where: Tensor | None = None) -> None:
    """With ``validate``, check that ``x`` holds no NaN or inf (a device sync on CUDA).

    ``where``, a bool tensor broadcastable to ``x``, restricts the check to the positions the
    function reads (valid frames, kept rows); the others may hold anything.
    """
    if not validate or not x.is_floating_point() or x.numel() == 0:
        return
    bad = ~torch.isfinite(x.detach())
    if where is not None:
        bad = bad & where
    if bool(bad.any()):
        index = tuple(int(i) for i in bad.nonzero()[0])
        value = float(x.detach()[index])
        raise fail(name, "finite (no NaN or inf)", f"{value} at index {index}")


def check_in_range(name: str, x: Tensor, low: float, high: float, *, validate: bool) -> None:
    """With ``validate``, check that every value of ``x`` is finite and in ``[low, high]``."""
    if not validate or x.numel() == 0:
        return
    v = x.detach()
    bad = ~((v >= low) & (v <= high))  # NaN compares False: caught here too
    if bool(bad.any()):
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise fail(name, f"values in [{low:g}, {high:g}]", f"{float(v[index])} at index {index}")


def check_model_dtype(name: str, x: Tensor, weight: Tensor) -> None:
    """Outside autocast, check that ``x`` has the dtype of a model's ``weight``."""
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise fail(
            name,
            f"of the model's dtype {weight.dtype} (convert one of them, or run under "
            "torch.autocast)",
            describe(x),
        )


def check_rank(name: str, x: Tensor, rank: int, layout: str) -> None:
    """Check the number of dimensions; ``layout`` names them, e.g. ``"(batch, classes)"``."""
    check_tensor(name, x)
    if x.dim() != rank:
        raise fail(name, f"a {rank}-D tensor {layout}", describe(x))


def check_floating(name: str, x: Tensor) -> None:
    """Check that ``x`` has a floating-point dtype."""
    if not x.is_floating_point():
        raise fail(name, "a floating-point tensor", describe(x))


def check_integer(name: str, x: Tensor) -> None:
    """Check that ``x`` has an integer (not bool, not floating) dtype."""
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise fail(name, "an integer tensor", describe(x))


def check_bool(name: str, x: Tensor) -> None:
    """Check that ``x`` is a bool tensor."""
    if x.dtype != torch.bool:
        raise fail(name, "a bool tensor", describe(x))


def check_same_shape(name: str, x: Tensor, ref_name: str, ref: Tensor) -> None:
    """Check that ``x`` has the shape of ``ref``."""
    if x.shape != ref.shape:
        raise fail(
            name,
            f"of the same shape as `{ref_name}` {tuple(ref.shape)}",
            f"shape {tuple(x.shape)}",
        )


def check_same_device(name: str, x: Tensor, ref_name: str, ref: Tensor) -> None:
    """Check that ``x`` lives on the device of ``ref``."""
    if x.device != ref.device:
        raise fail(name, f"on the device of `{ref_name}` ({ref.device})", f"device {x.device}")


def check_unit_interval(name: str, value: object, *, open_right: bool = False) -> float:
    """Check a number in ``[0, 1]`` (or ``[0, 1)``): a Python number or a 0-D real tensor.

    A tensor is read once (``float(value)``, a device sync on CUDA).
    """
    if isinstance(value, Tensor):
        if value.dim() != 0 or value.dtype == torch.bool or value.is_complex():
            raise fail(name, "a number or a 0-D real tensor", describe(value))
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Expected `{name}` to be a float, but got {type(value).__name__}.")
    v = float(value)
    ok = 0.0 <= v < 1.0 if open_right else 0.0 <= v <= 1.0
    if not ok or math.isnan(v):
        raise fail(name, "in [0, 1)" if open_right else "in [0, 1]", value)
    return v


def check_non_negative_int(name: str, value: object) -> int:
    """Check a Python ``int`` >= 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Expected `{name}` to be an int, but got {type(value).__name__}.")
    if value < 0:
        raise fail(name, "a non-negative int", value)
    return value


def check_positive_int(name: str, value: object) -> int:
    """Check a Python ``int`` >= 1."""
    v = check_non_negative_int(name, value)
    if v < 1:
        raise fail(name, "a positive int", value)
    return v


def check_positive_float(name: str, value: object) -> float:
    """Check a finite Python number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Expected `{name}` to be a float, but got {type(value).__name__}.")
    v = float(value)
    if not (v > 0.0 and math.isfinite(v)):
        raise fail(name, "a finite number > 0", value)
    return v


def prob_tolerance(dtype: torch.dtype) -> float:
    """Tolerance on a row sum of probabilities stored in ``dtype``."""
    return max(1e-4, 4.0 * torch.finfo(dtype).eps)


def check_probs(
    name: str,
    probs: Tensor,
    *,
    validate: bool,
    rows: Tensor | None = None,
) -> None:
    """Check a ``(batch, classes)`` tensor of probability rows.

    Shape and dtype are always checked. With ``validate`` the values are checked too: every
    entry in ``[0, 1]`` and every row summing to 1 within `prob_tolerance`. ``rows``,
    a bool ``(batch,)`` mask, restricts the value check to the rows marked ``True``.
    """
    check_rank(name, probs, 2, "(batch, classes)")
    check_floating(name, probs)
    if probs.shape[1] < 1:
        raise fail(name, "a tensor with at least one class", describe(probs))
    if not validate or probs.numel() == 0:
        return
    p = probs.detach()
    if rows is not None:
        p = p[rows]
    tol = prob_tolerance(probs.dtype)
    bad_range = ~((p >= -tol) & (p <= 1.0 + tol))
    if bool(bad_range.any()):
        row = int(bad_range.any(dim=1).nonzero()[0, 0])
        raise fail(name, "probabilities in [0, 1]", f"row {row} = {p[row]}")
    sums = p.float().sum(dim=1)
    bad_sum = (sums - 1.0).abs() > tol
    if bool(bad_sum.any()):
        row = int(bad_sum.nonzero()[0, 0])
        raise fail(
            name,
            f"rows that sum to 1 (tolerance {tol:.1e})",
            f"row {row} summing to {float(sums[row]):.6g}",
        )


def check_labels(name: str, labels: Tensor, num_classes: int | None, *, validate: bool) -> None:
    """Check a ``(n,)`` integer class-index tensor, with values in ``[0, num_classes)``."""
    check_rank(name, labels, 1, "(n,)")
    check_integer(name, labels)
    if validate and num_classes is not None and labels.numel() > 0:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            raise fail(name, f"class indices in [0, {num_classes})", f"values in [{lo}, {hi}]")


def check_lengths(
    name: str, lengths: Tensor, batch: int, max_length: int, *, validate: bool
) -> None:
    """Check a ``(batch,)`` integer tensor of valid lengths in ``[0, max_length]``."""
    check_rank(name, lengths, 1, "(batch,)")
    check_integer(name, lengths)
    if lengths.shape[0] != batch:
        raise fail(name, f"of shape ({batch},), one length per example", describe(lengths))
    if validate and lengths.numel() > 0:
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 0 or hi > max_length:
            raise fail(name, f"lengths in [0, {max_length}]", f"values in [{lo}, {hi}]")


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    """Check that a string option is one of ``choices``."""
    if not isinstance(value, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"Expected `{name}` to be a str, but got {type(value).__name__}.")
    if value not in choices:
        raise fail(name, f"one of {tuple(choices)}", repr(value))


def check_mask(name: str, mask: Tensor, batch: int) -> None:
    """Check a bool ``(batch,)`` mask."""
    check_rank(name, mask, 1, "(batch,)")
    check_bool(name, mask)
    if mask.shape[0] != batch:
        raise fail(name, f"of shape ({batch},), one flag per example", describe(mask))


def check_generator(generator: torch.Generator | None, device: torch.device | str | None) -> None:
    """Check that ``generator`` (if any) draws on the device type where tensors are made."""
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(
            "Expected `generator` to be a torch.Generator or None, but got "
            f"{type(generator).__name__}."
        )
    where = torch.device(device) if device is not None else torch.device("cpu")
    if generator.device.type != where.type:
        raise fail("generator", f"a torch.Generator on {where.type}", f"one on {generator.device}")


def check_fill(name: str, value: object, dtype: torch.dtype) -> float:
    """Check a fill value: a finite number representable in ``dtype``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Expected `{name}` to be a float, but got {type(value).__name__}.")
    v = float(value)
    if dtype == torch.bool:
        if v not in (0.0, 1.0):
            raise fail(name, f"0 or 1 for {dtype}", value)
        return v
    if not dtype.is_floating_point and not dtype.is_complex:
        iinfo = torch.iinfo(dtype)
        if not (math.isfinite(v) and v.is_integer() and iinfo.min <= v <= iinfo.max):
            raise fail(name, f"an integer representable in {dtype}", value)
        return v
    info = torch.finfo(dtype)
    if not (math.isfinite(v) and info.min <= v <= info.max):
        raise fail(name, f"a finite number representable in {dtype}", value)
    return v
