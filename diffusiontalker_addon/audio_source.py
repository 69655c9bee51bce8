"""Where the voice comes from: an audio file, or a sound strip in the scene's sequencer; decoding it for checks;
putting it in the sequencer so playback is in sync with the keys.

Sequencer collections were renamed in Blender 5.0 (`sequences` -> `strips`); both spellings are handled here.
Decoding prefers core.audio (soundfile) and falls back to Blender's own `aud` module, which every Blender has.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from core.runtime import AUDIO_SUFFIXES, SAMPLE_RATE

SUPPORTED_AUDIO_SUFFIXES = AUDIO_SUFFIXES
ANALYSIS_SAMPLE_RATE = SAMPLE_RATE


@dataclass(frozen=True)
class AudioInput:
    """An audio file and the scene frame where its first sample plays."""

    path: Path
    start_frame: int
    strip_name: str = ""  # set when the audio comes from a sequencer strip


def absolute_audio_path(filepath: str) -> Path:
    """A user-entered path ('//voice.wav' is relative to the .blend) as an absolute Path."""
    return Path(bpy.path.abspath(filepath)).expanduser()


def all_strips(scene: bpy.types.Scene) -> list:
    """Every strip of the scene's sequencer, inside meta strips too (empty when there is no sequencer)."""
    editor = scene.sequence_editor
    if editor is None:
        return []
    strips = getattr(editor, "strips_all", None)
    if strips is None:  # Blender < 5.0
        strips = editor.sequences_all
    return list(strips)


def sound_strips(scene: bpy.types.Scene) -> list:
    return [strip for strip in all_strips(scene) if strip.type == "SOUND"]


def strip_audio_path(strip) -> Path | None:
    """The file a sound strip plays, or None when its sound is packed into the .blend."""
    sound = strip.sound
    if sound is None or sound.packed_file is not None:
        return None
    return Path(bpy.path.abspath(sound.filepath, library=sound.library)).expanduser()


def probe_duration_seconds(path: Path) -> float:
    """Duration without decoding the whole file (aud reads the header). Raises if no reader can open it."""
    import aud

    sound = aud.Sound(str(path))
    rate = sound.specs[0]
    return max(0, sound.length) / rate if rate > 0 else 0.0


def decode_mono(path: Path) -> np.ndarray:
    """The whole file as mono float32 samples at ANALYSIS_SAMPLE_RATE."""
    if importlib.util.find_spec("soundfile") is None:  # a plain Blender ships no soundfile; aud decodes instead
        return _decode_with_aud(path)
    from core.runtime import load_audio

    return np.asarray(load_audio(path, ANALYSIS_SAMPLE_RATE), dtype=np.float32).reshape(-1)


def _decode_with_aud(path: Path) -> np.ndarray:
    import aud

    data = aud.Sound(str(path)).resample(ANALYSIS_SAMPLE_RATE, False).data()  # (samples, channels) float32
    return data.mean(axis=1).astype(np.float32) if data.size else np.zeros(0, dtype=np.float32)


def find_sound_strip(scene: bpy.types.Scene, path: Path, start_frame: int):
    """A sound strip already playing `path` from `start_frame`, if any (so a New Take does not stack duplicates)."""
    for strip in sound_strips(scene):
        strip_path = strip_audio_path(strip)
        if strip.frame_start == start_frame and strip_path is not None and strip_path.resolve() == path.resolve():
            return strip
    return None


MAX_SEQUENCER_CHANNEL = 128


def free_sequencer_channel(scene: bpy.types.Scene, start_frame: int, duration_frames: int) -> int | None:
    """The lowest sequencer channel with no strip between `start_frame` and its end, or None if all are taken."""
    end_frame = start_frame + max(1, duration_frames)
    busy = {
        strip.channel
        for strip in all_strips(scene)
        if strip.frame_final_start < end_frame and strip.frame_final_end > start_frame
    }
    return next((c for c in range(1, MAX_SEQUENCER_CHANNEL + 1) if c not in busy), None)


def add_sound_strip(scene: bpy.types.Scene, path: Path, start_frame: int, duration_frames: int):
    """A sound strip for `path` at `start_frame` (reusing an identical one), on the lowest free channel."""
    existing = find_sound_strip(scene, path, start_frame)
    if existing is not None:
        return existing
    channel = free_sequencer_channel(scene, start_frame, duration_frames)
    if channel is None:
        raise RuntimeError(f"All {MAX_SEQUENCER_CHANNEL} sequencer channels are busy at frame {start_frame}")
    editor = scene.sequence_editor or scene.sequence_editor_create()
    strips = getattr(editor, "strips", None)
    if strips is None:  # Blender < 5.0
        strips = editor.sequences
    return strips.new_sound(name=path.stem, filepath=str(path), channel=channel, frame_start=start_frame)
