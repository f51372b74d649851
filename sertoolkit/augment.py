"""Weak and strong augmentations of audio features (paper Sec. 3.3).

* **WA**, the weak augmentation used to compute pseudo-labels (Eq. 3), is dropout on the input
  features: [feature_dropout][].
* **SA**, the strong augmentation the model is trained on (Eq. 4, 7, 9, 10), is SpecAugment
  time and frequency masking (Park et al. 2019, *SpecAugment: A Simple Data Augmentation
  Method for Automatic Speech Recognition*): [spec_augment][].

Features are ``(batch, time, freq)``. A padded batch stores example ``i``'s ``lengths[i]``
valid frames first and padding after them (see [sertoolkit.masking.lengths_to_mask][]);
augmentations never modify padding.

Randomness is explicit: pass a `torch.Generator` on the input's device and the global RNG
is not touched. SpecAugment's random parameters are sampled by [spec_augment_masks][]
separately from being applied by [apply_spec_augment][], so one draw can be replayed on
another tensor. Masks are drawn independently per example, in one vectorised call, and the
masked value is a constant (``fill``), never a batch statistic, so no example's output depends
on another example.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import torch
from torch import Tensor, nn

from sertoolkit import _fused
from sertoolkit._validation import (
    check_bool,
    check_fill,
    check_finite,
    check_floating,
    check_generator,
    check_lengths,
    check_non_negative_int,
    check_rank,
    check_same_device,
    check_tensor,
    check_unit_interval,
    describe,
    fail,
)
from sertoolkit.masking import lengths_to_mask

__all__ = [
    "FeatureDropout",
    "SpecAugment",
    "SpecAugmentMasks",
    "apply_spec_augment",
    "feature_dropout",
    "spec_augment",
    "spec_augment_masks",
]


def feature_dropout(
    x: Tensor,
    p: float,
    *,
    generator: torch.Generator | None = None,
    validate: bool = True,
) -> Tensor:
    r"""Inverted dropout on input features: the weak augmentation WA (paper Sec. 3.3).

    Each element is zeroed independently with probability ``p`` and the survivors are scaled
    by $1 / (1 - p)$, so the expectation is unchanged. ``p=0`` returns ``x`` unchanged
    (the same values, a new tensor); ``p=1`` returns zeros.

    Args:
        x: Features, any shape (the library uses ``(batch, time, freq)``), floating point.
        p: Drop probability in ``[0, 1]``.
        generator: Source of randomness on the device of ``x``; when given, the global RNG is
            not touched.
        validate: Check that ``x`` is finite (a device sync on CUDA).

    Shape:
        - x: ``(*)``
        - output: ``(*)``, same dtype and device. Differentiable with respect to ``x``.

    Returns:
        The augmented features.

    Raises:
        ValueError: If ``x`` is not floating point, ``p`` is outside ``[0, 1]`` or (with
            ``validate``) ``x`` holds a NaN or inf.
        TypeError: If ``x`` is not a tensor or ``generator`` not a ``torch.Generator``.
    """
    rate = check_unit_interval("p", p)
    check_tensor("x", x)
    check_floating("x", x)
    check_generator(generator, x.device)
    check_finite("x", x, validate=validate)
    if rate == 0.0:
        return x.clone()
    if rate == 1.0:
        return torch.zeros_like(x)
    check_generator(generator, x.device)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= rate
    return x * keep.to(x.dtype) * (1.0 / (1.0 - rate))


class _Masks(NamedTuple):
    time: Tensor
    freq: Tensor


class SpecAugmentMasks(_Masks):
    """Sampled SpecAugment masks, ``True`` where a value is replaced.

    Attributes:
        time: Masked frames per example, ``(batch, time)``, bool; never ``True`` on padding.
        freq: Masked frequency bins per example, ``(batch, freq)``, bool.

    Raises:
        TypeError: If a field is not a tensor.
        ValueError: If a field is not a 2-D bool tensor or their batch sizes differ.
    """

    __slots__ = ()

    def __new__(cls, time: Tensor, freq: Tensor) -> SpecAugmentMasks:  # noqa: D102
        check_rank("time", time, 2, "(batch, time)")
        check_bool("time", time)
        check_rank("freq", freq, 2, "(batch, freq)")
        check_bool("freq", freq)
        if freq.shape[0] != time.shape[0]:
            raise fail("freq", f"a tensor with {time.shape[0]} rows, like `time`", describe(freq))
        check_same_device("freq", freq, "time", time)
        return super().__new__(cls, time, freq)


def _valid_frames(lengths: Tensor, frames: int) -> Tensor:
    """Bool ``(batch, time, 1)``: ``True`` on valid frames."""
    return lengths_to_mask(lengths, frames, validate=False).unsqueeze(2)


def _mask_intervals(
    u_width: Tensor, u_start: Tensor, max_width: int, extent: Tensor, size: int
) -> Tensor:
    """Bool ``(batch, size)``: union over masks of ``[start, start + width)``.

    Follows torchaudio's ``mask_along_axis_iid`` sampling: a width ``v = u_width * W`` and a
    start ``v0 = u_start * (extent - v)``, the interval being ``[floor(v0), floor(v0) +
    floor(v))``. ``v`` is first capped at the example's extent so that the interval always
    lies inside ``[0, extent)``.
    """
    width = torch.minimum(u_width * max_width, extent.unsqueeze(1))
    start = u_start * (extent.unsqueeze(1) - width)
    first = start.long()
    last = first + width.long()  # exclusive end, <= extent
    positions = torch.arange(size, device=u_width.device)
    inside = (positions >= first.unsqueeze(-1)) & (positions < last.unsqueeze(-1))
    return inside.any(dim=1)


def spec_augment_masks(
    batch_size: int,
    num_frames: int,
    num_bins: int,
    *,
    time_masks: int,
    time_width: int,
    freq_masks: int,
    freq_width: int,
    lengths: Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    validate: bool = True,
) -> SpecAugmentMasks:
    """Sample SpecAugment time and frequency masks, independently for every example.

    Each of the ``time_masks`` time masks of example ``i`` covers ``floor(v)`` consecutive
    frames, ``v ~ U(0, time_width)`` (capped at the example's valid length), starting at
    ``floor(v0)``, ``v0 ~ U(0, lengths[i] - v)``; frequency masks likewise over ``num_bins``.
    This is the sampling of torchaudio's ``mask_along_axis_iid`` (with the width capped, which
    torchaudio does not do): a width is at most ``time_width - 1`` frames, so an example has at
    most ``time_masks * (time_width - 1)`` masked frames, all of them valid frames. With
    ``lengths=None`` every frame is valid.

    The random numbers are drawn in one fixed order whatever the data, float32, the order of
    torchaudio's ``SpecAugment(iid_masks=True)``: for each time mask a width draw then a start
    draw for the whole batch, then the same for each frequency mask (an axis whose maximum
    width is 0 draws nothing). With a float32 input, no
    ``lengths`` and widths no larger than the axis, the masks are therefore exactly those of
    ``torchaudio.transforms.SpecAugment(..., iid_masks=True, zero_masking=True)`` under the
    same global seed (tested).

    Args:
        batch_size: Number of examples.
        num_frames: Frames in the padded batch (``time``).
        num_bins: Feature dimension (``freq``).
        time_masks: Number of time masks per example (>= 0).
        time_width: Maximum time-mask width ``T`` in frames (>= 0).
        freq_masks: Number of frequency masks per example (>= 0).
        freq_width: Maximum frequency-mask width ``F`` in bins (>= 0).
        lengths: Valid frames per example (valid frames first), ``(batch,)`` integer.
        generator: Source of randomness on ``device``; when given, the global RNG is not
            touched.
        device: Where the masks are made (default: ``lengths``'s device, else the generator's,
            else the CPU).
        validate: Check the values of ``lengths`` (a device sync on CUDA).

    Shape:
        - output: ``SpecAugmentMasks(time=(batch, time), freq=(batch, freq))``, bool.

    Returns:
        The masks.

    Raises:
        ValueError: If a count or width is negative, or ``lengths`` is malformed.
    """
    check_non_negative_int("batch_size", batch_size)
    check_non_negative_int("num_frames", num_frames)
    check_non_negative_int("num_bins", num_bins)
    check_non_negative_int("time_masks", time_masks)
    check_non_negative_int("time_width", time_width)
    check_non_negative_int("freq_masks", freq_masks)
    check_non_negative_int("freq_width", freq_width)
    if lengths is not None:
        check_lengths("lengths", lengths, batch_size, num_frames, validate=validate)
        if device is not None and torch.device(device) != lengths.device:
            raise fail("device", f"the device of `lengths` ({lengths.device})", device)
        device = lengths.device
    elif device is None and generator is not None:
        device = generator.device
    check_generator(generator, device)

    def uniform(masks: int) -> tuple[Tensor, Tensor]:
        # mask by mask, a width draw then a start draw for the whole batch: torchaudio's order
        u = torch.rand((masks, 2, batch_size), generator=generator, device=device)
        return u[:, 0].T, u[:, 1].T

    # a zero maximum width masks nothing and, as in torchaudio, draws nothing
    u_time_width, u_time_start = uniform(time_masks if time_width > 0 else 0)
    u_freq_width, u_freq_start = uniform(freq_masks if freq_width > 0 else 0)
    time_extent = (
        lengths.to(torch.float32)
        if lengths is not None
        else torch.full((batch_size,), float(num_frames), device=u_time_width.device)
    )
    freq_extent = torch.full((batch_size,), float(num_bins), device=u_freq_width.device)
    return SpecAugmentMasks(
        time=_mask_intervals(u_time_width, u_time_start, time_width, time_extent, num_frames),
        freq=_mask_intervals(u_freq_width, u_freq_start, freq_width, freq_extent, num_bins),
    )


_CPU_CHUNK = 8  # examples per mask chunk on a CPU


def _runs(mask: Tensor) -> list[tuple[int, int, int]]:
    """``(row, start, stop)`` of every run of ``True`` in a bool ``(rows, n)`` CPU mask."""
    edges = torch.diff(nn.functional.pad(mask.to(torch.int8), (1, 1)), dim=1)
    starts = cast(list[list[int]], (edges == 1).nonzero().tolist())  # pyright: ignore[reportUnknownMemberType]
    stops = cast(list[list[int]], (edges == -1).nonzero().tolist())  # pyright: ignore[reportUnknownMemberType]
    return [(b, s, e) for (b, s), (_, e) in zip(starts, stops, strict=True)]


def _same_view(a: Tensor, b: Tensor) -> bool:
    """Whether two tensors of one shape address the same elements in the same order."""
    if a.data_ptr() != b.data_ptr():
        return False
    return all(
        n <= 1 or sa == sb for n, sa, sb in zip(a.shape, a.stride(), b.stride(), strict=True)
    )


def _byte_span(t: Tensor) -> tuple[int, int]:
    """``[first, last)``: the bytes of memory that ``t`` (non-negative strides) can address."""
    reach = sum((n - 1) * st for n, st in zip(t.shape, t.stride(), strict=True))
    return t.data_ptr(), t.data_ptr() + (reach + 1) * t.element_size()


def _check_out(out: Tensor, x: Tensor) -> None:
    """``out`` must match ``x``, not overlap it (unless it is ``x``), and skip autograd."""
    check_tensor("out", out)
    if out.shape != x.shape or out.dtype != x.dtype or out.device != x.device:
        raise fail(
            "out",
            f"a tensor of shape {tuple(x.shape)}, {x.dtype}, on {x.device} (like `x`)",
            f"{describe(out)} on {out.device}",
        )
    if torch.is_grad_enabled() and (x.requires_grad or out.requires_grad):
        raise fail(
            "out",
            "None when autograd records the op (`out=` is not differentiable; use "
            "torch.no_grad() or leave `out` unset)",
            describe(out),
        )
    if out.numel() == 0 or torch.compiler.is_compiling():  # Dynamo cannot trace storages
        return
    if any(n > 1 and st == 0 for n, st in zip(out.shape, out.stride(), strict=True)):
        raise fail(
            "out",
            "a tensor whose elements do not overlap (not an expanded view)",
            f"strides {tuple(out.stride())} for shape {tuple(out.shape)}",
        )
    if out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr() and not _same_view(
        out, x
    ):
        (a0, a1), (b0, b1) = _byte_span(out), _byte_span(x)
        if a0 < b1 and b0 < a1:
            raise fail(
                "out",
                "`x` itself or memory that does not overlap `x`",
                "a view that partly overlaps `x`",
            )


def apply_spec_augment(
    x: Tensor,
    masks: SpecAugmentMasks,
    *,
    lengths: Tensor | None = None,
    fill: float = 0.0,
    validate: bool = True,
    out: Tensor | None = None,
) -> Tensor:
    """Replace masked time frames and frequency bins of ``x`` by ``fill``.

    Frequency masks apply to valid frames only: with ``lengths`` given, padding frames are
    returned unchanged. Time masks on padding frames (possible only in hand-made masks) are
    ignored.

    On a CPU the op is memory-bound: it costs one copy of ``x`` plus writes of the masked
    cells, and most of that copy's time is the operating system mapping fresh pages for the
    new tensor. ``out=`` skips that allocation: pass a preallocated tensor (reused from step
    to step) or ``x`` itself to mask in place.

    Args:
        x: Features, floating point.
        masks: From [spec_augment_masks][] with matching sizes.
        lengths: Valid frames per example (valid frames first).
        fill: The constant written into masked cells.
        validate: Check the values of ``lengths`` (a device sync on CUDA).
        out: Where to write the result (shape, dtype and device of ``x``; ``x`` itself masks
            in place; must not otherwise overlap ``x`` nor have overlapping elements). Not
            differentiable, so not allowed while autograd records ``x`` or ``out``. Under
            ``torch.compile(fullgraph=True)`` it must be contiguous (a limit of Dynamo).

    Shape:
        - x: ``(batch, time, freq)``
        - output: ``(batch, time, freq)``, same dtype and device; differentiable (zero gradient
          on masked cells) when ``out`` is not given.

    Returns:
        The masked features (``out`` when given).

    Raises:
        ValueError: If shapes disagree, ``x`` is not a 3-D floating tensor, or ``out`` does
            not match ``x``, overlaps it or would need a gradient.
    """
    check_rank("x", x, 3, "(batch, time, freq)")
    check_floating("x", x)
    if not isinstance(masks, SpecAugmentMasks):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(
            f"Expected `masks` to be a SpecAugmentMasks, but got {type(masks).__name__}."
        )
    fill = check_fill("fill", fill, x.dtype)
    batch, frames, bins = x.shape
    if tuple(masks.time.shape) != (batch, frames):
        raise fail("masks.time", f"of shape {(batch, frames)}", describe(masks.time))
    if tuple(masks.freq.shape) != (batch, bins):
        raise fail("masks.freq", f"of shape {(batch, bins)}", describe(masks.freq))
    if out is not None:
        _check_out(out, x)
    rows = masks.time.unsqueeze(2)  # (batch, time, 1)
    cols = masks.freq.unsqueeze(1)  # (batch, 1, freq)
    valid: Tensor | None = None
    if lengths is not None:
        check_lengths("lengths", lengths, batch, frames, validate=validate)
        valid = lengths_to_mask(lengths, frames, validate=False).unsqueeze(2)
        rows = rows & valid  # a no-op for masks from spec_augment_masks (inside the valid part)
    check_finite("x", x, validate=validate, where=valid)
    value = torch.full((), fill, dtype=x.dtype, device=x.device)

    def cells(part: slice) -> Tensor:
        # masked cells: masked frames, and masked bins of valid frames only
        if valid is None:
            return torch.logical_or(cols[part], rows[part])
        both = torch.logical_and(cols[part], valid[part])
        return both.logical_or_(rows[part])

    if x.device.type != "cpu" or x.requires_grad or torch.compiler.is_compiling():
        if out is None:
            return torch.where(cells(slice(None)), value, x)
        return torch.where(cells(slice(None)), value, x, out=out)
    # On a CPU the op is memory-bound and reading values is no device sync, so: one copy of
    # ``x`` (skipped in place), then the masked frames and the masked bins of valid frames
    # written as slices, which touch only those cells; no batch-sized mask. Masks with many
    # separate runs (not SpecAugment's intervals) take the chunked full-mask path.
    time_runs = _runs(rows.squeeze(2))
    freq_runs = _runs(masks.freq)
    if len(time_runs) + len(freq_runs) <= 8 * max(batch, 1):
        if out is None:
            out = x.clone()
        elif not _same_view(out, x):
            out.copy_(x)
        for b, start, stop in time_runs:
            out[b, start:stop] = value
        frames_of = (
            cast(list[int], lengths.tolist())  # pyright: ignore[reportUnknownMemberType]
            if lengths is not None
            else [frames] * batch
        )
        for b, start, stop in freq_runs:
            out[b, : frames_of[b], start:stop] = value
        return out
    # a few examples at a time keep the bool mask in cache
    if out is None:
        out = torch.empty_like(x)
    for start in range(0, batch, _CPU_CHUNK):
        part = slice(start, start + _CPU_CHUNK)
        torch.where(cells(part), value, x[part], out=out[part])
    return out


def spec_augment(
    x: Tensor,
    *,
    time_masks: int,
    time_width: int,
    freq_masks: int,
    freq_width: int,
    lengths: Tensor | None = None,
    fill: float = 0.0,
    generator: torch.Generator | None = None,
    validate: bool = True,
    out: Tensor | None = None,
) -> Tensor:
    """SpecAugment time and frequency masking: the strong augmentation SA (paper Sec. 3.3).

    Samples masks with [spec_augment_masks][] (independently per example, time masks
    confined to each example's valid frames) and applies them with
    [apply_spec_augment][] (padding untouched). Vectorised over the batch: no Python loop
    over examples. The paper does not state its SpecAugment settings; callers choose them.

    On a CUDA device, for float16, bfloat16 and float32 inputs outside autograd and
    ``torch.compile``, the masks are drawn and applied by one fused Triton kernel (Triton
    ships with PyTorch's CUDA wheels): the same random draws and the same output, bit for bit,
    in three kernel launches instead of about 35 (11x torchaudio's ``SpecAugment`` on an H200
    at paper shape; ``docs/pages/benchmarks.md``).

    Args:
        x: Features, floating point.
        time_masks: Time masks per example.
        time_width: Maximum time-mask width in frames.
        freq_masks: Frequency masks per example.
        freq_width: Maximum frequency-mask width in bins.
        lengths: Valid frames per example (valid frames first).
        fill: The constant written into masked cells (default 0, not a batch mean).
        generator: Source of randomness on the device of ``x``; when given, the global RNG is
            not touched.
        validate: Check the values of ``lengths`` (a device sync on CUDA).
        out: Where to write the result, as in [apply_spec_augment][]: a preallocated
            tensor like ``x`` (on a CPU this skips the allocation, most of the op's time at
            paper size), or ``x`` itself to mask in place. Not differentiable.

    Shape:
        - x: ``(batch, time, freq)``, or one example ``(time, freq)`` (as a
          ``Dataset.__getitem__`` augments, e.g. in USB); then ``lengths`` is ``()`` or ``(1,)``
          and the output is ``(time, freq)``. A single example draws what the first example
          of a batch of one draws.
        - lengths: ``(batch,)``
        - output: ``(batch, time, freq)``, same dtype and device.

    Returns:
        The augmented features (``out`` when given).

    Raises:
        ValueError: If ``x`` is not ``(batch, time, freq)`` or ``(time, freq)`` floating, a
            count or width is negative, ``lengths`` is malformed, or ``out`` does not match
            ``x``, overlaps it or would need a gradient.

    Examples:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.ones(2, 100, 40)
        >>> y = spec_augment(x, time_masks=2, time_width=10, freq_masks=2, freq_width=8,
        ...                  generator=g)
        >>> y.shape
        torch.Size([2, 100, 40])
        >>> buffer = torch.empty_like(x)  # reuse one output tensor from step to step
        >>> z = spec_augment(x, time_masks=2, time_width=10, freq_masks=2, freq_width=8,
        ...                  generator=g, out=buffer)
        >>> z is buffer
        True
    """
    check_tensor("x", x)
    if x.dim() == 2:  # one (time, freq) example: a batch of one
        if lengths is not None:
            check_tensor("lengths", lengths)
            if lengths.dim() > 1 or lengths.numel() != 1:
                raise fail(
                    "lengths",
                    "a 0-D or (1,) tensor for one (time, freq) example",
                    describe(lengths),
                )
            lengths = lengths.reshape(1)
        if out is not None:
            check_tensor("out", out)
            if out.shape != x.shape:
                raise fail("out", f"of the shape of `x` {tuple(x.shape)}", describe(out))
        y = spec_augment(
            x.unsqueeze(0), time_masks=time_masks, time_width=time_width, freq_masks=freq_masks,
            freq_width=freq_width, lengths=lengths, fill=fill, generator=generator,
            validate=validate, out=None if out is None else out.unsqueeze(0),
        )  # fmt: skip
        return out if out is not None else y.squeeze(0)
    check_rank("x", x, 3, "(batch, time, freq)")
    check_floating("x", x)
    if lengths is not None:
        check_lengths("lengths", lengths, x.shape[0], x.shape[1], validate=False)
        check_same_device("lengths", lengths, "x", x)
        check_lengths("lengths", lengths, x.shape[0], x.shape[1], validate=validate)
        check_finite("x", x, validate=validate, where=_valid_frames(lengths, x.shape[1]))
    else:
        check_finite("x", x, validate=validate)
    check_fill("fill", fill, x.dtype)
    check_generator(generator, x.device)
    if out is not None:
        _check_out(out, x)  # before any random draw
    if _fused.usable(x):  # CUDA: one kernel, the same draws and the same result
        for name, value in (("time_masks", time_masks), ("time_width", time_width),
                            ("freq_masks", freq_masks), ("freq_width", freq_width)):  # fmt: skip
            check_non_negative_int(name, value)
        check_generator(generator, x.device)
        return _fused.spec_augment(
            x, time_masks=time_masks, time_width=time_width, freq_masks=freq_masks,
            freq_width=freq_width, lengths=lengths, fill=fill, generator=generator, out=out,
        )  # fmt: skip
    masks = spec_augment_masks(
        x.shape[0],
        x.shape[1],
        x.shape[2],
        time_masks=time_masks,
        time_width=time_width,
        freq_masks=freq_masks,
        freq_width=freq_width,
        lengths=lengths,
        generator=generator,
        device=x.device,
        validate=False,
    )
    return apply_spec_augment(x, masks, lengths=lengths, fill=fill, validate=False, out=out)


class FeatureDropout(nn.Module):
    """Module form of [feature_dropout][] (WA); the identity in eval mode.

    Args:
        p: Drop probability in ``[0, 1]``.
        validate: Check ``lengths`` and that the valid frames of the input are finite, on
            every call (a device sync on CUDA); ``False`` for a training loop's hot path.

    Shape:
        - input: ``(*)``; with ``lengths``, ``(batch, time, freq)`` and ``(batch,)``;
          output: the input's shape.
    """

    def __init__(self, p: float, validate: bool = True) -> None:
        super().__init__()
        self.p = check_unit_interval("p", p)
        self.validate = bool(validate)

    def forward(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Apply dropout in training mode; return ``x`` itself in eval mode.

        ``lengths`` is accepted so that the module fits
        [sertoolkit.losses.Augmentation][]; padding is zero and stays zero.
        """
        check_tensor("x", x)
        check_floating("x", x)
        if lengths is not None:
            check_rank("x", x, 3, "(batch, time, freq)")
            check_lengths("lengths", lengths, x.shape[0], x.shape[1], validate=self.validate)
            check_same_device("lengths", lengths, "x", x)
            check_finite("x", x, validate=self.validate, where=_valid_frames(lengths, x.shape[1]))
        else:
            check_finite("x", x, validate=self.validate)
        check_generator(generator, x.device)
        if not self.training:
            return x
        return feature_dropout(x, self.p, generator=generator, validate=False)

    def extra_repr(self) -> str:
        """Show the settings."""
        return f"p={self.p}"


class SpecAugment(nn.Module):
    """Module form of [spec_augment][] (SA); the identity in eval mode.

    Args:
        time_masks: Time masks per example.
        time_width: Maximum time-mask width in frames.
        freq_masks: Frequency masks per example.
        freq_width: Maximum frequency-mask width in bins.
        fill: The constant written into masked cells.
        validate: Check ``lengths`` values on every call (a device sync on CUDA); ``False``
            for a training loop's hot path.

    Shape:
        - input: ``(batch, time, freq)`` and optional ``lengths`` ``(batch,)``;
          output: ``(batch, time, freq)``.
    """

    def __init__(
        self,
        *,
        time_masks: int,
        time_width: int,
        freq_masks: int,
        freq_width: int,
        fill: float = 0.0,
        validate: bool = True,
    ) -> None:
        super().__init__()
        self.time_masks = check_non_negative_int("time_masks", time_masks)
        self.time_width = check_non_negative_int("time_width", time_width)
        self.freq_masks = check_non_negative_int("freq_masks", freq_masks)
        self.freq_width = check_non_negative_int("freq_width", freq_width)
        self.fill = check_fill("fill", fill, torch.float32)
        self.validate = bool(validate)

    def forward(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Mask in training mode; return ``x`` itself in eval mode."""
        if not self.training:
            return x
        return spec_augment(
            x,
            time_masks=self.time_masks,
            time_width=self.time_width,
            freq_masks=self.freq_masks,
            freq_width=self.freq_width,
            lengths=lengths,
            fill=self.fill,
            generator=generator,
            validate=self.validate,
        )

    def extra_repr(self) -> str:
        """Show the settings."""
        return (
            f"time_masks={self.time_masks}, time_width={self.time_width}, "
            f"freq_masks={self.freq_masks}, freq_width={self.freq_width}, fill={self.fill}"
        )
