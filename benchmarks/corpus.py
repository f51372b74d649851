"""The embedded synthetic audio-visual emotion corpus: a simulation of the paper's setting.

Two datasets, each with a small labelled target domain and a larger unlabelled in-the-wild
audio-visual domain, plus a labelled face-image set standing in for RAF-DB:

* ``chsims`` (CH-SIMS-like, 3 sentiments; unlabelled iQIYI-VID-like clips),
* ``iemocap`` (IEMOCAP-like, 4 emotions, 10 speakers in 5 sessions; unlabelled
  EmoVoxCeleb-like clips).

Audio comes from :mod:`synth_audio` (16 kHz waveforms), faces from :mod:`synth_face`. Every
knob and its source is listed in :data:`KNOBS` and printed into the report. The true audio
emotion of unlabelled clips is stored only as ``u_audio_label`` for telemetry; no method reads
it. Generation is deterministic in the seed; the result is cached on disk as ``.npz``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from benchmarks.synth_audio import MAX_SIGNATURE_HZ, Speaker, channel, make_speaker, synthesize
from benchmarks.synth_face import EXPRESSIONS as FACE_EXPRESSIONS
from benchmarks.synth_face import render
from sertoolkit.features import SpectrogramFeatures, fix_length
from sertoolkit.pooling import frame_indices
from sertoolkit.taxonomy import EXPRESSIONS, IEMOCAP_EMOTIONS, SENTIMENTS

assert FACE_EXPRESSIONS == EXPRESSIONS

# --- the paper's facts and our documented assumptions -------------------------------------

KNOBS: dict[str, str] = {
    "audio/visual inconsistency (CH-SIMS-like)": "51.81% of clips (paper Fig. 1)",
    "audio/visual inconsistency (IEMOCAP-like)": "51.81%, assumed: the paper states no rate for EmoVoxCeleb",
    "CH-SIMS sizes (paper profile)": "2,281 clips, official split 1,368 / 456 / 457 (Table 1; Yu et al. 2020)",
    "iQIYI-VID-like unlabelled size (paper profile)": "14,502 clips (Sec. 4.1)",
    "IEMOCAP sizes (paper profile)": "5,531 utterances: 1,708 neutral, 1,636 happy, 1,103 angry, 1,084 sad (Sec. 4.1)",
    "IEMOCAP speakers": "10 (5 sessions x F/M); 8 train (sessions 1-4), Ses05F validation, Ses05M test (Sec. 4.1) in the paper profile; the quick profile tests on 6,000 clips of 4 held-out speakers and validates on session 5 (about 400 clips; one 38-clip speaker could not detect the paper's effects, issue #12)",
    "test splits (quick profile)": "4,000 CH-SIMS-like and 6,000 IEMOCAP-like clips (the paper's are 457 and about 1,000): evaluation is one forward pass, and the paired differences' test-set noise shrinks with it (issue #12). All but the first 1,000 of each (Sizes.extra_test; IEMOCAP-like 3,000 since pipeline version 6 and 5,000 since 10, CH-SIMS-like 3,000 since 9) come from random streams of their own, so every other clip, and every run's training, is what it was with 1,000; at 4,000 the IEMOCAP-like MDE was 4.02 (python benchmarks/power_parts.py projected 3.63 for 1.5 times the clips); the IEMOCAP-like claims against DCMKT were mostly test-clip noise at 1,000 (bootstrap standard error 1.89-2.02 points from clips alone, 1.25-1.41 from 5 seeds alone), and at 1,000 the CH-SIMS-like MDE was 4.02 (clips alone 1.75-3.93 per claim)",
    "validation splits (quick profile)": "400 clips CH-SIMS-like, about 400 IEMOCAP-like (session 5; the paper validates on 456 CH-SIMS clips and on Ses05F): the IEMOCAP-like split had about 80 until pipeline version 7, which adds 320 (Sizes.extra_val) from random streams of their own, so every other clip is what it was. With 80 clips (20 per class) each run's best epoch was picked by noise: DCMKT's validation UA sat at 0.25 with single-epoch spikes, and its test F1 spread from 14.5 to 31.2 over seeds (issue #12, item 4; docs/pages/reproducing.md)",
    "EmoVoxCeleb-like unlabelled size (paper profile)": "50,000 clips, capped (the real set has over 1 million, Table 1)",
    "CH-SIMS clip length": "mean 3.67 s (Sec. 4.1): U(1.5, 5.8) s in the paper profile",
    "CH-SIMS 3-class prior": "0.40 / 0.25 / 0.35 negative / neutral / positive, assumed (the paper gives no counts)",
    "in-the-wild class prior": "neutral-heavy (Sec. 4.3-4.4: 'many neutral' clips, class imbalance): 0.25 / 0.50 / 0.25 (CH-SIMS-like), 0.55 / 0.20 / 0.10 / 0.15 (IEMOCAP-like), assumed; Knobs.wild_prior moves it to the labelled clips' prior (below): the IEMOCAP-like set keeps it, the CH-SIMS-like set uses the labelled prior since pipeline version 11",
    "wild class prior (Knobs.wild_prior)": "0 CH-SIMS-like (the labelled prior, 0.40 / 0.25 / 0.35; pipeline version 11), 1 IEMOCAP-like (the neutral-heavy prior above, not refit). A part of the domain gap (which emotions the wild clips show), fitted to the paper's CH-SIMS DCMKT F1 only (36.58, issue #12), the value closest to it, on the version-7 corpus (no signature): python benchmarks/calibrate.py --dataset chsims --knob wild_prior=0, 5 seeds: 0 -> 35.03 (within 3 points; the perfect face teacher 37.93), 1 -> 29.14 (the version-7 default run). Why it was tried: a linear probe (benchmarks/learning_curve.py's) on the version-7 corpus scored 39.01 F1 from the labelled clips and 36.52 with every wild clip and its true label added, but 45.60 with the wild clips resampled to the labelled prior: the neutral-heavy prior, an assumption, made DCMKT collapse towards neutral and the wild clips teach nothing. With the signature and clip noise below DCMKT is 31.05 (version 8) and 31.21 (version 11), outside 3 points: no setting tried gives both the headroom and that row (docs/pages/reproducing.md, 'Calibration')",
    "negative sentiment prosody": "half angry-like, half sad-like clips (negative covers both)",
    "domains": "unlabelled clips come from other speakers, with another class prior (below); at domain gap 1 also from a noisier, band-limited channel (SNR 5-25 dB, cut-off 2.5-7 kHz) than the labelled ones (SNR 25-40 dB) and with weaker emotions (Sec. 4.3: domain differences); the fitted gap is 0 for both (pipeline version 11; 0.25 IEMOCAP-like before), where they share the labelled clips' channel and intensity",
    "expressiveness (KNOB_VALUES, fitted)": "0.8 for both; fitted to the paper's supervised F1 only (42.94 and 57.40, issue #12) on the quick profile, 5 seeds each. CH-SIMS-like with wild prior 0, a 1 dB signature and clip noise 1.5 (version 8): 0.8 -> 40.63 (43.42 over the 10 seeds the default run trains; kept; 45.40 in the first version-11 default run). Standardised inputs (pipeline version 4), python benchmarks/calibrate.py: CH-SIMS-like 0.8 -> 43.31 (kept); IEMOCAP-like, with the 1.5 dB signature, 0.8 -> 57.39. Raw inputs (version 3): CH-SIMS-like 1.0 -> 49.0, 0.75 -> 40.95, 0.8 -> 42.02; IEMOCAP-like 1.0 -> 49.5, 1.3 -> 57.89 (docs/pages/reproducing.md, 'Calibration')",
    "domain gap (KNOB_VALUES, fitted)": "0 for both; fitted to the paper's DCMKT F1 only (36.58 and 24.15), the value closest to it. Pipeline version 11 (a new face model, the RAF-DB stand-in from a stream of its own), IEMOCAP-like refit: 0.25 -> 20.23 over seeds 0-4 (19.96 over 10, the default run at the first version-11 commit), 0 -> 21.75 over seeds 0-4 (22.85 over 10 in the published version-11 run; python benchmarks/calibrate.py --dataset iemocap --knob domain_gap=0 with that run's face model in the setting's cache; within 3 points); 0 is the knob's lowest value. Standardised inputs (pipeline version 4), python benchmarks/calibrate.py, 5 seeds: CH-SIMS-like gap 0 -> 29.25, 0.5 -> 22.63, 1 -> 19.90 (no value reaches the target); IEMOCAP-like 0 -> 27.22 (28.05 in the default run at 3655f83, whose face model is shared by both datasets), 0.25 -> 26.63 (within 3 points; measured with that shared face model in the setting's cache), 0.5 -> 18.31. Not refit again until version 11 (plateau stopping in pipeline version 5, more clips in 6 and 7, cut batches in 8): the version-8 default run gave 29.20 (5 seeds) and 25.34 (10 seeds) at gaps 0 and 0.25. Raw inputs (version 3): CH-SIMS-like 0 -> 19.5, 0.5 -> 26.1, 1 -> 17.9 (3 seeds, expressiveness 0.75); IEMOCAP-like (expressiveness 1.3) 1 -> 13.0, 0.7 -> 30.1, 0.6 -> 13.0 (both with plateau stopping), 0.5 -> 27.8",
    "clip noise (Knobs.clip_noise)": "1 IEMOCAP-like: the prosodic spreads the synthesiser was written with, not fitted (issue #12 probes of 0.25 and 0.5 in docs/pages/reproducing.md, 'Open work'). 1.5 CH-SIMS-like (pipeline version 11; first tried in version 8), chosen with the signature below among the settings tried for one whose supervised row is within 3 points of the paper's and whose headroom lies above 0 (docs/pages/reproducing.md, 'A CH-SIMS-like corpus with headroom'), version 8, wild prior 0 and a 1 dB signature: clip noise 1.5 -> supervised 40.63 over 5 seeds, 43.42 over 10 (paper 42.94), headroom +3.85 [+1.22, +6.78], DCMKT 31.05; 1.25 -> 47.83, +2.01 [+0.19, +3.76], 30.42; 2 -> 43.72, +1.65 [-0.11, +3.35], 27.81",
    "intensity floor (Knobs.intensity_low)": "0.3 for both, assumed, not fitted (a probe of 0.7 in docs/pages/reproducing.md, 'Open work')",
    "spectral signature (Knobs.signature_db, signature_hz)": "1.5 dB, 60 Hz IEMOCAP-like; 1 dB, 60 Hz CH-SIMS-like (pipeline version 11; none before). Not fitted to any row of the paper: chosen for the testbed's headroom (issue #12, item 1), a cue that takes many clips to learn. IEMOCAP-like linear probe (python benchmarks/learning_curve.py): 57.70 -> 60.95 F1 from the labelled clips to all clips with true labels without it, 62.45 -> 73.15 with it (expressiveness 0.8). CH-SIMS-like: with the neutral-heavy wild prior every tried signature either put the supervised row 3.4-20 points over the paper or left less headroom than none; with wild prior 0, a 1 dB signature and clip noise 1.5 give both (clip noise, above)",
    "face expressiveness (Knobs.face_expressiveness)": "1 for both: the wild faces as rendered, not fitted. Tried on the CH-SIMS-like corpus of version 8 (version 11's, with the same RAF-DB stand-in) for its DCMKT row: 1.5 -> 27.68 F1 against 31.05 at 1 (5 seeds; the perfect face teacher 37.58); the face model's pseudo-labels already agree with the hidden audio label on 43.0% of clips (44.2% at 1.5), the true faces on 47.3%",
    "expressiveness": "emotion intensity per clip ~ U(intensity_low, 1.2) labelled, U(0.2, 1.0) in the wild (acted vs spontaneous), assumed",
    "video": "25 fps (Sec. 4.2); faces sampled every 0.24 s with sertoolkit.pooling.frame_indices; 5% of frames have no detected face, assumed",
    "RAF-DB stand-in": "7 expressions with RAF-DB's basic-set prior (3,204 / 5,957 / 1,619 / 2,460 / 867 / 877 / 355, Li et al. 2017); 15,339 images in the paper profile. Drawn from a random stream of its own (corpus.rafdb_stand_in, pipeline version 11), the same images in both datasets, so the face model they share moves with neither dataset's knobs",
    "STFT features": "sertoolkit.features.SpectrogramFeatures (VGGVox window, hop and FFT) as log magnitudes, fixed to t = 555 frames (head kept); standardised per bin with the labelled training split's valid-frame mean and standard deviation (benchmarks.pipeline.standardize, pipeline version 4: raw log magnitudes left the fine spectral cues unlearnt at the recipe's rate, issue #12); no per-utterance normalisation, which erases static prosodic cues (logistic-regression UA 0.42 with it vs 0.52 without, measured once on 700 synthetic clips)",
}


@dataclass(frozen=True)
class Knobs:
    """The corpus' difficulty knobs of one dataset (issue #12: fitted only to two rows).

    Attributes:
        expressiveness: Scales every clip's emotion intensity (labelled and in the wild): 1
            is the drawn intensity, smaller makes emotions subtler and the task harder. The
            synthesiser caps intensity at 1.5, so above 1.25 the strongest labelled clips
            saturate (at 1.3, labelled draws above 1.15 of U(0.3, 1.2): about 6% of them).
        domain_gap: How far the unlabelled in-the-wild clips are from the labelled domain, in
            ``[0, 1]``. At 1 the wild channel has SNR U(5, 25) dB and a cut-off of
            U(2.5, 7) kHz and the wild clips' intensity is U(0.2, 1.0); at 0 they are recorded
            like the labelled clips (SNR U(25, 40) dB, 7.5 kHz, intensity U(0.3, 1.2)); in
            between, every bound moves linearly.
        clip_noise: Scales the clip-to-clip spread of every prosodic parameter around the
            speaker's habit plus the emotion's effect (F0 level and range, rate, spectral
            tilt, jitter, energy, contour; see :func:`benchmarks.synth_audio.synthesize`):
            1 is the spread the synthesiser was written with, 0 none, in ``[0, 2]``. It sets
            how much of the confusion between emotions no amount of labels removes, apart
            from the one from intensity and speakers.
        intensity_low: The lower bound of the labelled clips' intensity, drawn from
            ``U(intensity_low, 1.2)`` before ``expressiveness`` scales it, in ``[0, 1.2)``;
            at domain gap 0 the wild clips share it. Clips near 0 sound neutral whatever
            their label, so it sets how many labelled clips no model can place.
        signature_db: The strength, in dB RMS at intensity 1, of each emotion's spectral
            signature (:func:`benchmarks.synth_audio.spectral_signature`), in ``[0, 6]``:
            a fixed fine-grained spectral shape per emotion, scaled by the clip's intensity.
            A cue spread thinly over many frequency bins: a model learns it only from many
            clips, so it is what gives unlabelled clips with good labels something to teach
            (issue #12). 0, the default, adds none: the corpus is then what it was before
            the knob existed.
        signature_hz: The width (smoothing standard deviation, Hz) of the signature's
            bumps, in ``(0, 1000]``: narrower bumps spread the cue over more bins.
        wild_prior: How far the unlabelled in-the-wild clips' class prior is from the
            labelled clips', in ``[0, 1]``: 0 is the labelled prior, 1 the neutral-heavy
            prior of :data:`WILD_PRIORS` (the assumption the corpus was written with),
            linear in between. The part of the domain gap that is about which emotions the
            wild clips show rather than how they are recorded (``domain_gap``). 1, the
            default, draws the wild clips as before the knob existed.
        face_expressiveness: Scales the facial expression intensity of the wild videos'
            faces (the frames the face model scores, drawn from ``U(0.3, 1.1)`` per clip
            times ``N(1, 0.1)`` per frame), in ``(0, 2]``: the face rendering's part of the
            difficulty. Larger makes the face model's pseudo-labels closer to the faces'
            true expressions (never closer to the audio labels than the audio/visual
            inconsistency allows); the RAF-DB stand-in is not scaled. 1 is the rendering
            as written.
    """

    expressiveness: float = 1.0
    domain_gap: float = 1.0
    clip_noise: float = 1.0
    intensity_low: float = 0.3
    signature_db: float = 0.0
    signature_hz: float = 60.0
    wild_prior: float = 1.0
    face_expressiveness: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.expressiveness <= 1.5:
            raise ValueError(f"expressiveness must be in (0, 1.5], got {self.expressiveness}")
        if not 0.0 <= self.domain_gap <= 1.0:
            raise ValueError(f"domain_gap must be in [0, 1], got {self.domain_gap}")
        if not 0.0 <= self.clip_noise <= 2.0:
            raise ValueError(f"clip_noise must be in [0, 2], got {self.clip_noise}")
        if not 0.0 <= self.intensity_low < 1.2:
            raise ValueError(f"intensity_low must be in [0, 1.2), got {self.intensity_low}")
        if not 0.0 <= self.signature_db <= 6.0:
            raise ValueError(f"signature_db must be in [0, 6], got {self.signature_db}")
        if not 0.0 < self.signature_hz <= MAX_SIGNATURE_HZ:
            raise ValueError(
                f"signature_hz must be in (0, {MAX_SIGNATURE_HZ:g}], got {self.signature_hz}"
            )
        if not 0.0 <= self.wild_prior <= 1.0:
            raise ValueError(f"wild_prior must be in [0, 1], got {self.wild_prior}")
        if not 0.0 < self.face_expressiveness <= 2.0:
            raise ValueError(
                f"face_expressiveness must be in (0, 2], got {self.face_expressiveness}"
            )


KNOB_VALUES: dict[str, Knobs] = {
    "chsims": Knobs(
        expressiveness=0.8, domain_gap=0.0, clip_noise=1.5, signature_db=1.0, wild_prior=0.0
    ),
    "iemocap": Knobs(expressiveness=0.8, domain_gap=0.0, signature_db=1.5),
}
"""The knobs every run uses, per dataset; each fit and its target is recorded in
:data:`KNOBS`. Tests and experiments may replace an entry; generated corpora are cached
under a key that includes them."""


def wild_channel(gap: float, intensity_low: float) -> dict[str, tuple[float, float]]:
    """The wild clips' SNR (dB), cut-off (Hz) and intensity ranges at a domain gap, for
    labelled clips whose intensity starts at ``intensity_low`` (:class:`Knobs`)."""

    def lerp(near: float, far: float) -> float:  # exact at 0 and 1
        return near * (1 - gap) + far * gap

    return {
        "snr_db": (lerp(25.0, 5.0), lerp(40.0, 25.0)),
        "cutoff_hz": (lerp(7500.0, 2500.0), lerp(7500.0, 7000.0)),
        "intensity": (lerp(intensity_low, 0.2), lerp(1.2, 1.0)),
    }


RAFDB_COUNTS: npt.NDArray[np.float64] = np.array(
    [3204, 5957, 1619, 2460, 867, 877, 355], dtype=np.float64
)
INCONSISTENCY = 0.5181


@dataclass(frozen=True)
class Sizes:
    """Sizes and scale-downs of one profile."""

    chsims_split: tuple[int, int, int]
    chsims_unlabelled: int
    iemocap_labelled: int
    iemocap_unlabelled: int
    faces: int
    duration: tuple[float, float]
    face_size: int
    time_pool: int  # average-pool STFT frames by this factor (1 = none)
    bins: int  # keep the lowest this many STFT bins (512 = all)
    # IEMOCAP-like test set: 0 speakers = Ses05M (IEMOCAP's split: sessions 1-4 train, Ses05F
    # validation); K > 0 = ``iemocap_test`` clips of K held-out speakers, session 5 validates
    iemocap_test: int = 0
    iemocap_test_speakers: int = 0
    # test clips added to each dataset's test split (CH-SIMS-like, IEMOCAP-like) from
    # separate random streams, in chunks of TEST_CHUNK (:func:`generate_chunk`): every
    # other clip of the corpus, and so every run's training, stays what it is without them
    extra_test: tuple[int, int] = (0, 0)
    # validation clips added the same way to each dataset's validation split
    extra_val: tuple[int, int] = (0, 0)


TEST_CHUNK = 500
"""Extra clips (:attr:`Sizes.extra_test`, :attr:`Sizes.extra_val`) are synthesised and cached
in chunks of at most this many, each from its own random stream, so that the chunks can be
synthesised side by side."""

SPLIT_NAMES = {1: "val", 2: "test"}
"""The labelled splits that take extra clips (:func:`extra_chunks`), by split number."""

# fmt: off
PROFILES: dict[str, Sizes] = {
    "paper": Sizes((1368, 456, 457), 14502, 5531, 50000, 15339, (1.5, 5.8), 48, 1, 512),
    "quick": Sizes(
        (340, 400, 1000), 3400, 400, 4000, 2400, (1.0, 2.6), 32, 20, 64, 1000, 4,
        extra_test=(3000, 5000), extra_val=(0, 320),
    ),
    "tiny": Sizes((24, 12, 12), 40, 40, 40, 120, (0.5, 0.9), 32, 10, 64),
}
# fmt: on


@dataclass
class Corpus:
    """One dataset's tensors, ready for training. Features are ``(n, time, dim)``."""

    name: str
    classes: tuple[str, ...]
    x: dict[str, torch.Tensor]  # "train", "val", "test", "unlabelled"
    lengths: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]  # labelled splits only
    visual_probs: torch.Tensor  # (n_u, classes) pooled, mapped face probabilities
    visual_valid: torch.Tensor  # (n_u,) had a face and (4-class) a mapped visual label
    u_audio_label: torch.Tensor  # hidden truth, telemetry only
    u_visual_label: torch.Tensor  # the clip's true visual class (telemetry)
    stats: dict[str, object]


