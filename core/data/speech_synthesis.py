"""Speech with exact phone timings: the audio half of every generated training clip.

`synthesize(text, voice, emotion)` renders a sentence with one of several TTS voices (flite, festival, piper,
espeak-ng; see core/data/tts_*.py) and returns 16 kHz mono audio with the ARPAbet phones the engine spoke and
their times. What happens after the engine, identically for all of them:

1. resampling to 16 kHz, optionally "played faster or slower" by a factor k (the voice's timbre shift, and the
   emotion's pitch for engines with no pitch control): pitch and formants move by k, every time by exactly 1/k;
2. phone times: contiguous, the last end equal to the audio length (engines disagree by up to a few tens of
   milliseconds about the final pause; anything larger is an error), at least EDGE_SILENCE_S of SIL at each end;
3. loudness: speech RMS set to the voice's level plus the emotion's gain (angry louder, sad softer).

Emotions act on rate, f0 mean, f0 range, loudness and (piper) expressiveness, through each engine's own controls;
a seed adds a small per-utterance jitter so a voice does not always sound the same.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from core.data.clip import SAMPLE_RATE
from core.data.emotions import EMOTIONS
from core.data.phonemes import ARPABET, SILENCE
from core.data.tts_engine import EngineProsody, EngineSpeech

EDGE_SILENCE_S = 0.15  # every utterance starts and ends with at least this much SIL
END_TOLERANCE_S = 0.02  # engine phone times vs its audio length, beyond the final pause
MAX_FINAL_PAUSE_FIX_S = 0.3  # how far a final pause may be stretched or cut to meet the audio's end
RESAMPLE_RATE_STEP = 50  # timbre-shifted source rates are rounded to this (keeps the resampler's phase table small)


@dataclass(frozen=True)
class VoiceSpec:
    """One speaker identity: an engine voice plus its base prosody.

    f0_mean_hz / f0_std_hz: intonation targets for engines that take them; None means the engine has no pitch
    control, so emotional pitch goes through resampling instead. timbre: resampling factor applied to every
    utterance (> 1: higher pitch and formants, a smaller-sounding speaker); it is how two voices built from the
    same recordings become two identities. rate: > 1 speaks faster. level_db: speech RMS in dBFS.
    """

    name: str
    engine: str  # "flite" | "festival" | "piper" | "espeak"
    voice: str  # the engine's own voice name
    description: str
    f0_mean_hz: float | None = None
    f0_std_hz: float | None = None
    rate: float = 1.0
    timbre: float = 1.0
    level_db: float = -24.0

    @property
    def native_pitch(self) -> bool:
        return self.f0_mean_hz is not None


@dataclass(frozen=True)
class EmotionProsody:
    """Multipliers on a voice's base prosody (rate, f0 mean, f0 range, expressiveness) and a gain in dB."""

    rate: float = 1.0
    f0_scale: float = 1.0
    f0_range: float = 1.0
    gain_db: float = 0.0
    expressiveness: float = 1.0


# Happy speeds up and widens the melody, surprised slows down with the highest, widest pitch, angry is loud with
# a flatter melody. Earlier, closer values left happy between neutral and surprised on unseen voices: a linear
# classifier on clip prosody statistics reached 0.63 on the held-out voices, 0.78 with these.
EMOTION_PROSODY: dict[str, EmotionProsody] = {
    "neutral": EmotionProsody(),
    "happy": EmotionProsody(rate=1.13, f0_scale=1.16, f0_range=1.6, gain_db=3.0, expressiveness=1.2),
    "sad": EmotionProsody(rate=0.84, f0_scale=0.90, f0_range=0.55, gain_db=-6.0, expressiveness=0.7),
    "angry": EmotionProsody(rate=1.05, f0_scale=1.05, f0_range=1.2, gain_db=6.0, expressiveness=1.2),
    "surprised": EmotionProsody(rate=0.90, f0_scale=1.26, f0_range=2.0, gain_db=1.5, expressiveness=1.3),
}
assert set(EMOTION_PROSODY) == set(EMOTIONS)

