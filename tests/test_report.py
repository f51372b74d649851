"""The report's reading of run telemetry."""

from __future__ import annotations

import pytest

from benchmarks import report


def _record(epoch: int, kept: float, accuracy: float | None, hist: list[int]) -> dict:
    return {"epoch": epoch, "kept_share": kept, "pseudo_label_accuracy": accuracy,
            "kept_class_histogram": hist}  # fmt: skip


def test_telemetry_averages_the_seeds_that_ran_each_epoch_and_reads_the_best_one():
    # seed 0 stopped on a plateau after 2 epochs (best 0); seed 1 ran 3 (best 2)
    runs = {"chsims": {"fixmatch": {
        0: {"best_epoch": 0, "telemetry": [_record(0, 0.2, 0.5, [1, 0, 0]),
                                           _record(1, 0.4, 0.7, [0, 1, 0])]},
        1: {"best_epoch": 2, "telemetry": [_record(0, 0.0, None, [0, 0, 0]),
                                           _record(1, 0.2, 0.9, [0, 0, 1]),
                                           _record(2, 0.6, 0.8, [1, 1, 0])]},
    }}}  # fmt: skip
    out = report.telemetry_summary(runs)["chsims"]["fixmatch"]
    assert out["epoch"] == [0, 1, 2]
    assert out["seeds_per_epoch"] == [2, 2, 1]
    assert out["kept_share"] == pytest.approx([0.1, 0.3, 0.6])
    assert out["pseudo_label_accuracy"] == [0.5, 0.8, 0.8]  # None: nothing kept that epoch
    # "final" is each seed's best epoch (the last that trained the model it tests)
    assert out["final_accuracy"] == [0.5, 0.8]
    assert out["final_kept_class_histogram"] == [2, 1, 0]


def test_a_seed_whose_tested_model_never_trained_itself_has_no_final_values():
    # seed 1 peaked during a warm start (best epoch 3), before its own epochs 4-5
    runs = {"chsims": {"fixmatch": {
        0: {"best_epoch": 4, "telemetry": [_record(4, 0.2, 0.5, [1, 0, 0]),
                                           _record(5, 0.4, 0.7, [0, 1, 0])]},
        1: {"best_epoch": 3, "telemetry": [_record(4, 0.2, 0.9, [0, 0, 1]),
                                           _record(5, 0.6, 0.8, [1, 1, 0])]},
    }}}  # fmt: skip
    out = report.telemetry_summary(runs)["chsims"]["fixmatch"]
    assert out["final_accuracy"] == [0.5, None]  # one value per seed, in seed order
    assert out["final_entropy"][1] is None
    assert out["final_kept_class_histogram"] == [1, 0, 0]
    assert out["seeds_per_epoch"] == [2, 2]
