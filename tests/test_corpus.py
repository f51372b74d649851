"""The synthetic corpus' knobs, and the calibration command that measures them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest

from benchmarks import calibrate, learning_curve, pipeline, report
from benchmarks import corpus as corpus_mod
from benchmarks.synth_audio import SAMPLE_RATE, make_speaker, spectral_signature, synthesize


def _level_db(noise: float, clips: int = 40) -> np.ndarray:
    """Each clip's RMS level in dB: the emotion's energy effect plus the clip's energy noise."""
    rng = np.random.default_rng(0)
    speaker = make_speaker(0, True, rng)
    levels = [
        20 * np.log10(np.sqrt(np.mean(synthesize("happy", speaker, 0.6, rng, noise=noise) ** 2)))
        for _ in range(clips)
    ]
    return np.asarray(levels)


def test_clip_noise_scales_the_clip_to_clip_spread():
    # the level is normalised before the energy effect, so its spread is the energy noise alone
    # (1.5 dB at noise 1)
    spread = {noise: float(_level_db(noise).std()) for noise in (0.0, 0.25, 1.0)}
    assert spread[1.0] == pytest.approx(1.5, rel=0.3)
    assert spread[0.25] == pytest.approx(0.25 * spread[1.0], rel=0.3)
    assert spread[0.0] < 1e-3


def test_clip_noise_one_is_the_synthesiser_as_written():
    args = ("angry", make_speaker(3, False, np.random.default_rng(1)), 0.5)
    default = synthesize(*args, np.random.default_rng(2))
    explicit = synthesize(*args, np.random.default_rng(2), noise=1.0)
    np.testing.assert_array_equal(default, explicit)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expressiveness", 0.0),
        ("domain_gap", 1.5),
        ("clip_noise", -0.1),
        ("clip_noise", 2.5),
        ("intensity_low", 1.2),
        ("signature_db", 6.5),
        ("signature_hz", 0.0),
        ("wild_prior", -0.1),
        ("wild_prior", 1.5),
        ("face_expressiveness", 0.0),
        ("face_expressiveness", 2.5),
    ],
)
def test_knobs_out_of_range_name_the_knob(field: str, value: float):
    with pytest.raises(ValueError, match=field):
        corpus_mod.Knobs(**{field: value})


def test_the_spectral_signature_is_the_clips_log_spectral_change():
    # the same clip with and without the signature: their log spectra differ by the
    # intensity-scaled signature, up to one constant (the level normalisation)
    args = ("sad", make_speaker(2, True, np.random.default_rng(4)), 0.5)
    plain = synthesize(*args, np.random.default_rng(5), intensity=0.8)
    rng = np.random.default_rng(5)
    marked = synthesize(*args, rng, intensity=0.8, signature_db=3.0, signature_hz=80.0)
    # the signature draws nothing from the clip's generator
    after = np.random.default_rng(5)
    synthesize(*args, after, intensity=0.8)
    assert rng.random() == after.random()
    spec_plain = np.abs(np.fft.rfft(plain.astype(np.float64)))
    spec_marked = np.abs(np.fft.rfft(marked.astype(np.float64)))
    freqs = np.fft.rfftfreq(plain.size, 1 / SAMPLE_RATE)
    keep = spec_plain > 1e-3 * spec_plain.max()  # float32 rounding swamps the quietest bins
    change = 20 * np.log10(spec_marked[keep] / spec_plain[keep])
    expected = 0.8 * 3.0 * spectral_signature("sad", 80.0, freqs[keep])
    np.testing.assert_allclose(change - change.mean(), expected - expected.mean(), atol=0.05)