# Engines without pitch control shift pitch by resampling, which moves the formants too; a milder factor
# keeps the emotion audible without turning the speaker into someone else.
RESAMPLED_PITCH_EXPONENT = 0.6

# Per-utterance jitter (standard deviations at variation=1.0; clipped at 2.5 sigma).
JITTER_RATE, JITTER_F0, JITTER_RANGE, JITTER_GAIN_DB = 0.04, 0.04, 0.10, 1.0

# The order matters to core.data.generate: its held-out voices are taken from the end of this list.
VOICES: dict[str, VoiceSpec] = {
    v.name: v
    for v in (
        VoiceSpec("flite_kal16", "flite", "kal16", "US male (kal diphones), 16 kHz", 100.0, 14.0),
        VoiceSpec("flite_rms", "flite", "rms", "US male, deep (clustergen)"),
        VoiceSpec("flite_slt", "flite", "slt", "US female (clustergen)", 175.0, 22.0),
        VoiceSpec("piper_joe", "piper", "joe", "US male, natural (VITS)"),
        VoiceSpec(
            "festival_slt_hts", "festival", "voice_cmu_us_slt_arctic_hts",
            "US female, lowered two semitones and slower (HTS)", rate=0.94, timbre=0.89,
        ),
        VoiceSpec(
            "festival_kal", "festival", "voice_kal_diphone",
            "US male tenor: kal diphones raised 1.6 semitones, livelier intonation", 115.0, 20.0, rate=1.04, timbre=1.10,
        ),
        VoiceSpec(
            "flite_kal", "flite", "kal", "US male, low and slow over a telephone band (kal diphones, 8 kHz)",
            86.0, 9.0, rate=0.93, timbre=0.94,
        ),
        VoiceSpec("espeak_en_us_m", "espeak", "en-us+m3", "US male, formant synthesis (espeak-ng)", rate=0.95),
        VoiceSpec("espeak_en_f", "espeak", "en+f4", "female, formant synthesis (espeak-ng)", rate=0.92),
        VoiceSpec("festival_ked", "festival", "voice_ked_diphone", "US male (ked diphones)", 105.0, 15.0),
        VoiceSpec("flite_awb", "flite", "awb", "Scottish male (clustergen)", 125.0, 14.0),
    )
}  # fmt: skip


# More speakers for the student audio encoder only (core.training.distill, phase A: it learns to give Whisper's
# features, which needs audio but no face). Each is a new identity: an espeak-ng accent / variant, or a corpus
# engine voice with another vocal-tract length (timbre) and rate. Never in the face corpus, never held out.
ENCODER_VOICES: dict[str, VoiceSpec] = {
    v.name: v
    for v in (
        VoiceSpec("espeak_en_m1", "espeak", "en+m1", "British male, formant synthesis", rate=0.97),
        VoiceSpec("espeak_en_rp_f3", "espeak", "en-gb-x-rp+f3", "RP female, formant synthesis", rate=0.93),
        VoiceSpec("espeak_en_029_m4", "espeak", "en-029+m4", "Caribbean male, formant synthesis", rate=0.95),
        VoiceSpec("espeak_en_wmd_f2", "espeak", "en-gb-x-gbcwmd+f2", "West Midlands female, formant synthesis"),
        VoiceSpec("piper_joe_short", "piper", "joe", "joe with a shorter vocal tract, faster", rate=1.06, timbre=1.12),
        VoiceSpec("piper_joe_long", "piper", "joe", "joe with a longer vocal tract, slower", rate=0.95, timbre=0.9),
        VoiceSpec("flite_rms_short", "flite", "rms", "rms raised: a lighter male", rate=1.05, timbre=1.15),
        VoiceSpec("flite_slt_long", "flite", "slt", "slt lowered: a deeper female", 160.0, 18.0, rate=0.95, timbre=0.88),
        VoiceSpec("festival_kal_long", "festival", "voice_kal_diphone", "kal diphones lowered", 92.0, 12.0, timbre=0.9),
        VoiceSpec("festival_slt_short", "festival", "voice_cmu_us_slt_arctic_hts", "slt HTS raised", rate=1.05, timbre=1.08),
    )
}  # fmt: skip
assert not set(ENCODER_VOICES) & set(VOICES)