def _fingerprint(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _emotion_for(dataset: str, label: int, rng: np.random.Generator) -> str:
    """Prosody class of an audio label."""
    if dataset == "iemocap":
        return IEMOCAP_EMOTIONS[label]
    sentiment = SENTIMENTS[label]
    if sentiment == "negative":
        return "angry" if rng.random() < 0.5 else "sad"
    return "happy" if sentiment == "positive" else "neutral"


def _visual_expression(dataset: str, audio_label: int, rng: np.random.Generator) -> int:
    """The face's expression (index into EXPRESSIONS) given the clip's audio label."""
    consistent = rng.random() >= INCONSISTENCY
    if dataset == "iemocap":
        mapped = {0: 0, 1: 1, 2: 4, 3: 3}[audio_label]  # neutral, happiness, anger, sadness
        if consistent:
            return mapped
        prior = np.where(np.arange(7) == mapped, 0.0, RAFDB_COUNTS)
        return int(rng.choice(7, p=prior / prior.sum()))
    # sentiment: choose the visual sentiment, then an expression of it (Table 2)
    visual = (
        audio_label if consistent else int(rng.choice([c for c in range(3) if c != audio_label]))
    )
    if visual == 1:
        return 0
    if visual == 2:
        return 1 if rng.random() < 0.7 else 2  # happiness / surprise
    return int(rng.choice([3, 4, 5, 6], p=[0.35, 0.35, 0.15, 0.15]))


def _waveforms(
    labels: npt.NDArray[np.int64],
    speakers: list[Speaker],
    speaker_of: npt.NDArray[np.int64],
    dataset: str,
    sizes: Sizes,
    rng: np.random.Generator,
    *,
    wild: bool,
    progress: Callable[[int], None],
) -> tuple[list[npt.NDArray[np.float32]], npt.NDArray[np.float64]]:
    clips: list[npt.NDArray[np.float32]] = []
    durations: list[float] = []
    knobs = KNOB_VALUES[dataset]
    wild_ranges = wild_channel(knobs.domain_gap, knobs.intensity_low)
    for i, label in enumerate(labels):
        emotion = _emotion_for(dataset, int(label), rng)
        duration = float(rng.uniform(*sizes.duration))
        intensity = float(
            rng.uniform(*wild_ranges["intensity"])
            if wild
            else rng.uniform(knobs.intensity_low, 1.2)
        )
        intensity *= knobs.expressiveness
        speaker = speakers[int(speaker_of[i])]
        wav = synthesize(
            emotion,
            speaker,
            duration,
            rng,
            intensity=intensity,
            noise=knobs.clip_noise,
            signature_db=knobs.signature_db,
            signature_hz=knobs.signature_hz,
        )
        if wild:
            wav = channel(
                wav,
                rng,
                snr_db=float(rng.uniform(*wild_ranges["snr_db"])),
                cutoff_hz=float(rng.uniform(*wild_ranges["cutoff_hz"])),
            )
        else:
            wav = channel(wav, rng, snr_db=float(rng.uniform(25, 40)), cutoff_hz=7500.0)
        clips.append(wav)
        durations.append(duration)
        progress(1)
    return clips, np.array(durations)


def _features(
    clips: list[np.ndarray], sizes: Sizes, progress: Callable[[int], None]
) -> tuple[torch.Tensor, torch.Tensor]:
    """STFT features with sertoolkit, fixed to 555 frames, then the profile's scale-down.

    Log magnitudes without the per-utterance normalisation of VGGVox: that normalisation
    removes every static cue (level, spectral tilt, pitch level). Measured once on 700 clips
    (logistic regression on each clip's per-bin mean and std, UA): 0.42 with it, 0.52 with
    unnormalised log magnitudes. The pipeline feeds them to the encoder as they are.

    When the profile keeps no more than the 257 one-sided bins (the ``quick`` profile keeps
    64), the one-sided spectrum is computed: its bins are the two-sided spectrum's first 257
    to the last bit (``tests/test_corpus.py`` checks it), at about 40% of the cost, since the
    magnitude and log of the 255 mirrored bins are never kept.
    """
    one_sided = sizes.bins <= SpectrogramFeatures.n_fft // 2 + 1
    extractor = SpectrogramFeatures(log=True, normalize=False, two_sided=not one_sided)
    out: list[torch.Tensor] = []
    lens: list[torch.Tensor] = []
    for start in range(0, len(clips), 64):
        chunk = clips[start : start + 64]
        n = torch.tensor([len(c) for c in chunk])
        wav = torch.zeros(len(chunk), int(n.max()))
        for j, c in enumerate(chunk):
            wav[j, : len(c)] = torch.as_tensor(c)
        with torch.no_grad():
            feats, frames = extractor(wav, n)
            # the bins the scale-down keeps, cut before fixing the length: the same values,
            # without fixing the bins that the profile discards (193 of the one-sided 257
            # on the quick profile)
            feats, frames = fix_length(feats[:, :, : sizes.bins], 555, lengths=frames)
            feats, frames = scale_down(feats, frames, sizes, cut_bins=False)
        out.append(feats.to(torch.float16))
        lens.append(frames)
        progress(len(chunk))
    return torch.cat(out), torch.cat(lens)


def scale_down(
    feats: torch.Tensor, frames: torch.Tensor, sizes: Sizes, *, cut_bins: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The profile's scale-down of ``(n, time, dim)`` features: keep the lowest ``sizes.bins``
    dimensions (STFT bins; ``cut_bins=False`` for wav2vec channels) and average-pool time by
    ``sizes.time_pool`` (a partly valid window counts as valid)."""
    if cut_bins:
        feats = feats[:, :, : sizes.bins]
    if sizes.time_pool > 1:
        feats = F.avg_pool2d(feats.unsqueeze(1), (sizes.time_pool, 1)).squeeze(1)
        frames = torch.div(frames + sizes.time_pool - 1, sizes.time_pool, rounding_mode="floor")
        frames = frames.clamp(max=feats.shape[1])
    return feats, frames


def cache_path(dataset: str, profile: str, seed: int, cache_dir: Path) -> Path:
    """Where :func:`generate` caches a dataset: the key covers sizes, seed and knobs."""
    sizes = PROFILES[profile]
    if (sizes.iemocap_test > 0) != (sizes.iemocap_test_speakers > 0):
        raise ValueError(
            "iemocap_test and iemocap_test_speakers must both be 0 (Ses05M tests) or both "
            f"positive, got {sizes.iemocap_test} and {sizes.iemocap_test_speakers}"
        )
    return cache_dir / f"{dataset}-{profile}-{_main_key(dataset, sizes, seed)}.npz"


def _main_key(dataset: str, sizes: Sizes, seed: int) -> str:
    """The cache key of a dataset's corpus without its extra clips (which are not in it:
    adding them leaves the key, and the cached corpus, as they were)."""
    main = {k: v for k, v in asdict(sizes).items() if k not in ("extra_test", "extra_val")}
    knobs = asdict(KNOB_VALUES[dataset])
    return _fingerprint({"dataset": dataset, "sizes": main, "seed": seed, "v": 3, **knobs})


def _split_number(split: int) -> int:
    if split not in SPLIT_NAMES:
        raise ValueError(
            f"split must be one of {sorted(SPLIT_NAMES)} (validation, test), got {split}"
        )
    return split


def extra_chunks(dataset: str, profile: str, split: int = 2) -> list[int]:
    """The sizes of a dataset's chunks of extra clips of ``split`` (1: validation,
    :attr:`Sizes.extra_val`; 2: test, :attr:`Sizes.extra_test`)."""
    sizes = PROFILES[profile]
    extra = (sizes.extra_val if _split_number(split) == 1 else sizes.extra_test)[
        0 if dataset == "chsims" else 1
    ]
    return [min(TEST_CHUNK, extra - start) for start in range(0, extra, TEST_CHUNK)]


def chunk_path(
    dataset: str, profile: str, seed: int, chunk: int, cache_dir: Path, split: int = 2
) -> Path:
    """Where :func:`generate_chunk` caches chunk ``chunk`` of the extra clips of ``split``."""
    sizes = PROFILES[profile]
    size = extra_chunks(dataset, profile, split)[chunk]
    spec: dict[str, object] = {
        "main": _main_key(dataset, sizes, seed),
        "chunk": chunk,
        "size": size,
    }
    if split != 2:  # the test chunks' keys predate the validation chunks
        spec["split"] = split
    return cache_dir / f"{dataset}-{profile}-{_fingerprint(spec)}-{SPLIT_NAMES[split]}{chunk}.npz"


def clips_of(dataset: str, profile: str) -> int:
    """How many clips :func:`generate` synthesises for a dataset (labelled and unlabelled),
    without the extra clips (:func:`extra_chunks`)."""
    sizes = PROFILES[profile]
    if dataset == "chsims":
        return sum(sizes.chsims_split) + sizes.chsims_unlabelled
    return sizes.iemocap_labelled + sizes.iemocap_test + sizes.iemocap_unlabelled


def _labelled_speakers(dataset: str, sizes: Sizes, rng: np.random.Generator) -> list[Speaker]:
    """The labelled domain's speakers: the first draws of a dataset's main stream."""
    if dataset == "chsims":
        n_l = sum(sizes.chsims_split)
        return [make_speaker(i, bool(i % 2), rng) for i in range(max(4, n_l // 20))]
    # Ses0{s}F, Ses0{s}M, then the held-out test speakers
    return [make_speaker(i, i % 2 == 0, rng) for i in range(10 + sizes.iemocap_test_speakers)]


def _main_stream(dataset: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 0 if dataset == "chsims" else 1])


CHSIMS_PRIOR = np.array([0.40, 0.25, 0.35])
"""The CH-SIMS-like labelled clips' class prior (:data:`KNOBS`)."""
IEMOCAP_COUNTS = np.array([1708, 1636, 1103, 1084], dtype=np.float64)
"""IEMOCAP's class counts, the IEMOCAP-like labelled clips' prior (:data:`KNOBS`)."""
WILD_PRIORS: dict[str, npt.NDArray[np.float64]] = {
    "chsims": np.array([0.25, 0.50, 0.25]),
    "iemocap": np.array([0.55, 0.20, 0.10, 0.15]),
}
"""The neutral-heavy in-the-wild class priors the corpus was written with (:data:`KNOBS`),
``Knobs.wild_prior`` = 1."""


