"""A speech-like source-filter synthesiser whose prosody carries emotion and speaker identity.

Each clip is a sequence of syllables (a voiced nucleus between short pauses). The source is a
glottal-like pulse train (a sawtooth on the instantaneous F0 phase, softened by a one-pole
low-pass whose coefficient sets the spectral tilt) with jitter (F0 perturbation), shimmer
(amplitude perturbation) and aspiration noise; each syllable passes through three formant
resonators of a randomly drawn vowel, scaled by the speaker's vocal-tract length.

Emotion moves the prosodic parameters in the directions reported by the vocal-affect
literature (Banse & Scherer 1996, *Acoustic profiles in vocal emotion expression*, JPSP 70;
Scherer 2003, *Vocal communication of emotion: a review of research paradigms*, Speech
Communication 40; Juslin & Laukka 2003, *Communication of emotions in vocal expression and
music performance*, Psychological Bulletin 129, Table 7):

============  =======  ========  =========  ==========  =================  ========
emotion       F0 mean  F0 range  intensity  speech rate  high-freq. energy  jitter
============  =======  ========  =========  ==========  =================  ========
neutral       0        0         0          0            0                  0
happiness     up       up        up         up           up                 up (small)
anger (hot)   up       up        up         up           up (strongly)      up
sadness       down     down      down       down         down               up (small)
============  =======  ========  =========  ==========  =================  ========

The magnitudes below are moderate (a few semitones, a few dB) and every parameter also varies
between speakers and from clip to clip, so the classes overlap: anger and happiness differ
mainly in spectral tilt and contour, not in arousal. Sadness has a falling contour, happiness
a rising-falling one. Nothing here was tuned against any learning method.

Optionally (``signature_db`` of :func:`synthesize`, off by default), each emotion also lays a
fixed, fine-grained shape over the clip's log spectrum (:func:`spectral_signature`): a cue
that takes many clips to learn, where the prosodic ones above are learnt from a few hundred.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

SAMPLE_RATE = 16_000


def lfilter(b: ArrayLike, a: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    """``scipy.signal.lfilter`` without initial conditions: the filtered signal, in float64.

    Imported on first use: ``scipy.signal`` takes about a second to import, which every
    ``--help`` of the benchmarks would otherwise pay. (scipy.signal has no annotations.)
    """
    from scipy import signal

    scipy_lfilter = cast(Callable[[ArrayLike, ArrayLike, ArrayLike], NDArray[np.float64]],
                         signal.lfilter)  # fmt: skip
    return scipy_lfilter(b, a, x)


def _clip(x: float, low: float, high: float) -> float:
    """``x`` limited to ``[low, high]`` (``np.clip`` of a scalar)."""
    return float(min(max(x, low), high))


# Effect sizes per emotion (directions from the table above; sizes moderate by design).
# f0: semitones from the speaker's base; range: factor on the semitone range; energy: dB;
# rate: factor on syllables per second; tilt: change of the low-pass pole (higher = darker);
# jitter: factor; contour: slope of F0 over the utterance in semitones per second.
EFFECTS: dict[str, dict[str, float]] = {
    "neutral": {
        "f0": 0.0,
        "range": 1.0,
        "energy": 0.0,
        "rate": 1.0,
        "tilt": 0.0,
        "jitter": 1.0,
        "contour": -0.5,
    },
    "happy": {
        "f0": 3.0,
        "range": 1.5,
        "energy": 3.0,
        "rate": 1.12,
        "tilt": -0.08,
        "jitter": 1.2,
        "contour": 0.8,
    },
    "angry": {
        "f0": 2.5,
        "range": 1.35,
        "energy": 5.0,
        "rate": 1.15,
        "tilt": -0.18,
        "jitter": 1.5,
        "contour": -0.3,
    },
    "sad": {
        "f0": -2.5,
        "range": 0.6,
        "energy": -4.0,
        "rate": 0.8,
        "tilt": 0.12,
        "jitter": 1.3,
        "contour": -1.6,
    },
}

# Vowel formants (Hz) of an adult male vocal tract (Peterson & Barney 1952, rounded).
VOWELS = np.array(
    [
        [730, 1090, 2440],  # a
        [530, 1840, 2480],  # e
        [270, 2290, 3010],  # i
        [570, 840, 2410],  # o
        [300, 870, 2240],  # u
        [660, 1720, 2410],  # ae
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: base F0, vocal-tract scale and habitual prosody."""

    sid: int
    female: bool
    f0_base: float  # Hz
    tract_scale: float  # formant multiplier (shorter tract -> higher formants)
    rate: float  # syllables per second
    tilt: float  # low-pass pole of the source, 0.6 (bright) .. 0.95 (dark)
    range_st: float  # F0 range in semitones
    breathiness: float  # aspiration noise level


