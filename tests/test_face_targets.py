"""Face targets from phone timings: lip sync, coarticulation, speaker style, emotion and life."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import numpy as np
import pytest

from core import metrics
from core.data.articulation_styles import articulation_for_speaker
from core.data.coarticulation import articulator_tracks, lay_out_visemes
from core.data.emotions import EMOTIONS
from core.data.face_life import Blink, blink_track, pause_onsets, plan_blinks
from core.data.face_targets import frame_count, synthesize_face_targets
from core.data.phonemes import BILABIALS, OPEN_VOWELS, SILENCE, normalize_arpabet
from core.data.visemes import ART
from core.rig.arkit import ARKIT_NAMES, channel_index, channels_matching
from core.rig.lip_measures import is_lips_closed, lip_aperture

FPS = 30.0
SPEAKERS = ("flite_rms", "flite_slt", "flite_awb", "festival_kal", "piper_joe", "someone_recorded")
CONSONANTS = ("T", "D", "N", "K", "G", "S", "Z", "L", "R", "SH", "F", "V", "TH", "HH", "Y", "W")
VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "UH", "UW")


def timed(phones_and_durations: list[tuple[str, float]]) -> tuple[list[str], np.ndarray, float]:
    phones, times, t = [], [], 0.0
    for phone, d in phones_and_durations:
        phones.append(phone)
        times.append((t, t + d))
        t += d
    return phones, np.array(times), t


def speechlike(seed: int, syllables: int = 120, bilabial_s=(0.025, 0.05)) -> tuple[list[str], np.ndarray, float]:
    """CV(C) syllables with short bilabials, phrase pauses, and silence at both ends."""
    rng = np.random.default_rng(seed)
    seq = [(SILENCE, 0.5)]
    for k in range(syllables):
        onset = rng.choice(BILABIALS) if rng.uniform() < 0.35 else rng.choice(CONSONANTS)
        seq.append((str(onset), rng.uniform(*bilabial_s) if onset in BILABIALS else rng.uniform(0.04, 0.1)))
        seq.append((str(rng.choice(VOWELS)), rng.uniform(0.06, 0.18)))
        if rng.uniform() < 0.25:
            coda = rng.choice(BILABIALS)
            seq.append((str(coda), rng.uniform(*bilabial_s)))
        if k % 12 == 11:
            seq.append((SILENCE, rng.uniform(0.35, 0.7)))
    seq.append((SILENCE, 0.6))
    return timed(seq)


def column(weights: np.ndarray, *names: str) -> np.ndarray:
    return weights[:, [channel_index(n) for n in names]].mean(axis=1)


def frames_in(span: tuple[float, float], fps: float = FPS) -> np.ndarray:
    return np.arange(int(np.ceil(span[0] * fps)), int(np.floor(span[1] * fps)) + 1)


# --- output contract -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0])
def test_output_is_one_float32_row_per_frame_in_unit_range(fps):
    phones, times, duration = speechlike(0, syllables=20)
    duration += 0.013  # a duration that is not a whole number of frames
    w = synthesize_face_targets(phones, times, duration, fps, "flite_rms", "happy", seed=1)
    assert w.shape == (round(duration * fps), 52) == (frame_count(duration, fps), 52)
    assert w.dtype == np.float32 and np.isfinite(w).all()
    assert w.min() >= 0.0 and w.max() <= 1.0


def test_gaps_stress_digits_and_pau_are_accepted_as_silence():
    phones = ["pau", "HH", "AH0", "L", "OW1"]
    times = np.array([[0.0, 0.3], [0.5, 0.56], [0.56, 0.64], [0.64, 0.7], [0.7, 0.9]])  # gap 0.3-0.5
    w = synthesize_face_targets(phones, times, 1.4, FPS, "flite_slt", "neutral")
    assert w.shape == (42, 52)
    gap_and_tail = np.r_[frames_in((0.0, 0.3)), frames_in((1.15, 1.4))]
    assert is_lips_closed(w[gap_and_tail[gap_and_tail < len(w)]]).all()


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="phone times"):
        synthesize_face_targets(["AA", "B"], np.array([[0.0, 0.1]]), 1.0, FPS, "x", "neutral")
    with pytest.raises(ValueError, match="unknown emotion"):
        synthesize_face_targets(["AA"], np.array([[0.0, 0.1]]), 1.0, FPS, "x", "bored")
    with pytest.raises(ValueError, match="ARPAbet"):
        synthesize_face_targets(["QQ"], np.array([[0.0, 0.1]]), 1.0, FPS, "x", "neutral")


# --- lip sync ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", [30.0, 60.0])
def test_short_bilabials_close_the_lips(fps):
    rates = []
    for i, speaker in enumerate(SPEAKERS):
        phones, times, duration = speechlike(10 + i)
        w = synthesize_face_targets(phones, times, duration, fps, speaker, EMOTIONS[i % 5], seed=i)
        rates.append(metrics.bilabial_closure_hit_rate(w, phones, times, fps))
    assert min(rates) >= 0.95, rates


def test_open_vowels_open_the_lips_wider_than_bilabials():
    for i, speaker in enumerate(SPEAKERS):
        phones, times, duration = speechlike(20 + i, bilabial_s=(0.04, 0.09))
        w = synthesize_face_targets(phones, times, duration, FPS, speaker, "neutral", seed=i)
        assert metrics.vowel_bilabial_aperture_auc(w, phones, times, FPS) >= 0.95


def test_open_vowels_drop_the_jaw_in_order_of_openness():
    jaw = {}
    for vowel in ("AA", "AE", "AH", "EH", "IY", "UW"):
        phones, times, duration = timed([(SILENCE, 0.4), ("HH", 0.06), (vowel, 0.3), (SILENCE, 0.5)])
        w = synthesize_face_targets(phones, times, duration, FPS, "flite_rms", "neutral", seed=0)
        jaw[vowel] = column(w, "jawOpen").max()
    assert jaw["AA"] > jaw["AE"] > jaw["AH"] > jaw["EH"] > jaw["IY"]
    assert jaw["UW"] < jaw["AH"]


def test_pauses_relax_to_a_closed_neutral_mouth():
    phones, times, duration = speechlike(3)
    w = synthesize_face_targets(phones, times, duration, FPS, "flite_awb", "surprised", seed=2)
    assert metrics.silence_closed_fraction(w, phones, times, FPS) == 1.0
    pauses = [(s, e) for p, (s, e) in zip(phones, times, strict=True) if p == SILENCE and e - s > 0.45]
    rest = np.concatenate([frames_in((s + 0.15, e - 0.15)) for s, e in pauses])
    assert lip_aperture(w[rest]).max() < 0.02
    # Mid-pause the face is relaxed (the last 0.3 s prepare the next word, e.g. round for /w/, lips closed).
    middle = np.concatenate([frames_in((s + 0.15, e - 0.3)) for s, e in pauses])
    for name in ("jawOpen", "mouthPucker", "mouthFunnel", "mouthStretchLeft", "mouthRollLower", "tongueOut"):
        assert column(w[middle], name).max() < 0.1, name


def test_sealed_bilabial_frames_have_no_lip_parting():
    phones, times, duration = timed([(SILENCE, 0.3), ("AA", 0.15), ("M", 0.08), ("AA", 0.15), (SILENCE, 0.4)])
    w = synthesize_face_targets(phones, times, duration, FPS, "flite_slt", "neutral")
    closed = w[is_lips_closed(w, 0.01)]
    assert len(closed) > 0
    m = frames_in((0.45 - 0.04, 0.53))
    sealed = m[np.argmin(lip_aperture(w[m]))]
    assert w[sealed, channel_index("mouthClose")] == pytest.approx(w[sealed, channel_index("jawOpen")], abs=0.02)
    assert column(w[[sealed]], "mouthLowerDownLeft", "mouthLowerDownRight", "mouthFunnel")[0] < 0.02


def test_labiodentals_tuck_the_lower_lip_without_sealing():
    phones, times, duration = timed([(SILENCE, 0.3), ("AA", 0.15), ("F", 0.1), ("AA", 0.15), (SILENCE, 0.4)])
    w = synthesize_face_targets(phones, times, duration, FPS, "flite_rms", "neutral")
    f = frames_in((0.45 - 0.08, 0.55))
    assert column(w[f], "mouthRollLower").max() > 0.4
    assert column(w[f], "mouthUpperUpLeft").max() > 0.05
    assert column(w[f], "mouthClose").max() < 0.05


def test_lip_rounding_anticipates_across_consonants():
    def pucker_on_s(vowel: str) -> float:
        phones, times, duration = timed(
            [(SILENCE, 0.4), ("IH", 0.1), ("S", 0.09), ("T", 0.06), ("R", 0.06), (vowel, 0.2), (SILENCE, 0.4)]
        )
        w = synthesize_face_targets(phones, times, duration, FPS, "flite_slt", "neutral")
        return float(column(w[frames_in((0.5, 0.59))], "mouthPucker").mean())

    assert pucker_on_s("UW") > pucker_on_s("IY") + 0.1


def test_spread_and_rounded_vowels_shape_the_lips_differently():
    def lips(vowel: str) -> tuple[float, float]:
        phones, times, duration = timed([(SILENCE, 0.4), ("HH", 0.05), (vowel, 0.25), (SILENCE, 0.4)])
        w = synthesize_face_targets(phones, times, duration, FPS, "flite_awb", "neutral")
        v = frames_in((0.45, 0.65))
        return column(w[v], "mouthPucker").max(), column(w[v], "mouthStretchLeft", "mouthStretchRight").max()

    (uw_pucker, uw_stretch), (iy_pucker, iy_stretch) = lips("UW"), lips("IY")
    assert uw_pucker > 0.4 > iy_pucker and iy_stretch > uw_stretch + 0.1


def test_curves_are_smooth_apart_from_blinks():
    phones, times, duration = speechlike(5)
    w = synthesize_face_targets(phones, times, duration, FPS, "flite_rms", "angry", seed=3)
    not_eyelid = np.setdiff1d(np.arange(52), channels_matching(("eyeBlink*", "eyeWide*", "eyeSquint*")))
    assert np.abs(np.diff(w[:, not_eyelid], axis=0)).max() < 0.3
    assert np.abs(np.diff(w, axis=0)).max(axis=0)[channel_index("eyeBlinkLeft")] > 0.5  # blinks are fast


# --- speakers, takes, emotions ------------------------------------------------------------------------


def test_speaker_style_is_a_stable_function_of_the_name():
    a, b = articulation_for_speaker("my_recording"), articulation_for_speaker("my_recording")
    assert a == b
    styles = [articulation_for_speaker(s) for s in SPEAKERS]
    assert len({s.jaw_range for s in styles}) == len(SPEAKERS)
    for s in styles:
        assert 0.04 <= s.anticipation_s <= 0.08
        assert 15.0 <= s.blink_rate_per_min <= 20.0
        assert 0.75 <= s.jaw_range <= 1.3 and abs(s.asymmetry) <= 0.12


def test_same_seed_same_targets_and_other_seeds_or_speakers_vary():
    phones, times, duration = speechlike(7, syllables=30)

    def make(speaker: str, seed: int) -> np.ndarray:
        return synthesize_face_targets(phones, times, duration, FPS, speaker, "neutral", seed=seed)

    base = make("flite_rms", 0)
    assert np.array_equal(base, make("flite_rms", 0))
    other_take = make("flite_rms", 1)
    other_speaker = make("flite_slt", 0)
    assert metrics.diversity([base, other_take]) > 0.02
    assert metrics.diversity([base, other_speaker]) > metrics.diversity([base, other_take]) * 0.5
    assert metrics.lip_error(base, other_take) > 0.005  # takes differ in the lips too, not only the eyes
    # ...but lip sync holds in every take.
    for w in (base, other_take, other_speaker):
        assert metrics.bilabial_closure_hit_rate(w, phones, times, FPS) >= 0.95


def test_emotions_change_the_upper_face_visibly():
    phones, times, duration = speechlike(8, syllables=40)
    faces = {e: synthesize_face_targets(phones, times, duration, FPS, "flite_slt", e, seed=4) for e in EMOTIONS}
    neutral = faces["neutral"]

    def gain(emotion: str, *names: str) -> float:
        return float(column(faces[emotion], *names).mean() - column(neutral, *names).mean())

    for emotion in EMOTIONS[1:]:
        assert metrics.upper_face_style_shift(faces[emotion], neutral) > 0.15, emotion
    assert gain("happy", "mouthSmileLeft", "mouthSmileRight") > 0.2 and gain("happy", "cheekSquintLeft") > 0.1
    assert gain("sad", "browInnerUp") > 0.2 and gain("sad", "mouthFrownLeft") > 0.15
    assert gain("sad", "eyeBlinkLeft") > 0.08  # lowered lids
    assert gain("angry", "browDownLeft", "browDownRight") > 0.25 and gain("angry", "noseSneerLeft") > 0.1
    assert gain("angry", "mouthPressLeft") > 0.03
    assert gain("surprised", "eyeWideLeft") > 0.2 and gain("surprised", "browOuterUpLeft", "browOuterUpRight") > 0.2
    assert gain("surprised", "jawOpen") > 0.005 > gain("sad", "jawOpen")
    # Not caricatured: no emotion pins a channel near its maximum for long.
    for emotion, w in faces.items():
        assert np.percentile(w[:, channels_matching(("brow*", "mouthSmile*", "eyeWide*"))], 95) < 0.75, emotion


def test_emotion_intensity_drifts_slowly():
    phones, times, duration = speechlike(9, syllables=60)
    w = synthesize_face_targets(phones, times, duration, FPS, "flite_rms", "angry", seed=0)
    sneer = column(w, "noseSneerLeft")
    assert sneer.std() > 0.005  # it varies...
    assert np.abs(np.diff(sneer)).max() < 0.02  # ...slowly


# --- life: blinks, brows, gaze --------------------------------------------------------------------------


def count_blinks(w: np.ndarray) -> int:
    lid = column(w, "eyeBlinkLeft")
    return int(((lid[1:-1] > 0.7) & (lid[1:-1] >= lid[:-2]) & (lid[1:-1] > lid[2:])).sum())


def test_blink_rate_over_a_minute_is_human():
    phones, times, duration = speechlike(11, syllables=280)
    assert duration > 60
    per_minute = []
    for seed, speaker in enumerate(SPEAKERS):
        w = synthesize_face_targets(phones, times, duration, FPS, speaker, "neutral", seed=seed)
        per_minute.append(count_blinks(w) / duration * 60)
    assert 14.0 <= np.mean(per_minute) <= 21.0, per_minute
    assert min(per_minute) >= 9.0 and max(per_minute) <= 27.0, per_minute


def test_blinks_are_brief_close_fast_and_open_slowly():
    rng = np.random.default_rng(0)
    blinks = plan_blinks(rng, 120.0, 18.0, FPS, np.array([]))
    assert all(0.10 <= b.duration <= 0.15 for b in blinks)
    t = np.arange(0, 1.0, 0.001)
    lid = blink_track([Blink(peak=0.5, duration=0.12, amplitude=1.0)], t)
    shut = t[lid > 0.02]
    assert 0.09 <= shut[-1] - shut[0] <= 0.13
    assert 0.5 - shut[0] < shut[-1] - 0.5  # closing is quicker than reopening
    assert lid[500] == pytest.approx(1.0)


def test_blinks_gather_at_pauses():
    phones, times, duration = speechlike(12, syllables=400)
    onsets = pause_onsets(phones, times)
    near, total = 0, 0
    for seed in range(4):
        blinks = plan_blinks(np.random.default_rng(seed), duration, 17.0, FPS, onsets)
        gaps = np.array([np.min(np.abs(b.peak - onsets - 0.1)) for b in blinks])
        near += int((gaps < 0.2).sum())
        total += len(blinks)
    pause_share_of_time = len(onsets) * 0.4 / duration
    assert near / total > 2.5 * pause_share_of_time


def harmonic_speech(f0_of_t: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(f0_of_t) / sample_rate
    return 0.1 * sum(np.sin(k * phase) / k for k in range(1, 6))


def test_brows_rise_on_a_pitch_accent_in_the_audio():
    sr = 16000
    duration = 3.0
    t = np.arange(int(duration * sr)) / sr
    f0 = 110 + 45 * np.exp(-(((t - 1.5) / 0.12) ** 2))  # one accent at 1.5 s
    audio = harmonic_speech(f0, sr)
    phones, times, _ = timed([(SILENCE, 0.2)] + [("AA", 0.2), ("N", 0.1)] * 8 + [(SILENCE, 0.4)])
    at_accent, elsewhere = [], []
    for seed in range(6):
        w = synthesize_face_targets(phones, times, duration, FPS, "flite_slt", "neutral", audio=audio, seed=seed)
        brow = column(w, "browInnerUp")
        at_accent.append(brow[frames_in((1.35, 1.55))].max())
        elsewhere.append(np.median(brow))
    assert np.mean(at_accent) > np.mean(elsewhere) + 0.08


def test_eyes_make_small_saccades():
    phones, times, duration = speechlike(13, syllables=60)
    w = synthesize_face_targets(phones, times, duration, FPS, "flite_awb", "neutral", seed=1)
    yaw = column(w, "eyeLookOutLeft") - column(w, "eyeLookInLeft")
    assert 0.01 < yaw.std() < 0.15 and np.abs(yaw).max() < 0.3
    assert (np.abs(np.diff(yaw)) > 0.01).sum() >= 3  # there are quick moves


# --- lip aperture measure -------------------------------------------------------------------------------


def pose(**channels: float) -> np.ndarray:
    w = np.zeros((1, 52))
    for name, value in channels.items():
        w[0, channel_index(name)] = value
    return w


def test_lip_aperture_follows_the_arkit_seal_convention():
    assert lip_aperture(pose(jawOpen=0.4, mouthClose=0.4))[0] == pytest.approx(0.0)
    assert lip_aperture(pose(jawOpen=0.4))[0] == pytest.approx(0.4)
    assert lip_aperture(pose(jawOpen=0.2, mouthLowerDownLeft=0.4, mouthLowerDownRight=0.4))[0] > 0.35
    assert lip_aperture(pose(mouthPressLeft=0.5, mouthPressRight=0.5, mouthRollLower=0.5))[0] == 0.0
    assert is_lips_closed(np.vstack([pose(), pose(jawOpen=0.3, mouthClose=0.28), pose(jawOpen=0.3)])).tolist() == [
        True,
        True,
        False,
    ]


def test_lip_aperture_finds_channels_by_name_in_any_order():
    w = np.random.default_rng(0).uniform(0, 1, (10, 52))
    order = np.random.default_rng(1).permutation(52)
    shuffled_names = tuple(ARKIT_NAMES[i] for i in order)
    assert np.allclose(lip_aperture(w), lip_aperture(w[:, order], names=shuffled_names))
    with pytest.raises(ValueError):
        lip_aperture(w[:, :51])


# --- real TTS --------------------------------------------------------------------------------------------


def flite_clip(tmp_path, text: str, voice: str = "rms") -> tuple[list[str], np.ndarray, np.ndarray, float]:
    import soundfile as sf

    wav = tmp_path / "speech.wav"
    out = subprocess.run(
        ["flite", "-voice", voice, "-psdur", "-t", text, "-o", str(wav)], capture_output=True, text=True, check=True
    ).stdout
    phones, times, start = [], [], 0.0
    for token in out.split():
        phone, end = token.rsplit(":", 1)
        phones.append(normalize_arpabet(phone))
        times.append((start, float(end)))
        start = float(end)
    audio, sr = sf.read(wav, dtype="float32")
    assert sr == 16000
    return phones, np.array(times), audio, len(audio) / sr


@pytest.mark.tts
def test_real_tts_sentence_gets_plausible_targets(tmp_path):
    text = "Bob bought a map, then moved home. Maybe five purple umbrellas will be enough."
    phones, times, audio, duration = flite_clip(tmp_path, text)
    w = synthesize_face_targets(phones, times, duration, FPS, "flite_rms", "happy", audio=audio, seed=0)
    assert w.shape == (round(duration * FPS), 52)
    assert metrics.bilabial_closure_hit_rate(w, phones, times, FPS) >= 0.95
    assert metrics.vowel_bilabial_aperture_auc(w, phones, times, FPS) >= 0.95
    assert is_lips_closed(w[:3]).all() and is_lips_closed(w[-3:]).all()  # flite's pauses: 0.1-0.2 s
    speech = np.concatenate([frames_in(t) for p, t in zip(phones, times, strict=True) if p in OPEN_VOWELS])
    assert 0.15 < column(w[speech], "jawOpen").max() < 0.7  # open, but speech-sized
    rounded = np.concatenate([frames_in(t) for p, t in zip(phones, times, strict=True) if p in ("UW", "OW")])
    assert column(w[rounded], "mouthPucker").max() > 0.3
    fv = np.concatenate([frames_in((s - 0.08, e)) for p, (s, e) in zip(phones, times, strict=True) if p in ("F", "V")])
    assert column(w[fv], "mouthRollLower").max() > 0.3
    assert column(w, "browInnerUp").max() - np.median(column(w, "browInnerUp")) > 0.1  # brows mark accents


# --- coarticulation habits -------------------------------------------------------------------------------


def jaw_track(style, phones, times, fps=200.0) -> np.ndarray:
    spans = lay_out_visemes(phones, times, style, np.random.default_rng(0))
    frame_times = np.arange(frame_count(times[-1, 1], fps)) / fps
    return articulator_tracks(spans, frame_times)[:, ART["jaw"]]


def test_visual_motion_leads_the_audio_by_the_speakers_lead():
    phones, times, _ = timed([(SILENCE, 0.5), ("AA", 0.3), (SILENCE, 0.6)])
    base = articulation_for_speaker("flite_rms")

    def half_open_time(lead_s: float) -> float:
        jaw = jaw_track(replace(base, anticipation_s=lead_s), phones, times)
        return float(np.argmax(jaw > jaw.max() / 2) / 200.0)

    early, late = half_open_time(0.08), half_open_time(0.04)
    assert early < late < 0.5  # the jaw is half open before the vowel sounds
    assert late - early == pytest.approx(0.04, abs=0.006)


def test_sloppy_speakers_undershoot_more_in_fast_speech_than_careful_ones():
    syllables = [("B", 0.03), ("AA", 0.05), ("D", 0.03), ("IY", 0.04)] * 12  # about 22 phones per second
    phones, times, _ = timed([(SILENCE, 0.5), *syllables, (SILENCE, 0.5)])
    base = articulation_for_speaker("flite_rms")
    aa = [t for p, t in zip(phones, times, strict=True) if p == "AA"]

    def aa_jaw(hypo: float) -> float:
        jaw = jaw_track(replace(base, hypoarticulation=hypo, anticipation_s=0.0), phones, times)
        return float(np.mean([jaw[int(s * 200) : int(e * 200) + 1].max() for s, e in aa]))

    assert aa_jaw(0.8) < 0.8 * aa_jaw(0.0) < 0.8 * aa_jaw(-0.3)


def test_louder_vowels_open_the_jaw_wider():
    phones, times, duration = timed([(SILENCE, 0.4), ("AA", 0.2), ("N", 0.1), ("AA", 0.2), (SILENCE, 0.5)])
    t = np.arange(int(duration * 16000)) / 16000
    loudness = np.where(t < 0.65, 0.25, 1.0) * ((t > 0.4) & (t < 0.9))  # second vowel 12 dB louder
    audio = loudness * np.sin(2 * np.pi * 120 * t)
    w = synthesize_face_targets(phones, times, duration, FPS, "flite_slt", "neutral", audio=audio)
    jaw = column(w, "jawOpen")
    assert jaw[frames_in((0.7, 0.9))].max() > 1.2 * jaw[frames_in((0.4, 0.6))].max()
