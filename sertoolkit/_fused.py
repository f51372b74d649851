# pyright: basic
"""A fused CUDA path for [sertoolkit.augment.spec_augment][] (one Triton kernel).

On a GPU the vectorised eager op launches about 35 small kernels (drawing, interval
arithmetic, mask building, ``torch.where``); their launches and their own run time, not
memory traffic, are its cost (measured on an H200: 0.55 ms per call at (32, 555, 512), of
which 0.12 ms of GPU time, against 0.02 ms for one copy of the tensor). This path draws the
same uniform numbers with the same two ``torch.rand`` calls as
[sertoolkit.augment.spec_augment_masks][] and hands them to one kernel that computes each
example's intervals and writes the masked copy in one pass: three launches in all, the same
output bit for bit (the interval arithmetic is the eager path's, in float32, with no fused
multiply-add).

Triton ships with PyTorch's CUDA wheels; without it (or on a CPU, under autograd, under
``torch.compile``, for float64) the eager path runs. Tests run the kernel on the CPU through
Triton's interpreter (``TRITON_INTERPRET=1``) against the eager path.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import torch
from torch import Tensor

_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
BLOCK_T = 16  # frames per program
BLOCK_F = 128  # bins per program


# The kernel is written for (and tested with) the Triton of PyTorch 2.11; the Triton 3.0 of
# PyTorch 2.4 refuses it (``arange``'s bounds must be constexpr there). Older PyTorch takes
# the eager path, which draws the same numbers and gives the same result.
_MIN_TORCH = (2, 11)


def _torch_version() -> tuple[int, int]:
    major, minor = torch.__version__.split(".")[:2]
    return int(major), int(minor)


@functools.cache
def _kernel() -> Any:
    """The compiled kernel, or None where Triton cannot be imported or is too old."""
    if _torch_version() < _MIN_TORCH:
        return None
    try:
        from sertoolkit._fused_kernels import spec_augment_kernel
    except ImportError:  # pragma: no cover - Triton ships with PyTorch's CUDA wheels
        return None
    return spec_augment_kernel


_MAX_GRID_Y = 65535  # CUDA's limit on the second and third grid dimensions


def _blocks(size: int, block: int) -> int:
    """Programs along one axis: ``size / block`` rounded up."""
    return -(-size // block)


def usable(x: Tensor) -> bool:
    """Whether `spec_augment` can take the fused path for ``x``."""
    return (
        x.is_cuda
        and x.dtype in _DTYPES
        and x.numel() > 0
        and x.dim() == 3
        and _blocks(x.shape[1], BLOCK_T) <= _MAX_GRID_Y
        and _blocks(x.shape[2], BLOCK_F) <= _MAX_GRID_Y
        and not (x.requires_grad and torch.is_grad_enabled())
        and not torch.compiler.is_compiling()
        and _kernel() is not None
    )


def spec_augment(
    x: Tensor,
    *,
    time_masks: int,
    time_width: int,
    freq_masks: int,
    freq_width: int,
    lengths: Tensor | None,
    fill: float,
    generator: torch.Generator | None,
    out: Tensor | None,
) -> Tensor:
    """SpecAugment in one kernel; arguments already checked by the public function.

    Draws exactly what [sertoolkit.augment.spec_augment_masks][] draws, in its order.
    """
    # Triton launches on the current device: make it x's (the CPU only runs the interpreter)
    with torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext():
        batch, frames, bins = x.shape
        n_time = time_masks if time_width > 0 else 0
        n_freq = freq_masks if freq_width > 0 else 0
        u_time = torch.rand((n_time, 2, batch), generator=generator, device=x.device)
        u_freq = torch.rand((n_freq, 2, batch), generator=generator, device=x.device)
        if lengths is not None:
            lengths = lengths.contiguous()  # the kernel reads lengths[b] at offset b
        if out is None:
            out = torch.empty_like(x)
        grid = (batch, _blocks(frames, BLOCK_T), _blocks(bins, BLOCK_F))
        # an axis without masks (or without lengths) reads nothing from its pointer, which still
        # has to be a valid one: x stands in
        _kernel()[grid](
            x,
            out,
            u_time if n_time else x,
            u_freq if n_freq else x,
            lengths if lengths is not None else x,
            batch,
            frames,
            bins,
            *x.stride(),
            *out.stride(),
            float(time_width),
            float(freq_width),
            float(fill),
            n_time_masks=n_time,
            n_freq_masks=n_freq,
            has_lengths=lengths is not None,
            block_t=BLOCK_T,
            block_f=BLOCK_F,
        )
        return out
