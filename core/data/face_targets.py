"""ARKit-52 face targets from exact phone timings: the "motion capture" of the synthetic corpus.

`synthesize_face_targets` turns a timed phone sequence (a TTS engine's, or a forced alignment of a real
recording) into per-frame ARKit weights, in five steps:
  1. visemes (core.data.visemes) laid out in visual time, ahead of the audio by the speaker's lead, with
     per-take variation and louder vowels opening wider (when the audio is given);
  2. Cohen-Massaro coarticulation into smooth articulator tracks, every P/B/M sealed on at least one frame
     (core.data.coarticulation);
  3. rendering to ARKit channels in the speaker's style (core.data.articulation_styles): jaw range,
     rounding, spreading, smile, left/right asymmetry;
  4. the emotion's upper face and mouth corners at a slowly drifting intensity (core.data.emotion_faces);
  5. life (core.data.face_life): blinks drawn to pauses, brow raises on the audio's pitch accents
     (core.audio_pitch), gaze saccades and idle drift.

Frame convention: frame k shows the face at time k / fps on the audio's clock (the convention of
core.data.resample), and a clip of `duration` seconds has round(duration * fps) frames.
Everything is deterministic for (phones, times, speaker, emotion, audio, seed).
"""

from __future__ import annotations

import numpy as np

from core.audio import SAMPLE_RATE
from core.audio_pitch import find_pitch_accents, track_f0
from core.data.articulation_styles import SpeakerArticulation, articulation_for_speaker, stable_name_seed
from core.data.coarticulation import (
    articulator_tracks,
    bilabial_closure_frames,
    enforce_bilabial_closures,
    lay_out_visemes,
)
from core.data.emotion_faces import EmotionFace, emotion_face, emotion_intensity
from core.data.face_life import (
    accents_from_vowel_lengths,
    blink_track,
    brow_accent_track,
    gaze_track,
    pause_onsets,
    plan_blinks,
)
from core.data.phonemes import SILENCE, VOWELS, normalize_arpabet
from core.data.slow_noise import seeded_rng, slow_noise
from core.data.visemes import ART
from core.rig.arkit import NUM_CHANNELS, channel_index

__all__ = ["SpeakerArticulation", "articulation_for_speaker", "synthesize_face_targets", "frame_count"]

# Independent random streams, so changing one part of the synthesis leaves the others' randomness alone.
_STREAM_VISEMES, _STREAM_EMOTION, _STREAM_BLINKS, _STREAM_BROWS, _STREAM_GAZE, _STREAM_IDLE = range(6)


def frame_count(duration: float, fps: float) -> int:
    """Frames of a clip: round(duration * fps); frame k is at time k / fps."""
    return max(0, int(np.floor(duration * fps + 0.5)))