@dataclass
class SpokenUtterance:
    audio: np.ndarray  # (samples,) float32 mono at 16 kHz in [-1, 1]
    phones: list[str]  # ARPAbet, stress stripped, "SIL" for silence
    phone_times: np.ndarray  # (N, 2) float64 start/end seconds, contiguous over [0, duration]
    voice: str
    emotion: str
    text: str
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


# ---------------------------------------------------------------- engines


def _engine_problem(spec: VoiceSpec) -> str | None:
    if spec.engine == "flite":
        from core.data.tts_flite import flite_problem

        return flite_problem(spec.voice)
    if spec.engine == "festival":
        from core.data.tts_festival import festival_problem

        return festival_problem(spec.voice)
    if spec.engine == "piper":
        from core.data.tts_piper import piper_problem

        return piper_problem()
    if spec.engine == "espeak":
        from core.data.tts_espeak import espeak_problem

        return espeak_problem(spec.voice)
    return f"unknown engine '{spec.engine}'"


def check_engines() -> dict[str, str | None]:
    """Engine name -> None when usable, else why not (what to install)."""
    from core.data.tts_espeak import espeak_problem
    from core.data.tts_festival import festival_problem
    from core.data.tts_flite import flite_problem
    from core.data.tts_piper import piper_problem

    return {
        "flite": flite_problem(),
        "festival": festival_problem(),
        "piper": piper_problem(),
        "espeak": espeak_problem(),
    }


def voice_problems(voices: dict[str, VoiceSpec] | None = None) -> dict[str, str | None]:
    """Voice name -> None when usable, else why not (VOICES unless told otherwise)."""
    return {name: _engine_problem(spec) for name, spec in (VOICES if voices is None else voices).items()}


def list_voices(voices: dict[str, VoiceSpec] | None = None) -> list[str]:
    """The voices usable on this machine, in VOICES order (or in that of `voices`, e.g. ENCODER_VOICES)."""
    return [name for name, problem in voice_problems(voices).items() if problem is None]


def _run_engine(spec: VoiceSpec, text: str, prosody: EngineProsody, seed: int) -> EngineSpeech:
    if spec.engine == "flite":
        from core.data.tts_flite import synthesize_flite

        return synthesize_flite(text, spec.voice, prosody)
    if spec.engine == "festival":
        from core.data.tts_festival import synthesize_festival

        return synthesize_festival(text, spec.voice, prosody)
    if spec.engine == "piper":
        from core.data.tts_piper import synthesize_piper

        return synthesize_piper(text, prosody, seed=seed)
    if spec.engine == "espeak":
        from core.data.tts_espeak import synthesize_espeak

        return synthesize_espeak(text, spec.voice, prosody)
    raise ValueError(f"unknown engine '{spec.engine}' for voice '{spec.name}'")


# ---------------------------------------------------------------- prosody


def _jittered(emotion: EmotionProsody, voice: str, seed: int, variation: float) -> EmotionProsody:
    if variation <= 0:
        return emotion
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(voice.encode())])
    z = np.clip(rng.standard_normal(4), -2.5, 2.5) * variation
    return replace(
        emotion,
        rate=emotion.rate * float(np.exp(JITTER_RATE * z[0])),
        f0_scale=emotion.f0_scale * float(np.exp(JITTER_F0 * z[1])),
        f0_range=emotion.f0_range * float(np.exp(JITTER_RANGE * z[2])),
        gain_db=emotion.gain_db + float(JITTER_GAIN_DB * z[3]),
    )


