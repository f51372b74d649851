"""Evaluation metrics of the paper (Sec. 4.3): WA, UA and weighted F1, in torch.

* **WA** (weighted accuracy): the accuracy over all test examples.
* **UA** (unweighted accuracy): the mean per-class recall, over the classes present in the
  targets (scikit-learn's ``balanced_accuracy_score``).
* **F1**: per-class F1 averaged with weights proportional to each class's number of true
  examples (scikit-learn's ``f1_score(average="weighted")``, a class with no prediction and no
  true example contributing 0).

Every metric is a function of the confusion matrix, so each has a ``*_from_confusion`` form:
sum confusion matrices over batches or over distributed ranks, then compute the metric once;
this counts every example exactly once. ``preds`` and ``targets`` are integer class tensors
``(n,)`` on any device; results are 0-D float32 tensors on that device (no host sync unless
``validate``). An empty input gives 0, never NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sertoolkit._validation import (
    check_integer,
    check_labels,
    check_positive_int,
    check_rank,
    check_same_device,
    check_same_shape,
    describe,
    fail,
)

__all__ = [
    "accuracy_from_confusion",
    "confusion_matrix",
    "unweighted_accuracy",
    "unweighted_accuracy_from_confusion",
    "weighted_accuracy",
    "weighted_f1",
    "weighted_f1_from_confusion",
]


def _check_pair(preds: Tensor, targets: Tensor, num_classes: int | None, validate: bool) -> None:
    check_labels("preds", preds, num_classes, validate=validate)
    check_labels("targets", targets, num_classes, validate=validate)
    check_same_shape("targets", targets, "preds", preds)
    check_same_device("targets", targets, "preds", preds)


def _check_confusion(confusion: Tensor, validate: bool) -> None:
    check_rank("confusion", confusion, 2, "(classes, classes)")
    check_integer("confusion", confusion)
    if confusion.shape[0] != confusion.shape[1] or confusion.shape[0] < 1:
        raise fail("confusion", "a non-empty square matrix", describe(confusion))
    if validate and int(confusion.min()) < 0:
        raise fail("confusion", "non-negative counts", f"a minimum of {int(confusion.min())}")


def confusion_matrix(
    preds: Tensor, targets: Tensor, num_classes: int, *, validate: bool = True
) -> Tensor:
    """Confusion matrix, rows = true class, columns = predicted class.

    ``C[i, j]`` counts the examples of true class ``i`` predicted as ``j`` (scikit-learn's
    convention).

    Args:
        preds: Predicted class indices in ``[0, num_classes)``.
        targets: True class indices in ``[0, num_classes)``.
        num_classes: Number of classes.
        validate: Check that indices are in range (a device sync on CUDA).

    Shape:
        - preds, targets: ``(n,)``, integer
        - output: ``(num_classes, num_classes)``, ``torch.long``.

    Returns:
        The counts.

    Raises:
        ValueError: On malformed inputs or (with ``validate``) out-of-range indices.

    Examples:
        >>> import torch
        >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2)
        tensor([[1, 1],
                [0, 1]])
    """
    check_positive_int("num_classes", num_classes)
    _check_pair(preds, targets, num_classes, validate)
    flat = targets.long() * num_classes + preds.long()
    counts = torch.bincount(flat, minlength=num_classes * num_classes)
    return counts[: num_classes * num_classes].reshape(num_classes, num_classes)


def accuracy_from_confusion(confusion: Tensor, *, validate: bool = True) -> Tensor:
    """WA from a confusion matrix: trace / total (0 when empty).

    Args:
        confusion: Counts, rows = true class, as [confusion_matrix][] returns them.
        validate: Check that no count is negative (a device sync on CUDA).

    Shape:
        - confusion: ``(classes, classes)``, integer; output: ``()`` float32.

    Raises:
        ValueError: If ``confusion`` is not a non-empty square integer matrix, or (with
            ``validate``) holds a negative count.
    """
    _check_confusion(confusion, validate)
    c = confusion.float()
    return c.diagonal().sum() / c.sum().clamp(min=1.0)


def unweighted_accuracy_from_confusion(confusion: Tensor, *, validate: bool = True) -> Tensor:
    """UA from a confusion matrix: mean recall over classes with at least one true example.

    Args:
        confusion: Counts, rows = true class, as [confusion_matrix][] returns them.
        validate: Check that no count is negative (a device sync on CUDA).

    Shape:
        - confusion: ``(classes, classes)``, integer; output: ``()`` float32.

    Raises:
        ValueError: If ``confusion`` is not a non-empty square integer matrix, or (with
            ``validate``) holds a negative count.
    """
    _check_confusion(confusion, validate)
    c = confusion.float()
    support = c.sum(dim=1)
    present = support > 0
    recall = c.diagonal() / support.clamp(min=1.0)
    return torch.where(present, recall, 0.0).sum() / present.sum().clamp(min=1)


def weighted_f1_from_confusion(confusion: Tensor, *, validate: bool = True) -> Tensor:
    """Weighted F1 from a confusion matrix: per-class F1 weighted by true-class support.

    Per class, ``F1 = 2 TP / (2 TP + FP + FN)`` (0 when the class is never true nor
    predicted, scikit-learn's ``zero_division=0``).

    Args:
        confusion: Counts, rows = true class, as [confusion_matrix][] returns them.
        validate: Check that no count is negative (a device sync on CUDA).

    Shape:
        - confusion: ``(classes, classes)``, integer; output: ``()`` float32.

    Raises:
        ValueError: If ``confusion`` is not a non-empty square integer matrix, or (with
            ``validate``) holds a negative count.
    """
    _check_confusion(confusion, validate)
    c = confusion.float()
    tp = c.diagonal()
    support = c.sum(dim=1)
    predicted = c.sum(dim=0)
    denom = support + predicted
    f1 = torch.where(denom > 0, 2.0 * tp / denom.clamp(min=1.0), 0.0)
    return (f1 * support).sum() / support.sum().clamp(min=1.0)


def weighted_accuracy(preds: Tensor, targets: Tensor, *, validate: bool = True) -> Tensor:
    """WA: the fraction of examples whose prediction equals the target (paper Sec. 4.3).

    Args:
        preds: Predicted class indices.
        targets: True class indices.
        validate: Check that no index is negative (a device sync on CUDA).

    Shape:
        - preds, targets: ``(n,)``, integer; output: ``()`` float32, 0 for ``n = 0``.

    Returns:
        The accuracy in ``[0, 1]``.

    Raises:
        ValueError: If ``preds`` and ``targets`` are not integer ``(n,)`` tensors of one shape,
            or (with ``validate``) hold a negative index.

    Examples:
        >>> import torch
        >>> weighted_accuracy(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]))
        tensor(0.7500)
    """
    _check_pair(preds, targets, None, validate)
    if validate:
        for name, x in (("preds", preds), ("targets", targets)):
            if x.numel() and int(x.min()) < 0:
                raise fail(name, "class indices >= 0", f"a minimum of {int(x.min())}")
    return (preds == targets).float().sum() / max(preds.shape[0], 1)


def unweighted_accuracy(
    preds: Tensor, targets: Tensor, num_classes: int, *, validate: bool = True
) -> Tensor:
    """UA: mean per-class recall over the classes present in ``targets`` (paper Sec. 4.3).

    Args:
        preds: Predicted class indices in ``[0, num_classes)``.
        targets: True class indices in ``[0, num_classes)``.
        num_classes: Number of classes.
        validate: Check that indices are in range (a device sync on CUDA).

    Shape:
        - preds, targets: ``(n,)``, integer; output: ``()`` float32, 0 for ``n = 0``.

    Returns:
        The unweighted accuracy in ``[0, 1]``.

    Raises:
        ValueError: On malformed inputs or (with ``validate``) out-of-range indices.

    Examples:
        >>> import torch
        >>> unweighted_accuracy(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 0, 0]), 2)
        tensor(0.7500)
    """
    return unweighted_accuracy_from_confusion(
        confusion_matrix(preds, targets, num_classes, validate=validate)
    )


def weighted_f1(
    preds: Tensor, targets: Tensor, num_classes: int, *, validate: bool = True
) -> Tensor:
    """F1: per-class F1 weighted by the number of true examples of each class (Sec. 4.3).

    Args:
        preds: Predicted class indices in ``[0, num_classes)``.
        targets: True class indices in ``[0, num_classes)``.
        num_classes: Number of classes.
        validate: Check that indices are in range (a device sync on CUDA).

    Shape:
        - preds, targets: ``(n,)``, integer; output: ``()`` float32, 0 for ``n = 0``.

    Returns:
        The weighted F1 in ``[0, 1]``.

    Raises:
        ValueError: On malformed inputs or (with ``validate``) out-of-range indices.
    """
    return weighted_f1_from_confusion(
        confusion_matrix(preds, targets, num_classes, validate=validate)
    )
