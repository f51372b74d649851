"""Splitting a claim's error into its test-clip and seed parts (benchmarks/power_parts.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from benchmarks import claims, power_parts


def _preds(rng: np.random.Generator, labels: np.ndarray, acc: float, seeds: int) -> np.ndarray:
    """Per seed, the true label with probability ``acc`` (the seed's own draw), else random."""
    right = rng.random((seeds, labels.size)) < acc
    return np.where(right, labels, rng.integers(0, 3, (seeds, labels.size))).astype(np.int64)


def test_the_clip_part_matches_a_naive_bootstrap_over_clips():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300).astype(np.int64)
    a, b = _preds(rng, labels, 0.7, 4), _preds(rng, labels, 0.6, 4)
    parts = claims.error_parts(a, b, labels, 3, "F1")
    # the reference: resample clips, keep every seed, scikit-learn's weighted F1
    draws = []
    for _ in range(1000):
        idx = rng.integers(0, labels.size, labels.size)
        diff = [
            f1_score(labels[idx], a[s, idx], average="weighted", zero_division=0)
            - f1_score(labels[idx], b[s, idx], average="weighted", zero_division=0)
            for s in range(4)
        ]
        draws.append(100 * np.mean(diff))
    assert parts["se_clips"] == pytest.approx(np.std(draws, ddof=1), rel=0.15)


def test_seeds_that_agree_leave_no_seed_part_and_the_parts_add_up():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 400).astype(np.int64)
    one_a, one_b = _preds(rng, labels, 0.7, 1), _preds(rng, labels, 0.6, 1)
    a, b = np.repeat(one_a, 5, 0), np.repeat(one_b, 5, 0)  # every seed predicts alike
    parts = claims.error_parts(a, b, labels, 3, "F1")
    assert parts["se_seeds"] < 1e-9  # rounding only
    assert parts["se_clips"] > 1.0
    # seeds that differ: both parts, and the two-way bootstrap's SE about their root sum square
    a, b = _preds(rng, labels, 0.7, 8), _preds(rng, labels, 0.6, 8)
    parts = claims.error_parts(a, b, labels, 3, "F1")
    both = claims.paired_test_metric(a, b, labels, 3, "F1")["se"]
    assert parts["se_seeds"] > 0
    assert math.hypot(parts["se_clips"], parts["se_seeds"]) == pytest.approx(both, rel=0.25)


def _results(tmp_path: Path) -> Path:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 200).astype(np.int64)
    seeds = [0, 1, 2, 3, 4]
    preds = {m: _preds(rng, labels, acc, 5) for m, acc in (("supervised", 0.6), ("dcmkt", 0.4))}
    runs = {m: {str(s): {"predictions": p[i].tolist()} for i, s in enumerate(seeds)}
            for m, p in preds.items()}  # fmt: skip
    claim = claims.evaluate_claim(
        claims.Claim("chsims", "DCMKT alone is poor", "F1", "supervised", "dcmkt"),
        {m: {s: runs[m][str(s)] for s in seeds} for m in runs}, labels, 3,
    )  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"claims": [claim], "runs": {"chsims": runs},
                                "test_labels": {"chsims": labels.tolist()}}))  # fmt: skip
    return path


def test_the_command_prints_each_claims_parts_and_a_projection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = _results(tmp_path)
    assert power_parts.main([str(path), "--clips-factor", "4", "--seeds-to", "10"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("| x4 clips, 10 seeds |")
    cells = [c.strip() for c in out[2].strip("|").split("|")]
    assert cells[:4] == ["chsims", "supervised - dcmkt", "5", "200"]
    mde, clips, seeds, projected = map(float, cells[4:])
    assert projected < mde
    # a projection to the same clips and seeds is the root sum square of the two parts
    (row,) = power_parts.split_claims(json.loads(path.read_text()))
    same = power_parts.projected_mde(row, 1.0, 5)
    assert same == pytest.approx(math.hypot(clips, seeds), abs=0.01)
    assert same == pytest.approx(mde, rel=0.25)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--clips-factor", "2"], "go together"),
        (["--clips-factor", "0", "--seeds-to", "5"], "--clips-factor must be > 0, got 0.0"),
        (["--clips-factor", "2", "--seeds-to", "1"], "--seeds-to must be >= 2, got 1"),
    ],
)
def test_bad_options_name_themselves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
):
    path = _results(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        power_parts.parse_args([str(path), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        power_parts.parse_args([str(tmp_path / "missing.json")])
    assert "no such file" in capsys.readouterr().err


def test_help_explains_every_option():
    import subprocess
    import sys

    script = Path(power_parts.__file__)
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    for option in ("results", "--metric", "--clips-factor", "--seeds-to"):
        assert option in proc.stdout