def plan_prosody(spec: VoiceSpec, emotion: EmotionProsody) -> tuple[EngineProsody, float]:
    """(what the engine is asked for, resampling factor k). Resampling by k divides durations by k, so the
    engine stretches by k / rate to land on the wanted rate."""
    if spec.native_pitch:
        k = spec.timbre
        f0_mean = spec.f0_mean_hz * emotion.f0_scale
        f0_std = (spec.f0_std_hz or 0.0) * emotion.f0_range if spec.f0_std_hz is not None else None
    else:
        k = spec.timbre * emotion.f0_scale**RESAMPLED_PITCH_EXPONENT
        f0_mean = f0_std = None
    rate = spec.rate * emotion.rate
    # espeak's pitch range is its own 0-100 scale; it reads the emotion's range through expressiveness
    expressiveness = emotion.expressiveness if spec.engine != "espeak" else emotion.f0_range
    return EngineProsody(k / rate, f0_mean, f0_std, expressiveness), k


# ---------------------------------------------------------------- audio and timing


def _resample_with_factor(audio: np.ndarray, rate: int, k: float) -> tuple[np.ndarray, float]:
    """Resample to 16 kHz as if the audio had been recorded at rate * k. Returns (audio, exact k used)."""
    from core.audio import resample_audio

    if abs(k - 1.0) < 1e-9:
        return resample_audio(audio, rate, SAMPLE_RATE), 1.0
    source_rate = int(round(rate * k / RESAMPLE_RATE_STEP)) * RESAMPLE_RATE_STEP
    return resample_audio(audio, source_rate, SAMPLE_RATE), source_rate / rate


def _fit_times_to_audio(phones: list[str], ends: np.ndarray, duration: float, voice: str) -> np.ndarray:
    """Make the last end equal the audio length; only a final pause may absorb a mismatch beyond END_TOLERANCE_S."""
    ends = ends.copy()
    mismatch = ends[-1] - duration
    if abs(mismatch) <= END_TOLERANCE_S:
        ends[-1] = duration
        return ends
    previous_end = ends[-2] if len(ends) > 1 else 0.0
    final_pause_ok = phones[-1] == SILENCE and abs(mismatch) <= MAX_FINAL_PAUSE_FIX_S
    if not final_pause_ok or previous_end >= duration - 1e-3:
        raise RuntimeError(
            f"{voice}: phone times end at {ends[-1]:.3f} s but the audio lasts {duration:.3f} s "
            f"(last phone {phones[-1]}); the engine's timings cannot be trusted for this sentence"
        )
    ends[-1] = duration  # diphone engines end the wave inside the final pause, or pad it a little
    return ends


def _speech_rms(audio: np.ndarray) -> float:
    """RMS over the frames within 35 dB of the loudest ones (pauses do not count)."""
    frame = SAMPLE_RATE // 100
    n = len(audio) // frame
    if n == 0:
        return float(np.sqrt(np.mean(audio**2)) + 1e-12)
    power = np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1)
    active = power > np.percentile(power, 95) * 10 ** (-35 / 10)
    return float(np.sqrt(np.mean(power[active])) + 1e-12)


def _set_loudness(audio: np.ndarray, level_db: float) -> np.ndarray:
    gained = audio * (10 ** (level_db / 20) / _speech_rms(audio))
    peak = float(np.max(np.abs(gained))) if gained.size else 0.0
    if peak > 0.98:  # rare: very peaky speech at the loudest settings; keep it unclipped
        gained *= 0.98 / peak
    return gained.astype(np.float32)


