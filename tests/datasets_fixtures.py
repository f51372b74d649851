"""Builders of small dataset fixtures in the releases' exact native layouts and file formats.

Used by ``test_datasets.py`` and the real-data smoke test of ``reproduce_paper.py``. Audio is
short 16 kHz tones whose pitch depends on the class, so a tiny model can learn something.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile

RATE = 16_000
PITCH = {"neu": 150.0, "hap": 260.0, "exc": 280.0, "ang": 330.0, "sad": 110.0}


def tone(seconds: float, pitch: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    wav = 0.3 * np.sin(2 * np.pi * pitch * t) + 0.01 * rng.standard_normal(t.size)
    return wav.astype(np.float32)


def write_wav(path: Path, wav: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), wav, RATE, subtype="PCM_16")
    return path


def write_mp4(path: Path, wav: np.ndarray, frames: np.ndarray | None = None, fps: int = 25) -> Path:
    """An mp4 with an AAC audio track and an MPEG-4 video track (grey frames by default)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    if frames is None:
        count = max(1, round(wav.size / RATE * fps))
        frames = np.full((count, 32, 32, 3), 128, dtype=np.uint8)
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width, video.height = frames.shape[2], frames.shape[1]
        video.pix_fmt = "yuv420p"
        audio = None
        if wav.size:
            audio = container.add_stream("aac", rate=RATE)
            audio.layout = "mono"
        for image in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            for start in range(0, wav.size, 1024):
                frame = av.AudioFrame.from_ndarray(
                    wav[None, start : start + 1024], format="flt", layout="mono"
                )
                frame.sample_rate = RATE
                # timestamps let the encoder declare its priming delay (1024 samples) in the
                # container, as FFmpeg does, so decoders trim it and the audio starts on time
                frame.pts, frame.time_base = start, Fraction(1, RATE)
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path


# --- IEMOCAP --------------------------------------------------------------------------------

# (utterance suffix, label) per dialog; every session has one improvised dialog per gender
IEMOCAP_TURNS = [
    ("F000", "neu"),
    ("F001", "hap"),
    ("M000", "exc"),
    ("M001", "ang"),
    ("F002", "sad"),
    ("M002", "fru"),
    ("F003", "xxx"),
    ("M003", "neu"),
    ("F004", "ang"),
    ("M004", "sad"),
]


def annotation_block(start: float, uid: str, label: str) -> str:
    """One utterance's block as in the release: the summary line, then annotator lines."""
    return (
        f"[{start:.4f} - {start + 1.5:.4f}]\t{uid}\t{label}\t[2.5000, 3.0000, 2.5000]\n"
        "C-E2:\tNeutral;\t()\n"
        "C-E3:\tNeutral;\t()\n"
        "V-E1:\t[2.5000, 2.5000, 2.5000]\t()\n"
        "A-E3:\tval 3; act 2; dom  2;\t()\n"
        "\n"
    )


def make_iemocap(
    root: Path,
    *,
    seconds: float = 0.6,
    sessions: int = 5,
    dialogs: tuple[str, ...] = ("impro01",),
) -> dict[str, str]:
    """A well-formed IEMOCAP release; returns {utterance id: raw label}.

    Every session has each of ``dialogs`` (e.g. ``"impro01"``, ``"script01_1b"``) once per
    lead gender (``Ses01F_impro01``, ``Ses01M_impro01``), each with the turns of
    :data:`IEMOCAP_TURNS`.
    """
    labels: dict[str, str] = {}
    seed = 0
    for s in range(1, sessions + 1):
        session = root / f"Session{s}"
        evaluation = session / "dialog" / "EmoEvaluation"
        evaluation.mkdir(parents=True, exist_ok=True)
        (evaluation / "Categorical").mkdir(exist_ok=True)
        (evaluation / "Categorical" / f"Ses0{s}F_impro01_e2_cat.txt").write_text(
            f"Ses0{s}F_impro01_F000 :Neutral state; ()\n"
        )
        for lead, name in ((lead, name) for name in dialogs for lead in ("F", "M")):
            dialog = f"Ses0{s}{lead}_{name}"
            text = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
            for k, (suffix, label) in enumerate(IEMOCAP_TURNS):
                uid = f"{dialog}_{suffix}"
                text += annotation_block(2.0 * k + 0.5, uid, label)
                labels[uid] = label
                pitch = PITCH.get(label, 200.0)
                wav = tone(seconds, pitch, seed)
                seed += 1
                write_wav(session / "sentences" / "wav" / dialog / f"{uid}.wav", wav)
            (evaluation / f"{dialog}.txt").write_text(text)
    return labels


def iemocap_wav(root: Path, uid: str) -> Path:
    session = f"Session{int(uid[4])}"
    return root / session / "sentences" / "wav" / uid.rsplit("_", 1)[0] / f"{uid}.wav"


# --- CH-SIMS --------------------------------------------------------------------------------

CHSIMS_HEADER = "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode"


