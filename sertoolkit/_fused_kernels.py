# pyright: basic
"""The Triton kernels of `sertoolkit._fused` (imported only when Triton is there).

Module-level, as Triton resolves a kernel's calls to other kernels through the module's
globals.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def masked(positions, u_ptr, batch, b, max_width, extent, n_masks: tl.constexpr):
    # whether each position lies in one of example b's masks along one axis: the interval
    # arithmetic of sertoolkit.augment._mask_intervals, in float32
    inside = positions < 0
    for m in tl.static_range(n_masks):  # pyright: ignore[reportGeneralTypeIssues]
        u_width = tl.load(u_ptr + (2 * m) * batch + b)
        u_start = tl.load(u_ptr + (2 * m + 1) * batch + b)
        width = tl.minimum(u_width * max_width, extent)
        first = (u_start * (extent - width)).to(tl.int32)
        last = first + width.to(tl.int32)
        inside = inside | ((positions >= first) & (positions < last))
    return inside


@triton.jit
def spec_augment_kernel(
    x_ptr,
    out_ptr,
    ut_ptr,
    uf_ptr,
    len_ptr,
    batch,
    frames,
    bins,
    sxb,
    sxt,
    sxf,
    sob,
    sot,
    sof,
    time_width,
    freq_width,
    fill,
    n_time_masks: tl.constexpr,
    n_freq_masks: tl.constexpr,
    has_lengths: tl.constexpr,
    block_t: tl.constexpr,
    block_f: tl.constexpr,
):
    b = tl.program_id(0)
    t = tl.program_id(1) * block_t + tl.arange(0, block_t)
    if has_lengths:  # noqa: SIM108 (a constexpr branch: Triton compiles one side only)
        length = tl.load(len_ptr + b).to(tl.int32)
    else:
        length = frames + tl.zeros((), tl.int32)
    masked_t = masked(t, ut_ptr, batch, b, time_width, length.to(tl.float32), n_time_masks)
    valid = t < length
    in_t = t < frames
    extent_f = (bins + tl.zeros((), tl.int32)).to(tl.float32)
    base_x = b.to(tl.int64) * sxb
    base_o = b.to(tl.int64) * sob
    t64 = t.to(tl.int64)  # offsets in int64: one example may exceed 2**31 elements
    f = tl.program_id(2) * block_f + tl.arange(0, block_f)
    f64 = f.to(tl.int64)
    masked_f = masked(f, uf_ptr, batch, b, freq_width, extent_f, n_freq_masks)
    cell = masked_t[:, None] | (masked_f[None, :] & valid[:, None])
    inside = in_t[:, None] & (f[None, :] < bins)
    values = tl.load(x_ptr + base_x + t64[:, None] * sxt + f64[None, :] * sxf, mask=inside)
    # fill in the element type (float32 -> element, as PyTorch rounds a Python float);
    # unmasked values are stored as they were read, NaN payloads included
    result = tl.where(cell, (fill + tl.zeros((), tl.float32)).to(values.dtype), values)
    tl.store(out_ptr + base_o + t64[:, None] * sot + f64[None, :] * sof, result, mask=inside)
