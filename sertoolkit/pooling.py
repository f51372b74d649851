"""From face frames to one visual distribution per utterance (paper Sec. 3.2 and 4.2).

The face-expression model runs on frames sampled at a fixed interval (0.24 s at 25 fps in the
paper, after Albanie et al. 2018): [frame_indices][] picks them. Its per-frame
probabilities are averaged over the utterance and normalised: [pool_frames][].

Frame probabilities are ``(batch, frames, classes)`` with a bool ``(batch, frames)`` validity
mask (``False`` for padding, or frames where no face was found).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from sertoolkit._validation import (
    check_bool,
    check_choice,
    check_floating,
    check_non_negative_int,
    check_positive_float,
    check_probs,
    check_rank,
    check_same_device,
    describe,
    fail,
)

__all__ = ["PoolMethod", "frame_indices", "pool_frames"]

PoolMethod = Literal["mean", "max", "geometric"]
"""How [pool_frames][] combines frames: ``"mean"`` is the paper's."""


def frame_indices(
    num_frames: int,
    *,
    fps: float = 25.0,
    interval: float = 0.24,
    device: torch.device | str | None = None,
) -> Tensor:
    """Indices of the video frames the face model is run on (paper Sec. 4.2).

    Frames at times ``0, interval, 2 * interval, ...`` seconds, i.e. frame
    ``round(k * interval * fps)`` for ``k = 0, 1, ...``, while it is below ``num_frames``. At
    the paper's 25 fps and 0.24 s interval this is every 6th frame: 0, 6, 12, ...; a 3.67 s
    clip (CH-SIMS' mean length, 92 frames) gives 16 indices.

    Args:
        num_frames: Frames in the video (>= 0).
        fps: Video frame rate in frames per second (> 0).
        interval: Sampling interval in seconds (> 0).
        device: Where the index tensor is made.

    Shape:
        - output: ``(n,)``, ``torch.long``, strictly increasing, ``n = 0`` for an empty video.

    Returns:
        The frame indices.

    Raises:
        ValueError: If ``num_frames`` is negative or ``fps`` / ``interval`` is not positive.

    Examples:
        >>> frame_indices(20)
        tensor([ 0,  6, 12, 18])
    """
    check_non_negative_int("num_frames", num_frames)
    rate = check_positive_float("fps", fps)
    step_s = check_positive_float("interval", interval)
    step = step_s * rate  # frames between samples
    # Enough candidates to pass num_frames, then keep those inside the video. Rounding (not
    # flooring) makes 0.24 s * 25 fps = 6.000000000000001 land on frame 6 as intended.
    count = math.floor(num_frames / step) + 2
    k = torch.arange(count, dtype=torch.float64)
    positions = torch.round(k * step)
    idx = positions[positions < num_frames].long()  # filter before the cast: no overflow
    if step < 1.0:  # several samples can round to one frame: keep each frame once
        first = torch.ones_like(idx, dtype=torch.bool)
        first[1:] = idx[1:] != idx[:-1]
        idx = idx[first]
    return idx.to(device) if device is not None else idx


def pool_frames(
    frame_probs: Tensor,
    mask: Tensor | None = None,
    *,
    method: PoolMethod = "mean",
    validate: bool = True,
) -> tuple[Tensor, Tensor]:
    r"""Pool per-frame class probabilities into one distribution per utterance (Sec. 3.2).

    ``"mean"`` (the paper's, after Albanie et al. 2018) averages the valid frames'
    probabilities and normalises the result:

    $$
    \tilde p^v_i = \mathrm{normalise}\Big(\frac{1}{|V_i|} \sum_{f \in V_i} p_{i,f}\Big)
    $$

    ``"max"`` takes each class's maximum over valid frames, then normalises; ``"geometric"``
    averages log-probabilities and applies a softmax (a product of experts).

    An utterance with no valid frame has no visual evidence: its output row is all zeros (not
    a distribution, so fusion rules reject it unless told it is invalid) and its ``has_frames``
    flag is ``False``. Pass ``has_frames`` as ``valid=`` to the fusion rules, or drop those
    utterances; never read the zero row as a label. No NaN is produced.

    Args:
        frame_probs: Face-expression probabilities per frame, floating point.
        mask: ``True`` on valid frames; default all valid.
        method: ``"mean"``, ``"max"`` or ``"geometric"``.
        validate: Check that every valid frame holds a probability distribution (a device
            sync on CUDA); invalid frames are never read.

    Shape:
        - frame_probs: ``(batch, frames, classes)``
        - mask: ``(batch, frames)``, bool
        - output: ``(probs (batch, classes), has_frames (batch,) bool)``; probs in the dtype of
          ``frame_probs`` (computed in at least float32).

    Returns:
        The utterance distributions and which utterances had at least one valid frame.

    Raises:
        ValueError: If the shapes or dtypes are wrong or ``method`` is unknown.

    Examples:
        >>> import torch
        >>> p = torch.tensor([[[0.8, 0.2], [0.4, 0.6]], [[0.5, 0.5], [0.1, 0.9]]])
        >>> probs, ok = pool_frames(p, torch.tensor([[True, True], [False, False]]))
        >>> probs
        tensor([[0.6000, 0.4000],
                [0.0000, 0.0000]])
        >>> ok
        tensor([ True, False])
    """
    check_rank("frame_probs", frame_probs, 3, "(batch, frames, classes)")
    check_floating("frame_probs", frame_probs)
    check_choice("method", method, ("mean", "max", "geometric"))
    batch, frames, classes = frame_probs.shape
    if classes < 1:
        raise fail("frame_probs", "a tensor with at least one class", describe(frame_probs))
    if mask is None:
        mask = torch.ones((batch, frames), dtype=torch.bool, device=frame_probs.device)
    else:
        check_rank("mask", mask, 2, "(batch, frames)")
        check_bool("mask", mask)
        if tuple(mask.shape) != (batch, frames):
            raise fail("mask", f"of shape {(batch, frames)}", describe(mask))
        check_same_device("mask", mask, "frame_probs", frame_probs)
    if validate:
        check_probs("frame_probs", frame_probs[mask], validate=True)
    work_dtype = torch.promote_types(frame_probs.dtype, torch.float32)
    p = frame_probs.to(work_dtype)
    valid = mask.unsqueeze(-1)
    counts = mask.sum(dim=1, keepdim=True)  # (batch, 1)
    has_frames = counts.squeeze(1) > 0
    if method == "mean":
        pooled = torch.where(valid, p, 0.0).sum(dim=1) / counts.clamp(min=1)
    elif method == "max":
        pooled = torch.where(valid, p, 0.0).amax(dim=1) if frames > 0 else p.sum(dim=1)
    else:
        tiny = torch.finfo(work_dtype).tiny
        logs = torch.where(valid, p.clamp(min=tiny).log(), 0.0).sum(dim=1)
        pooled = torch.softmax(logs / counts.clamp(min=1), dim=1)
    total = pooled.sum(dim=1, keepdim=True)
    normalised = pooled / total.clamp(min=torch.finfo(work_dtype).tiny)
    out = torch.where(has_frames.unsqueeze(1), normalised, 0.0)
    return out.to(frame_probs.dtype), has_frames