def synthesize_face_targets(
    phones: list[str],
    phone_times: np.ndarray,
    duration: float,
    fps: float,
    speaker: str,
    emotion: str,
    audio: np.ndarray | None = None,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """(frames, 52) float32 ARKit weights in [0, 1] for a timed phone sequence.

    phones: ARPAbet (stress digits allowed) or 'SIL'; phone_times: (N, 2) start/end seconds; gaps and the
    stretches before the first/after the last phone count as silence. `audio` (mono, `sample_rate`) adds
    brow raises on its pitch accents and opens the jaw more on louder vowels; without it accents are guessed
    from long vowels. `speaker` picks the articulation style (any name works), `emotion` one of EMOTIONS.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    num_frames = frame_count(duration, fps)
    phones, times = _silence_filled(phones, phone_times, duration)
    style = articulation_for_speaker(speaker)
    face = emotion_face(emotion)
    if num_frames == 0:
        return np.zeros((0, NUM_CHANNELS), np.float32)
    frame_times = np.arange(num_frames) / fps  # (frames,)
    speaker_key = stable_name_seed(speaker)

    def rng(stream: int) -> np.random.Generator:
        return seeded_rng(seed, speaker_key, stream)

    # 1-2. Lips, jaw and tongue.
    gains = _vowel_loudness_gains(audio, sample_rate, phones, times) if audio is not None else None
    spans = lay_out_visemes(phones, times, style, rng(_STREAM_VISEMES), target_gains=gains)
    tracks = articulator_tracks(spans, frame_times)  # (frames, articulators)
    closures = bilabial_closure_frames(phones, times, fps, num_frames, style.anticipation_s)
    tracks = enforce_bilabial_closures(tracks, closures, fps)

    # 3-4. Render in the speaker's style, with the emotion.
    activity = _speech_activity(phones, times, frame_times)
    intensity = emotion_intensity(rng(_STREAM_EMOTION), activity, fps, style)
    weights = render_mouth(tracks, style, face, intensity)
    _add_emotion_face(weights, face, intensity)

    # 5. Life.
    _add_life(weights, phones, times, frame_times, fps, style, face, intensity, audio, sample_rate, rng)
    return np.clip(weights, 0.0, 1.0).astype(np.float32)


def render_mouth(
    tracks: np.ndarray, style: SpeakerArticulation, face: EmotionFace, intensity: np.ndarray
) -> np.ndarray:
    """(frames, 52) lower-face ARKit weights from articulator tracks, in the speaker's style.

    The lip seal is ARKit's mouthClose = jawOpen (lips touching while the jaw is open); lip parting, funnel
    and upper-lip raise fade out as the seal closes so a sealed frame has zero lip aperture."""
    a = {name: np.clip(tracks[:, i], 0.0, None) for name, i in ART.items()}
    seal = np.clip(a["seal"], 0.0, 1.0)
    parted = 1.0 - seal
    left, right = 1.0 + style.asymmetry, 1.0 - style.asymmetry
    jaw_gain = 1.0 + (face.jaw_gain - 1.0) * intensity
    jaw = style.rest_jaw + style.jaw_range * jaw_gain * a["jaw"]
    lip_part = a["lip_part"] * parted * np.sqrt(style.jaw_range * jaw_gain)
    rounding = a["round"] * style.lip_rounding
    spread = a["spread"] * style.lip_spread

    w = np.zeros((len(tracks), NUM_CHANNELS))

    def put(name: str, values: np.ndarray | float) -> None:
        w[:, channel_index(name)] = values

    put("jawOpen", jaw)
    put("mouthClose", seal * jaw)
    put("mouthLowerDownLeft", lip_part * left)
    put("mouthLowerDownRight", lip_part * right)
    upper = 0.35 * lip_part + a["upper_lip"] * (1.0 - 0.5 * seal)
    put("mouthUpperUpLeft", upper * left)
    put("mouthUpperUpRight", upper * right)
    put("mouthPucker", rounding)
    put("mouthFunnel", a["funnel"] * style.lip_rounding * parted)
    put("jawForward", 0.08 * rounding)
    put("mouthStretchLeft", 0.45 * spread * left)
    put("mouthStretchRight", 0.45 * spread * right)
    smile = (0.3 * spread + style.smile_bias) * (1.0 - 0.6 * np.clip(rounding, 0.0, 1.0))
    put("mouthSmileLeft", smile * left)
    put("mouthSmileRight", smile * right)
    put("mouthRollLower", a["tuck"])
    put("mouthRollUpper", 0.15 * a["tuck"])
    put("mouthShrugLower", 0.25 * a["tuck"])
    put("mouthPressLeft", a["press"])
    put("mouthPressRight", a["press"])
    put("cheekPuff", a["puff"])
    put("tongueOut", a["tongue"])
    # A crooked speaker's jaw and mouth drift a little to their stronger side as the mouth opens.
    side = style.asymmetry * (0.4 * jaw + 0.2 * rounding)
    put("jawLeft", np.clip(side, 0.0, None))
    put("jawRight", np.clip(-side, 0.0, None))
    put("mouthLeft", np.clip(0.5 * side, 0.0, None))
    put("mouthRight", np.clip(-0.5 * side, 0.0, None))
    return w


def _add_emotion_face(w: np.ndarray, face: EmotionFace, intensity: np.ndarray) -> None:
    """Add the emotion's channels; smiles give way to puckers, pressed lips to open ones."""
    if not face.channels:
        return
    rounding = np.clip(w[:, channel_index("mouthPucker")], 0.0, 1.0)
    opening = np.clip((w[:, channel_index("jawOpen")] - w[:, channel_index("mouthClose")]) / 0.3, 0.0, 1.0)
    for name, amount in face.channels.items():
        value = amount * intensity
        if name.startswith(("mouthSmile", "mouthDimple")):
            value = value * (1.0 - 0.6 * rounding)
        elif name.startswith("mouthPress"):
            value = value * (1.0 - 0.7 * opening)
        w[:, channel_index(name)] += value


def _add_life(
    w: np.ndarray,
    phones: list[str],
    times: np.ndarray,
    frame_times: np.ndarray,
    fps: float,
    style: SpeakerArticulation,
    face: EmotionFace,
    intensity: np.ndarray,
    audio: np.ndarray | None,
    sample_rate: int,
    rng,
) -> None:
    n = len(frame_times)
    duration = n / fps
    # Eyes: lids (emotion droop, lowered with downward gaze), blinks, gaze.
    gaze = gaze_track(rng(_STREAM_GAZE), n, fps, style.gaze_activity)  # (frames, 2)
    gaze[:, 1] -= face.gaze_down * intensity
    yaw, pitch = gaze[:, 0], gaze[:, 1]
    for side, outward in (("Left", yaw), ("Right", -yaw)):
        w[:, channel_index(f"eyeLookOut{side}")] += np.clip(outward, 0.0, None)
        w[:, channel_index(f"eyeLookIn{side}")] += np.clip(-outward, 0.0, None)
        w[:, channel_index(f"eyeLookUp{side}")] += np.clip(pitch, 0.0, None)
        w[:, channel_index(f"eyeLookDown{side}")] += np.clip(-pitch, 0.0, None)

    blinks = plan_blinks(
        rng(_STREAM_BLINKS), duration, style.blink_rate_per_min * face.blink_rate_gain, fps, pause_onsets(phones, times)
    )
    blink = blink_track(blinks, frame_times)  # (frames,)
    lid = np.clip(face.lid_droop * intensity + 0.3 * np.clip(-pitch, 0.0, None), 0.0, 0.5)
    for side, gain in (("Left", 1.0 + 0.3 * style.asymmetry), ("Right", 1.0 - 0.3 * style.asymmetry)):
        closure = lid + (1.0 - lid) * np.clip(blink * gain, 0.0, 1.0)
        w[:, channel_index(f"eyeBlink{side}")] = np.maximum(w[:, channel_index(f"eyeBlink{side}")], closure)
        wide = channel_index(f"eyeWide{side}")
        w[:, wide] *= 1.0 - blink
        w[:, channel_index(f"eyeSquint{side}")] *= 1.0 - 0.5 * blink

    # Brows: movement on pitch accents, plus slow idle drift.
    if audio is not None:
        accents = find_pitch_accents(track_f0(audio, sample_rate))
    else:
        accents = accents_from_vowel_lengths(phones, times)
    brows = brow_accent_track(
        rng(_STREAM_BROWS), accents, frame_times, style.brow_expressiveness * face.brow_accent_gain
    )
    idle_rng = rng(_STREAM_IDLE)
    idle_inner = 0.025 * style.brow_expressiveness * (1.0 + slow_noise(idle_rng, n, fps, 0.8))
    idle_outer = 0.02 * style.brow_expressiveness * (1.0 + slow_noise(idle_rng, n, fps, 0.8))
    squint = 0.015 * (1.0 + slow_noise(idle_rng, n, fps, 1.2))
    if face.brow_accent == "frown":
        w[:, channel_index("browDownLeft")] += 0.8 * brows * (1.0 + style.asymmetry)
        w[:, channel_index("browDownRight")] += 0.8 * brows * (1.0 - style.asymmetry)
        w[:, channel_index("browInnerUp")] += 0.3 * idle_inner
    else:
        w[:, channel_index("browInnerUp")] += brows + idle_inner
        outer = 0.7 * brows + idle_outer
        w[:, channel_index("browOuterUpLeft")] += outer * (1.0 + style.asymmetry)
        w[:, channel_index("browOuterUpRight")] += outer * (1.0 - style.asymmetry)
    w[:, channel_index("eyeSquintLeft")] += squint
    w[:, channel_index("eyeSquintRight")] += squint


def _silence_filled(phones: list[str], phone_times: np.ndarray, duration: float) -> tuple[list[str], np.ndarray]:
    """Normalised phones with SIL spans added for every gap (and before/after the speech) over [0, duration]."""
    times = np.asarray(phone_times, dtype=np.float64).reshape(-1, 2)
    if len(phones) != len(times):
        raise ValueError(f"{len(phones)} phones but {len(times)} phone times")
    if times.size and (np.any(times[:, 1] < times[:, 0]) or np.any(np.diff(times[:, 0]) < -1e-6)):
        raise ValueError("phone_times must be (start, end) pairs in time order with end >= start")
    out_phones: list[str] = []
    out_times: list[tuple[float, float]] = []
    cursor = 0.0
    for phone, (start, end) in zip(phones, times, strict=True):
        if start > cursor + 1e-3:
            out_phones.append(SILENCE)
            out_times.append((cursor, start))
        out_phones.append(normalize_arpabet(phone))
        out_times.append((max(start, cursor), max(end, cursor)))
        cursor = max(cursor, end)
    if duration > cursor + 1e-3:
        out_phones.append(SILENCE)
        out_times.append((cursor, duration))
    return out_phones, np.array(out_times, dtype=np.float64).reshape(-1, 2)


def _speech_activity(phones: list[str], times: np.ndarray, frame_times: np.ndarray) -> np.ndarray:
    """(frames,) 1 while speaking, 0 in pauses, eased over about 0.3 s."""
    active = np.zeros(len(frame_times))
    for phone, (start, end) in zip(phones, times, strict=True):
        if phone != SILENCE:
            active[(frame_times >= start) & (frame_times < end)] = 1.0
    fps = 1.0 / (frame_times[1] - frame_times[0]) if len(frame_times) > 1 else 30.0
    width = max(1, round(0.3 * fps))
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    padded = np.concatenate([np.repeat(active[:1], width, axis=0), active, np.repeat(active[-1:], width, axis=0)])
    return np.convolve(padded, kernel, mode="same")[width:-width]


def _vowel_loudness_gains(audio: np.ndarray, sample_rate: int, phones: list[str], times: np.ndarray) -> np.ndarray:
    """(N,) jaw gain per phone: vowels louder than the clip's typical vowel open wider (+-20 %), others 1."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    gains = np.ones(len(phones))
    levels = {}
    for i, (phone, (start, end)) in enumerate(zip(phones, times, strict=True)):
        if phone in VOWELS:
            segment = x[int(start * sample_rate) : int(end * sample_rate)]
            if segment.size:
                levels[i] = 10.0 * np.log10(np.mean(segment**2) + 1e-10)
    if len(levels) >= 2:
        typical = float(np.median(list(levels.values())))
        for i, level in levels.items():
            gains[i] = float(np.clip(1.0 + 0.2 * (level - typical) / 6.0, 0.8, 1.2))
    return gains