def test_each_emotion_has_one_fixed_unit_signature():
    freqs = np.arange(0.0, SAMPLE_RATE / 2, 10.0)
    shapes = {e: spectral_signature(e, 60.0, freqs) for e in ("neutral", "happy", "angry", "sad")}
    for shape in shapes.values():
        assert abs(shape.mean()) < 0.01
        assert shape.std() == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(shapes["happy"], spectral_signature("happy", 60.0, freqs))
    names = list(shapes)
    for i, a in enumerate(names):  # zero mean, unit RMS: the mean product is the correlation
        for b in names[i + 1 :]:
            assert abs(float(np.mean(shapes[a] * shapes[b]))) < 0.5, (a, b)
    # wider bumps are smoother: neighbouring 10 Hz steps differ less
    wide = spectral_signature("happy", 200.0, freqs)
    assert np.diff(wide).std() < np.diff(shapes["happy"]).std()
    with pytest.raises(ValueError, match="width_hz"):
        spectral_signature("happy", 0.0, freqs)


def test_the_intensity_floor_bounds_the_labelled_and_near_wild_draws():
    assert corpus_mod.wild_channel(0.0, 0.7)["intensity"] == (0.7, 1.2)
    assert corpus_mod.wild_channel(1.0, 0.7)["intensity"] == (0.2, 1.0)
    # the default floor keeps the ranges the corpus was written with
    assert corpus_mod.wild_channel(0.5, corpus_mod.Knobs().intensity_low)["intensity"] == (
        pytest.approx(0.25),
        pytest.approx(1.1),
    )


