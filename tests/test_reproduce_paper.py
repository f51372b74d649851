"""End-to-end smoke test of the main job at the tiny profile (seconds), plus its CLI guards."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks import corpus as corpus_mod
from benchmarks import pipeline

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "reproduce_paper.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    proc = run("--profile", "tiny", "--seeds", "0", "1", "--out", str(out), "--workers", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_every_output_is_produced_and_well_formed(tiny_run: Path):
    for name in (
        "results.json",
        "report.md",
        "confusion.png",
        "sweeps.png",
        "pseudo_labels.png",
        "pseudo_labels.json",
    ):
        assert (tiny_run / name).is_file(), name
        assert (tiny_run / name).stat().st_size > 0, name
    for png in ("confusion.png", "sweeps.png", "pseudo_labels.png"):
        assert (tiny_run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((tiny_run / "results.json").read_text())
    chsims = results["summary"]["chsims"]
    assert set(chsims) == {
        "supervised",
        "fixmatch",
        "pi_model",
        "temporal_ensembling",
        "dcmkt",
        "dcmkt_finetune",
        "cmkt_add",
        "cr_eps0.0",
        "cr_eps0.5",
        "cr_eps0.9",
        "wf_alpha0.2",
        "wf_alpha0.4",
        "wf_alpha0.8",
        "oracle",
        "perfect_teacher",
    }
    assert len(results["summary"]["iemocap"]) == 10
    for entry in chsims.values():
        assert entry["seeds"] == [0, 1]
        for metric in ("F1", "WA", "UA"):
            assert 0.0 <= entry[metric]["mean"] <= 100.0
    telemetry = json.loads((tiny_run / "pseudo_labels.json").read_text())
    fixmatch = telemetry["chsims"]["fixmatch"]
    # one value per epoch FixMatch trains itself (all of them: the tiny recipe has no warm start)
    tiny = pipeline.RECIPES["tiny"]
    assert len(fixmatch["kept_share"]) == tiny.epochs - tiny.warm_start_epochs == 2
    assert all(0.0 <= v <= 1.0 for v in fixmatch["kept_share"])
    text = (tiny_run / "report.md").read_text()
    for needle in ("Table 3/4 analogue", "Table 5 analogue", "## Claims", "paper F1", "simulation",
                   "## Headroom", "## Calibration"):  # fmt: skip
        assert needle in text
    assert text.index("## Headroom") < text.index("## Calibration") < text.index("## Results")
    # the machine-readable verdicts
    assert len(results["claims"]) >= 15
    keys = {"dataset", "claim", "metric", "a", "b", "mean_diff", "ci_low", "ci_high", "verdict"}
    verdicts = {"supported", "contradicted", "undecided", "not testable"}
    for row in results["claims"]:
        assert keys <= set(row)
        assert row["verdict"] in verdicts
        if row["verdict"] != "not testable":
            assert row["ci_low"] <= row["mean_diff"] <= row["ci_high"]
    for dataset in ("chsims", "iemocap"):
        assert set(results["headroom"][dataset]) >= {"metric", "mean_diff", "ci_low", "ci_high"}
        assert "mde_f1" in results["power"][dataset]
        for row in ("supervised", "dcmkt"):
            calibration = results["calibration"][dataset][row]
            assert set(calibration) == {"paper", "measured", "seeds"}
            ran = results["runs"][dataset][row]  # every seed the row ran
            assert calibration["seeds"] == len(ran)
            f1 = [100 * run["metrics"]["F1"] for run in ran.values()]
            assert calibration["measured"] == pytest.approx(float(np.mean(f1)))
        assert results["corpus"][dataset]["split_sizes"]["test"] == len(
            results["test_labels"][dataset]
        )
        for seeds in results["runs"][dataset].values():
            for run in seeds.values():
                assert len(run["predictions"]) == len(results["test_labels"][dataset])
    assert results["config"]["seeds"] == [0, 1]
    assert (tiny_run / "claims.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rerun_skips_finished_runs(tiny_run: Path):
    before = {p: p.stat().st_mtime_ns for p in (tiny_run / "runs").rglob("seed*.json")}
    proc = run("--profile", "tiny", "--seeds", "0", "1", "--out", str(tiny_run))
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = {p: p.stat().st_mtime_ns for p in (tiny_run / "runs").rglob("seed*.json")}
    assert before == after  # nothing was retrained


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--methods", "nope"], "unknown method"),
        (["--seeds", "-1"], "--seeds"),
        (["--workers", "0"], "--workers"),
        (["--profile", "huge"], "invalid choice"),
        (["--out", "/proc/forbidden"], "not writable"),
    ],
)
def test_bad_options_fail_in_one_line_before_work(args: list[str], message: str):
    proc = run(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_explains_every_option():
    proc = run("--help")
    assert proc.returncode == 0
    for option in (
        "--profile",
        "--dataset",
        "--device",
        "--seeds",
        "--methods",
        "--out",
        "--workers",
        "--corpus-seed",
        "--headroom-seeds",
        "--power-seeds",
        "--epochs",
        "--patience",
        "--min-epochs",
    ):
        assert option in proc.stdout


def test_check_config_keeps_cpu_and_gpu_runs_apart(tmp_path: Path):
    from benchmarks import reproduce_paper

    cpu = {"profile": "tiny", "corpus_seed": 0, "recipe": {"epochs": 1}, "sizes": {"n": 1},
           "data": "synthetic", "global_batch": pipeline.BATCH, "device": "cpu",
           "pipeline": pipeline.PIPELINE_VERSION, "knobs": {}}  # fmt: skip
    reproduce_paper.check_config(tmp_path / "a", cpu)
    reproduce_paper.check_config(tmp_path / "a", cpu)  # the same settings again: fine
    # a CPU folder's key is the one older folders were made with (no device field)
    assert "device" not in json.loads((tmp_path / "a" / "config.json").read_text())
    with pytest.raises(SystemExit, match="device"):
        reproduce_paper.check_config(tmp_path / "a", {**cpu, "device": "cuda:0"})
    reproduce_paper.check_config(tmp_path / "b", {**cpu, "device": "cuda:0"})
    reproduce_paper.check_config(tmp_path / "b", {**cpu, "device": "cuda:1"})  # another GPU: fine
    with pytest.raises(SystemExit, match="device"):
        reproduce_paper.check_config(tmp_path / "b", cpu)


def test_check_config_refuses_a_folder_of_an_older_pipeline(tmp_path: Path):
    from benchmarks import reproduce_paper

    config = {"profile": "tiny", "corpus_seed": 0, "recipe": {"epochs": 1}, "sizes": {"n": 1},
              "data": "synthetic", "global_batch": pipeline.BATCH, "device": "cpu",
              "pipeline": pipeline.PIPELINE_VERSION, "knobs": {}}  # fmt: skip
    old = {k: config[k] for k in ("profile", "corpus_seed", "recipe", "sizes")}
    (tmp_path / "config.json").write_text(json.dumps(old))  # made before the version existed
    with pytest.raises(SystemExit, match="older pipeline"):
        reproduce_paper.check_config(tmp_path, config)


def test_check_config_reads_a_folder_made_before_a_knob_existed(tmp_path: Path):
    from dataclasses import asdict

    from benchmarks import corpus, reproduce_paper

    # the knobs added since then at their defaults (what a corpus of that time was made with)
    knobs = {
        d: asdict(corpus.Knobs(expressiveness=k.expressiveness, domain_gap=k.domain_gap))
        for d, k in corpus.KNOB_VALUES.items()
    }
    config = {"profile": "tiny", "corpus_seed": 0, "recipe": {"epochs": 1}, "sizes": {"n": 1},
              "data": "synthetic", "global_batch": pipeline.BATCH, "device": "cpu",
              "pipeline": pipeline.PIPELINE_VERSION, "knobs": knobs}  # fmt: skip
    before = {d: {"expressiveness": k["expressiveness"], "domain_gap": k["domain_gap"]}
              for d, k in knobs.items()}  # fmt: skip
    old = {k: config[k] for k in ("profile", "corpus_seed", "recipe", "sizes", "pipeline")}
    (tmp_path / "config.json").write_text(json.dumps({**old, "knobs": before}))
    reproduce_paper.check_config(tmp_path, config)  # the new knobs at their defaults: fine
    changed = {**knobs, "iemocap": {**knobs["iemocap"], "clip_noise": 0.5}}
    with pytest.raises(SystemExit, match="other settings"):
        reproduce_paper.check_config(tmp_path, {**config, "knobs": changed})
    signature = {**knobs, "iemocap": {**knobs["iemocap"], "signature_db": 1.5}}
    with pytest.raises(SystemExit, match="other settings"):  # a new knob off its default
        reproduce_paper.check_config(tmp_path, {**config, "knobs": signature})
    # a knob this version does not know: refused in one line, not a TypeError
    unknown = {**before, "chsims": {**before["chsims"], "loudness": 1.0}}
    (tmp_path / "config.json").write_text(json.dumps({**old, "knobs": unknown}))
    with pytest.raises(SystemExit, match="other settings"):
        reproduce_paper.check_config(tmp_path, config)


def test_check_config_reads_a_folder_made_before_the_schedule_fields_existed(tmp_path: Path):
    from dataclasses import asdict

    from benchmarks import reproduce_paper

    recipe = asdict(pipeline.RECIPES["quick"])
    config = {"profile": "quick", "corpus_seed": 0, "recipe": recipe, "sizes": {"n": 1},
              "data": "synthetic", "global_batch": pipeline.BATCH, "device": "cpu",
              "pipeline": pipeline.PIPELINE_VERSION, "knobs": {}}  # fmt: skip
    before = {k: v for k, v in recipe.items() if k not in {"warmup_epochs", "decay_every"}}
    old = {k: config[k] for k in ("profile", "corpus_seed", "sizes", "pipeline", "knobs")}
    (tmp_path / "config.json").write_text(json.dumps({**old, "recipe": before}))
    reproduce_paper.check_config(tmp_path, config)  # the paper's 4-epoch shape: the same runs
    short = asdict(pipeline.compressed(pipeline.RECIPES["quick"], 25))
    with pytest.raises(SystemExit, match="other settings"):
        reproduce_paper.check_config(tmp_path, {**config, "recipe": short})


@pytest.mark.parametrize(
    ("epochs", "period"), [(50, 4), (25, 2), (30, 2), (10, 1), (1, 1), (100, 8)]
)
def test_compressed_keeps_the_papers_schedule_shape(epochs: int, period: int):
    recipe = pipeline.compressed(pipeline.RECIPES["quick"], epochs)
    assert (recipe.epochs, recipe.warmup_epochs, recipe.decay_every) == (epochs, period, period)
    assert pipeline.compressed(pipeline.RECIPES["quick"], 50) == pipeline.RECIPES["quick"]
    with pytest.raises(ValueError, match="epochs"):
        pipeline.compressed(pipeline.RECIPES["quick"], 0)


@pytest.mark.parametrize(
    ("epochs", "patience", "min_epochs"), [(50, 8, 10), (25, 4, 5), (10, 2, 2), (1, 1, 0)]
)
def test_compressed_scales_the_plateau_rule_with_the_run(epochs, patience, min_epochs):
    quick = pipeline.RECIPES["quick"]
    assert (quick.patience, quick.min_epochs) == (8, 10)  # the default this scales
    recipe = pipeline.compressed(quick, epochs)
    assert (recipe.patience, recipe.min_epochs) == (patience, min_epochs)
    never = pipeline.compressed(replace(quick, patience=0), epochs)
    assert never.patience == 0  # a recipe that never stops still never stops


def test_the_report_describes_the_schedule_the_run_trained():
    from benchmarks import reproduce_paper

    quick = pipeline.RECIPES["quick"]
    text = reproduce_paper.schedule_text(quick)
    assert text.startswith("50 epochs with the paper's schedule,")
    assert "not improved for 8 epochs (never before epoch 10" in text
    short = reproduce_paper.schedule_text(pipeline.compressed(quick, 25))
    assert "25 epochs" in short and "every 2" in short and "for 4 epochs" in short
    assert "stopping" not in reproduce_paper.schedule_text(replace(quick, patience=0))


def test_epochs_option_is_checked_before_any_work(tmp_path: Path):
    proc = run("--profile", "tiny", "--epochs", "0", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "--epochs must be >= 1, got 0" in proc.stderr
    proc = run("--profile", "tiny", "--epochs", "3", "--warm-start-epochs", "3", "--out",
               str(tmp_path))  # fmt: skip
    assert proc.returncode == 2
    assert "--warm-start-epochs must be in [0, 3)" in proc.stderr
    proc = run("--profile", "tiny", "--patience", "-1", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "--patience must be >= 0, got -1" in proc.stderr
    proc = run("--profile", "tiny", "--min-epochs", "3", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "--min-epochs must be in [0, 2] for 2 epochs, got 3" in proc.stderr
    proc = run("--profile", "tiny", "--min-epochs", "1", "--out", str(tmp_path))
    assert proc.returncode == 2  # tiny never stops on a plateau: the option would do nothing
    assert "--min-epochs has no effect without plateau stopping" in proc.stderr
    assert not (tmp_path / "config.json").exists()


def test_parallel_runs_give_exactly_the_results_of_one_process(tmp_path: Path):
    # --jobs 2: two worker processes of two threads, which also synthesise the corpora and
    # train and score the face model (on two threads, as the runs); --jobs 1: one process of
    # two threads. The same computation, so the same face evidence, predictions and metrics
    # (a face model trained on one thread differs); dcmkt_finetune
    # waits for its seed's dcmkt run, the IEMOCAP-like face evidence for the face model that
    # the CH-SIMS-like one trains, in the parallel case
    common = ["--profile", "tiny", "--seeds", "0", "1", "--methods",
              "supervised", "fixmatch", "dcmkt", "dcmkt_finetune"]  # fmt: skip
    stderr = {}
    for out, extra in (("par", ["--jobs", "2", "--workers", "2"]), ("seq", ["--jobs", "1", "--workers", "2"])):  # fmt: skip
        proc = run(*common, "--out", str(tmp_path / out), *extra)
        assert proc.returncode == 0, proc.stderr[-3000:]
        stderr[out] = proc.stderr
    assert "face model: training, scoring frames" in stderr["par"]
    for name in ("face-model.pt", "visual-chsims.pt", "visual-iemocap.pt"):
        par_bytes = (tmp_path / "par" / "cache" / name).read_bytes()
        assert par_bytes == (tmp_path / "seq" / "cache" / name).read_bytes(), name
    for dataset in ("chsims", "iemocap"):
        par = json.loads((tmp_path / "par" / "results.json").read_text())["runs"][dataset]
        seq = json.loads((tmp_path / "seq" / "results.json").read_text())["runs"][dataset]
        assert set(par) == set(seq) == {"supervised", "fixmatch", "dcmkt", "dcmkt_finetune"}
        for method, seeds in seq.items():
            for seed, record in seeds.items():
                key = (dataset, method, seed)
                assert par[method][seed]["predictions"] == record["predictions"], key
                assert par[method][seed]["val_curve"] == record["val_curve"], key


def test_synthesis_units_come_in_order_of_priority_and_wait_for_what_they_need(tmp_path: Path):
    from benchmarks import reproduce_paper as rp

    args = rp.parse_args(["--profile", "quick", "--out", str(tmp_path)])
    units = rp.synthesis_units(["chsims", "iemocap"], args)
    chunks = [rp.ChunkUnit("chsims", 2, i) for i in range(6)]
    chunks += [rp.ChunkUnit("iemocap", 2, i) for i in range(10)]
    assert units == [
        rp.CorpusUnit("iemocap"),  # the larger corpus first
        rp.CorpusUnit("chsims"),
        rp.VisualUnit("chsims"),  # the first dataset trains the face model
        rp.VisualUnit("iemocap"),
        *chunks,  # 3,000 and 5,000 extra test clips in chunks of 500
        rp.ChunkUnit("iemocap", 1, 0),  # then 320 IEMOCAP-like validation clips
    ]
    needs = {u: rp.unit_needs(u, ["chsims", "iemocap"]) for u in units}
    assert needs[rp.VisualUnit("chsims")] == [rp.CorpusUnit("chsims")]
    assert needs[rp.VisualUnit("iemocap")] == [rp.CorpusUnit("iemocap"), rp.VisualUnit("chsims")]
    assert all(needs[u] == [] for u in units if not isinstance(u, rp.VisualUnit))
    # what is cached is not redone: the face evidence of a dataset, a chunk
    cache = tmp_path / "cache"
    cache.mkdir()
    rp.visual_path("chsims", args).touch()
    corpus_mod.chunk_path("iemocap", "quick", 0, 0, cache, 1).touch()
    left = rp.synthesis_units(["chsims", "iemocap"], args)
    assert rp.VisualUnit("chsims") not in left
    assert rp.ChunkUnit("iemocap", 1, 0) not in left
    assert len(left) == len(units) - 2
    # one dataset: it trains the face model itself
    alone = rp.synthesis_units(["iemocap"], rp.parse_args(["--out", str(tmp_path / "alone")]))
    assert alone[:2] == [rp.CorpusUnit("iemocap"), rp.VisualUnit("iemocap")]
    assert rp.unit_needs(rp.VisualUnit("iemocap"), ["iemocap"]) == [rp.CorpusUnit("iemocap")]


def test_ctrl_c_stops_parallel_runs_at_once_and_the_rerun_finishes(tmp_path: Path):
    import os
    import signal
    import time

    out = tmp_path / "out"
    cmd = [sys.executable, str(SCRIPT), "--profile", "tiny", "--dataset", "chsims", "--seeds",
           "0", "1", "2", "--jobs", "2", "--workers", "1", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            # a terminal's job gets SIGINT: undo the SIG_IGN a shell gives
                            # background jobs (CI launched with `&` would inherit it)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.monotonic() + 300
    while not list(out.glob("runs/chsims/*/seed*.json")):  # the worker pool is running
        assert proc.poll() is None and time.monotonic() < deadline, "no run finished"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    finished = len(list(out.glob("runs/chsims/*/seed*.json")))
    assert finished < 45  # stopped early, not after training the whole queue
    again = run(*cmd[2:])
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out / "report.md").is_file()


def test_a_warm_start_trains_the_supervised_run_first_and_continues_it(tmp_path: Path):
    # asked for FixMatch alone, the run trains its seed's supervised run too: FixMatch starts
    # from that run's first epoch and trains only the second one itself
    proc = run("--profile", "tiny", "--dataset", "chsims", "--seeds", "0", "--methods",
               "fixmatch", "--warm-start-epochs", "1", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]["chsims"]
    assert set(runs) == {"supervised", "fixmatch"}
    supervised, fixmatch = runs["supervised"]["0"], runs["fixmatch"]["0"]
    assert fixmatch["val_curve"][:1] == supervised["val_curve"][:1]
    assert [t["epoch"] for t in fixmatch["telemetry"]] == [1]
    assert (tmp_path / "runs" / "chsims" / "supervised" / "seed0.warm.pt").is_file()
    bad = run("--profile", "tiny", "--warm-start-epochs", "2", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "--warm-start-epochs must be in [0, 2)" in bad.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--headroom-seeds", "-1"], "--headroom-seeds must be >= 0, got -1"),
        (["--power-seeds", "-2"], "--power-seeds must be >= 0, got -2"),
        (["--seeds", "0", "1", "0"], "--seeds must not repeat a seed, got [0, 1, 0]"),
    ],
)
def test_seed_options_are_checked_before_any_work(tmp_path: Path, argv: list[str], message: str):
    proc = run("--profile", "tiny", *argv, "--out", str(tmp_path))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (tmp_path / "config.json").exists()


@pytest.mark.parametrize(
    ("profile", "n", "power"), [("quick", 10, 24), ("paper", 10, 24), ("tiny", 0, 0)]
)
def test_headroom_and_power_seeds_default_to_ten_and_twenty_four_except_on_tiny(
    tmp_path: Path, profile: str, n: int, power: int
):
    from benchmarks import reproduce_paper

    args = reproduce_paper.parse_args(["--profile", profile, "--out", str(tmp_path)])
    assert reproduce_paper._headroom_n(args) == n
    args = reproduce_paper.parse_args(["--profile", profile, "--headroom-seeds", "7",
                                       "--out", str(tmp_path)])  # fmt: skip
    assert reproduce_paper._headroom_n(args) == 7
    args = reproduce_paper.parse_args(["--profile", profile, "--out", str(tmp_path)])
    assert reproduce_paper._power_n(args) == power
    args = reproduce_paper.parse_args(["--profile", profile, "--power-seeds", "6",
                                       "--out", str(tmp_path)])  # fmt: skip
    assert reproduce_paper._power_n(args) == 6


def test_headroom_seeds_extend_the_runs_seeds():
    from benchmarks.reproduce_paper import headroom_seeds

    assert headroom_seeds([0, 1, 2, 3, 4], 10) == list(range(10))
    assert headroom_seeds([3, 7], 4) == [3, 7, 8, 9]
    assert headroom_seeds([5, 1, 2], 2) == [5, 1, 2]  # enough already: unchanged


def test_the_headroom_rows_train_more_seeds_and_only_the_headroom_reads_them(tmp_path: Path):
    proc = run("--profile", "tiny", "--dataset", "chsims", "--seeds", "0", "1", "2", "3", "4",
               "--headroom-seeds", "6", "--methods", "supervised", "oracle", "fixmatch",
               "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["config"]["headroom_seeds"] == [0, 1, 2, 3, 4, 5]
    runs = results["runs"]["chsims"]
    assert sorted(runs["supervised"]) == sorted(runs["oracle"]) == [str(s) for s in range(6)]
    assert sorted(runs["fixmatch"]) == [str(s) for s in range(5)]
    assert results["headroom"]["chsims"]["seeds"] == [0, 1, 2, 3, 4, 5]
    for row in results["summary"]["chsims"].values():  # the tables: the run's seeds
        assert row["seeds"] == [0, 1, 2, 3, 4]
    for claim in results["claims"]:
        assert set(claim["seeds"]) <= {0, 1, 2, 3, 4}
    assert "(the headroom rows: seeds 0-5)" in (tmp_path / "report.md").read_text()


def test_the_power_rows_train_more_seeds_and_their_claims_pair_them_all(tmp_path: Path):
    from benchmarks import claims

    assert claims.POWER_ROWS == {"iemocap": ("supervised", "dcmkt", "dcmkt_finetune")}
    proc = run("--profile", "tiny", "--dataset", "iemocap", "--seeds", "0", "1", "2", "3", "4",
               "--headroom-seeds", "6", "--power-seeds", "6", "--methods", "supervised",
               "oracle", "dcmkt", "dcmkt_finetune", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["config"]["power_seeds"] == [0, 1, 2, 3, 4, 5]
    runs = results["runs"]["iemocap"]
    for method in ("supervised", "oracle", "dcmkt", "dcmkt_finetune"):
        assert sorted(runs[method]) == [str(s) for s in range(6)], method
    for row in results["summary"]["iemocap"].values():  # the tables: the run's seeds
        assert row["seeds"] == [0, 1, 2, 3, 4]
    by_rows = {(c["a"], c["b"]): c for c in results["claims"]}
    assert by_rows["supervised", "dcmkt"]["seeds"] == [0, 1, 2, 3, 4, 5]
    assert by_rows["dcmkt_finetune", "dcmkt"]["seeds"] == [0, 1, 2, 3, 4, 5]
    for row in ("supervised", "dcmkt"):  # the calibration reads every seed, the tables 0-4
        calibration = results["calibration"]["iemocap"][row]
        f1 = [100 * runs[row][str(s)]["metrics"]["F1"] for s in range(6)]
        assert calibration["seeds"] == 6
        assert calibration["measured"] == pytest.approx(float(np.mean(f1)))
        assert calibration["measured"] != pytest.approx(float(np.mean(f1[:5])))
    report = (tmp_path / "report.md").read_text()
    assert "(more in claims of iemocap: see their seeds column)" in report
    # without --power-seeds on tiny, DCMKT trains the run's seeds only
    proc = run("--profile", "tiny", "--dataset", "iemocap", "--seeds", "0", "--methods",
               "dcmkt", "--out", str(tmp_path / "plain"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "plain" / "results.json").read_text())
    assert sorted(results["runs"]["iemocap"]["dcmkt"]) == ["0"]


def test_without_the_oracle_no_headroom_seeds_are_trained_or_named(tmp_path: Path):
    proc = run("--profile", "tiny", "--dataset", "chsims", "--seeds", "0", "--headroom-seeds",
               "3", "--methods", "supervised", "fixmatch", "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert sorted(results["runs"]["chsims"]["supervised"]) == ["0"]
    assert "the headroom rows" not in (tmp_path / "report.md").read_text()
