"""Metrics against scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import label_pairs
from hypothesis import given
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from sertoolkit.metrics import (
    accuracy_from_confusion,
    confusion_matrix,
    unweighted_accuracy,
    unweighted_accuracy_from_confusion,
    weighted_accuracy,
    weighted_f1,
    weighted_f1_from_confusion,
)


@given(label_pairs())
def test_confusion_matrix_matches_sklearn(data):
    preds, targets, c = data
    ours = confusion_matrix(preds, targets, c)
    assert ours.dtype == torch.long and ours.shape == (c, c)
    if len(preds) == 0:  # scikit-learn refuses empty input
        assert int(ours.sum()) == 0
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "A single label was found"
        ref = sk_confusion_matrix(targets.numpy(), preds.numpy(), labels=list(range(c)))
    np.testing.assert_array_equal(ours.numpy(), ref)


@given(label_pairs())
def test_weighted_accuracy_matches_sklearn(data):
    preds, targets, _ = data
    got = weighted_accuracy(preds, targets).item()
    want = accuracy_score(targets.numpy(), preds.numpy()) if len(preds) else 0.0
    assert got == pytest.approx(want, abs=1e-6)


@given(label_pairs())
def test_unweighted_accuracy_matches_sklearn_balanced_accuracy(data):
    preds, targets, c = data
    got = unweighted_accuracy(preds, targets, c).item()
    if len(preds) == 0:
        assert got == 0.0
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        want = balanced_accuracy_score(targets.numpy(), preds.numpy())
    assert got == pytest.approx(want, abs=1e-6)


@given(label_pairs())
def test_weighted_f1_matches_sklearn(data):
    preds, targets, c = data
    got = weighted_f1(preds, targets, c).item()
    if len(preds) == 0:
        assert got == 0.0
        return
    want = f1_score(targets.numpy(), preds.numpy(), average="weighted", zero_division=0)
    assert got == pytest.approx(want, abs=1e-6)


@given(label_pairs(), label_pairs())
def test_confusion_counts_sum_across_shards(a, b):
    """Metrics of summed confusion matrices equal metrics of the concatenated data."""
    pa, ta, ca = a
    pb, tb, cb = b
    c = max(ca, cb)
    joint = confusion_matrix(torch.cat([pa, pb]), torch.cat([ta, tb]), c)
    summed = confusion_matrix(pa, ta, c) + confusion_matrix(pb, tb, c)
    assert torch.equal(joint, summed)
    for fn in (
        accuracy_from_confusion,
        unweighted_accuracy_from_confusion,
        weighted_f1_from_confusion,
    ):
        assert fn(summed).item() == pytest.approx(fn(joint).item())


def test_metrics_on_device(device):
    p = torch.tensor([0, 1, 2, 2], device=device)
    t = torch.tensor([0, 1, 1, 2], device=device)
    for value in (weighted_accuracy(p, t), unweighted_accuracy(p, t, 3), weighted_f1(p, t, 3)):
        assert value.device.type == device.type and value.dtype == torch.float32