def labelled_prior(dataset: str) -> npt.NDArray[np.float64]:
    """The labelled clips' class prior: :data:`CHSIMS_PRIOR` or IEMOCAP's class shares."""
    return CHSIMS_PRIOR if dataset == "chsims" else IEMOCAP_COUNTS / IEMOCAP_COUNTS.sum()


def wild_prior(dataset: str) -> npt.NDArray[np.float64]:
    """The unlabelled clips' class prior at the dataset's ``Knobs.wild_prior``: the labelled
    prior moved that far towards :data:`WILD_PRIORS` (exactly either at 0 and 1)."""
    far = KNOB_VALUES[dataset].wild_prior
    return (1 - far) * labelled_prior(dataset) + far * WILD_PRIORS[dataset]


def generate_chunk(
    dataset: str,
    profile: str,
    seed: int,
    chunk: int,
    cache_dir: Path,
    bar: Callable[[str, int], Callable[[int], None]],
    split: int = 2,
) -> dict[str, np.ndarray]:
    """Generate (or load from cache) chunk ``chunk`` of a dataset's extra clips of ``split``
    (1: validation, 2: test).

    Drawn like that split's clips of :func:`generate` (the labelled domain's class prior and
    channel; test: the IEMOCAP-like held-out speakers, or Ses05M without them; validation:
    session 5, or Ses05F without held-out speakers; either: any labelled CH-SIMS-like
    speaker) from the stream ``[seed, dataset, split, chunk]``, which no other clip reads.
    Returns ``x``, ``lengths``, ``y`` and ``speaker``.
    """
    sizes = PROFILES[profile]
    path = chunk_path(dataset, profile, seed, chunk, cache_dir, split)
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    n = extra_chunks(dataset, profile, split)[chunk]
    speakers = _labelled_speakers(dataset, sizes, _main_stream(dataset, seed))
    rng = np.random.default_rng([seed, 0 if dataset == "chsims" else 1, split, chunk])
    held_out = sizes.iemocap_test_speakers
    prior = labelled_prior(dataset)
    if dataset == "chsims":
        pool = np.arange(len(speakers))
    else:
        if split == 1:
            pool = np.array([8, 9]) if held_out else np.array([8])
        else:
            pool = np.arange(10, 10 + held_out) if held_out else np.array([9])
    y = rng.choice(len(prior), n, p=prior)
    speaker_of = rng.choice(pool, n)
    step = bar(f"{dataset}: synthesising {SPLIT_NAMES[split]} chunk {chunk}", 2 * n)
    wav, _ = _waveforms(y, speakers, speaker_of, dataset, sizes, rng, wild=False, progress=step)
    x, lengths = _features(wav, sizes, step)
    arrays: dict[str, npt.NDArray[Any]] = {
        "x": x.numpy(), "lengths": lengths.numpy(), "y": y, "speaker": speaker_of
    }  # fmt: skip
    _save(path, arrays)
    return arrays


