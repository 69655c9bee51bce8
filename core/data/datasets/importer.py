"""Convert a folder of a public dataset into this project's clips (`python -m core data import FORMAT SRC --out OUT`).

ARKit formats ("beat", "3detf", "livelinkface") become core.data.clip clips: `OUT/<sub folders>/<stem>.npz`
+ a 16 kHz wav, mirroring SRC's folders. "vocaset" becomes vertex-motion clips (core.data.datasets.vertex_motion,
NOT ARKit): `OUT/motion_basis.npz` (PCA of the motion), `OUT/templates.npz` and `OUT/<subject>/<sentence>.npz`
with the basis coefficients as weights.
Speaker: from the file name where the format encodes it (BEAT, RAVDESS), else the name of the folder holding
the file (files directly in SRC: "unknown"). Every import writes `OUT/import_report.json` listing, per clip,
missing ARKit channels (filled with 0), ignored columns and notes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from core.audio import AudioError, supported_extensions, validate_speech_audio
from core.data.clip import SAMPLE_RATE, save_clip
from core.data.datasets.beat import load_beat_clip
from core.data.datasets.imported_clip import DatasetError, ImportedClip
from core.data.datasets.live_link_face import load_live_link_face_csv
from core.data.datasets.motion_basis import fit_motion_basis
from core.data.datasets.three_d_etf import load_3detf_clip
from core.data.datasets.vertex_motion import BasisMotionClip, save_basis_motion_clip
from core.data.datasets.vocaset import VOCASET_FPS, OffsetsOfSequences, VocasetSequence, find_vocaset_sequences
from core.data.resample import resample_weights

DATASET_FORMATS = ("beat", "3detf", "livelinkface", "vocaset")
DEFAULT_BASIS_COMPONENTS = 50
REPORT_NAME = "import_report.json"
BASIS_NAME = "motion_basis.npz"
TEMPLATES_NAME = "templates.npz"

_MOTION_SUFFIXES = {"beat": (".json",), "3detf": (".csv", ".npy"), "livelinkface": (".csv",)}
_LOADERS = {"beat": load_beat_clip, "3detf": load_3detf_clip, "livelinkface": load_live_link_face_csv}


def import_dataset(
    format: str,
    src: Path,
    out: Path,
    fps: float = 30.0,
    basis_components: int = DEFAULT_BASIS_COMPONENTS,
) -> list[Path]:
    """Convert every clip of `format` under `src` into `out` at `fps`; returns the written clip npz paths.

    Checks that every motion file has its audio before writing anything. `basis_components` is the number
    of PCA shape keys for "vocaset" (ignored otherwise).
    """
    format = format.lower().replace("-", "").replace("_", "")
    if format not in DATASET_FORMATS:
        raise DatasetError(f"Unknown dataset format '{format}'; choose one of {', '.join(DATASET_FORMATS)}.")
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DatasetError(f"Dataset folder '{src}' does not exist or is not a folder.")
    if fps <= 0:
        raise DatasetError(f"fps must be positive, got {fps}.")
    if format == "vocaset":
        return _import_vocaset(src, out, fps, basis_components)
    return _import_arkit(format, src, out, fps)


def _import_arkit(format: str, src: Path, out: Path, fps: float) -> list[Path]:
    motion_files = [
        path
        for path in sorted(src.rglob("*"))
        if path.suffix.lower() in _MOTION_SUFFIXES[format] and path.is_file() and not _is_inside(path, out)
    ]
    if not motion_files:
        raise DatasetError(f"No {format} files ({', '.join(_MOTION_SUFFIXES[format])}) under '{src}'.")
    audio_for = _pair_audio(motion_files, src)

    written, reports = [], []
    for path in motion_files:
        imported: ImportedClip = _LOADERS[format](path, fps=fps, audio_path=audio_for[path])
        _require_speech(imported.clip.audio, audio_for[path])
        relative_parent = path.parent.relative_to(src)
        if imported.clip.speaker == "unknown" and relative_parent.parts:
            imported.clip.speaker = relative_parent.name
        npz = save_clip(imported.clip, out / relative_parent / path.stem)
        written.append(npz)
        reports.append({"output": str(npz.relative_to(out)), **imported.report()})
    _write_report(out, format, fps, reports)
    return written


def _import_vocaset(src: Path, out: Path, fps: float, basis_components: int) -> list[Path]:
    sequences = find_vocaset_sequences(src)
    lacking = [seq.source for seq in sequences if not seq.has_audio]
    if lacking:
        raise DatasetError(_missing_audio_message(lacking, src))
    templates = {seq.subject: seq.template for seq in sequences}
    mean_template = np.mean(np.stack(list(templates.values())), axis=0)
    basis = fit_motion_basis(OffsetsOfSequences(sequences), basis_components, template=mean_template)
    basis.save(out / BASIS_NAME)
    np.savez_compressed(out / TEMPLATES_NAME, **{name: mesh.astype(np.float32) for name, mesh in templates.items()})

    written, reports = [], []
    for seq in sequences:
        written.append(_write_vocaset_clip(seq, basis, out, fps))
        reports.append({"output": str(written[-1].relative_to(out)), "source": seq.source, "subject": seq.subject})
    _write_report(
        out, "vocaset", fps, reports,
        basis={"file": BASIS_NAME, "components": basis.num_components, "explained_ratio": round(basis.explained_ratio, 5)},
    )  # fmt: skip
    return written


def _write_vocaset_clip(seq: VocasetSequence, basis, out: Path, fps: float) -> Path:
    coefficients = resample_weights(basis.project(seq.offsets()), VOCASET_FPS, fps)  # (frames, k)
    audio = seq.read_audio()
    _require_speech(audio, Path(seq.source))
    stem = out / seq.subject / seq.sentence
    clip = BasisMotionClip(
        weights=coefficients, fps=fps, basis=os.path.relpath(out / BASIS_NAME, stem.parent), audio=audio,
        subject=seq.subject, speaker=seq.subject, emotion="neutral",
    )  # fmt: skip
    return save_basis_motion_clip(clip, stem)


def _pair_audio(motion_files: list[Path], src: Path) -> dict[Path, Path]:
    """Each motion file's audio: same stem in the same folder, else the only same-stem audio anywhere under src."""
    audio_extensions = {"." + ext for ext in supported_extensions()}
    by_stem: dict[str, list[Path]] = {}
    for path in src.rglob("*"):
        if path.suffix.lower() in audio_extensions and path.is_file():
            by_stem.setdefault(path.stem, []).append(path)
    paired: dict[Path, Path] = {}
    lacking, ambiguous = [], []
    for motion in motion_files:
        candidates = by_stem.get(motion.stem, [])
        beside = [p for p in candidates if p.parent == motion.parent]
        if beside:
            paired[motion] = sorted(beside)[0]
        elif len(candidates) == 1:
            paired[motion] = candidates[0]
        elif candidates:
            ambiguous.append(f"{motion}: {', '.join(str(p) for p in sorted(candidates))}")
        else:
            lacking.append(str(motion))
    if lacking:
        raise DatasetError(_missing_audio_message(lacking, src))
    if ambiguous:
        raise DatasetError(
            "Several audio files match these motion files; put the right one in the same folder:\n  "
            + "\n  ".join(ambiguous[:10])
        )
    return paired


