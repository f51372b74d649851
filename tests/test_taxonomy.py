from __future__ import annotations

import pytest
import torch
from conftest import make_probs
from hypothesis import given
from hypothesis import strategies as st

from sertoolkit.taxonomy import (
    EXPRESSION_TO_IEMOCAP,
    EXPRESSION_TO_SENTIMENT,
    EXPRESSIONS,
    IEMOCAP_EMOTIONS,
    SENTIMENTS,
    LabelMap,
    maps_to_target,
    project,
    sentiment_from_score,
)


def test_class_sets_are_the_papers():
    assert EXPRESSIONS == (
        "neutral",
        "happiness",
        "surprise",
        "sadness",
        "anger",
        "disgust",
        "fear",
    )
    assert IEMOCAP_EMOTIONS == ("neutral", "happy", "angry", "sad")
    assert SENTIMENTS == ("negative", "neutral", "positive")


def test_table_2():
    m = EXPRESSION_TO_SENTIMENT.mapping
    assert m["neutral"] == "neutral"
    assert m["surprise"] == m["happiness"] == "positive"
    assert {m[e] for e in ("fear", "sadness", "anger", "disgust")} == {"negative"}
    assert EXPRESSION_TO_SENTIMENT.is_total and not EXPRESSION_TO_IEMOCAP.is_total


def naive_project(row: list[float], label_map: LabelMap) -> list[float]:
    out = [0.0] * len(label_map.target)
    for s, p in zip(label_map.source, row):
        if s in label_map.mapping:
            out[label_map.target.index(label_map.mapping[s])] += p
    total = sum(out)
    return [v / total for v in out] if total > 0 else out


@given(st.integers(0, 20), st.integers(0, 10**6), st.floats(0.0, 10.0))
def test_project_summing_preserves_total_and_matches_naive(batch, seed, scale):
    p = make_probs(batch, 7, seed, scale, dtype=torch.float64)
    q = project(p, EXPRESSION_TO_SENTIMENT)
    assert q.shape == (batch, 3)
    assert torch.allclose(q.sum(1), p.sum(1))
    for row_p, row_q in zip(p.tolist(), q.tolist()):
        assert row_q == pytest.approx(naive_project(row_p, EXPRESSION_TO_SENTIMENT))


@given(st.integers(0, 20), st.integers(0, 10**6), st.floats(0.0, 10.0))
def test_project_selecting_renormalises(batch, seed, scale):
    p = make_probs(batch, 7, seed, scale, dtype=torch.float64)
    q = project(p, EXPRESSION_TO_IEMOCAP)
    assert torch.allclose(q.sum(1), torch.ones(batch, dtype=torch.float64))
    for row_p, row_q in zip(p.tolist(), q.tolist()):
        assert row_q == pytest.approx(naive_project(row_p, EXPRESSION_TO_IEMOCAP))


def test_project_all_mass_on_dropped_classes_gives_zeros():
    p = torch.zeros(1, 7)
    p[0, EXPRESSIONS.index("fear")] = 1.0
    assert project(p, EXPRESSION_TO_IEMOCAP).tolist() == [[0.0, 0.0, 0.0, 0.0]]
    assert maps_to_target(p, EXPRESSION_TO_IEMOCAP).tolist() == [False]


def test_maps_to_target_follows_the_hard_label():
    p = torch.eye(7)
    kept = maps_to_target(p, EXPRESSION_TO_IEMOCAP).tolist()
    assert [e for e, k in zip(EXPRESSIONS, kept) if k] == [
        "neutral",
        "happiness",
        "sadness",
        "anger",
    ]
    assert maps_to_target(p, EXPRESSION_TO_SENTIMENT).all()


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (-1.0, "negative"),
        (-0.5, "negative"),
        (-0.1000001, "neutral"),
        (-0.1, "neutral"),
        (-0.10001, "negative"),
        (0.0, "neutral"),
        (0.1, "neutral"),
        (0.10001, "positive"),
        (1.0, "positive"),
        ((-0.5 - 0.5 + 0.0 + 0.5 + 0.0) / 5, "neutral"),
    ],
)
def test_sentiment_from_score_boundaries(score, label):
    assert SENTIMENTS[sentiment_from_score(score)] == label
    t = sentiment_from_score(torch.tensor([score], dtype=torch.float32))
    assert SENTIMENTS[int(t[0])] == label


@given(st.lists(st.floats(-1.0, 1.0), max_size=30))
def test_sentiment_tensor_matches_scalar(scores):
    t = sentiment_from_score(torch.tensor(scores, dtype=torch.float64))
    assert t.dtype == torch.long
    assert t.tolist() == [sentiment_from_score(s) for s in scores]
