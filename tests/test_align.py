"""core.data.align: pocketsphinx forced alignment checked against a TTS engine's own phone timings."""

from __future__ import annotations

import difflib
import subprocess

import numpy as np
import pytest
import soundfile as sf

from core.audio import load_audio, resample_audio
from core.data.align import AlignmentError, align_phones, align_recording_to_clip, transcript_words
from core.data.phonemes import SILENCE, normalize_arpabet

SENTENCE = "the quick brown fox jumps over the lazy dog"


def flite_speech(path, text: str, voice: str = "slt") -> list[tuple[str, float]]:
    """Speak `text` into `path` with flite; returns its own (phone, end time) list from -psdur."""
    done = subprocess.run(
        ["flite", "-voice", voice, "-psdur", "-t", text, "-o", str(path)], capture_output=True, text=True, check=True
    )
    timings = []
    for token in done.stdout.split():
        phone, _, end = token.rpartition(":")
        timings.append((normalize_arpabet(phone), float(end)))
    return timings


def boundary_errors(reference: list[tuple[str, float]], phones: list[str], times: np.ndarray) -> np.ndarray:
    """|reference end - aligned end| for phones both sequences agree on (speech only, matched in order)."""
    ours = [(p, float(t[1])) for p, t in zip(phones, times, strict=True) if p != SILENCE]
    theirs = [(p, t) for p, t in reference if p != SILENCE]
    matcher = difflib.SequenceMatcher(a=[p for p, _ in theirs], b=[p for p, _ in ours], autojunk=False)
    errors = []
    for block in matcher.get_matching_blocks():
        for i in range(block.size - 1):  # skip each block's last phone: its end may border a mismatch
            errors.append(abs(theirs[block.a + i][1] - ours[block.b + i][1]))
    return np.array(errors)


def test_transcript_words_drop_punctuation_and_keep_apostrophes():
    words = transcript_words("Don\u2019t stop -- the QUICK, brown fox!")
    assert words == ["don't", "stop", "the", "quick", "brown", "fox"]


@pytest.mark.tts
def test_phone_boundaries_match_flite_timings_within_30_ms(tmp_path):
    reference = flite_speech(tmp_path / "fox.wav", SENTENCE)
    audio = load_audio(tmp_path / "fox.wav")
    phones, times = align_phones(audio, "The quick brown fox jumps over the lazy dog.")

    errors = boundary_errors(reference, phones, times)
    assert len(errors) >= 25  # almost every phone was matched
    assert np.median(errors) < 0.030
    # Times tile the whole recording: from 0, no gaps, to the end of the audio.
    assert times[0, 0] == 0.0 and times[-1, 1] == pytest.approx(len(audio) / 16_000, abs=1e-4)
    np.testing.assert_allclose(times[1:, 0], times[:-1, 1])
    assert np.all(times[:, 1] > times[:, 0])
    assert [p for p in phones if p != SILENCE][:4] == ["DH", "AH", "K", "W"]


@pytest.mark.tts
def test_alignment_is_stable_under_resampling_and_another_voice(tmp_path):
    reference = flite_speech(tmp_path / "voice.wav", "she sells sea shells by the sea shore", voice="rms")
    audio, rate = sf.read(tmp_path / "voice.wav", dtype="float32")
    stereo_44k = np.repeat(resample_audio(audio, rate, 44_100)[:, None], 2, axis=1)
    sf.write(tmp_path / "voice.flac", stereo_44k, 44_100)  # another format, rate and channel count
    phones, times = align_phones(load_audio(tmp_path / "voice.flac"), "She sells sea shells by the sea shore.")
    assert np.median(boundary_errors(reference, phones, times)) < 0.030


def test_words_missing_from_the_dictionary_are_named():
    tone = (0.3 * np.sin(np.arange(16_000) / 5)).astype(np.float32)
    with pytest.raises(AlignmentError, match="zorblax.*forty two"):
        align_phones(tone, "hello zorblax 42")
    with pytest.raises(AlignmentError, match="no words"):
        align_phones(tone, "?!")


@pytest.mark.tts
def test_letter_to_sound_pronounces_unknown_words_from_the_cli(tmp_path, capsys):
    from core.cli import main
    from core.data.clip import load_clip

    flite_speech(tmp_path / "z.wav", "hello zorblax and bob")
    command = ["data", "align", str(tmp_path / "z.wav"), "hello zorblax and bob", "--out", str(tmp_path / "a")]
    assert main(command) == 2 and "zorblax" in capsys.readouterr().err
    assert not (tmp_path / "a.npz").exists()
    assert main([*command, "--letter-to-sound"]) == 0
    phones = load_clip(tmp_path / "a.npz").phones
    assert phones.count("B") >= 3 and "Z" in phones  # zorBlax, Bob: guessed word aligned among known ones


@pytest.mark.tts
def test_given_pronunciations_let_unknown_words_align(tmp_path):
    flite_speech(tmp_path / "z.wav", "hello zorblax")
    phones, _ = align_phones(
        load_audio(tmp_path / "z.wav"), "hello zorblax", pronunciations={"zorblax": "Z AO1 R B L AE0 K S"}
    )
    assert [p for p in phones if p != SILENCE][-4:] == ["L", "AE", "K", "S"]


@pytest.mark.tts
def test_recording_and_transcript_become_a_training_clip(tmp_path):
    from core.data.clip import load_clip

    flite_speech(tmp_path / "fox.wav", SENTENCE)
    (tmp_path / "clips").mkdir()
    npz = align_recording_to_clip(
        tmp_path / "fox.wav", SENTENCE, tmp_path / "clips", speaker="me", emotion="happy", seed=1
    )
    assert npz == tmp_path / "clips" / "fox.npz"
    clip = load_clip(npz)
    assert (clip.speaker, clip.emotion, clip.text) == ("me", "happy", SENTENCE)
    assert clip.phones[0] == SILENCE and "DH" in clip.phones
    assert clip.weights.shape[1] == 52 and abs(clip.num_frames / clip.fps - clip.duration) < 0.1
