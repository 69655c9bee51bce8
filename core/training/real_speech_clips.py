"""Real human speech as distillation data: audio only, the teacher supplies the motion (pseudo-labels).

Feature distillation (L_ae) and the student's phases A2 / rounds need no motion capture: on a real recording the
frozen Whisper features are the L_ae target, and the teacher's own 16-step animation of it is the motion the student's
noising starts from (its x0 at every noise level is then the teacher's prediction, as on the corpus). So every hour of
real speech (`python -m core data real-speech`, core/data/real_speech.py) teaches the student's ears, in any language.

Each clip becomes a TrainingClip: Whisper features and prosody on 30 fps frames (the feature cache of
core.training.corpus_features), `motion` = the teacher's take with the style of ANOTHER clip of the same speaker (the
"neutral" emotion), or no style when the speaker is unknown, `emotion` = "neutral". The takes are kept in
`RUN_DIR/real_speech_targets.safetensors` (a rerun reads them).
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from core.models.audio_features import features_at_fps, frames_for_samples
from core.models.talker import DiffusionTalker
from core.prosody_features import prosody_on_frames
from core.training.corpus_features import EncoderSpec, TrainingClip, encode_audio_files, read_splits

REAL_SPEECH_PREFIX = "real:"  # clip ids of real speech, so they never collide with the corpus's
MOTION_FPS = 30.0
_STYLE_REFERENCE_FRAMES = 900  # up to 30 s of the speaker's other clips make the reference


def real_speech_wavs(
    real_dir: Path, split: str = "train", max_hours: float | None = None, min_seconds: float = 0.0
) -> dict[str, dict]:
    """clip id -> manifest entry (with an absolute "path") of one split of a real-speech folder, in split order:
    the clips of at least `min_seconds`, the first `max_hours` of them when given."""
    real_dir = Path(real_dir)
    manifest_path = real_dir / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"{manifest_path} not found: make the real-speech data with "
            f"`python -m core data real-speech --out {real_dir}` (or drop real_speech from the config)"
        )
    entries = {entry["id"]: entry for entry in json.loads(manifest_path.read_text())["entries"]}
    ids = read_splits(real_dir).get(split)
    if not ids:
        raise ValueError(f"{real_dir / 'splits.json'} has no '{split}' clips")
    out, seconds = {}, 0.0
    for clip_id in ids:
        entry = dict(entries.get(clip_id, {"id": clip_id, "wav": f"{clip_id}.wav"}))
        if float(entry.get("seconds", min_seconds)) < min_seconds:
            continue
        entry["path"] = str(real_dir / entry.get("wav", f"{clip_id}.wav"))
        out[clip_id] = entry
        seconds += float(entry.get("seconds", 0.0))
        if max_hours is not None and seconds >= max_hours * 3600:
            break
    return out


def real_speech_hash(real_dir: Path) -> str:
    """The real-speech folder's content hash as its manifest records it (else the manifest's own sha256)."""
    import hashlib

    manifest = Path(real_dir) / "manifest.json"
    values = json.loads(manifest.read_text())
    return str(values.get("content_hash") or hashlib.sha256(manifest.read_bytes()).hexdigest())


def speaker_of(entry: dict) -> str:
    """A speaker label unique across sources: the manifest's speaker, else the source (a source of unknown voices)."""
    return str(entry.get("speaker") or f"{entry.get('source', 'unknown')}:unknown")


def load_real_speech_clips(
    real_dir: Path,
    teacher: DiffusionTalker,
    encoder: EncoderSpec,
    cache_dir: Path,
    targets_path: Path,
    *,
    split: str = "train",
    max_hours: float | None = None,
    min_seconds: float = 0.0,
    steps: int = 16,
    jobs: int = 2,
    progress: bool = True,
) -> tuple[list[TrainingClip], dict[str, str]]:
    """(clips with teacher pseudo-labels, clip id -> wav path) of a real-speech split; see the module docstring."""
    entries = real_speech_wavs(real_dir, split, max_hours, min_seconds)
    paths = [entry["path"] for entry in entries.values()]
    encoded = encode_audio_files(paths, encoder, cache_dir, jobs, f"features[real {split}]", progress)
    clips: list[TrainingClip] = []
    wavs: dict[str, str] = {}
    for clip_id, entry in entries.items():
        feats, rate, prosody = encoded[entry["path"]]
        samples = _sample_count(entry)
        frames = frames_for_samples(samples, MOTION_FPS)
        aligned = features_at_fps(feats, rate, MOTION_FPS, frames).astype(np.float32)  # (frames, dim)
        clip = TrainingClip(
            f"{REAL_SPEECH_PREFIX}{clip_id}", speaker_of(entry), "neutral", aligned,
            np.zeros((frames, teacher.config.denoiser.motion_dim), np.float32), MOTION_FPS, [], np.zeros((0, 2)),
            prosody_on_frames(prosody, frames, MOTION_FPS),
        )  # fmt: skip
        clips.append(clip)
        wavs[clip.clip_id] = entry["path"]
    targets = _teacher_takes(teacher, clips, targets_path, steps, progress)
    for clip in clips:
        clip.motion = targets[clip.clip_id]
    return clips, wavs


def _sample_count(entry: dict) -> int:
    import soundfile

    return int(soundfile.info(entry["path"]).frames)


def _teacher_takes(
    teacher: DiffusionTalker, clips: list[TrainingClip], targets_path: Path, steps: int, progress: bool
) -> dict[str, np.ndarray]:
    """clip id -> the teacher's take (frames, 52) in [0, 1], read from `targets_path` when it has them all."""
    targets_path = Path(targets_path)
    if targets_path.is_file():
        stored = load_file(str(targets_path))
        if all(c.clip_id in stored and len(stored[c.clip_id]) == c.frames for c in clips):
            return stored
    by_speaker: dict[str, list[TrainingClip]] = {}
    for clip in clips:
        by_speaker.setdefault(clip.speaker, []).append(clip)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(clips), unit="clip", desc=f"teacher takes ({steps} steps)", file=sys.stderr)
    takes = {}
    neutral = teacher.personalizer.neutral_emotion[None]
    with torch.no_grad():
        for clip in clips:
            tokens = None
            if not clip.speaker.endswith(":unknown"):
                others = [c for c in by_speaker[clip.speaker] if c is not clip] or [clip]
                feats = np.concatenate([c.audio for c in others[:3]])[:_STYLE_REFERENCE_FRAMES]
                prosody = np.concatenate([c.prosody for c in others[:3]])[:_STYLE_REFERENCE_FRAMES]
                style = teacher.encode_style(torch.from_numpy(feats)[None], prosody=torch.from_numpy(prosody)[None])
                tokens = teacher.personalizer.fuse(style.identity, neutral)
            seed = zlib.crc32(clip.clip_id.encode())
            take = teacher.generate(torch.from_numpy(clip.audio)[None], tokens, steps=steps, seed=seed)
            takes[clip.clip_id] = take[0].numpy().astype(np.float32)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    targets_path.parent.mkdir(parents=True, exist_ok=True)
    save_file(takes, str(targets_path))
    return takes
