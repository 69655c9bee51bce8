"""Real human speech as distillation data: audio only, the teacher supplies the motion (pseudo-labels).

Feature distillation (L_ae) and the student's phases A2 / rounds need no motion capture: on a real recording the
frozen Whisper features are the L_ae target, and the teacher's own 16-step animation of it is the motion the student's
noising starts from (its x0 at every noise level is then the teacher's prediction, as on the corpus). So every hour of
real speech (`python -m core data real-speech`, core/data/real_speech.py) teaches the student's ears, in any language.

Each clip becomes a TrainingClip: Whisper features and prosody on 30 fps frames (the feature cache of
core.training.corpus_features), `motion` = the teacher's take with its speaker's style (the identity of up to three of
the speaker's clips, the "neutral" emotion), or no style when the speaker is unknown, `emotion` = "neutral". The takes
are made in batches of clips of similar length (16 at a time: ~10x faster on a CPU than one by one) and kept in
`RUN_DIR/real_speech_targets.safetensors` (a rerun reads them).

With `aligned_targets`, a clip that `data real-speech` force-aligned to its transcript (the English train clips)
takes the face targets synthesised from that alignment instead (the corpus's own kind of target: every P/B/M shut,
where the teacher's take misses about one in ten on real voices), with its phones.
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

from core.models.audio_features import features_at_fps, frames_for_samples
from core.models.talker import DiffusionTalker
from core.prosody_features import prosody_on_frames
from core.rig.arkit import NUM_CHANNELS as MOTION_CHANNELS
from core.training.corpus_features import EncoderSpec, TrainingClip, encode_audio_files, read_splits
from core.weights_io import load_weights, save_weights

REAL_SPEECH_PREFIX = "real:"  # clip ids of real speech, so they never collide with the corpus's
MOTION_FPS = 30.0
_STYLE_REFERENCE_FRAMES = 900  # up to 30 s of the speaker's other clips make the reference


SHORT_CLIP_MIN_SECONDS = 0.5  # the shortest clip `short_clips` takes (15 frames at 30 fps)


def real_speech_wavs(
    real_dir: Path,
    split: str = "train",
    max_hours: float | None = None,
    min_seconds: float = 0.0,
    short_clips: int = 0,
) -> dict[str, dict]:
    """clip id -> manifest entry (with an absolute "path") of one split of a real-speech folder, in split order:
    the clips of at least `min_seconds`, the first `max_hours` of them when given, and `short_clips` of the clips
    under `min_seconds` (and at least SHORT_CLIP_MIN_SECONDS), spread evenly over the split (all when fewer)."""
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
    taken, seconds, short = {}, 0.0, {}
    for clip_id in ids:
        entry = dict(entries.get(clip_id, {"id": clip_id, "wav": f"{clip_id}.wav"}))
        entry["path"] = str(real_dir / entry.get("wav", f"{clip_id}.wav"))
        if float(entry.get("seconds", min_seconds)) < min_seconds:
            if short_clips > 0 and float(entry.get("seconds", 0.0)) >= SHORT_CLIP_MIN_SECONDS:
                short[clip_id] = entry
            continue
        if max_hours is not None and seconds >= max_hours * 3600:
            continue  # (the short clips are still looked for)
        taken[clip_id] = entry
        seconds += float(entry.get("seconds", 0.0))
    if short:
        spread = np.linspace(0, len(short) - 1, min(short_clips, len(short))).round().astype(int)
        taken.update((clip_id, short[clip_id]) for clip_id in np.array(list(short))[spread])
    return {clip_id: taken[clip_id] for clip_id in ids if clip_id in taken}  # in split order


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
    short_clips: int = 0,
    steps: int = 16,
    jobs: int = 2,
    progress: bool = True,
    aligned_targets: bool = False,
    guidance_scale: float = 1.0,
) -> tuple[list[TrainingClip], dict[str, str]]:
    """(clips with teacher pseudo-labels, clip id -> wav path) of a real-speech split; see the module docstring.
    guidance_scale: the teacher's classifier-free guidance for its takes (1 = none); short_clips: see real_speech_wavs."""
    entries = real_speech_wavs(real_dir, split, max_hours, min_seconds, short_clips)
    clips, wavs = _clips_with_features(entries, encoder, cache_dir, jobs, f"features[real {split}]", progress)
    targets = _teacher_takes(teacher, clips, targets_path, steps, progress, guidance_scale)
    for clip in clips:
        clip.motion = targets[clip.clip_id]
    if aligned_targets:
        for clip, entry in zip(clips, entries.values(), strict=True):
            npz = Path(entry["path"]).with_suffix(".npz")  # beside its wav
            if entry.get("aligned") and npz.is_file():
                _use_alignment(clip, npz)
    return clips, wavs


