"""core.data.real_speech: indexing extracted Debian speech packages into clips, splits and a manifest.

Every test builds a small fake extracted-package layout (real audio written with soundfile, a real drascula.dat
written in ScummVM's format) and hands it to the indexer through `provide`; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import subprocess

import numpy as np
import pytest
import soundfile as sf

from core.data.clip import load_clip
from core.data.drascula_text import drascula_transcripts
from core.data.real_speech import (
    SOURCES,
    PackageUnavailable,
    build_real_speech,
    dev_split_shortfall,
    number_words,
    speakable_transcript,
)
from core.training.corpus_features import TrainingClip, read_splits
from core.training.real_speech_clips import REAL_SPEECH_PREFIX, repeat_by_language

RNG = np.random.default_rng(0)
TEST_SOURCES = tuple(
    s
    for s in SOURCES
    if s.package in {"asterisk-core-sounds-en-wav", "drascula", "fillets-ng-data-cs", "fillets-ng-data-nl"}
)


def voice_like(seconds: float, rate: int, pitch: float = 140.0) -> np.ndarray:
    """A harmonic tone with a syllable-rate envelope: loud enough to count as speech, (samples,) float32."""
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2
    return (0.2 * tone * envelope + 0.002 * RNG.standard_normal(t.size)).astype(np.float32)


def write_drascula_dat(path, english: dict[str, list[str]]) -> None:
    """A drascula.dat (version 6 layout, empty numeric tables) whose first ten text tables hold `english`
    for every language: keys '', 'D', 'B', 'BJ', 'E', 'I', 'L', 'P', 'T', 'VB'."""
    out = bytearray(b"DRASCULA\x06")
    for _ in range(13):
        out += struct.pack(">H", 0)
    languages = 5
    out += struct.pack(">H", languages)
    for prefix in ("", "D", "B", "BJ", "E", "I", "L", "P", "T", "VB"):
        strings = english.get(prefix, [""])
        out += struct.pack(">H", len(strings))
        for _ in range(languages):
            records = b""
            for text in strings:
                raw = text.encode("latin-1") + b"\0"
                pad = 4 - (len(raw) + 2) % 4
                records += struct.pack(">H", len(raw) + pad + 2) + raw + b"\0" * pad
            out += struct.pack(">H", len(records) + 2) + b"\0\0" + records
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))


def fake_packages(root, speech_wav: np.ndarray | None = None, hero_wav: np.ndarray | None = None) -> dict:
    """Extracted trees of the test packages: {package: folder}. fillets-ng-data-nl is left out (missing).
    speech_wav (8 kHz) is Allison's agent-pass prompt, hero_wav (11,025 Hz) the Drascula hero's line 1."""
    trees = {}
    # asterisk: Allison's prompts at 8 kHz, with transcripts in the companion package
    tree = trees["asterisk-core-sounds-en-wav"] = root / "asterisk-wav"
    voice = tree / "usr/share/asterisk/sounds/en_US_f_Allison"
    voice.mkdir(parents=True)
    sf.write(voice / "agent-pass.wav", speech_wav if speech_wav is not None else voice_like(2.0, 8000), 8000)
    (voice / "digits").mkdir()
    sf.write(voice / "digits/7.wav", voice_like(0.8, 8000, 180.0), 8000)
    sf.write(voice / "beep.wav", voice_like(1.0, 8000, 1000.0), 8000)  # a tone, marked [..] in the transcripts
    sf.write(voice / "blip.wav", voice_like(0.3, 8000), 8000)  # too short
    sf.write(voice / "hush.wav", np.zeros(16000, np.float32), 8000)  # silent
    sf.write(voice / "conf-long.wav", voice_like(65.0, 8000, 120.0), 8000)  # cut into parts
    texts = root / "asterisk-txt/usr/share/doc/asterisk-core-sounds-en"
    texts.mkdir(parents=True)
    listing = "; Core Asterisk Sounds in English\n\nagent-pass: Please enter your password followed by the pound key.\n"
    listing += "digits/7: seven\nbeep: [this is a simple beep tone]\nconf-long: A long prompt.\n"
    (texts / "core-sounds-en.txt.gz").write_bytes(gzip.compress(listing.encode()))
    trees["asterisk-core-sounds-en"] = root / "asterisk-txt"
    # drascula: raw unsigned 8-bit mono at 11,025 Hz; text from scummvm-data's drascula.dat
    tree = trees["drascula"] = root / "drascula"
    folder = tree / "usr/share/scummvm/drascula/en"
    folder.mkdir(parents=True)
    for name, seconds in (("1", 1.5), ("D1", 2.0), ("D70", 1.2), ("L1", 1.1), ("I2", 0.9), ("S3", 1.0)):
        audio = hero_wav if name == "1" and hero_wav is not None else voice_like(seconds, 11025)
        samples = np.clip(audio * 128 + 128, 0, 255).astype(np.uint8)
        (folder / f"{name}.ALS").write_bytes(samples.tobytes())
    d_lines = [""] * 71
    d_lines[1], d_lines[70] = "HEY IGOR, HOW IS EVERYTHING GOING?", "I AM THE BLIND MAN"
    write_drascula_dat(
        root / "scummvm/usr/share/scummvm/drascula.dat", {"": ["", "THAT'S THE SECOND BIGGEST DOOR"], "D": d_lines}
    )
    trees["scummvm-data"] = root / "scummvm"
    # fillets: Czech voices at 44.1 / 22.05 kHz (ogg), characters and text from the level script
    tree = trees["fillets-ng-data-cs"] = root / "fillets-cs"
    sound = tree / "usr/share/games/fillets-ng/sound/city/cs"
    sound.mkdir(parents=True)
    sf.write(sound / "vit-hs-vitejte.ogg", voice_like(1.5, 44100, 110.0), 44100)
    sf.write(sound / "vit-m-hlava.ogg", voice_like(1.2, 22050, 220.0), 22050)
    parrot = voice_like(1.0, 22050, 300.0)
    sf.write(sound / "vit-pap-ahoj.ogg", parrot, 22050)
    sf.write(sound / "vit-m-kopie.ogg", parrot, 22050)  # the same recording under a training speaker
    sf.write(sound / "vit-x-unknown.ogg", voice_like(0.9, 22050, 260.0), 22050)  # not in the script
    script = root / "fillets/usr/share/games/fillets-ng/script/city"
    script.mkdir(parents=True)
    (script / "dialogs_cs.lua").write_text(
        'dialogId("vit-hs-vitejte", "font_statue", "Welcome.")\ndialogStr("Vítejte.")\n\n'
        'dialogId("vit-m-hlava", "font_small",\n  "My head.")\ndialogStr("Moje hlava.")\n\n'
        'dialogId("vit-pap-ahoj", "font_parrot", "Hello.")\ndialogStr("Ahoj.")\n'
        'dialogId("vit-m-kopie", "font_small", "Hello.")\ndialogStr("Ahoj.")\n',
        encoding="utf-8",
    )
    trees["fillets-ng-data"] = root / "fillets"
    return trees


def provider(trees: dict, calls: list | None = None):
    def provide(package: str):
        if calls is not None:
            calls.append(package)
        if package not in trees:
            raise PackageUnavailable(f"could not download Debian package '{package}' (test: not in the fake layout)")
        return trees[package]

    return provide


@pytest.fixture
def indexed(tmp_path):
    trees = fake_packages(tmp_path / "debs")
    out = tmp_path / "real_speech"
    summary = build_real_speech(out, provider(trees), TEST_SOURCES, align=False, log=lambda _: None)
    return out, summary, trees


def test_index_writes_16k_mono_clips_with_speakers_transcripts_and_licences(indexed):
    out, summary, _ = indexed
    manifest = json.loads((out / "manifest.json").read_text())
    entries = {e["id"]: e for e in manifest["entries"]}
    for entry in entries.values():
        info = sf.info(str(out / entry["wav"]))
        assert (info.samplerate, info.channels) == (16000, 1)
        assert entry["seconds"] == pytest.approx(info.frames / 16000, abs=1e-3)
        assert 0.5 <= entry["seconds"] <= 30.0
        assert set(entry) >= {"id", "wav", "source", "speaker", "language", "seconds", "transcript", "licence"}
        assert entry["wav"] == entry["id"] + ".wav"

    allison = entries["clips/asterisk-core-sounds-en-wav/agent-pass"]
    assert allison["speaker"] == "asterisk:allison" and allison["language"] == "en"
    assert allison["transcript"] == "Please enter your password followed by the pound key."
    assert allison["licence"] == "CC-BY-SA-3.0" and allison["seconds"] == pytest.approx(2.0, abs=0.01)
    assert entries["clips/asterisk-core-sounds-en-wav/digits__7"]["transcript"] == "seven"
    # tones, too-short and silent prompts are dropped; a 65 s prompt is cut into parts without its transcript
    assert not any(k.endswith(("/beep", "/blip", "/hush")) for k in entries)
    parts = [e for k, e in entries.items() if "/conf-long_part" in k]
    assert len(parts) >= 3 and sum(e["seconds"] for e in parts) == pytest.approx(65.0, abs=0.05)
    assert all(e["transcript"] is None for e in parts)

    hacker, drascula, blind = (entries[f"clips/drascula/{n}"] for n in ("1", "D1", "D70"))
    assert hacker["transcript"] == "THAT'S THE SECOND BIGGEST DOOR" and hacker["speaker"] == "drascula:hacker"
    assert drascula["transcript"] == "HEY IGOR, HOW IS EVERYTHING GOING?" and drascula["speaker"] == "drascula:drascula"
    assert blind["speaker"] == "drascula:blind" and blind["seconds"] == pytest.approx(1.2, abs=0.01)
    assert "clips/drascula/S3" not in entries  # S*.ALS are sound effects

    statue = entries["clips/fillets-ng-data-cs/city__vit-hs-vitejte"]
    assert statue["speaker"] == "fillets-ng-data-cs:font_statue" and statue["transcript"] == "Vítejte."
    assert statue["language"] == "cs" and statue["seconds"] == pytest.approx(1.5, abs=0.01)
    assert entries["clips/fillets-ng-data-cs/city__vit-m-hlava"]["transcript"] == "Moje hlava."
    assert entries["clips/fillets-ng-data-cs/city__vit-x-unknown"]["speaker"] is None
    assert summary.clips == len(entries) == manifest["clips"]


def test_a_recording_found_twice_is_kept_once_under_its_dev_speaker(indexed):
    out, _, _ = indexed
    manifest = json.loads((out / "manifest.json").read_text())
    ids = {e["id"] for e in manifest["entries"]}
    assert "clips/fillets-ng-data-cs/city__vit-pap-ahoj" in ids  # font_parrot: a dev speaker
    assert "clips/fillets-ng-data-cs/city__vit-m-kopie" not in ids
    assert not (out / "clips/fillets-ng-data-cs/city__vit-m-kopie.wav").exists()
    assert manifest["duplicates_dropped"] == 1


def test_missing_package_is_named_and_the_rest_still_indexes(indexed):
    out, summary, _ = indexed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["missing_packages"] == ["fillets-ng-data-nl"] == summary.missing_packages
    assert set(manifest["hours_per_source"]) == {"asterisk-core-sounds-en-wav", "drascula", "fillets-ng-data-cs"}


def test_nothing_indexed_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="no real-speech clip was indexed.*fillets-ng-data-nl"):
        build_real_speech(tmp_path / "out", provider({}), TEST_SOURCES, align=False, log=lambda _: None)


def test_content_hash_covers_sorted_ids_and_wav_bytes(indexed):
    out, summary, _ = indexed
    manifest = json.loads((out / "manifest.json").read_text())
    digest = hashlib.sha256()
    for entry in sorted(manifest["entries"], key=lambda e: e["id"]):
        digest.update(entry["id"].encode())
        digest.update(hashlib.sha256((out / entry["wav"]).read_bytes()).digest())
    assert manifest["content_hash"] == summary.content_hash == digest.hexdigest()
    # a changed clip changes the hash
    victim = out / manifest["entries"][0]["wav"]
    audio, rate = sf.read(victim)
    sf.write(victim, audio * 0.5, rate, subtype="PCM_16")
    rebuilt = build_real_speech(out, provider(indexed[2]), TEST_SOURCES, align=False, log=lambda _: None)
    assert rebuilt.content_hash != summary.content_hash


def test_splits_hold_out_whole_speakers_and_meet_the_dev_minimums(indexed):
    out, _, _ = indexed
    manifest = json.loads((out / "manifest.json").read_text())
    splits = read_splits(out)
    assert set(splits) == {"train", "real-dev", "real-dev-unscored"}
    speaker = {e["id"]: e["speaker"] or e["source"] for e in manifest["entries"]}
    train = {speaker[i] for i in splits["train"]}
    dev = {speaker[i] for i in splits["real-dev"] + splits["real-dev-unscored"]}
    assert train and dev and not train & dev
    assert sorted(splits["train"] + splits["real-dev"] + splits["real-dev-unscored"]) == sorted(speaker)
    assert "asterisk:allison" in dev and "fillets-ng-data-cs:font_statue" in dev
    # English actors train too (the hero, Drascula), the rest of the cast stays dev: both sides hear English
    assert {"drascula:hacker", "drascula:drascula"} <= train
    assert {"drascula:blind", "drascula:werewolf", "drascula:igor"} <= dev
    english = {e["speaker"] for e in manifest["entries"] if e["language"] == "en" and e["speaker"]}
    assert english & train and english & dev
    assert "fillets-ng-data-cs:font_small" in train and "fillets-ng-data-cs" in train  # unknown speaker = its source
    assert splits["real-dev"] == []  # nothing aligned (align=False)
    assert all(not i.endswith(".wav") for ids in splits.values() for i in ids)
    # the fake layout has 6 dev speakers and about 1.3 dev minutes
    assert dev_split_shortfall(manifest["entries"], splits, min_minutes=1.0, min_speakers=5) == []
    shortfall = dev_split_shortfall(manifest["entries"], splits)  # the real minimums: 10 minutes, 5 speakers
    assert len(shortfall) == 1 and "10" in shortfall[0]


def test_rerun_reuses_clips_and_gives_the_same_manifest(indexed):
    out, summary, trees = indexed
    before = (out / "manifest.json").read_text()
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    again = build_real_speech(out, provider(trees), TEST_SOURCES, align=False, log=lambda _: None)
    assert again.content_hash == summary.content_hash
    assert (out / "manifest.json").read_text() == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == stamps  # nothing converted again


def test_drascula_dat_texts_by_voice_file_name(tmp_path):
    dat = tmp_path / "drascula.dat"
    write_drascula_dat(dat, {"": ["", "ONE", "TWO"], "VB": ["", "WHO IS CALLING?"]})
    texts = drascula_transcripts(dat, "en")
    assert texts["1"] == "ONE" and texts["2"] == "TWO" and texts["VB1"] == "WHO IS CALLING?"
    assert drascula_transcripts(tmp_path / "missing.dat", "en") == {}
    (tmp_path / "bad.dat").write_bytes(b"DRASCULA\x06\x00")
    assert drascula_transcripts(tmp_path / "bad.dat", "en") == {}


def test_transcripts_are_made_speakable():
    assert number_words(1962) == "one thousand nine hundred sixty two"
    assert number_words(40) == "forty" and number_words(115) == "one hundred fifteen"
    text = speakable_transcript("Press 1 to mute, 2 to lock [tone] or # for 12th.")
    assert text.split() == "Press one to mute, two to lock or pound for twelve .".split()


def flite_line(text: str, path, rate: int) -> np.ndarray:
    """`text` spoken by flite's slt voice, resampled to `rate` (linear interpolation is enough for the aligner)."""
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True, capture_output=True)
    audio, source_rate = sf.read(path, dtype="float32")
    t = np.arange(int(len(audio) * rate / source_rate)) / rate
    return np.interp(t, np.arange(len(audio)) / source_rate, audio).astype(np.float32)