def _missing_audio_message(lacking: list[str], src: Path) -> str:
    shown = "\n  ".join(lacking[:10]) + (f"\n  ... and {len(lacking) - 10} more" if len(lacking) > 10 else "")
    return (
        f"{len(lacking)} clip(s) under '{src}' have no audio (a file with the same name and an audio extension "
        f"such as .wav is needed; for Live Link Face extract it: `ffmpeg -i take.mov -ac 1 -ar 16000 take.wav`):\n  {shown}"
    )


def _require_speech(audio: np.ndarray | None, audio_path: Path) -> None:
    try:
        validate_speech_audio(
            audio if audio is not None else np.zeros(0, np.float32), SAMPLE_RATE, name=f"'{audio_path}'"
        )
    except AudioError as exc:
        raise DatasetError(f"{exc} Remove that clip or fix its audio, then import again.") from None


def _write_report(out: Path, format: str, fps: float, clips: list[dict], **extra) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    missing = sorted({name for clip in clips for name in clip.get("missing_channels", [])})
    report = {
        "format": format,
        "fps": fps,
        "clips": len(clips),
        "channels_missing_somewhere": missing,
        **extra,
        "per_clip": clips,
    }
    path = out / REPORT_NAME
    path.write_text(json.dumps(report, indent=2))
    return path


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