def _save(path: Path, arrays: dict[str, npt.NDArray[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)  # pyright: ignore[reportArgumentType]  (no key is "allow_pickle")
    tmp.replace(path)


def with_chunks(
    arrays: dict[str, np.ndarray], chunks: list[dict[str, np.ndarray]], split: int = 2
) -> dict[str, np.ndarray]:
    """A corpus' arrays with extra clips of ``split`` appended to its labelled clips."""
    _split_number(split)
    if not chunks:
        return arrays
    out = dict(arrays)
    out["x_l"] = np.concatenate([arrays["x_l"], *(c["x"] for c in chunks)])
    out["len_l"] = np.concatenate([arrays["len_l"], *(c["lengths"] for c in chunks)])
    out["y_l"] = np.concatenate([arrays["y_l"], *(c["y"] for c in chunks)])
    out["speaker_l"] = np.concatenate([arrays["speaker_l"], *(c["speaker"] for c in chunks)])
    added = sum(len(c["y"]) for c in chunks)
    out["split"] = np.concatenate(
        [arrays["split"], np.full(added, split, dtype=arrays["split"].dtype)]
    )
    return out


def generate(
    dataset: str,
    profile: str,
    seed: int,
    cache_dir: Path,
    bar: Callable[[str, int], Callable[[int], None]],
) -> dict[str, np.ndarray]:
    """Generate (or load from cache) one dataset's raw arrays: features, labels, faces.

    The profile's extra clips (:attr:`Sizes.extra_test`, :attr:`Sizes.extra_val`,
    :func:`generate_chunk`) follow the other labelled clips: the test clips first (split 2),
    then the validation clips (split 1).
    """
    arrays = generate_main(dataset, profile, seed, cache_dir, bar)
    for split in (2, 1):
        chunks = [
            generate_chunk(dataset, profile, seed, i, cache_dir, bar, split)
            for i in range(len(extra_chunks(dataset, profile, split)))
        ]
        arrays = with_chunks(arrays, chunks, split)
    return arrays


def generate_main(
    dataset: str,
    profile: str,
    seed: int,
    cache_dir: Path,
    bar: Callable[[str, int], Callable[[int], None]],
) -> dict[str, np.ndarray]:
    """:func:`generate` without the extra clips (cached apart from them)."""
    sizes = PROFILES[profile]
    path = cache_path(dataset, profile, seed, cache_dir)
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    rng = _main_stream(dataset, seed)
    n_classes = 3 if dataset == "chsims" else 4
    spk_l = _labelled_speakers(dataset, sizes, rng)

    prior_l = labelled_prior(dataset)
    if dataset == "chsims":
        n_tr, n_va, n_te = sizes.chsims_split
        n_l, n_u = n_tr + n_va + n_te, sizes.chsims_unlabelled
        speaker_of_l = rng.integers(0, len(spk_l), n_l)
        split = np.array([0] * n_tr + [1] * n_va + [2] * n_te)
        rng.shuffle(split)
    else:
        n_l, n_u = sizes.iemocap_labelled, sizes.iemocap_unlabelled
        held_out = sizes.iemocap_test_speakers
        speaker_of_l = rng.integers(0, 10, n_l)
        if held_out == 0:
            # sessions 1-4 train; Ses05F (speaker 8) validation; Ses05M (speaker 9) test
            split = np.where(speaker_of_l < 8, 0, np.where(speaker_of_l == 8, 1, 2))
        else:  # sessions 1-4 train; session 5 validation; held-out speakers test
            test_speakers = rng.integers(10, 10 + held_out, sizes.iemocap_test)
            speaker_of_l = np.concatenate([speaker_of_l, test_speakers])
            split = np.where(speaker_of_l < 8, 0, np.where(speaker_of_l < 10, 1, 2))
            n_l += sizes.iemocap_test
    y_l = rng.choice(n_classes, n_l, p=prior_l)
    y_u = rng.choice(n_classes, n_u, p=wild_prior(dataset))
    n_spk_u = max(6, n_u // 15)
    spk_u = [make_speaker(1000 + i, bool(rng.random() < 0.5), rng) for i in range(n_spk_u)]
    speaker_of_u = rng.integers(0, n_spk_u, n_u)

    step = bar(f"{dataset}: synthesising audio", n_l + n_u)
    wav_l, _ = _waveforms(y_l, spk_l, speaker_of_l, dataset, sizes, rng, wild=False, progress=step)
    wav_u, dur_u = _waveforms(
        y_u, spk_u, speaker_of_u, dataset, sizes, rng, wild=True, progress=step
    )
    step = bar(f"{dataset}: STFT features", n_l + n_u)
    x_l, len_l = _features(wav_l, sizes, step)
    x_u, len_u = _features(wav_u, sizes, step)

    # faces of the unlabelled videos: only the frames frame_indices picks are rendered
    expr_u = np.array([_visual_expression(dataset, int(y), rng) for y in y_u])
    per_clip = [frame_indices(round(d * 25)).numel() for d in dur_u]
    max_frames = max(per_clip)
    frame_mask = np.zeros((n_u, max_frames), dtype=bool)
    for i, k in enumerate(per_clip):
        frame_mask[i, :k] = rng.random(k) >= 0.05  # 5% of frames: no face detected
    clip_of_frame = np.repeat(np.arange(n_u), max_frames)
    identity = rng.normal(0, 1, (n_u, 3))[clip_of_frame]
    intensity = rng.uniform(0.3, 1.1, n_u)[clip_of_frame] * rng.normal(1, 0.1, n_u * max_frames)
    intensity *= KNOB_VALUES[dataset].face_expressiveness  # after the draws: the same stream
    frames = render(
        expr_u[clip_of_frame], rng, size=sizes.face_size, intensity=intensity, identity=identity
    )

    face_images, face_labels = rafdb_stand_in(sizes, seed)

    arrays: dict[str, npt.NDArray[Any]] = {
        "x_l": x_l.numpy(),
        "len_l": len_l.numpy(),
        "y_l": y_l,
        "split": split,
        "speaker_l": speaker_of_l,
        "x_u": x_u.numpy(),
        "len_u": len_u.numpy(),
        "y_u": y_u,
        "expr_u": expr_u,
        "frames_u": np.reshape(
            _to_uint8(frames), (n_u, max_frames, sizes.face_size, sizes.face_size)
        ),
        "frame_mask_u": frame_mask,
        "face_images": _to_uint8(face_images),
        "face_labels": face_labels,
    }
    _save(path, arrays)
    return arrays


def rafdb_stand_in(
    sizes: Sizes, seed: int
) -> tuple[npt.NDArray[np.floating[Any]], npt.NDArray[np.int64]]:
    """The RAF-DB stand-in: ``sizes.faces`` labelled face images with RAF-DB's imbalanced
    prior (:data:`KNOBS`), ``(images, labels)``.

    Drawn from the stream ``[seed, 2]``, which no clip reads, so both datasets hold the same
    images and the face model trained on them depends on neither dataset's knobs (pipeline
    version 11; before, they were the last draws of each dataset's main stream, so fitting a
    CH-SIMS-like knob redrew the face model the IEMOCAP-like set shares).
    """
    rng = np.random.default_rng([seed, 2])
    labels = rng.choice(7, sizes.faces, p=RAFDB_COUNTS / RAFDB_COUNTS.sum())
    return render(labels, rng, size=sizes.face_size), labels


def _to_uint8(images: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint8]:
    return np.round(images * 255).astype(np.uint8)


def classes_of(dataset: str) -> tuple[str, ...]:
    return SENTIMENTS if dataset == "chsims" else IEMOCAP_EMOTIONS