def make_chsims(
    root: Path, *, clips: int = 12, seconds: float = 0.6, wav_dir: Path | None = None
) -> list[dict[str, str]]:
    """A CH-SIMS release (label.csv + Raw/<video_id>/<clip_id>.mp4); returns the rows."""
    scores = [-0.8, -0.1, 0.0, 0.1, 0.2, 0.6, -0.4, 1.0, -1.0, 0.4, -0.2, 0.8]
    modes = ["train"] * 6 + ["valid"] * 3 + ["test"] * 3
    rows: list[dict[str, str]] = []
    lines = [CHSIMS_HEADER]
    for i in range(clips):
        video, clip = f"video_{i // 3 + 1:04d}", f"{i % 3 + 1:04d}"
        a = scores[i % len(scores)]
        m = -a  # the multimodal score disagrees in sign, so the option is visible
        row = {
            "video_id": video,
            "clip_id": clip,
            "label": f"{m:.1f}",
            "label_A": f"{a:.1f}",
            "mode": modes[i % len(modes)],
        }
        rows.append(row)
        lines.append(f"{video},{clip},一句话,{m:.1f},0.0,{a:.1f},{m:.1f},Negative,{row['mode']}")
        wav = tone(seconds, 150.0 + 150.0 * (a + 1), i)
        write_mp4(root / "Raw" / video / f"{clip}.mp4", wav)
        if wav_dir is not None:
            write_wav(wav_dir / video / f"{clip}.wav", wav)
    root.mkdir(parents=True, exist_ok=True)
    (root / "label.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rows


# --- unlabelled manifests -------------------------------------------------------------------


def face_image(expression: int, size: int = 16) -> np.ndarray:
    """An RGB image whose brightness encodes the expression (for stub face models)."""
    return np.full((size, size, 3), 20 + 30 * expression, dtype=np.uint8)


@dataclass
class ManifestFixture:
    """A written manifest and the ground truth of its clips.

    Attributes:
        path: The manifest file.
        folder: The folder the manifest's relative paths start from.
        kinds: Per clip id, the builder kind (faces_dir, faces_video, face_probs, face_logits).
        expressions: Per ``faces`` clip id, the expression shown on every video frame.
        fps: Per clip id, the frame rate written (the ``fps`` column, or the video's rate).
    """

    path: Path
    folder: Path
    kinds: dict[str, str] = field(default_factory=dict[str, str])
    expressions: dict[str, np.ndarray] = field(default_factory=dict[str, np.ndarray])
    fps: dict[str, float] = field(default_factory=dict[str, float])


def build_manifest(
    folder: Path,
    kinds: tuple[str, ...],
    *,
    clips: int = 4,
    seconds: float = 1.0,
    fmt: str = "csv",
    fps: int = 25,
    nan_frames: tuple[int, ...] = (1,),
) -> ManifestFixture:
    """A manifest whose clips cycle through ``kinds`` (faces_dir, faces_video, face_probs,
    face_logits), with the truth needed to check what is read from it.

    Every clip has ``round(seconds * fps)`` frames at ``fps``; ``.npy`` rows ``nan_frames``
    are NaN (frames without a face). Deterministic: building twice writes the same files.
    """
    rng = np.random.default_rng(0)
    out = ManifestFixture(folder / ("manifest.csv" if fmt == "csv" else "manifest.jsonl"), folder)
    rows: list[dict[str, object]] = []
    for i in range(clips):
        kind = kinds[i % len(kinds)]
        uid = f"clip{i:04d}"
        wav = tone(seconds, 120.0 + 40.0 * i, 100 + i)
        write_wav(folder / "wav" / f"{uid}.wav", wav)
        frames = round(seconds * fps)
        expressions = rng.integers(0, 7, frames)
        row: dict[str, object] = {"id": uid, "audio": f"wav/{uid}.wav"}
        out.kinds[uid], out.fps[uid] = kind, float(fps)
        if kind == "faces_dir":
            from PIL import Image

            for f, e in enumerate(expressions):
                target = folder / "faces" / uid / f"frame_{f}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(face_image(int(e))).save(target)
            row["faces"] = f"faces/{uid}"
            if fps != 25:
                row["fps"] = fps
            out.expressions[uid] = expressions
        elif kind == "faces_video":
            images = np.stack([face_image(int(e)) for e in expressions])
            write_mp4(folder / "video" / f"{uid}.mp4", np.zeros(0, np.float32), images, fps)
            row["faces"] = f"video/{uid}.mp4"
            out.expressions[uid] = expressions
        else:
            logits = rng.normal(0, 2, (frames, 7)).astype(np.float32)
            if kind == "face_probs":
                e = np.exp(logits - logits.max(axis=1, keepdims=True))
                array = e / e.sum(axis=1, keepdims=True)
            else:
                array = logits
            array[[f for f in nan_frames if f < frames]] = np.nan  # frames without a face
            (folder / "teacher").mkdir(parents=True, exist_ok=True)
            np.save(folder / "teacher" / f"{uid}.npy", array)
            row[kind] = f"teacher/{uid}.npy"
            row["fps"] = fps
        rows.append(row)
    columns = ["id", "audio", "faces", "face_probs", "face_logits", "fps"]
    if fmt == "csv":
        text = ",".join(columns) + "\n"
        for row in rows:
            text += ",".join(str(row.get(c, "")) for c in columns) + "\n"
    else:
        text = "".join(json.dumps(row) + "\n" for row in rows)
    out.path.write_text(text)
    return out


def make_manifest(
    folder: Path, kinds: tuple[str, ...], *, clips: int = 4, seconds: float = 1.0, fmt: str = "csv"
) -> Path:
    """A manifest whose clips cycle through ``kinds`` (faces_dir, faces_video, face_probs,
    face_logits); returns its path (see :func:`build_manifest` for the ground truth)."""
    return build_manifest(folder, kinds, clips=clips, seconds=seconds, fmt=fmt).path
