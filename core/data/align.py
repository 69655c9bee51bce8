"""Forced alignment of real speech to its transcript (pocketsphinx 5, en-US), and recording -> training clip.

`align_phones` gives ARPAbet phones with contiguous times over the whole recording (gaps become SIL), which
is what core.data.face_targets needs to synthesise face targets for a user's own recording. pocketsphinx
aligns in two passes: words first (`set_align_text`), then phones within them (`set_alignment`); its times
are in 10 ms frames. On TTS speech with known timings its phone boundaries are off by about 10 ms (median).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from core.audio import load_audio, validate_speech_audio
from core.data.clip import DEFAULT_FPS, SAMPLE_RATE, Clip, save_clip
from core.data.phonemes import SILENCE, normalize_arpabet

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


class AlignmentError(ValueError):
    """The transcript could not be aligned to the audio; the message says why and what to try."""


def transcript_words(transcript: str) -> list[str]:
    """Lower-case words of a transcript with punctuation dropped ("Don't stop!" -> ["don't", "stop"])."""
    return _WORD.findall(transcript.lower().replace("\u2019", "'"))


def align_phones(
    audio16k: np.ndarray,
    transcript: str,
    pronunciations: Mapping[str, str] | None = None,
    letter_to_sound: bool = False,
) -> tuple[list[str], np.ndarray]:
    """Phones (ARPAbet, stress stripped, "SIL" for silence) and their (N, 2) start/end seconds.

    The times tile [0, duration] with no gaps. Words missing from the pocketsphinx dictionary raise
    AlignmentError naming them; give their pronunciations in ARPAbet, e.g. {"vocaset": "V OW K AH S EH T"}, or
    let `letter_to_sound` guess them (the CMU lexicon, else flite's t2p rules: fine for names, not for acronyms).
    """
    from pocketsphinx import Decoder

    audio16k = np.asarray(audio16k, dtype=np.float32).reshape(-1)
    validate_speech_audio(audio16k, SAMPLE_RATE, name="the recording")
    words = transcript_words(transcript)
    if not words:
        raise AlignmentError(
            f"The transcript {transcript!r} has no words to align; give the words spoken in the recording."
        )

    decoder = Decoder(samprate=SAMPLE_RATE, lm=None, loglevel="FATAL")  # no language model: alignment only
    _add_pronunciations(decoder, pronunciations or {})
    unknown = sorted({w for w in words if decoder.lookup_word(w) is None})
    if unknown and letter_to_sound:
        from core.data.text_corpus import default_lexicon

        _add_pronunciations(decoder, {w: " ".join(default_lexicon().pronounce(w)) for w in unknown})
        unknown = []
    if unknown:
        raise AlignmentError(
            f"Not in the pronunciation dictionary: {', '.join(unknown)}. Spell numbers and abbreviations out as words "
            "(e.g. '42' -> 'forty two'), or pass pronunciations={'word': 'W ER D'} in ARPAbet."
        )

    pcm = _to_int16_bytes(audio16k)
    try:
        decoder.set_align_text(" ".join(words))
        _decode(decoder, pcm)
        if decoder.hyp() is None:
            raise RuntimeError("no word alignment found")
        decoder.set_alignment()
        _decode(decoder, pcm)
        alignment = decoder.get_alignment()
    except RuntimeError as exc:
        raise AlignmentError(
            f"pocketsphinx could not align the transcript to the audio ({exc}). Check that the transcript is exactly "
            "what is said, in English, and that the recording is clear speech."
        ) from None
    frame_seconds = 1.0 / float(decoder.config["frate"])
    segments = [
        (_phone_name(phone.name), phone.start * frame_seconds, (phone.start + phone.duration) * frame_seconds)
        for word in alignment
        for phone in word
    ]
    if not any(name != SILENCE for name, _, _ in segments):
        raise AlignmentError("pocketsphinx aligned no speech sounds; is the recording speech matching the transcript?")
    return _contiguous(segments, len(audio16k) / SAMPLE_RATE)


def align_recording_to_clip(
    audio_path: Path | str,
    transcript: str,
    out: Path | str,
    speaker: str = "user",
    emotion: str = "neutral",
    seed: int = 0,
    fps: float = DEFAULT_FPS,
    letter_to_sound: bool = False,
) -> Path:
    """Align a recording to its transcript, synthesise face targets for it and save a training clip.

    `transcript` is the spoken text, or the path of a .txt file holding it. `out` is the clip's path stem,
    or an existing folder (the clip then takes the audio file's name). Returns the written .npz.
    """
    from core.data.face_targets import synthesize_face_targets  # written alongside; imported when needed

    audio_path = Path(audio_path)
    if transcript.lower().endswith(".txt") and Path(transcript).is_file():
        transcript = Path(transcript).read_text(encoding="utf-8").strip()
    audio = load_audio(audio_path, sample_rate=SAMPLE_RATE)
    phones, phone_times = align_phones(audio, transcript, letter_to_sound=letter_to_sound)
    duration = len(audio) / SAMPLE_RATE
    weights = synthesize_face_targets(
        phones, phone_times, duration, fps=fps, speaker=speaker, emotion=emotion, audio=audio, seed=seed
    )
    clip = Clip(
        weights=weights, fps=fps, audio=audio, phones=phones, phone_times=phone_times,
        speaker=speaker, emotion=emotion, text=transcript,
    )  # fmt: skip
    out = Path(out)
    stem = out / audio_path.stem if out.is_dir() else out.with_suffix("") if out.suffix == ".npz" else out
    return save_clip(clip, stem)


def _add_pronunciations(decoder, pronunciations: Mapping[str, str]) -> None:
    for word, phones in pronunciations.items():
        try:
            arpabet = " ".join(normalize_arpabet(p) for p in phones.split())
        except ValueError as exc:
            raise AlignmentError(
                f"Pronunciation of '{word}': {exc}; use ARPAbet phones such as 'HH AH L OW'."
            ) from None
        decoder.add_word(word.lower(), arpabet, True)


def _decode(decoder, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _to_int16_bytes(audio: np.ndarray) -> bytes:
    # Quiet recordings are scaled up first so 16-bit quantisation does not eat their detail.
    peak = float(np.max(np.abs(audio)))
    scaled = audio * (0.9 / peak) if peak > 0 else audio
    return (np.clip(scaled, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _phone_name(name: str) -> str:
    """pocketsphinx phone -> ARPAbet; its fillers (+NSN+, +SPN+, +BREATH+, ...) count as silence."""
    if name.startswith("+") or name.upper() == "SIL":
        return SILENCE
    return normalize_arpabet(name)


def _contiguous(segments: list[tuple[str, float, float]], duration: float) -> tuple[list[str], np.ndarray]:
    """Fill gaps with SIL, clip to [0, duration], merge neighbouring silences; (phones, (N, 2) float32)."""
    phones: list[str] = []
    times: list[list[float]] = []

    def append(phone: str, start: float, end: float) -> None:
        end = min(end, duration)
        if end - start <= 1e-6:
            return
        if phones and phone == SILENCE and phones[-1] == SILENCE:
            times[-1][1] = end
            return
        phones.append(phone)
        times.append([start, end])

    cursor = 0.0
    for phone, start, end in sorted(segments, key=lambda s: s[1]):
        if start > cursor + 1e-6:
            append(SILENCE, cursor, start)
            cursor = start
        append(phone, cursor, end)
        cursor = max(cursor, min(end, duration))
    if duration - cursor > 1e-6:
        append(SILENCE, cursor, duration)
    times[-1][1] = duration  # the tiling ends exactly at the audio's end
    return phones, np.array(times, dtype=np.float32).reshape(-1, 2)
