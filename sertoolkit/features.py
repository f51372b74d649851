"""Audio features of the paper (Sec. 4.2): STFT for Mandarin, wav2vec for English.

Both extractors take a waveform batch ``(batch, samples)`` with optional ``lengths`` (valid
samples first, zero padding after) at any sample rate, resample to 16 kHz with torchaudio, and
return ``(features (batch, time, 512), frame_lengths (batch,))`` in the library's padded
layout (valid frames first; see [sertoolkit.masking.lengths_to_mask][]). Padding is
handled so that an example's features do not depend on how much padding its batch has, nor on
what the padding holds (NaN and inf included).

[fix_length][] then brings every sequence to the paper's fixed length (t = 555 for STFT,
t = 445 for wav2vec), and [load_audio][] reads a file from disk.

Frame counts (16 kHz, ``n`` valid samples):

* [SpectrogramFeatures][]: ``1 + n // 160`` centred frames, one per 10 ms. A 5.55 s clip
  (88,800 samples) gives **556** frames, centred at 0, 10, ..., 5550 ms. The paper's t = 555 is
  5.55 s / 10 ms; we read it as frames 0-554 (centres 0-5.54 s), so ``fix_length(.., 555)``
  drops the frame centred on the clip's last sample. ``frames_for_samples`` gives the count.
* [Wav2VecFeatures][]: the wav2vec 2.0 convolutional feature encoder, 512 channels, one
  frame per 20 ms (stride 320) with a 25 ms receptive field (400 samples): ``floor((n - 400) /
  320) + 1`` frames for ``n >= 400``. The paper's t = 445 therefore spans 8.905 s of audio
  here. (The paper cites wav2vec 1.0, Schneider et al. 2019, whose 512-d features come every
  10 ms, where 445 frames would be 4.45 s; torchaudio builds only wav2vec 2.0-family models,
  whose 512-d feature-encoder output runs at 20 ms.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

try:
    import torchaudio
except ImportError as err:  # pragma: no cover - exercised by tests/test_package.py
    raise ImportError(
        "sertoolkit.features (and encoders' wav2vec, datasets) need torchaudio and soundfile: "
        "pip install 'sertoolkit[audio]'"
    ) from err
from numpy.typing import NDArray
from torch import Tensor, nn

from sertoolkit._checkpoint import load_strict, read_state_dict
from sertoolkit._validation import (
    check_choice,
    check_fill,
    check_finite,
    check_floating,
    check_lengths,
    check_non_negative_int,
    check_positive_int,
    check_rank,
    check_same_device,
    check_tensor,
    describe,
    fail,
)
from sertoolkit.masking import lengths_to_mask

__all__ = [
    "TARGET_SAMPLE_RATE",
    "VIDEO_SUFFIXES",
    "FixSide",
    "SpectrogramFeatures",
    "Wav2VecFeatures",
    "fix_length",
    "load_audio",
]

TARGET_SAMPLE_RATE = 16_000
"""Both feature extractors work at 16 kHz (paper Sec. 4.2)."""

FixSide = Literal["head", "tail"]
"""Which end of an utterance [fix_length][] keeps."""


def fix_length(
    x: Tensor,
    length: int,
    *,
    side: FixSide = "head",
    lengths: Tensor | None = None,
    value: float = 0.0,
    validate: bool = True,
) -> tuple[Tensor, Tensor]:
    """Pad or trim every sequence to ``length`` frames (paper Sec. 4.2).

    The paper's features are "head-padded or trimmed to fixed lengths". We read "head" as the
    part of the utterance that is **kept**: with ``side="head"`` (default) an utterance keeps
    its beginning, is trimmed at its end when longer than ``length`` and padded with ``value``
    after its end when shorter. The valid frames therefore always come first, which is the
    layout every sertoolkit component reads ``lengths`` in (key-padding masks, pooling,
    SpecAugment). ``side="tail"`` keeps the *last* ``length`` valid frames of a long utterance
    instead (trimming its beginning); the kept frames are still moved to the front and padded
    after, so the layout is the same.

    Args:
        x: Sequences, valid frames first.
        length: Target number of frames (>= 0).
        side: ``"head"`` or ``"tail"``, the end of the utterance that is kept.
        lengths: Valid frames per example (default: all ``time`` frames are valid).
        value: Fill value for padding: finite and representable in the dtype of ``x``
            (an integer for integer ``x``).
        validate: Check that ``lengths`` are in ``[0, time]`` and that the valid frames of a
            floating ``x`` are finite (a device sync on CUDA).

    Shape:
        - x: ``(batch, time, *)``
        - lengths: ``(batch,)`` integer
        - output: ``((batch, length, *), (batch,))``; the new lengths are
          ``min(lengths, length)``.

    Returns:
        The fixed-length sequences and their valid lengths.

    Raises:
        ValueError: On a negative ``length``, an unknown ``side`` or malformed inputs.

    Examples:
        >>> x = torch.arange(1.0, 6.0).view(1, 5, 1)
        >>> fix_length(x, 3)[0].flatten().tolist()
        [1.0, 2.0, 3.0]
        >>> fix_length(x, 3, side="tail")[0].flatten().tolist()
        [3.0, 4.0, 5.0]
        >>> out, n = fix_length(x, 7)
        >>> out.flatten().tolist(), n.tolist()
        ([1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0], [5])
    """
    check_non_negative_int("length", length)
    check_choice("side", side, ("head", "tail"))
    check_tensor("x", x)
    if x.dim() < 2:
        raise fail("x", "a tensor of shape (batch, time, *)", describe(x))
    value = check_fill("value", value, x.dtype)
    batch, time = x.shape[0], x.shape[1]
    if lengths is None:
        lengths = torch.full((batch,), time, dtype=torch.long, device=x.device)
        check_finite("x", x, validate=validate)
    else:
        check_lengths("lengths", lengths, batch, time, validate=False)
        check_same_device("lengths", lengths, "x", x)
        check_lengths("lengths", lengths, batch, time, validate=validate)
        if validate:
            valid = lengths_to_mask(lengths, time, validate=False)
            check_finite(
                "x", x, validate=True, where=valid.view(batch, time, *([1] * (x.dim() - 2)))
            )
    new_lengths = lengths.clamp(max=length)
    positions = torch.arange(length, device=x.device).unsqueeze(0)  # (1, length)
    start = (lengths - length).clamp(min=0) if side == "tail" else torch.zeros_like(lengths)
    source = (start.unsqueeze(1) + positions).clamp(max=max(time - 1, 0))  # (batch, length)
    keep = positions < new_lengths.unsqueeze(1)
    trailing = x.shape[2:]
    if time == 0:
        gathered = x.new_full((batch, length, *trailing), value)
    else:
        index = source.view(batch, length, *([1] * len(trailing))).expand(batch, length, *trailing)
        gathered = torch.gather(x, 1, index)
    fill = keep.view(batch, length, *([1] * len(trailing)))
    return torch.where(fill, gathered, gathered.new_full((), value)), new_lengths


def _check_waveforms(waveforms: Tensor, lengths: Tensor | None, validate: bool) -> Tensor:
    check_rank("waveforms", waveforms, 2, "(batch, samples)")
    check_floating("waveforms", waveforms)
    if lengths is None:
        check_finite("waveforms", waveforms, validate=validate)
        return torch.full(
            (waveforms.shape[0],), waveforms.shape[1], dtype=torch.long, device=waveforms.device
        )
    check_lengths("lengths", lengths, waveforms.shape[0], waveforms.shape[1], validate=False)
    check_same_device("lengths", lengths, "waveforms", waveforms)
    check_lengths("lengths", lengths, waveforms.shape[0], waveforms.shape[1], validate=validate)
    if validate:
        valid = lengths_to_mask(lengths, waveforms.shape[1], validate=False)
        check_finite("waveforms", waveforms, validate=True, where=valid)
    return lengths.long()


def _to_16k(waveforms: Tensor, lengths: Tensor, sample_rate: int) -> tuple[Tensor, Tensor]:
    """Resample to 16 kHz and zero everything after each example's valid samples.

    Padding is zeroed *before* resampling too: the resampling filter reaches across the valid
    boundary, so whatever sat in the padding would otherwise leak into the last valid samples.
    """
    valid_in = lengths_to_mask(lengths, waveforms.shape[1], validate=False)
    # a fill, not a product: 0 * NaN and 0 * inf are NaN
    waveforms = waveforms.masked_fill(~valid_in, 0.0)
    if sample_rate != TARGET_SAMPLE_RATE:
        waveforms = torchaudio.functional.resample(waveforms, sample_rate, TARGET_SAMPLE_RATE)
        # torchaudio's output length is ceil(n * new / old); the same for each example
        lengths = torch.div(
            lengths * TARGET_SAMPLE_RATE + sample_rate - 1, sample_rate, rounding_mode="floor"
        ).clamp(max=waveforms.shape[1])
    valid = lengths_to_mask(lengths, waveforms.shape[1], validate=False)
    return waveforms.masked_fill(~valid, 0.0), lengths


class SpectrogramFeatures(nn.Module):
    """STFT magnitude features for Mandarin audio (paper Sec. 4.2), d = 512.

    The paper uses "the same setting as" Albanie et al. (2018), whose audio front end is that of
    VGGVox (Nagrani et al. 2017, *VoxCeleb*): at 16 kHz, a Hamming window of 25 ms (400
    samples), a hop of 10 ms (160 samples), a 512-point FFT, magnitude (not power), and mean and
    variance normalisation of every frequency bin over the utterance. VGGVox keeps all 512 FFT
    bins (its spectrograms are 512 x 300 for 3 s), which is where the paper's d = 512 comes
    from, so by default the two-sided spectrum is returned: bins 0-511 at ``k * 31.25`` Hz,
    bin ``512 - k`` mirroring bin ``k`` for real audio. ``two_sided=False`` returns the 257
    non-redundant bins instead.

    Built on `torchaudio.transforms.Spectrogram` with ``center=True`` and zero
    (``"constant"``) edge padding, so frame ``j`` is centred on sample ``160 j`` and an example
    gives the same frames alone or in a padded batch. Each example's valid frame count is
    `frames_for_samples`; padding frames are zeros.

    Args:
        sample_rate: Sample rate of the input; resampled to 16 kHz if different.
        log: Take ``log(magnitude + 1e-6)`` before normalising (not in VGGVox; off by default).
        normalize: Per-utterance, per-bin mean and variance normalisation over valid frames.
        two_sided: Return all 512 FFT bins (default, VGGVox) or the 257 one-sided bins.

    Shape:
        - waveforms: ``(batch, samples)``; lengths: ``(batch,)``
        - output: ``((batch, time, 512 or 257), (batch,))``

    Raises:
        ValueError: On a bad sample rate or malformed inputs.

    Examples:
        >>> feats = SpectrogramFeatures()
        >>> x, n = feats(torch.randn(2, 16000), torch.tensor([16000, 8000]))
        >>> x.shape, n.tolist()
        (torch.Size([2, 101, 512]), [101, 51])
    """

    n_fft = 512
    win_length = 400
    hop_length = 160

    def __init__(
        self,
        *,
        sample_rate: int = TARGET_SAMPLE_RATE,
        log: bool = False,
        normalize: bool = True,
        two_sided: bool = True,
    ) -> None:
        super().__init__()
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.log = log
        self.normalize = normalize
        self.two_sided = two_sided
        self.spectrogram = torchaudio.transforms.Spectrogram(
            n_fft=self.n_fft,
            win_length=self.win_length,
            hop_length=self.hop_length,
            window_fn=torch.hamming_window,
            power=1.0,
            center=True,
            pad_mode="constant",
            onesided=not two_sided,
        )

    @property
    def num_bins(self) -> int:
        """Feature dimension: 512 (two-sided) or 257."""
        return self.n_fft if self.two_sided else self.n_fft // 2 + 1

    @classmethod
    def frames_for_samples(cls, samples: Tensor) -> Tensor:
        """Valid frames for ``samples`` valid 16 kHz samples: ``1 + samples // 160`` (0 for 0)."""
        frames = 1 + torch.div(samples, cls.hop_length, rounding_mode="floor")
        return torch.where(samples > 0, frames, 0)

    def forward(
        self, waveforms: Tensor, lengths: Tensor | None = None, *, validate: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Features and valid frame counts for a waveform batch (``validate`` checks lengths)."""
        n = _check_waveforms(waveforms, lengths, validate)
        if waveforms.shape[0] == 0 or waveforms.shape[1] == 0:
            frames = torch.zeros_like(n)
            return waveforms.new_zeros(waveforms.shape[0], 0, self.num_bins).float(), frames
        wav, n = _to_16k(waveforms.float(), n, self.sample_rate)
        spec = self.spectrogram(wav).transpose(1, 2)  # (batch, time, bins)
        frames = self.frames_for_samples(n).clamp(max=spec.shape[1])
        valid = lengths_to_mask(frames, spec.shape[1], validate=False).unsqueeze(2)
        if self.log:
            spec = torch.log(spec + 1e-6)
        if self.normalize:
            count = frames.clamp(min=1).to(spec.dtype).view(-1, 1, 1)
            mean = torch.where(valid, spec, 0.0).sum(dim=1, keepdim=True) / count
            var = torch.where(valid, (spec - mean).square(), 0.0).sum(dim=1, keepdim=True) / count
            # a tiny floor only guards constant bins; a larger one would make quiet recordings
            # normalise differently from loud ones
            spec = (spec - mean) / torch.sqrt(var).clamp(min=1e-8)
        return torch.where(valid, spec, 0.0), frames

    def extra_repr(self) -> str:
        """Show the settings."""
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, win_length={self.win_length}, "
            f"hop_length={self.hop_length}, log={self.log}, normalize={self.normalize}, "
            f"two_sided={self.two_sided}"
        )


Wav2VecArchitecture = Literal["base", "large", "large_lv60k"]

_PREFIXES = ("module.", "model.", "wav2vec2.")  # DataParallel, wrappers, HuggingFace


class Wav2VecFeatures(nn.Module):
    """512-d wav2vec 2.0 feature-encoder frames for English audio (paper Sec. 4.2).

    The convolutional feature encoder of a wav2vec 2.0 model built with torchaudio's
    constructors (``wav2vec2_base``, ``wav2vec2_large``, ``wav2vec2_large_lv60k``): seven
    convolutions, 512 channels, stride 320 (one frame per 20 ms at 16 kHz), receptive field 400
    samples. The paper's features are 512-d and pre-trained on LibriSpeech: the weights of
    torchaudio's ``WAV2VEC2_BASE`` bundle (LibriSpeech 960 h) fit ``architecture="base"``.

    Weights come only from a local ``checkpoint``: a torchaudio model state dict (e.g.
    ``torch.save(bundle.get_model().state_dict(), path)`` on a machine that has the bundle), a
    HuggingFace ``Wav2Vec2Model`` / ``Wav2Vec2ForCTC`` ``pytorch_model.bin`` or
    ``model.safetensors``, or the feature encoder's own state dict. Only the feature-encoder
    weights are read. Without a checkpoint, construction fails unless ``random_init=True``
    (for tests and smoke runs; random features carry no pre-training).

    The ``base`` encoder normalises each channel over the whole input (group norm), so zero
    padding would change an example's features; examples are therefore encoded one at a time,
    each over its own valid samples (so is ``large``, which uses group norm too). Only
    ``large_lv60k`` normalises per frame and runs batched; as torchaudio's bundles do for it,
    each waveform is first normalised to zero mean and unit variance over its valid samples.
    The module is frozen (``requires_grad=False``) and starts in eval mode.

    Args:
        checkpoint: Local path to the weights.
        architecture: ``"base"`` (group norm), ``"large"`` (group norm) or ``"large_lv60k"``
            (layer norm).
        random_init: Allow running without a checkpoint.
        sample_rate: Sample rate of the input; resampled to 16 kHz if different.

    Shape:
        - waveforms: ``(batch, samples)``; lengths: ``(batch,)``
        - output: ``((batch, time, 512), (batch,))``

    Raises:
        ValueError: Without a checkpoint (and without ``random_init``), or when the checkpoint
            holds no matching feature-encoder weights (the message names the file and keys).
        FileNotFoundError: If ``checkpoint`` does not exist.
    """

    stride = 320
    receptive_field = 400

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] | None = None,
        *,
        architecture: Wav2VecArchitecture = "base",
        random_init: bool = False,
        sample_rate: int = TARGET_SAMPLE_RATE,
    ) -> None:
        super().__init__()
        check_choice("architecture", architecture, ("base", "large", "large_lv60k"))
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.architecture = architecture
        if checkpoint is None and not random_init:
            raise ValueError(
                "Expected `checkpoint` to be a local path to wav2vec 2.0 weights, but got None. "
                "Pass random_init=True to run with random weights (tests and smoke runs only); "
                "nothing is ever downloaded."
            )
        if checkpoint is not None:
            if not isinstance(checkpoint, (str, os.PathLike)):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise TypeError(
                    "Expected `checkpoint` to be a str or os.PathLike path, but got "
                    f"{type(checkpoint).__name__}."
                )
            if not Path(checkpoint).is_file():  # before building a 95M-parameter model
                raise FileNotFoundError(f"Wav2vec checkpoint not found: {str(checkpoint)!r}")
        build = {
            "base": torchaudio.models.wav2vec2_base,
            "large": torchaudio.models.wav2vec2_large,
            "large_lv60k": torchaudio.models.wav2vec2_large_lv60k,
        }[architecture]
        self.extractor: nn.Module = build().feature_extractor
        self.per_example = architecture != "large_lv60k"  # group norm spans the whole input
        if checkpoint is not None:
            file, state = read_state_dict(checkpoint, "wav2vec")
            load_strict(self.extractor, _extractor_state(state), file, "wav2vec")
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def frames_for_samples(cls, samples: Tensor) -> Tensor:
        """Valid frames for ``samples`` valid 16 kHz samples (torchaudio's conv arithmetic)."""
        frames = samples
        for kernel, stride in ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2)):
            frames = torch.div(frames - kernel, stride, rounding_mode="floor") + 1
        return frames.clamp(min=0)

    def forward(
        self, waveforms: Tensor, lengths: Tensor | None = None, *, validate: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Features and valid frame counts for a waveform batch (``validate`` checks lengths)."""
        n = _check_waveforms(waveforms, lengths, validate)
        wav, n = _to_16k(waveforms.float(), n, self.sample_rate)
        total = int(self.frames_for_samples(torch.tensor(wav.shape[1])))
        frames = self.frames_for_samples(n)
        if total == 0 or wav.shape[0] == 0:
            return wav.new_zeros(wav.shape[0], total, 512), frames
        if not self.per_example:
            # layer-norm encoders were pre-trained on waveforms normalised to zero mean and unit
            # variance per utterance (torchaudio's bundles set _normalize_waveform for them);
            # the statistics are taken over each example's valid samples only
            valid = lengths_to_mask(n, wav.shape[1], validate=False).to(wav.dtype)
            count = n.clamp(min=1).to(wav.dtype).unsqueeze(1)
            mean = (wav * valid).sum(dim=1, keepdim=True) / count
            var = ((wav - mean).square() * valid).sum(dim=1, keepdim=True) / count
            wav = (wav - mean) / torch.sqrt(var + 1e-5) * valid
            feats = self.extractor(wav, None)[0]
        else:
            feats = wav.new_zeros(wav.shape[0], total, 512)
            for i in range(wav.shape[0]):  # offline extraction: a host loop is fine
                count = int(n[i])
                if count >= self.receptive_field:
                    out = self.extractor(wav[i : i + 1, :count], None)[0]
                    feats[i, : out.shape[1]] = out[0]
        valid = lengths_to_mask(frames, total, validate=False).unsqueeze(2)
        return torch.where(valid, feats, 0.0), frames

    def extra_repr(self) -> str:
        """Show the settings."""
        return f"architecture={self.architecture!r}, sample_rate={self.sample_rate}"


def _extractor_state(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The feature encoder's weights from a full-model or bare state dict."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        name = key
        for prefix in _PREFIXES:
            name = name.removeprefix(prefix)
        if name.startswith("feature_extractor."):
            out[name.removeprefix("feature_extractor.")] = value
        elif name.startswith("conv_layers."):
            out[name] = value
    return out


def load_audio(path: str | os.PathLike[str], *, sample_rate: int = TARGET_SAMPLE_RATE) -> Tensor:
    """Read an audio file as a mono float32 waveform at ``sample_rate``.

    Decoding uses ``soundfile`` (libsndfile: WAV, FLAC, OGG/Vorbis, MP3 and more), which works
    with torchaudio 2.11, whose own ``load`` needs the separate ``torchcodec`` package. The
    audio track of a video or AAC file ([VIDEO_SUFFIXES][], e.g. CH-SIMS' ``.mp4`` clips)
    is decoded with PyAV (``pip install 'sertoolkit[video]'``), the maintained Python binding
    of FFmpeg whose wheels bundle the FFmpeg libraries, so no system FFmpeg is needed.
    Channels are averaged; the signal is resampled with `torchaudio.functional.resample`.

    Args:
        path: Local file path.
        sample_rate: Output sample rate (> 0).

    Shape:
        - output: ``(samples,)``, float32.

    Returns:
        The waveform.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        TypeError: If ``path`` is not a str or path.
        ValueError: If the file cannot be decoded, holds no samples, holds a NaN or inf sample,
            or is a wav whose header announces more samples than the file holds (truncated);
            the message names the file.
    """
    check_positive_int("sample_rate", sample_rate)
    if not isinstance(path, (str, os.PathLike)):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(
            f"Expected `path` to be a str or os.PathLike path, but got {type(path).__name__}."
        )
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"Audio file not found: {str(file)!r}")
    try:
        if file.suffix.lower() in VIDEO_SUFFIXES:
            data, rate = _decode_av_audio(file)
        else:
            try:
                import soundfile
            except ImportError as err:  # pragma: no cover - soundfile comes with [audio]
                raise ImportError(
                    "Reading audio files needs soundfile: pip install 'sertoolkit[audio]'"
                ) from err

            data, rate = soundfile.read(str(file), dtype="float32", always_2d=True)
    except ImportError:
        raise
    except Exception as err:
        raise ValueError(f"Could not decode audio file {str(file)!r}: {err}") from err
    if data.shape[0] == 0:
        raise ValueError(f"Audio file {str(file)!r} holds no samples.")
    if file.suffix.lower() == ".wav":
        _check_wav_complete(file)
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).any(axis=1).sum())
        raise ValueError(f"Audio file {str(file)!r} holds {bad} NaN or inf sample(s).")
    wav = torch.as_tensor(np.ascontiguousarray(data, dtype=np.float32)).mean(dim=1)
    if rate != sample_rate:
        wav = torchaudio.functional.resample(wav, rate, sample_rate)
    return wav


def _check_wav_complete(file: Path) -> None:
    """Raise ``ValueError`` if a RIFF/WAVE file's ``data`` chunk is longer than the file.

    libsndfile reads a truncated wav without an error (it clips the length to what is there),
    so a file cut short in a copy would otherwise load as a shorter, valid utterance.
    """
    size = file.stat().st_size
    with file.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # RF64, AIFF in disguise, ...: left to the decoder
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk = f.read(8)
            name, length = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if name == b"data":
                if length != 0xFFFFFFFF and offset + 8 + length > size:
                    raise ValueError(
                        f"Audio file {str(file)!r} is truncated: its header announces "
                        f"{length} bytes of samples but the file holds {size - offset - 8}."
                    )
                return
            offset += 8 + length + (length & 1)  # chunks are padded to an even size


VIDEO_SUFFIXES: frozenset[str] = frozenset(
    {".mp4", ".m4v", ".m4a", ".aac", ".mov", ".mkv", ".webm", ".avi", ".flv"}
)
"""File suffixes whose audio [load_audio][] decodes with PyAV instead of soundfile."""


def _decode_av_audio(file: Path) -> tuple[NDArray[Any], int]:
    """``(samples, channels)`` float32 audio of a container's first audio stream, and its rate."""
    try:
        import av
    except ImportError as err:  # pragma: no cover - exercised only without PyAV
        raise ImportError(
            f"Reading the audio of {str(file)!r} needs PyAV: pip install 'sertoolkit[video]'"
        ) from err
    opener: Any = av.open  # PyAV's overloads leave types unknown under strict checking
    with opener(str(file)) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream: Any = container.streams.audio[0]
        rate = int(stream.rate)
        chunks: list[NDArray[Any]] = []
        resampler = av.AudioResampler(format="fltp", rate=rate)
        for frame in container.decode(stream):
            chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    if not chunks:
        return np.zeros((0, 1), dtype=np.float32), rate
    audio: NDArray[np.float32] = np.concatenate(chunks, axis=1).astype(np.float32)
    return np.ascontiguousarray(np.swapaxes(audio, 0, 1)), rate