def make_speaker(sid: int, female: bool, rng: np.random.Generator) -> Speaker:
    """Draw a speaker (between-speaker variation)."""
    return Speaker(
        sid=sid,
        female=female,
        f0_base=float(rng.normal(210.0 if female else 120.0, 18.0 if female else 12.0)),
        tract_scale=float(rng.normal(1.17 if female else 1.0, 0.04)),
        rate=float(rng.normal(4.2, 0.5)),
        tilt=_clip(rng.normal(0.8, 0.05), 0.6, 0.93),
        range_st=float(rng.normal(4.0, 1.0)),
        breathiness=float(abs(rng.normal(0.03, 0.015))),
    )


def _resonator(x: NDArray[np.float64], freq: float, bandwidth: float) -> NDArray[np.float64]:
    """Second-order formant resonator (Klatt 1980), unit gain at DC."""
    r = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
    c = -(r**2)
    b = 2 * r * np.cos(2 * np.pi * freq / SAMPLE_RATE)
    a = 1 - b - c
    return lfilter([a], [1, -b, -c], x)


def synthesize(
    emotion: str,
    speaker: Speaker,
    duration: float,
    rng: np.random.Generator,
    *,
    intensity: float = 1.0,
    noise: float = 1.0,
    signature_db: float = 0.0,
    signature_hz: float = 60.0,
) -> NDArray[np.float32]:
    """One clip of ``duration`` seconds: float32 waveform at 16 kHz, peak about 0.5.

    ``intensity`` scales how strongly the emotion shows (0 = neutral prosody), drawn per clip
    by the corpus so that expressiveness varies within a class. ``noise`` scales the
    clip-to-clip spread of every prosodic parameter (1 = the spreads written below, 0 = none).
    ``signature_db`` is the RMS, in dB at intensity 1, of the emotion's spectral signature
    (:func:`spectral_signature`, ``signature_hz`` wide bumps) laid over the clip's spectrum;
    0 (the default) adds none and draws nothing.
    """
    e = EFFECTS[emotion]
    k = _clip(intensity, 0.0, 1.5)
    n = int(duration * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    # prosody of this clip: speaker habit + emotion effect + clip-level noise
    f0_st = k * e["f0"] + rng.normal(0, 1.0 * noise)
    range_st = max(
        0.5, speaker.range_st * (1 + k * (e["range"] - 1)) * rng.lognormal(0, 0.2 * noise)
    )
    rate = max(1.5, speaker.rate * (1 + k * (e["rate"] - 1)) * rng.lognormal(0, 0.08 * noise))
    tilt = _clip(speaker.tilt + k * e["tilt"] + rng.normal(0, 0.03 * noise), 0.3, 0.97)
    jitter = 0.006 * (1 + k * (e["jitter"] - 1)) * rng.lognormal(0, 0.25 * noise)
    energy_db = k * e["energy"] + rng.normal(0, 1.5 * noise)
    contour = k * e["contour"] + rng.normal(0, 0.4 * noise)

    # syllable timing: nuclei separated by short pauses
    n_syll = max(1, round(duration * rate))
    bounds = np.sort(rng.uniform(0, duration, n_syll - 1))
    edges = np.concatenate([[0.0], bounds, [duration]])
    # F0 contour: base + declination/contour + per-syllable accents within the range
    accents = rng.normal(0, range_st / 2.5, n_syll)
    syll_index = np.minimum(np.searchsorted(edges, t, side="right") - 1, n_syll - 1)
    smooth_accent = np.convolve(accents[syll_index], np.ones(800) / 800, mode="same")
    semitones = f0_st + contour * (t - duration / 2) + smooth_accent
    f0 = speaker.f0_base * 2 ** (semitones / 12)
    f0 *= 1 + jitter * rng.standard_normal(n).cumsum() / np.sqrt(np.arange(1, n + 1))
    f0 = f0.clip(50, 500)
    phase = np.cumsum(f0) / SAMPLE_RATE
    source = 2 * (phase % 1.0) - 1  # sawtooth: all harmonics, -6 dB/octave
    source = lfilter([1 - tilt], [1, -tilt], source)  # spectral tilt
    source += speaker.breathiness * rng.standard_normal(n)
    # shimmer and syllable envelopes (voiced nucleus with onset/offset ramps, pauses between)
    env = np.zeros(n)
    out = np.zeros(n)
    for j in range(n_syll):
        a, b = int(edges[j] * SAMPLE_RATE), int(edges[j + 1] * SAMPLE_RATE)
        if b - a < 200:
            continue
        voiced = int((b - a) * rng.uniform(0.6, 0.85))
        ramp = np.minimum(1, np.minimum(np.arange(voiced), voiced - np.arange(voiced)) / 240)
        env[a : a + voiced] = (
            ramp * (1 + 0.15 * rng.standard_normal()) * (1 + 0.05 * rng.standard_normal(voiced))
        )
        vowel = VOWELS[rng.integers(len(VOWELS))] * speaker.tract_scale * rng.normal(1, 0.03, 3)
        segment = source[a:b] * env[a:b]
        for freq, bw in zip(vowel, (80.0, 100.0, 140.0), strict=True):
            segment = _resonator(segment, float(freq), bw)
        out[a:b] = segment
    if signature_db:  # a fixed filter of the emotion, scaled by the clip's intensity
        freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        gain_db = k * signature_db * spectral_signature(emotion, signature_hz, freqs)
        out = np.fft.irfft(np.fft.rfft(out) * 10 ** (gain_db / 20), n)
    out *= 10 ** (energy_db / 20) * intensity_scale(out)
    return out.astype(np.float32)


MAX_SIGNATURE_HZ = 1000.0
"""The widest signature bumps (smoothing standard deviation, Hz) :func:`spectral_signature` draws."""

_SIGNATURE_GRID = np.arange(0.0, SAMPLE_RATE / 2 + 10, 10.0)  # 0 to 8 kHz in 10 Hz steps


@functools.cache
def _signature_grid(emotion: str, width_hz: float) -> NDArray[np.float64]:
    """:func:`spectral_signature` on ``_SIGNATURE_GRID``."""
    grid = _SIGNATURE_GRID
    sd = width_hz / 10  # in grid steps
    kernel = np.exp(-0.5 * (np.arange(-4 * sd, 4 * sd + 1) / sd) ** 2)
    # a fixed stream per emotion, independent of every clip's draws; 1,000 steps of margin
    # on each side (more than the kernel's half-width up to MAX_SIGNATURE_HZ)
    white = np.random.default_rng([list(EFFECTS).index(emotion), 11])
    noise = white.standard_normal(grid.size + 2000)
    smooth = np.convolve(noise, kernel, mode="same")[1000 : 1000 + grid.size]
    shape = (smooth - smooth.mean()) / smooth.std()
    shape.setflags(write=False)  # cached: shared by every call
    return shape


def spectral_signature(emotion: str, width_hz: float, freqs: ArrayLike) -> NDArray[np.float64]:
    """The emotion's spectral signature at ``freqs`` (Hz): a fixed random log-spectral shape.

    Gaussian-smoothed white noise over 0-8 kHz (smoothing standard deviation ``width_hz``),
    zero mean and unit RMS on that band, drawn once per emotion from a fixed seed, so every
    clip of an emotion carries the same shape (scaled by its intensity and
    ``signature_db`` in :func:`synthesize`). It stands in for the many small spectral
    correlates of emotion beyond prosody (voice quality, articulation; Juslin & Laukka 2003
    list several spectral cues per emotion): a cue spread thinly over many frequency bins,
    which a model learns only from many clips, where the prosodic cues above are learnt from
    a few hundred (issue #12; docs/pages/reproducing.md, "Open work").
    """
    if not 0.0 < width_hz <= MAX_SIGNATURE_HZ:
        raise ValueError(f"width_hz must be in (0, {MAX_SIGNATURE_HZ:g}], got {width_hz}")
    shape = _signature_grid(emotion, float(width_hz))
    return np.interp(np.asarray(freqs, dtype=np.float64), _SIGNATURE_GRID, shape)


def intensity_scale(x: NDArray[np.floating[Any]]) -> float:
    """Gain that brings a clip to a reference RMS of 0.05 before the emotion's energy change."""
    rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    return 0.05 / rms if rms > 0 else 1.0


def channel(
    x: NDArray[np.floating[Any]], rng: np.random.Generator, *, snr_db: float, cutoff_hz: float
) -> NDArray[np.float32]:
    """An in-the-wild channel: band limiting (a one-pole low-pass) and additive noise at ``snr_db``."""
    pole = float(np.exp(-2 * np.pi * cutoff_hz / SAMPLE_RATE))
    y = lfilter([1 - pole], [1, -pole], x)
    y = y / max(float(np.sqrt(np.mean(y**2))), 1e-8) * float(np.sqrt(np.mean(x**2)))
    noise = rng.standard_normal(len(x))
    # pink-ish background: integrate white noise a little
    noise = lfilter([1.0], [1, -0.9], noise)
    signal_power = float(np.mean(y**2)) + 1e-12
    noise *= np.sqrt(signal_power / (10 ** (snr_db / 10)) / (float(np.mean(noise**2)) + 1e-12))
    return (y + noise).astype(np.float32)
