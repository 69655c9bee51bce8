"""Extra speakers for the student audio encoder: new identities that speak only training sentences, and reach
distillation phase A (and nothing else)."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.emotions import EMOTIONS
from core.data.generate import PRESETS, plan_corpus
from core.data.speech_synthesis import ENCODER_VOICES, VOICES, synthesize


def test_encoder_voices_speak_only_the_corpus_training_sentences():
    corpus_voices = list(VOICES)
    full = plan_corpus(PRESETS["full"], 0, corpus_voices)
    extra = plan_corpus(PRESETS["encoder-voices"], 0, list(ENCODER_VOICES), corpus_voices)
    held_out_sentences = {t.text for t in full if t.split == "heldout_sentences"}
    assert held_out_sentences and not {t.text for t in extra} & held_out_sentences
    assert {t.split for t in extra} == {"train"}
    assert {t.voice for t in extra} == set(ENCODER_VOICES) and not set(ENCODER_VOICES) & set(VOICES)
    per_emotion = [sum(t.emotion == e for t in extra) for e in EMOTIONS]
    assert max(per_emotion) - min(per_emotion) <= len(ENCODER_VOICES)
    # Same seed, same plan: the corpus is reproducible.
    assert [t.text for t in plan_corpus(PRESETS["encoder-voices"], 0, list(ENCODER_VOICES), corpus_voices)] == [
        t.text for t in extra
    ]


@pytest.mark.tts
def test_every_encoder_voice_speaks_with_phone_times_and_differs_from_its_source():
    line = "Bob picked a bright map from the shelf."
    spoken = {name: synthesize(line, name, "neutral") for name in ENCODER_VOICES}
    for name, u in spoken.items():
        assert u.audio.size > 16000 and np.abs(u.audio).max() > 0.01, name
        assert {"B", "M", "P"} <= set(u.phones), name
        assert u.phone_times[-1, 1] == pytest.approx(u.audio.size / 16000, abs=0.02), name
    # A timbre variant is another speaker: not the corpus voice it was made from.
    source = synthesize(line, "piper_joe", "neutral")
    assert spoken["piper_joe_short"].audio.size != source.audio.size


def test_an_unknown_voice_names_both_voice_lists():
    with pytest.raises(ValueError, match="espeak_en_m1"):
        synthesize("hello", "nobody", "neutral")
