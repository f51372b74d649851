"""Feature extractors, fix_length and load_audio."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile
import torch
import torchaudio
from hypothesis import given, settings
from hypothesis import strategies as st

from sertoolkit.features import (
    SpectrogramFeatures,
    Wav2VecFeatures,
    fix_length,
    load_audio,
)

# --- fix_length ------------------------------------------------------------------------


@st.composite
def sequences(draw: st.DrawFn):
    batch = draw(st.integers(0, 5))
    time = draw(st.integers(0, 20))
    lengths = draw(st.lists(st.integers(0, time), min_size=batch, max_size=batch))
    x = torch.randn(
        batch, time, 3, generator=torch.Generator().manual_seed(draw(st.integers(0, 99)))
    )
    return x, torch.tensor(lengths, dtype=torch.long)


@given(sequences(), st.integers(0, 25), st.sampled_from(["head", "tail"]))
def test_fix_length_properties(data, length, side):
    x, lengths = data
    out, n = fix_length(x, length, side=side, lengths=lengths, value=-7.0)
    assert out.shape == (x.shape[0], length, 3)
    assert torch.equal(n, lengths.clamp(max=length))
    for i in range(x.shape[0]):
        k, m = int(n[i]), int(lengths[i])
        kept = x[i, :k] if side == "head" else x[i, m - k : m]
        assert torch.equal(out[i, :k], kept)  # the kept part is unchanged, valid frames first
        assert bool((out[i, k:] == -7.0).all())  # padding after it
    again, n2 = fix_length(out, length, side=side, lengths=n, value=-7.0)
    assert torch.equal(again, out)  # idempotent
    assert torch.equal(n2, n)


def test_fix_length_paper_lengths_and_waveforms():
    feats = torch.randn(2, 600, 512)
    out, n = fix_length(feats, 555, lengths=torch.tensor([600, 300]))
    assert out.shape == (2, 555, 512)
    assert n.tolist() == [555, 300]
    wav, m = fix_length(torch.randn(3, 100), 80)  # (batch, samples) works too
    assert wav.shape == (3, 80)
    assert m.tolist() == [80, 80, 80]
    with pytest.raises(ValueError, match="Expected `side`"):
        fix_length(feats, 10, side="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Expected `length`"):
        fix_length(feats, -1)
    with pytest.raises(ValueError, match="Expected `x`"):
        fix_length(torch.randn(5), 3)


# --- STFT features ------------------------------------------------------------------------


@settings(max_examples=25)
@given(st.integers(0, 40000), st.sampled_from([8000, 16000, 22050, 44100, 48000]))
def test_spectrogram_frame_count_formula(samples, rate):
    feats = SpectrogramFeatures(sample_rate=rate)
    x, n = feats(torch.randn(1, max(samples, 1)), torch.tensor([samples]))
    resampled = math.ceil(samples * 16000 / rate)
    want = 1 + resampled // 160 if resampled > 0 else 0
    assert n.tolist() == [want]
    assert x.shape[2] == 512
    assert torch.isfinite(x).all()


def test_spectrogram_paper_length_is_556_frames_for_5_55_s():
    x, n = SpectrogramFeatures()(torch.randn(1, 88_800))
    assert x.shape == (1, 556, 512)
    assert n.tolist() == [556]
    fixed, m = fix_length(x, 555, lengths=n)
    assert fixed.shape[1] == 555
    assert m.tolist() == [555]


@pytest.mark.parametrize("freq", [500.0, 1000.0, 3125.0, 6000.0])
def test_pure_tone_lands_in_its_bin(freq):
    t = torch.arange(16000) / 16000
    tone = torch.sin(2 * math.pi * freq * t).unsqueeze(0)
    spec, _ = SpectrogramFeatures(normalize=False)(tone)
    k = round(freq / 31.25)
    mean_spectrum = spec[0, 5:-5].mean(0)
    assert set(mean_spectrum.topk(2).indices.tolist()) == {k, 512 - k}  # two-sided: mirrored
    one_sided, _ = SpectrogramFeatures(normalize=False, two_sided=False)(tone)
    assert one_sided.shape[2] == 257
    assert one_sided[0, 5:-5].mean(0).argmax().item() == k


def test_spectrogram_matches_torchaudio_transform_and_normalises():
    wav = torch.randn(1, 16000)
    raw, _ = SpectrogramFeatures(normalize=False)(wav)
    reference = torchaudio.transforms.Spectrogram(
        n_fft=512,
        win_length=400,
        hop_length=160,
        window_fn=torch.hamming_window,
        power=1.0,
        center=True,
        pad_mode="constant",
        onesided=False,
    )(wav)
    torch.testing.assert_close(raw[0], reference[0].T)
    normed, _ = SpectrogramFeatures()(wav)
    torch.testing.assert_close(normed[0].mean(0), torch.zeros(512), atol=1e-4, rtol=0)
    torch.testing.assert_close(normed[0].std(0, unbiased=False), torch.ones(512), atol=1e-3, rtol=0)


@settings(max_examples=10)
@given(st.lists(st.integers(1, 12000), min_size=1, max_size=4), st.integers(0, 99))
def test_spectrogram_padding_invariance(lengths, seed):
    g = torch.Generator().manual_seed(seed)
    wavs = torch.randn(len(lengths), max(lengths), generator=g)
    feats = SpectrogramFeatures(log=True)
    batch, n = feats(wavs, torch.tensor(lengths))
    for i, length in enumerate(lengths):
        alone, m = feats(wavs[i : i + 1, :length])
        assert m.item() == n[i].item()
        torch.testing.assert_close(batch[i, : n[i]], alone[0], atol=1e-4, rtol=1e-4)
        assert bool((batch[i, n[i] :] == 0).all())


@settings(max_examples=10, deadline=None)
@given(
    st.lists(st.integers(1, 12000), min_size=1, max_size=4),
    st.integers(0, 99),
    st.booleans(),
)
def test_one_sided_bins_are_the_two_sided_spectrums_first_bits(lengths, seed, log):
    # benchmarks/corpus.py computes the one-sided spectrum for the bins it keeps and caches
    # the features under a key that does not name the side: the bits must not differ.
    # Without normalisation only: its sums over time may round differently with 257 bins
    # than with 512 (the same values to float precision, not the same bits)
    g = torch.Generator().manual_seed(seed)
    wavs = torch.randn(len(lengths), max(lengths), generator=g)
    n = torch.tensor(lengths)
    two, frames_two = SpectrogramFeatures(log=log, normalize=False)(wavs, n)
    one, frames_one = SpectrogramFeatures(log=log, normalize=False, two_sided=False)(wavs, n)
    assert one.shape[2] == 257
    assert torch.equal(frames_one, frames_two)
    assert torch.equal(one, two[:, :, :257])


# --- wav2vec ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def w2v() -> Wav2VecFeatures:
    torch.manual_seed(0)
    return Wav2VecFeatures(random_init=True)


def test_wav2vec_needs_a_checkpoint_or_explicit_random_init():
    with pytest.raises(ValueError, match="Expected `checkpoint`"):
        Wav2VecFeatures()


@settings(max_examples=10)
@given(st.integers(0, 20000))
def test_wav2vec_frame_count_formula(w2v, samples):
    x, n = w2v(torch.randn(1, max(samples, 1)), torch.tensor([samples]))
    want = (samples - 400) // 320 + 1 if samples >= 400 else 0
    assert n.tolist() == [want]
    assert x.shape[2] == 512
    assert x.shape[1] >= want


def test_wav2vec_t445_is_8_905_seconds(w2v):
    assert Wav2VecFeatures.frames_for_samples(torch.tensor(142_480)).item() == 445
    assert Wav2VecFeatures.frames_for_samples(torch.tensor(142_479)).item() == 444


def test_wav2vec_padding_invariance(w2v):
    wavs = torch.randn(3, 16000)
    lengths = torch.tensor([16000, 7000, 300])
    batch, n = w2v(wavs, lengths)
    assert n.tolist()[2] == 0
    for i in range(2):
        alone, m = w2v(wavs[i : i + 1, : int(lengths[i])])
        torch.testing.assert_close(batch[i, : int(m)], alone[0], atol=1e-5, rtol=1e-5)
    assert bool((batch[2] == 0).all())


def test_wav2vec_loads_torchaudio_and_huggingface_layouts(w2v, tmp_path):
    torch.manual_seed(1)
    source = torchaudio.models.wav2vec2_base()
    wav = torch.randn(1, 8000)
    want = source.feature_extractor(wav, None)[0]
    full = tmp_path / "torchaudio_full.pt"
    torch.save(source.state_dict(), full)
    hf = tmp_path / "pytorch_model.bin"
    torch.save({f"wav2vec2.{k}": v for k, v in source.state_dict().items()}, hf)
    bare = tmp_path / "extractor.pt"
    torch.save(source.feature_extractor.state_dict(), bare)
    for path in (full, hf, bare):
        got, _ = Wav2VecFeatures(path)(wav)
        torch.testing.assert_close(got, want)


def test_wav2vec_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        Wav2VecFeatures(tmp_path / "missing.pt")
    wrong = tmp_path / "large.pt"
    torch.save(torchaudio.models.wav2vec2_large_lv60k().feature_extractor.state_dict(), wrong)
    with pytest.raises(ValueError, match=r"large\.pt.*does not match"):
        Wav2VecFeatures(wrong)  # base expects group norm in layer 0 only


# --- load_audio -----------------------------------------------------------------------


def test_load_audio_round_trip_mixdown_and_resample(tmp_path):
    rate = 22050
    stereo = np.stack([np.linspace(-0.5, 0.5, rate), np.zeros(rate)], axis=1).astype(np.float32)
    path = tmp_path / "clip.wav"
    soundfile.write(path, stereo, rate, subtype="FLOAT")
    native = load_audio(path, sample_rate=rate)
    torch.testing.assert_close(native, torch.from_numpy(stereo.mean(axis=1)))
    at16k = load_audio(path)
    assert at16k.shape == (16000,)
    assert at16k.dtype == torch.float32


def test_load_audio_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.wav"):
        load_audio(tmp_path / "absent.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really audio")
    with pytest.raises(ValueError, match=r"bad\.wav"):
        load_audio(bad)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(ValueError, match=r"empty\.wav.*no samples"):
        load_audio(empty)


@settings(max_examples=8)
@given(
    st.lists(st.integers(1, 9000), min_size=2, max_size=3),
    st.sampled_from([8000, 22050, 44100, 7919]),
    st.integers(0, 99),
)
def test_padding_garbage_never_leaks_through_resampling(lengths, rate, seed):
    g = torch.Generator().manual_seed(seed)
    wavs = torch.randn(len(lengths), max(lengths), generator=g)
    garbage = wavs.clone()
    for i, n in enumerate(lengths):
        garbage[i, n:] = 50 * torch.randn(max(lengths) - n, generator=g)
    feats = SpectrogramFeatures(sample_rate=rate, log=True)
    clean, n_clean = feats(wavs, torch.tensor(lengths))
    dirty, n_dirty = feats(garbage, torch.tensor(lengths))
    assert torch.equal(n_clean, n_dirty)
    torch.testing.assert_close(dirty, clean, atol=1e-4, rtol=1e-4)
    for i, n in enumerate(lengths):
        alone, m = feats(wavs[i : i + 1, :n])
        # float noise of two resampling calls, amplified by the log of near-silent bins
        torch.testing.assert_close(clean[i, : int(m)], alone[0], atol=2e-2, rtol=1e-2)


def test_normalisation_is_gain_invariant():
    wav = torch.randn(1, 16000)
    loud, _ = SpectrogramFeatures()(wav)
    quiet, _ = SpectrogramFeatures()(wav * 1e-4)
    torch.testing.assert_close(quiet, loud, atol=1e-3, rtol=1e-3)


def test_empty_inputs():
    feats = SpectrogramFeatures()
    x, n = feats(torch.zeros(0, 1600))
    assert x.shape == (0, 0, 512)
    assert n.shape == (0,)
    x, n = feats(torch.zeros(2, 0))
    assert x.shape == (2, 0, 512)
    assert n.tolist() == [0, 0]


def test_lengths_are_validated():
    with pytest.raises(ValueError, match="Expected `lengths`"):
        SpectrogramFeatures()(torch.zeros(1, 100), torch.tensor([101]))
    with pytest.raises(ValueError, match="Expected `lengths`"):
        fix_length(torch.zeros(1, 5, 2), 3, lengths=torch.tensor([6]))


def test_fix_length_keeps_integer_dtype():
    out, _ = fix_length(torch.arange(6).view(1, 6), 8)
    assert out.dtype == torch.long
    assert out.tolist() == [[0, 1, 2, 3, 4, 5, 0, 0]]


def test_large_lv60k_normalises_waveforms_and_handles_short_clips():
    torch.manual_seed(0)
    feats = Wav2VecFeatures(architecture="large_lv60k", random_init=True)
    wav = torch.randn(2, 8000)
    a, _ = feats(wav, torch.tensor([8000, 5000]))
    b, _ = feats(wav * 100, torch.tensor([8000, 5000]))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)  # per-utterance normalisation
    alone, m = feats(wav[1:, :5000])
    torch.testing.assert_close(a[1, : int(m)], alone[0], atol=1e-4, rtol=1e-4)
    short, k = feats(torch.randn(1, 350))
    assert short.shape == (1, 0, 512)
    assert k.tolist() == [0]


def test_wav2vec_reads_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(2)
    source = torchaudio.models.wav2vec2_base()
    path = tmp_path / "model.safetensors"
    save_file({f"wav2vec2.{k}": v.contiguous() for k, v in source.state_dict().items()}, str(path))
    wav = torch.randn(1, 4000)
    got, _ = Wav2VecFeatures(path)(wav)
    torch.testing.assert_close(got, source.feature_extractor(wav, None)[0])


@pytest.mark.parametrize("poison", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("rate", [16000, 8000])
def test_non_finite_padding_never_reaches_a_valid_frame(poison, rate):
    # issue #13: NaN in the padding beyond `lengths` made every valid frame NaN, at 16 kHz and
    # through the resampling path (multiplying padding by zero does not clear NaN or inf)
    g = torch.Generator().manual_seed(3)
    lengths = torch.tensor([rate // 2, rate])
    wavs = torch.randn(2, rate, generator=g)
    wavs[0, rate // 2 :] = 0.0
    poisoned = wavs.clone()
    poisoned[0, rate // 2 :] = poison
    feats = SpectrogramFeatures(sample_rate=rate, log=True)
    clean, n_clean = feats(wavs, lengths)
    dirty, n_dirty = feats(poisoned, lengths)
    assert torch.equal(n_clean, n_dirty)
    assert torch.isfinite(dirty).all()
    assert torch.equal(dirty, clean)
