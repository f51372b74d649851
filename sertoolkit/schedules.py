"""The paper's learning-rate schedule (Sec. 4.2), step-based, for ``LambdaLR``.

Sec. 4.2: "The learning rate is gradually increased from 0.0025 to 0.01 in the first four
epochs. Then, we decay the learning rate by 1/1.17 for every 4 epochs up to 50 epochs" (with
Adamax and gradient clipping at 1.0, which the caller sets up).

Reading chosen here, with ``E`` the epoch as a real number (``step / steps_per_epoch``):

* warm-up, ``E < 4``: linear from 0.0025 at step 0 to 0.01 at the start of epoch 4;
* then ``0.01 / 1.17 ** floor((E - 4) / 4)``: epochs 4-7 run at the peak 0.01, and the first
  division by 1.17 applies at the start of epoch 8, then at 12, 16, ...

Why the first decay is at epoch 8 and not at epoch 4: "decay ... for every 4 epochs" counts
completed 4-epoch periods after the warm-up; decaying at epoch 4 would mean the stated peak of
0.01 is reached for a single step and never used. At epoch 49 (the 50th) the rate is
``0.01 / 1.17 ** 11``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.optim.lr_scheduler import LambdaLR

from sertoolkit._validation import check_non_negative_int, check_positive_float, fail

__all__ = ["PaperSchedule", "paper_lr_scheduler"]


@dataclass(frozen=True)
class PaperSchedule:
    """Warm-up then step decay, as a picklable ``LambdaLR`` multiplier.

    ``LambdaLR`` multiplies the optimiser's initial learning rate by ``schedule(step)``; build
    the optimiser with ``lr=schedule.peak_lr`` (or use [paper_lr_scheduler][]). Call
    ``scheduler.step()`` once per optimiser step.

    Attributes:
        steps_per_epoch: Optimiser steps in one epoch (>= 1).
        start_lr: Learning rate at step 0 (paper: 0.0025).
        peak_lr: Learning rate at the end of the warm-up (paper: 0.01).
        warmup_epochs: Length of the warm-up in epochs (paper: 4).
        decay: Divisor applied every ``decay_every`` epochs after the warm-up (paper: 1.17).
        decay_every: Decay period in epochs (paper: 4).

    Raises:
        ValueError: On non-positive settings or ``start_lr > peak_lr``.

    Examples:
        >>> s = PaperSchedule(steps_per_epoch=10)
        >>> [round(s.lr(e * 10), 5) for e in (0, 2, 4, 7, 8, 12)]
        [0.0025, 0.00625, 0.01, 0.01, 0.00855, 0.00731]
    """

    steps_per_epoch: int
    start_lr: float = 0.0025
    peak_lr: float = 0.01
    warmup_epochs: int = 4
    decay: float = 1.17
    decay_every: int = 4

    def __post_init__(self) -> None:
        if check_non_negative_int("steps_per_epoch", self.steps_per_epoch) < 1:
            raise fail("steps_per_epoch", "an int >= 1", self.steps_per_epoch)
        check_positive_float("start_lr", self.start_lr)
        check_positive_float("peak_lr", self.peak_lr)
        check_non_negative_int("warmup_epochs", self.warmup_epochs)
        if check_positive_float("decay", self.decay) < 1.0:
            raise fail("decay", "a divisor >= 1", self.decay)
        if check_non_negative_int("decay_every", self.decay_every) < 1:
            raise fail("decay_every", "an int >= 1", self.decay_every)
        if self.start_lr > self.peak_lr:
            raise fail("start_lr", f"<= peak_lr ({self.peak_lr})", self.start_lr)

    def lr(self, step: int) -> float:
        """Absolute learning rate at optimiser step ``step`` (>= 0)."""
        check_non_negative_int("step", step)
        warmup_steps = self.warmup_epochs * self.steps_per_epoch
        if step < warmup_steps:
            return self.start_lr + (self.peak_lr - self.start_lr) * step / warmup_steps
        periods = math.floor((step - warmup_steps) / (self.decay_every * self.steps_per_epoch))
        try:
            return self.peak_lr / self.decay**periods
        except OverflowError:  # decay ** periods passes 1.8e308 (~4,500 periods at 1.17)
            return 0.0

    def __call__(self, step: int) -> float:
        """Multiplier of ``peak_lr`` at ``step`` (what ``LambdaLR`` expects)."""
        return self.lr(step) / self.peak_lr


def paper_lr_scheduler(optimizer: torch.optim.Optimizer, schedule: PaperSchedule) -> LambdaLR:
    """A ``LambdaLR`` following ``schedule``, setting the optimiser's base rate.

    Every parameter group's ``lr`` (and ``initial_lr``) is set to ``schedule.peak_lr`` before
    the scheduler is built, so the first step runs at ``schedule.start_lr``.

    Args:
        optimizer: The optimiser (the paper: ``torch.optim.Adamax``).
        schedule: The schedule, e.g. ``PaperSchedule(steps_per_epoch=len(loader))``.

    Returns:
        The scheduler; call ``.step()`` after every ``optimizer.step()``.

    Raises:
        TypeError: If ``optimizer`` is not an optimiser or ``schedule`` not a
            [PaperSchedule][].

    Examples:
        >>> model = torch.nn.Linear(4, 2)
        >>> opt = torch.optim.Adamax(model.parameters())
        >>> sched = paper_lr_scheduler(opt, PaperSchedule(steps_per_epoch=10))
        >>> opt.param_groups[0]["lr"]
        0.0025
    """
    if not isinstance(optimizer, torch.optim.Optimizer):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(
            "Expected `optimizer` to be a torch.optim.Optimizer, but got "
            f"{type(optimizer).__name__}."
        )
    if not isinstance(schedule, PaperSchedule):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(
            f"Expected `schedule` to be a PaperSchedule, but got {type(schedule).__name__}."
        )
    for group in optimizer.param_groups:
        group["lr"] = schedule.peak_lr
        group["initial_lr"] = schedule.peak_lr
    return LambdaLR(optimizer, schedule)