def test_the_cache_key_covers_every_knob(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    before = corpus_mod.cache_path("iemocap", "tiny", 0, tmp_path)
    knobs = dict(corpus_mod.KNOB_VALUES)
    default = corpus_mod.KNOB_VALUES["iemocap"]
    changes = [(f.name, getattr(default, f.name) * 0.5 + 0.05) for f in fields(corpus_mod.Knobs)]
    for field, value in changes:
        knobs["iemocap"] = replace(corpus_mod.KNOB_VALUES["iemocap"], **{field: value})
        monkeypatch.setattr(corpus_mod, "KNOB_VALUES", knobs)
        assert corpus_mod.cache_path("iemocap", "tiny", 0, tmp_path) != before, field


@pytest.mark.parametrize(
    ("knob", "message"),
    [("loudness=1", "NAME one of"), ("clip_noise", "NAME=VALUE"), ("clip_noise=x", "a number")],
)
def test_calibrate_refuses_a_bad_knob(knob: str, message: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        calibrate.parse_args(["--dataset", "chsims", "--knob", knob])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_calibrate_records_each_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(corpus_mod, "KNOB_VALUES", dict(corpus_mod.KNOB_VALUES))
    argv = ["--dataset", "chsims", "--profile", "tiny", "--seeds", "0", "--out", str(tmp_path)]
    argv += ["--knob", "clip_noise=0.5", "--jobs", "1"]
    assert calibrate.main(argv) == 0
    (line,) = (tmp_path / "fits.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["knobs"]["clip_noise"] == 0.5
    assert record["knobs"]["expressiveness"] == corpus_mod.KNOB_VALUES["chsims"].expressiveness
    assert set(record["measured_f1"]) == {"supervised", "dcmkt", "oracle"}
    assert record["paper_f1"] == {"supervised": 42.94, "dcmkt": 36.58}
    assert record["measured_seeds"] == {"supervised": 1, "dcmkt": 1, "oracle": 1}
    assert record["headroom"]["verdict"] == "not testable"  # one seed
    assert record["headroom_seeds"] == [0]  # the tiny profile adds none
    assert record["pipeline"] == pipeline.PIPELINE_VERSION
    assert record["recipe"]["patience"] == pipeline.RECIPES["tiny"].patience
    folder = calibrate.setting_folder(tmp_path, "chsims", "tiny", corpus_mod.KNOB_VALUES["chsims"])
    assert "clip_noise0.5" in folder.name
    assert (folder / "runs" / "chsims" / "oracle" / "seed0.json").exists()


def test_a_fit_reads_every_seed_a_row_ran_as_the_reports_calibration_does():
    """The supervised and oracle rows train the headroom's seeds, more than ``--seeds``."""

    def run(f1: float) -> dict[str, object]:
        return {"metrics": {m: f1 for m in report.METRICS}}

    runs = {"supervised": {str(s): run(0.40 + 0.01 * s) for s in range(10)},
            "dcmkt": {str(s): run(0.30) for s in range(5)}}  # fmt: skip
    results = {"runs": {"chsims": runs}, "headroom": {}}
    record = calibrate.summarise(results, "chsims", ["supervised", "dcmkt", "oracle"])
    assert record["measured_f1"] == pytest.approx({"supervised": 44.5, "dcmkt": 30.0})
    assert record["measured_seeds"] == {"supervised": 10, "dcmkt": 5}  # oracle did not run


def _probe_corpus(labels: np.ndarray, shift: float) -> dict[str, np.ndarray]:
    """A hand-made corpus: bin 0 of every frame is ``shift`` times the clip's label plus
    noise; 100 / 100 / 100 clips train / validation / test, and the first 150 again as
    unlabelled clips."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (300, 6, 4))
    x[:, :, 0] += shift * labels[:, None]
    return {
        "x_l": x.astype(np.float16),
        "len_l": rng.integers(1, 7, 300),
        "y_l": labels,
        "split": np.repeat([0, 1, 2], 100),
        "x_u": x[:150].astype(np.float16),
        "len_u": np.full(150, 6),
        "y_u": labels[:150],
    }


def test_the_linear_probe_finds_a_linear_cue_and_no_other():
    labels = np.random.default_rng(1).integers(0, 3, 300)
    curve = learning_curve.learning_curve(_probe_corpus(labels, 3.0), [50, 100, 500])
    assert list(curve) == ["n=50", "all labelled", "labelled + unlabelled (true labels)"]
    assert min(curve.values()) > 90
    # labels the features do not carry: near chance (a third) from any training set
    noise = _probe_corpus(labels, 0.0)
    assert max(learning_curve.learning_curve(noise, [50]).values()) < 55


def test_the_last_row_learns_from_the_unlabelled_clips():
    # training labels that the features do not carry; the unlabelled clips (the first 150,
    # training clips among them) keep their true labels: only the last row finds the cue
    labels = np.random.default_rng(1).integers(0, 3, 300)
    corpus = _probe_corpus(labels, 3.0)
    corpus["y_l"] = np.concatenate([np.random.default_rng(2).integers(0, 3, 100), labels[100:]])
    curve = learning_curve.learning_curve(corpus, [])
    assert curve["all labelled"] < 55
    assert curve["labelled + unlabelled (true labels)"] > 70


def test_learning_curve_runs_on_the_tiny_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    argv = ["--dataset", "iemocap", "--profile", "tiny", "--cache", str(tmp_path)]
    before = dict(corpus_mod.KNOB_VALUES)
    assert learning_curve.main([*argv, "--knob", "signature_db=2", "--sizes", "5"]) == 0
    assert dict(corpus_mod.KNOB_VALUES) == before  # the knobs set were this call's only
    out = capsys.readouterr().out
    assert "signature_db=2.0" in out
    assert "n=5 " in out and "labelled + unlabelled (true labels)" in out


def test_learning_curve_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        learning_curve.main(["--dataset", "chsims", "--sizes", "0"])
    assert exit_info.value.code == 2
    assert "--sizes: expected positive clip counts, got [0]" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", ["chsims", "iemocap"])
def test_the_wild_prior_moves_from_the_labelled_prior_to_the_neutral_heavy_one(
    dataset: str, monkeypatch: pytest.MonkeyPatch
):
    labelled = corpus_mod.labelled_prior(dataset)
    np.testing.assert_allclose(
        labelled, [0.40, 0.25, 0.35] if dataset == "chsims" else [0.309, 0.296, 0.199, 0.196],
        atol=1e-3,
    )  # fmt: skip
    knobs = dict(corpus_mod.KNOB_VALUES)
    monkeypatch.setattr(corpus_mod, "KNOB_VALUES", knobs)
    priors: dict[float, np.ndarray] = {}
    for far in (0.0, 0.25, 1.0):
        knobs[dataset] = replace(corpus_mod.KNOB_VALUES[dataset], wild_prior=far)
        priors[far] = corpus_mod.wild_prior(dataset)
        assert priors[far].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(priors[0.0], labelled)
    np.testing.assert_array_equal(priors[1.0], corpus_mod.WILD_PRIORS[dataset])
    np.testing.assert_allclose(priors[0.25], 0.75 * labelled + 0.25 * priors[1.0])


def test_face_expressiveness_changes_the_wild_faces_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    knobs = dict(corpus_mod.KNOB_VALUES)
    monkeypatch.setattr(corpus_mod, "KNOB_VALUES", knobs)
    drawn: dict[float, dict[str, np.ndarray]] = {}
    for scale in (1.0, 2.0):
        knobs["iemocap"] = replace(corpus_mod.KNOB_VALUES["iemocap"], face_expressiveness=scale)
        drawn[scale] = corpus_mod.generate("iemocap", "tiny", 0, tmp_path / str(scale), _quiet)
    for key, value in drawn[1.0].items():
        if key == "frames_u":
            assert not np.array_equal(value, drawn[2.0][key])
        else:
            np.testing.assert_array_equal(value, drawn[2.0][key], err_msg=key)
    # stronger expressions move the rendered faces further from the neutral prototype
    frames = {s: a["frames_u"].astype(np.float64) for s, a in drawn.items()}
    mask = drawn[1.0]["frame_mask_u"]
    expressive = drawn[1.0]["expr_u"] != 0
    neutral_face = frames[1.0][~expressive][mask[~expressive]].mean(0)
    spread = {
        s: float(np.abs(f[expressive][mask[expressive]] - neutral_face).mean())
        for s, f in frames.items()
    }
    assert spread[2.0] > spread[1.0]


def test_both_datasets_hold_one_rafdb_stand_in_whatever_their_knobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # the face model is trained on it: a knob of one dataset must not change the other's
    # visual evidence through it
    knobs = dict(corpus_mod.KNOB_VALUES)
    monkeypatch.setattr(corpus_mod, "KNOB_VALUES", knobs)
    chsims = corpus_mod.generate("chsims", "tiny", 0, tmp_path / "a", _quiet)
    iemocap = corpus_mod.generate("iemocap", "tiny", 0, tmp_path / "a", _quiet)
    knobs["chsims"] = replace(knobs["chsims"], wild_prior=0.5, expressiveness=0.5)
    changed = corpus_mod.generate("chsims", "tiny", 0, tmp_path / "b", _quiet)
    assert not np.array_equal(changed["x_u"], chsims["x_u"])
    assert not np.array_equal(changed["y_u"], chsims["y_u"])
    for key in ("face_images", "face_labels"):
        np.testing.assert_array_equal(chsims[key], iemocap[key], err_msg=key)
        np.testing.assert_array_equal(chsims[key], changed[key], err_msg=key)
    other_seed = corpus_mod.generate("iemocap", "tiny", 1, tmp_path / "a", _quiet)
    assert not np.array_equal(other_seed["face_images"], iemocap["face_images"])
    images, labels = corpus_mod.rafdb_stand_in(corpus_mod.PROFILES["tiny"], 0)
    np.testing.assert_array_equal(labels, iemocap["face_labels"])
    np.testing.assert_array_equal(np.round(images * 255).astype(np.uint8), iemocap["face_images"])
    assert labels.shape[0] == corpus_mod.PROFILES["tiny"].faces


def test_the_wild_prior_changes_the_wild_clips_and_not_the_labelled_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # the labelled clips are drawn before the wild ones, and the wild labels take one draw
    # each whatever the prior: every labelled clip, and so the supervised row, stays
    knobs = dict(corpus_mod.KNOB_VALUES)
    monkeypatch.setattr(corpus_mod, "KNOB_VALUES", knobs)
    tiny = corpus_mod.PROFILES["tiny"]
    monkeypatch.setitem(corpus_mod.PROFILES, "tiny", replace(tiny, chsims_unlabelled=400))
    drawn: dict[float, dict[str, np.ndarray]] = {}
    for far in (0.0, 1.0):
        knobs["chsims"] = replace(corpus_mod.KNOB_VALUES["chsims"], wild_prior=far)
        drawn[far] = corpus_mod.generate("chsims", "tiny", 0, tmp_path / str(far), _quiet)
    for key in ("x_l", "len_l", "y_l", "split", "speaker_l"):
        np.testing.assert_array_equal(drawn[0.0][key], drawn[1.0][key], err_msg=key)
    share = {far: np.bincount(a["y_u"], minlength=3) / 400 for far, a in drawn.items()}
    assert share[1.0][1] == pytest.approx(0.50, abs=0.08)  # neutral-heavy
    assert share[0.0][1] == pytest.approx(0.25, abs=0.08)  # the labelled prior
    assert share[0.0][0] == pytest.approx(0.40, abs=0.08)


def _old_features(
    clips: list[np.ndarray], sizes: corpus_mod.Sizes
) -> tuple[np.ndarray, np.ndarray]:
    """The features as computed before the bins were cut first and the one-sided spectrum
    used: every bin of the two-sided spectrum fixed, then cut."""
    import torch

    from sertoolkit.features import SpectrogramFeatures, fix_length

    n = torch.tensor([len(c) for c in clips])
    wav = torch.zeros(len(clips), int(n.max()))
    for j, c in enumerate(clips):
        wav[j, : len(c)] = torch.as_tensor(c)
    feats, frames = SpectrogramFeatures(log=True, normalize=False)(wav, n)
    feats, frames = fix_length(feats, 555, lengths=frames)
    feats, frames = corpus_mod.scale_down(feats, frames, sizes)
    return feats.to(torch.float16).numpy(), frames.numpy()


@pytest.mark.parametrize("bins", [64, 257, 258])
def test_features_cut_their_bins_first_without_changing_a_value(bins: int):
    # 64: the quick profile's; 257: the most the one-sided spectrum holds; 258: two-sided
    rng = np.random.default_rng(3)
    speaker = make_speaker(0, False, rng)
    # lengths around the 555-frame cut: shorter, longer, and one of each in a batch
    clips = [synthesize("angry", speaker, d, rng) for d in (0.4, 5.7, 1.3)]
    sizes = replace(corpus_mod.PROFILES["quick"], bins=bins)
    x, lengths = corpus_mod._features(clips, sizes, lambda n: None)
    x_old, lengths_old = _old_features(clips, sizes)
    np.testing.assert_array_equal(x.numpy(), x_old)
    np.testing.assert_array_equal(lengths.numpy(), lengths_old)
    assert x.shape == (3, 555 // sizes.time_pool, sizes.bins)  # the last partial window dropped


def _quiet(desc: str, total: int) -> Callable[[int], None]:
    del desc, total
    return lambda n: None


@pytest.mark.parametrize(("dataset", "held_out"), [("chsims", 0), ("iemocap", 0), ("iemocap", 2)])
def test_extra_clips_extend_the_test_and_validation_splits_and_change_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: str, held_out: int
):
    tiny = replace(corpus_mod.PROFILES["tiny"], iemocap_test=6 * held_out,
                   iemocap_test_speakers=held_out)  # fmt: skip
    monkeypatch.setattr(corpus_mod, "PROFILES", {**corpus_mod.PROFILES, "tiny": tiny})
    plain = corpus_mod.generate(dataset, "tiny", 0, tmp_path / "plain", _quiet)
    monkeypatch.setattr(corpus_mod, "TEST_CHUNK", 4)
    more = replace(tiny, extra_test=(7, 5), extra_val=(3, 6))
    monkeypatch.setitem(corpus_mod.PROFILES, "tiny", more)
    extra_test = 7 if dataset == "chsims" else 5
    extra_val = 3 if dataset == "chsims" else 6
    assert corpus_mod.extra_chunks(dataset, "tiny") == [4, extra_test - 4]
    assert corpus_mod.extra_chunks(dataset, "tiny", 2) == [4, extra_test - 4]
    assert corpus_mod.extra_chunks(dataset, "tiny", 1) == ([3] if dataset == "chsims" else [4, 2])
    with pytest.raises(ValueError, match="split must be one of"):
        corpus_mod.extra_chunks(dataset, "tiny", 0)
    # the corpus without them keeps its cache key: a cached corpus is reused, not redrawn
    main = corpus_mod.cache_path(dataset, "tiny", 0, tmp_path / "plain")
    assert main.exists()
    arrays = corpus_mod.generate(dataset, "tiny", 0, tmp_path / "plain", _quiet)
    paths = {
        corpus_mod.chunk_path(dataset, "tiny", 0, chunk, tmp_path / "plain", split)
        for split in (1, 2)
        for chunk in range(len(corpus_mod.extra_chunks(dataset, "tiny", split)))
    }
    assert all(path.exists() for path in paths)
    assert len(paths) == 2 + len(corpus_mod.extra_chunks(dataset, "tiny", 1))  # distinct keys
    fresh = corpus_mod.generate(dataset, "tiny", 0, tmp_path / "fresh", _quiet)
    n_l = len(plain["y_l"])
    for key, value in arrays.items():
        np.testing.assert_array_equal(value, fresh[key], err_msg=key)  # cached = drawn anew
        if key.endswith("_l") or key == "split":
            assert len(value) == n_l + extra_test + extra_val, key
            np.testing.assert_array_equal(value[:n_l], plain[key], err_msg=key)
        else:
            np.testing.assert_array_equal(value, plain[key], err_msg=key)
    test, val = slice(n_l, n_l + extra_test), slice(n_l + extra_test, None)
    assert (arrays["split"][test] == 2).all()
    assert (arrays["split"][val] == 1).all()
    classes = 3 if dataset == "chsims" else 4
    assert set(arrays["y_l"][n_l:].tolist()) <= set(range(classes))
    assert (arrays["len_l"][n_l:] > 0).all()
    test_speakers, val_speakers = arrays["speaker_l"][test], arrays["speaker_l"][val]
    if dataset == "chsims":  # any of the 4 labelled speakers of the tiny corpus
        assert set(test_speakers.tolist()) | set(val_speakers.tolist()) <= set(range(4))
    elif held_out:  # the held-out test speakers; session 5 validates
        assert set(test_speakers.tolist()) <= {10, 11}
        assert set(plain["speaker_l"][plain["split"] == 2].tolist()) <= {10, 11}
        assert set(val_speakers.tolist()) <= {8, 9}
        assert set(plain["speaker_l"][plain["split"] == 1].tolist()) <= {8, 9}
    else:  # Ses05M tests, Ses05F validates
        assert set(test_speakers.tolist()) == {9}
        assert set(val_speakers.tolist()) == {8}
    # two chunks, and the two splits' first chunks, draw different clips
    first, second = arrays["x_l"][n_l : n_l + 1], arrays["x_l"][n_l + 4 : n_l + 5]
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, arrays["x_l"][val][:1])


def test_test_chunk_cache_names_are_pinned_and_have_no_split_in_their_key(
    tmp_path: Path,
):
    # the names of the quick profile's IEMOCAP-like test chunks as pipeline versions 11 and 12
    # writes them (a change of sizes, knobs or the corpus key's version changes them, and
    # this test with them): their key has no split, as before validation chunks existed;
    # the validation chunk's name differs
    names = [corpus_mod.chunk_path("iemocap", "quick", 0, i, tmp_path).name for i in (0, 5)]
    assert names == ["iemocap-quick-ccf0ccea5f59-test0.npz", "iemocap-quick-e26ba3b4ea0b-test5.npz"]
    val = corpus_mod.chunk_path("iemocap", "quick", 0, 0, tmp_path, 1).name
    assert val.endswith("-val0.npz") and val.removesuffix("-val0.npz") != names[0].removesuffix(
        "-test0.npz"
    )