def aligned_real_speech_clips(
    real_dir: Path,
    encoder: EncoderSpec,
    cache_dir: Path,
    *,
    split: str = "train",
    min_seconds: float = 0.0,
    jobs: int = 2,
    progress: bool = True,
) -> tuple[list[TrainingClip], dict[str, str]]:
    """(clips, clip id -> wav path) of the force-aligned clips of known speakers in a real-speech split, each with the
    face targets synthesised from its alignment as motion (the corpus's kind of target), its phones, its speaker as
    identity and the "neutral" emotion: pseudo-labelled real speech the teacher can train on. No teacher needed."""
    entries = {
        clip_id: entry
        for clip_id, entry in real_speech_wavs(real_dir, split, None, min_seconds).items()
        if entry.get("aligned") and entry.get("speaker") and Path(entry["path"]).with_suffix(".npz").is_file()
    }
    if not entries:
        raise ValueError(
            f"{real_dir} has no force-aligned clips of known speakers in '{split}' (>= {min_seconds:g} s): "
            f"rerun `python -m core data real-speech --out {real_dir}` with the aligner installed"
        )
    clips, wavs = _clips_with_features(entries, encoder, cache_dir, jobs, f"features[real {split}, aligned]", progress)
    for clip, entry in zip(clips, entries.values(), strict=True):
        _use_alignment(clip, Path(entry["path"]).with_suffix(".npz"))
    return clips, wavs


def _clips_with_features(
    entries: dict[str, dict], encoder: EncoderSpec, cache_dir: Path, jobs: int, description: str, progress: bool
) -> tuple[list[TrainingClip], dict[str, str]]:
    """(clips in `entries` order with their Whisper features and prosody on 30 fps frames, the "neutral" emotion and
    still-empty motion (frames, 52) of zeros; clip id -> wav path)."""
    paths = [entry["path"] for entry in entries.values()]
    encoded = encode_audio_files(paths, encoder, cache_dir, jobs, description, progress)
    clips: list[TrainingClip] = []
    wavs: dict[str, str] = {}
    for clip_id, entry in entries.items():
        feats, rate, prosody = encoded[entry["path"]]
        frames = frames_for_samples(_sample_count(entry), MOTION_FPS)
        aligned = features_at_fps(feats, rate, MOTION_FPS, frames).astype(np.float32)  # (frames, dim)
        clip = TrainingClip(
            f"{REAL_SPEECH_PREFIX}{clip_id}", speaker_of(entry), "neutral", aligned,
            np.zeros((frames, MOTION_CHANNELS), np.float32), MOTION_FPS, [], np.zeros((0, 2)),
            prosody_on_frames(prosody, frames, MOTION_FPS),
        )  # fmt: skip
        clips.append(clip)
        wavs[clip.clip_id] = entry["path"]
    return clips, wavs


def _use_alignment(clip: TrainingClip, npz: Path) -> None:
    """The clip's motion and phones from its forced-alignment clip (its 30 fps frames; the last frame repeated or
    cut where the two frame counts differ by rounding)."""
    from core.data.clip import load_clip

    aligned = load_clip(npz, with_audio=False)
    if abs(aligned.fps - MOTION_FPS) > 1e-6:
        raise ValueError(f"{npz}: aligned at {aligned.fps:g} fps; real-speech targets are {MOTION_FPS:g} fps")
    weights = aligned.weights[: clip.frames].astype(np.float32)
    clip.motion = np.pad(weights, ((0, clip.frames - len(weights)), (0, 0)), mode="edge")
    clip.phones, clip.phone_times = list(aligned.phones), np.asarray(aligned.phone_times, np.float64)


def check_language_weights(weights: dict[str, int]) -> None:
    """Raise ValueError unless every weight of `ears_language_weights` is a whole number >= 1."""
    for language, times in weights.items():
        if not isinstance(times, int) or times < 1:
            raise ValueError(f"ears_language_weights[{language!r}] must be a whole number >= 1, got {times!r}")