@pytest.mark.tts
def test_english_clips_are_aligned_dev_ones_scoreable_train_ones_kept_in_train(tmp_path):
    prompt = flite_line("Please enter your password followed by the pound key.", tmp_path / "prompt.wav", 8000)
    hero = flite_line("That's the second biggest door", tmp_path / "hero.wav", 11025)
    trees = fake_packages(tmp_path / "debs", speech_wav=prompt, hero_wav=hero)
    out = tmp_path / "real_speech"
    summary = build_real_speech(out, provider(trees), TEST_SOURCES, align=True, log=lambda _: None)
    splits = read_splits(out)
    manifest = json.loads((out / "manifest.json").read_text())
    entries = {e["id"]: e for e in manifest["entries"]}

    # the flite prompt aligns; the tone-like fakes fail alignment and stay unscored; Czech is never aligned
    assert "clips/asterisk-core-sounds-en-wav/agent-pass" in splits["real-dev"]
    # the hero's line (a training speaker) is aligned too, and stays in train: its targets are for phase C
    hero_id = "clips/drascula/1"
    assert entries[hero_id]["aligned"] and hero_id in splits["train"] and hero_id not in splits["real-dev"]
    assert load_clip(out / f"{hero_id}.npz").weights.shape[1] == 52
    assert summary.aligned == len(splits["real-dev"]) + 1 == sum(e["aligned"] for e in entries.values())
    alignment = manifest["alignment"]
    assert alignment["attempted"] == alignment["aligned"] + alignment["failed"]
    assert alignment["dev_aligned"] == len(splits["real-dev"]) and alignment["dev_attempted"] < alignment["attempted"]
    assert "clips/fillets-ng-data-cs/city__vit-hs-vitejte" in splits["real-dev-unscored"]
    for clip_id in splits["real-dev"]:
        clip = load_clip(out / f"{clip_id}.npz")
        assert clip.speaker == entries[clip_id]["speaker"]
        assert clip.weights.shape[1] == 52 and len(clip.phones) > 5
        assert clip.duration == pytest.approx(entries[clip_id]["seconds"], abs=0.01)


def test_phase_c_draws_named_languages_more_often(indexed):
    out, _, _ = indexed
    manifest = json.loads((out / "manifest.json").read_text())
    clips = [
        TrainingClip(
            REAL_SPEECH_PREFIX + e["id"],
            e["speaker"] or e["source"],
            "neutral",
            np.zeros((3, 4)),
            np.zeros((3, 52)),
            30.0,
            [],
            np.zeros((0, 2)),
        )  # fmt: skip
        for e in manifest["entries"]
    ]
    language = {REAL_SPEECH_PREFIX + e["id"]: e["language"] for e in manifest["entries"]}
    drawn = repeat_by_language(clips, out, {"en": 3})
    counts = {c.clip_id: sum(d is c for d in drawn) for c in clips}
    assert {language[i] for i in counts} == {"en", "cs"}
    assert all(n == (3 if language[i] == "en" else 1) for i, n in counts.items())
    assert repeat_by_language(clips, out, {}) == clips
    with pytest.raises(ValueError, match="whole number >= 1"):
        repeat_by_language(clips, out, {"en": 0})