def _phone_times(phones: list[str], ends: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Contiguous (N, 2) times from end times, with zero-length phones dropped and repeated SILs joined."""
    out_phones: list[str] = []
    out_ends: list[float] = []
    start = 0.0
    for phone, end in zip(phones, ends, strict=True):
        if end <= start + 1e-9:
            continue
        if out_phones and phone == SILENCE and out_phones[-1] == SILENCE:
            out_ends[-1] = float(end)
        else:
            out_phones.append(phone)
            out_ends.append(float(end))
        start = float(end)
    e = np.asarray(out_ends, dtype=np.float64)
    return out_phones, np.stack([np.concatenate([[0.0], e[:-1]]), e], axis=1)


def _pad_edges(audio: np.ndarray, phones: list[str], times: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray]:
    """At least EDGE_SILENCE_S of SIL at both ends: pad with digital silence and extend (or add) the SIL phones."""
    edge = int(round(EDGE_SILENCE_S * SAMPLE_RATE))
    lead_have = int(round(times[0, 1] * SAMPLE_RATE)) if phones[0] == SILENCE else 0
    tail_have = int(round((times[-1, 1] - times[-1, 0]) * SAMPLE_RATE)) if phones[-1] == SILENCE else 0
    lead, tail = max(0, edge - lead_have), max(0, edge - tail_have)
    if lead == 0 and tail == 0:
        return audio, phones, times
    audio = np.concatenate([np.zeros(lead, np.float32), audio, np.zeros(tail, np.float32)])
    times = times + lead / SAMPLE_RATE
    phones = list(phones)
    if lead:
        if phones[0] == SILENCE:
            times[0, 0] = 0.0
        else:
            phones.insert(0, SILENCE)
            times = np.vstack([[0.0, lead / SAMPLE_RATE], times])
    duration = len(audio) / SAMPLE_RATE
    if tail:
        if phones[-1] == SILENCE:
            times[-1, 1] = duration
        else:
            phones.append(SILENCE)
            times = np.vstack([times, [times[-1, 1], duration]])
    times[-1, 1] = duration
    return audio, phones, times


def synthesize(text: str, voice: str, emotion: str, seed: int = 0, variation: float = 0.0) -> SpokenUtterance:
    """Speak `text` with a VOICES voice in one of core.data.emotions.EMOTIONS.

    seed + variation: per-utterance prosody jitter (variation 0 = none, 1 = the corpus default); piper also draws
    its model noise from the seed. The same arguments give the same audio.
    """
    if voice not in VOICES and voice not in ENCODER_VOICES:
        raise ValueError(f"unknown voice '{voice}'; choose one of {list(VOICES)} (or {list(ENCODER_VOICES)})")
    if emotion not in EMOTION_PROSODY:
        raise ValueError(f"unknown emotion '{emotion}'; choose one of {list(EMOTIONS)}")
    spec = VOICES.get(voice) or ENCODER_VOICES[voice]
    emotion_prosody = _jittered(EMOTION_PROSODY[emotion], voice, seed, variation)
    engine_prosody, k = plan_prosody(spec, emotion_prosody)
    speech = _run_engine(spec, text, engine_prosody, seed)
    if len(speech.phones) != len(speech.ends) or not speech.phones:
        raise RuntimeError(f"{voice}: the engine returned {len(speech.phones)} phones and {len(speech.ends)} times")
    unknown = sorted({p for p in speech.phones if p != SILENCE and p not in ARPABET})
    if unknown:
        raise RuntimeError(f"{voice}: phones outside ARPAbet: {unknown}")

    audio, k_exact = _resample_with_factor(speech.audio, speech.sample_rate, k)
    ends = _fit_times_to_audio(speech.phones, np.asarray(speech.ends) / k_exact, len(audio) / SAMPLE_RATE, voice)
    phones, times = _phone_times(speech.phones, ends)
    audio, phones, times = _pad_edges(audio, phones, times)
    audio = _set_loudness(audio, spec.level_db + emotion_prosody.gain_db)
    return SpokenUtterance(audio, phones, times, voice, emotion, text)