def repeat_by_language(clips: list[TrainingClip], real_dir: Path, weights: dict[str, int]) -> list[TrainingClip]:
    """`clips` with each clip listed `weights[its language]` times (1 for a language not named), so a draw that is
    uniform over the list favours those languages (phase C: English is what users record, and little of it trains)."""
    check_language_weights(weights)
    if not weights:
        return list(clips)
    manifest = json.loads((Path(real_dir) / "manifest.json").read_text())
    language = {REAL_SPEECH_PREFIX + e["id"]: e.get("language") for e in manifest["entries"]}
    return [clip for clip in clips for _ in range(weights.get(language.get(clip.clip_id), 1))]


def _sample_count(entry: dict) -> int:
    import soundfile

    return int(soundfile.info(entry["path"]).frames)


def _teacher_takes(
    teacher: DiffusionTalker,
    clips: list[TrainingClip],
    targets_path: Path,
    steps: int,
    progress: bool,
    guidance_scale: float = 1.0,
) -> dict[str, np.ndarray]:
    """clip id -> the teacher's take (frames, 52) in [0, 1], read from `targets_path` when it has them all, taken
    with the same steps and guidance."""
    targets_path = Path(targets_path)
    made_with = {"steps": int(steps), "guidance_scale": float(guidance_scale)}
    if targets_path.is_file():
        stored, stored_with = load_weights(targets_path)
        # Files written before the guidance was recorded were made unguided
        same = stored_with.get("steps", made_with["steps"]) == made_with["steps"]
        same &= stored_with.get("guidance_scale", 1.0) == made_with["guidance_scale"]
        if same and all(c.clip_id in stored and len(stored[c.clip_id]) == c.frames for c in clips):
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
        tokens_of = {}
        for speaker, members in by_speaker.items():  # one style per speaker (None: no style)
            tokens_of[speaker] = None
            if not speaker.endswith(":unknown"):
                tokens_of[speaker] = _speaker_tokens(teacher, members, neutral)
        styled = [c for c in clips if tokens_of[c.speaker] is not None]
        unstyled = [c for c in clips if tokens_of[c.speaker] is None]
        for batch in _length_batches(styled) + _length_batches(unstyled):
            # Clips of one batch share a length (padded with their last frame; the padding's motion is dropped)
            frames = max(c.frames for c in batch)
            feats = np.stack([np.pad(c.audio, ((0, frames - c.frames), (0, 0)), mode="edge") for c in batch])
            tokens = None  # unknown speakers: the "no style" condition
            if tokens_of[batch[0].speaker] is not None:
                tokens = torch.cat([tokens_of[c.speaker] for c in batch])
            seed = zlib.crc32(batch[0].clip_id.encode())
            motion = teacher.generate(
                torch.from_numpy(feats), tokens, steps=steps, seed=seed, guidance_scale=guidance_scale
            ).numpy()
            for row, clip in enumerate(batch):
                takes[clip.clip_id] = motion[row, : clip.frames].astype(np.float32)
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.close()
    save_weights(targets_path, takes, made_with)
    return takes


def _speaker_tokens(teacher: DiffusionTalker, members: list[TrainingClip], neutral: torch.Tensor) -> torch.Tensor:
    """Style tokens (1, tokens, width) of a speaker: identity from up to 3 of its clips (30 s at most), neutral emotion."""
    feats = np.concatenate([c.audio for c in members[:3]])[:_STYLE_REFERENCE_FRAMES]
    prosody = np.concatenate([c.prosody for c in members[:3]])[:_STYLE_REFERENCE_FRAMES]
    style = teacher.encode_style(torch.from_numpy(feats)[None], prosody=torch.from_numpy(prosody)[None])
    return teacher.personalizer.fuse(style.identity, neutral)


def _length_batches(clips: list[TrainingClip], size: int = 16, slack: float = 1.25) -> list[list[TrainingClip]]:
    """Clips sorted by length in batches of at most `size`, the longest at most `slack` x the shortest."""
    ordered = sorted(clips, key=lambda c: (c.frames, c.clip_id))
    batches: list[list[TrainingClip]] = []
    for clip in ordered:
        if batches and len(batches[-1]) < size and clip.frames <= slack * batches[-1][0].frames:
            batches[-1].append(clip)
        else:
            batches.append([clip])
    return batches
