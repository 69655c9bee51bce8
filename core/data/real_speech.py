"""Real human speech from Debian packages: audio to train the student's encoder on, and a scored real-speech dev set.

The shipped student only ever heard synthetic voices. Debian ships hours of freely licensed human recordings inside
game and telephony packages; this module downloads them (`apt-get download`, never installed), extracts them
(`dpkg -x`), finds the spoken clips and writes them as 16 kHz mono wav. Layout of OUT:
  clips/<package>/<name>.wav   every usable clip (>= 0.5 s, not silent; clips over 30 s are cut into parts)
  clips/<package>/<name>.npz   for the aligned English clips (core.data.clip format, face targets synthesised
                               from a forced alignment of the transcript: core.data.align); dev ones are scored,
                               train ones can be phase C's targets (real_speech_targets "aligned")
  manifest.json  one entry per clip {id, wav, source, speaker, language, seconds, transcript, licence, aligned},
                 totals per source, missing packages, alignment counts and a content hash
  splits.json    clip ids per split (the format core.training.corpus_features.read_splits reads):
                 train              everything not in a dev split (audio only: it has no face targets)
                 real-dev           aligned English dev clips: ordinary corpus clips, scoreable
                 real-dev-unscored  the other dev clips (audio only)

The split is by whole speakers, so no dev voice is ever trained on. Dev speakers (DEV_SPEAKERS):
  - Allison (asterisk-core-sounds-en-wav: studio prompts with transcripts; also her Mexican-Spanish prompts),
  - the English Drascula voice actors (scummvm's drascula.dat holds each line's text; core.data.drascula_text)
    except the four with the most lines (DRASCULA_TRAIN_SPEAKERS: the hero, Drascula, Von Braun, B.J.; about
    27 minutes), which train: without them the training audio holds no English sentence at all, and English is
    what users record. Dev keeps Allison and seven actors (about 25 minutes, 8 speakers),
  - two Czech Fish Fillets characters (statue, parrot), unscored, for non-English voices (the Dutch dub voices
    only the two fish, whose 1.5 h stay in train).
A clip whose speaker is unknown counts as its package's one speaker. Speaker ids are prefixed with their source
family so two packages never share an id by accident, except where the same person is known to speak in both
(Allison's en and es prompts share "asterisk:allison"). Speakers are known per character, not per actor: a Czech
actor who voices the statue and also another character would sit on both sides (the Czech dev part is unscored).
Byte-identical recordings (Debian symlinks, ktuberling languages sharing words) are kept once.

Sources are training data only: never committed, never shipped (see each entry's licence).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.audio import SAMPLE_RATE, SILENCE_PEAK, load_audio, resample_audio, save_wav

MIN_CLIP_SECONDS = 0.5  # shorter than a word: little to learn from
MAX_CLIP_SECONDS = 30.0  # longer clips are cut into parts no longer than this
DEV_SPLITS = ("real-dev", "real-dev-unscored")

# Whole speakers held out of training (see the module docstring), plus every speaker of DRASCULA_DEV_SOURCE
# except DRASCULA_TRAIN_SPEAKERS.
DEV_SPEAKERS = frozenset(
    {
        "asterisk:allison",
        "fillets-ng-data-cs:font_statue",
        "fillets-ng-data-cs:font_parrot",
    }
)
DRASCULA_DEV_SOURCE = "drascula"
DRASCULA_TRAIN_SPEAKERS = frozenset({"drascula:hacker", "drascula:drascula", "drascula:vonbraun", "drascula:bj"})


class PackageUnavailable(RuntimeError):
    """A Debian package could not be downloaded or extracted; the message names it and says what to check."""


@dataclass(frozen=True)
class SpeechSource:
    package: str  # the Debian package holding the audio; also the clips/<package>/ folder name
    language: str  # ISO 639-1 of the speech ("multi": per-clip, from the reader)
    licence: str
    layout: str  # which reader finds its clips: a key of _READERS
    extra_packages: tuple[str, ...] = ()  # packages holding transcripts or scripts (read, never indexed)


SOURCES: tuple[SpeechSource, ...] = (
    SpeechSource("asterisk-core-sounds-en-wav", "en", "CC-BY-SA-3.0", "asterisk", ("asterisk-core-sounds-en",)),
    SpeechSource("drascula", "en", "Drascula freeware licence (BSD-like)", "drascula", ("scummvm-data",)),
    SpeechSource("fillets-ng-data-cs", "cs", "GPL-2+", "fillets", ("fillets-ng-data",)),
    SpeechSource("fillets-ng-data-nl", "nl", "GPL-2+", "fillets", ("fillets-ng-data",)),
    SpeechSource("asterisk-core-sounds-es-wav", "es", "CC-BY-SA-3.0", "asterisk", ("asterisk-core-sounds-en",)),
    SpeechSource("asterisk-core-sounds-fr-wav", "fr", "CC-BY-SA-3.0", "asterisk", ("asterisk-core-sounds-en",)),
    SpeechSource("asterisk-core-sounds-it-wav", "it", "CC-BY-SA-3.0", "asterisk", ("asterisk-core-sounds-en",)),
    SpeechSource("asterisk-core-sounds-ru-wav", "ru", "CC-BY-SA-3.0", "asterisk", ("asterisk-core-sounds-en",)),
    SpeechSource("asterisk-prompt-it-menardi-wav", "it", "CC-BY-SA-3.0-IT", "asterisk", ("asterisk-core-sounds-en",)),
    SpeechSource("asterisk-prompt-es-co", "es", "GPL-2+", "asterisk", ("asterisk-core-sounds-en",)),
    SpeechSource("asterisk-prompt-fr-armelle", "fr", "GPL-2+", "asterisk", ("asterisk-core-sounds-en",)),
    SpeechSource("drascula-spanish", "es", "Drascula freeware licence (BSD-like)", "drascula", ("scummvm-data",)),
    SpeechSource("klettres-data", "multi", "GPL-2+", "klettres"),
    SpeechSource("ktuberling-data", "multi", "GPL-2+", "ktuberling"),
    SpeechSource("alsa-utils", "en", "GPL-2", "alsa"),
)


@dataclass
class FoundClip:
    """A spoken clip inside an extracted package, before conversion."""

    name: str  # unique within its source, safe as a file name
    path: Path
    speaker: str | None = None  # None: unknown (counts as the source's one speaker)
    transcript: str | None = None
    language: str | None = None  # None: the source's language
    decoder: str = "file"  # "file" (libsndfile), "gsm" (raw GSM 6.10, 8 kHz), "drascula" (raw u8, 11,025 Hz)


@dataclass
class RealSpeechSummary:
    out_dir: Path
    clips: int
    hours: float
    hours_per_source: dict[str, float]
    speakers: int
    languages: list[str]
    missing_packages: list[str]
    split_minutes: dict[str, float]
    split_speakers: dict[str, int]
    aligned: int
    alignment_failed: int
    content_hash: str
    seconds: float
    messages: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"real speech in {self.out_dir}: {self.clips} clips, {self.hours:.2f} h, {self.speakers} speakers"]
        lines.append(f"  languages: {', '.join(self.languages)}")
        for source, hours in sorted(self.hours_per_source.items()):
            lines.append(f"  {source}: {hours:.2f} h")
        for split, minutes in self.split_minutes.items():
            lines.append(f"  split {split}: {minutes:.1f} min, {self.split_speakers[split]} speakers")
        lines.append(
            f"  aligned English clips (dev: scored; train: phase C targets): {self.aligned} "
            f"({self.alignment_failed} could not be aligned)"
        )
        if self.missing_packages:
            lines.append(f"  missing packages (not indexed): {', '.join(self.missing_packages)}")
        lines.append(f"  content hash: {self.content_hash}")
        lines.append(f"  took {self.seconds:.0f} s")
        return "\n".join(lines)


# ---------------------------------------------------------------- fetching packages


def apt_get_download(package: str, debs_dir: Path) -> Path:
    """The package's .deb in `debs_dir`, downloaded with `apt-get download` unless one is already there."""
    debs_dir = Path(debs_dir)
    debs_dir.mkdir(parents=True, exist_ok=True)
    existing = sorted(debs_dir.glob(f"{package}_*.deb"))
    if existing:
        return existing[-1]
    # Download into a scratch folder first: an interrupted download never leaves a truncated .deb behind.
    with tempfile.TemporaryDirectory(dir=debs_dir, prefix=".download-") as scratch:
        try:
            result = subprocess.run(
                ["apt-get", "download", package], cwd=scratch, capture_output=True, text=True, timeout=900
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PackageUnavailable(
                f"could not run `apt-get download {package}` ({exc}); is apt-get installed?"
            ) from None
        debs = sorted(Path(scratch).glob(f"{package}_*.deb"))
        if result.returncode != 0 or not debs:
            reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no .deb was written"]
            raise PackageUnavailable(
                f"could not download Debian package '{package}': {reason[0]}. Run `apt-get update` and check "
                f"`apt-cache policy {package}`; the other packages are indexed without it."
            )
        target = debs_dir / debs[0].name
        shutil.move(str(debs[0]), target)
    return target


def extract_deb(deb: Path, dest: Path) -> Path:
    """`dpkg -x DEB DEST` once (a marker records which .deb was extracted); returns DEST."""
    marker = dest / f".extracted-{deb.name}"
    if marker.is_file():
        return dest
    if dest.exists():
        shutil.rmtree(dest)  # a half-finished or older extraction
    dest.mkdir(parents=True)
    result = subprocess.run(["dpkg", "-x", str(deb), str(dest)], capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        raise PackageUnavailable(
            f"could not extract {deb} ({result.stderr.strip()[-300:]}); delete it to download it again."
        )
    marker.touch()
    return dest


def debian_package_provider(debs_dir: Path) -> Callable[[str], Path]:
    """package name -> its extracted tree under DEBS/extracted/<package>, downloading and extracting as needed."""
    debs_dir = Path(debs_dir)

    def provide(package: str) -> Path:
        return extract_deb(apt_get_download(package, debs_dir), debs_dir / "extracted" / package)

    return provide


# ---------------------------------------------------------------- finding clips in extracted packages


def _asterisk_transcripts(extras: dict[str, Path]) -> dict[str, str]:
    """'digits/0' -> 'zero', from asterisk-core-sounds-en's core-sounds-en.txt(.gz) (empty when absent)."""
    root = extras.get("asterisk-core-sounds-en")
    if root is None:
        return {}
    texts: dict[str, str] = {}
    for path in sorted(root.rglob("core-sounds-en.txt*")):
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for line in raw.decode("utf-8", errors="replace").splitlines():
            key, sep, text = line.partition(":")
            if sep and not line.startswith(";") and key.strip() and " " not in key.strip():
                texts[key.strip()] = text.strip()
    return texts


def _non_speech(transcript: str | None) -> bool:
    """Asterisk marks tones and beeps as '[ascending tones]'."""
    return transcript is not None and transcript.startswith("[") and transcript.endswith("]")


def _read_asterisk(source: SpeechSource, root: Path, extras: dict[str, Path]) -> list[FoundClip]:
    """usr/share/asterisk/sounds/<voice or language>/**/*.wav|gsm; the voice folder names the speaker
    (en_US_f_Allison -> asterisk:allison). English transcripts also tell which names are tones, in every language."""
    sounds = root / "usr/share/asterisk/sounds"
    texts = _asterisk_transcripts(extras)
    clips = []
    for voice_dir in sorted(p for p in sounds.glob("*") if p.is_dir()):
        parts = voice_dir.name.split("_")
        speaker = f"asterisk:{parts[-1].lower()}" if len(parts) >= 4 else None  # ll_CC_sex_Name
        for path in sorted(voice_dir.rglob("*")):
            if path.suffix.lower() not in (".wav", ".gsm") or not path.is_file():
                continue
            key = path.relative_to(voice_dir).with_suffix("").as_posix()
            if key.startswith("silence/") or _non_speech(texts.get(key)):
                continue
            transcript = texts.get(key) if source.language == "en" else None
            decoder = "gsm" if path.suffix.lower() == ".gsm" else "file"
            clips.append(FoundClip(key.replace("/", "__"), path, speaker, transcript, None, decoder))
    return clips


_LUA_DIALOG = re.compile(
    r'dialogId\(\s*"([^"]*)"\s*,\s*"([^"]*)"\s*,\s*"(?:[^"\\]|\\.)*"\s*\)\s*dialogStr\(\s*"((?:[^"\\]|\\.)*)"\s*\)'
)


def _read_fillets(source: SpeechSource, root: Path, extras: dict[str, Path]) -> list[FoundClip]:
    """sound/<level>/<lang>/<id>.ogg; fillets-ng-data's script/<level>/dialogs_<lang>.lua gives each id's
    character (its subtitle font, e.g. font_small = the small fish) and text."""
    game = root / "usr/share/games/fillets-ng"
    script_root = extras.get("fillets-ng-data", root) / "usr/share/games/fillets-ng/script"
    clips = []
    for level_dir in sorted(p for p in (game / "sound").glob("*") if (p / source.language).is_dir()):
        lines: dict[str, tuple[str, str]] = {}
        script = script_root / level_dir.name / f"dialogs_{source.language}.lua"
        if script.is_file():
            for dialog_id, font, text in _LUA_DIALOG.findall(script.read_text(encoding="utf-8", errors="replace")):
                lines[dialog_id] = (font, text.replace('\\"', '"'))
        for path in sorted((level_dir / source.language).glob("*.ogg")):
            font, text = lines.get(path.stem, ("", ""))
            speaker = f"{source.package}:{font}" if font else None
            clips.append(FoundClip(f"{level_dir.name}__{path.stem}", path, speaker, text or None))
    return clips


# Drascula voice files are <prefix><number>.ALS; the prefix names the character (ScummVM's engines/drascula/talk.cpp).
DRASCULA_SPEAKERS = {
    "": "hacker", "B": "drunk", "BJ": "bj", "D": "drascula", "E": "e", "I": "igor", "L": "werewolf",
    "P": "pianist", "T": "bartender", "VB": "vonbraun",
}  # fmt: skip
_DRASCULA_FILE = re.compile(r"^([A-Z]*)(\d+)\.ALS$", re.IGNORECASE)


def _read_drascula(source: SpeechSource, root: Path, extras: dict[str, Path]) -> list[FoundClip]:
    """usr/share/scummvm/drascula/<lang>/<prefix><n>.ALS (raw unsigned 8-bit mono, 11,025 Hz); S*.ALS are sound
    effects. Transcripts come from scummvm-data's drascula.dat (core.data.drascula_text) when it can be read."""
    from core.data.drascula_text import TEXTD_START, drascula_transcripts

    folder = root / "usr/share/scummvm/drascula" / source.language
    dat = next(iter(sorted(extras.get("scummvm-data", root).rglob("drascula.dat"))), None)
    texts = drascula_transcripts(dat, source.language) if dat is not None else {}
    clips = []
    for path in sorted(folder.glob("*")):
        match = _DRASCULA_FILE.match(path.name)
        if not match or match.group(1).upper() not in DRASCULA_SPEAKERS:
            continue
        prefix, number = match.group(1).upper(), int(match.group(2))
        character = "blind" if prefix == "D" and number >= TEXTD_START else DRASCULA_SPEAKERS[prefix]
        transcript = texts.get(f"{prefix}{number}")
        speaker = f"{source.package}:{character}"
        clips.append(FoundClip(path.stem.upper(), path, speaker, transcript, None, "drascula"))
    return clips


def _read_per_language(folder: Path, source: SpeechSource) -> list[FoundClip]:
    """<folder>/<lang>/**/*.ogg|wav|opus: one (unknown) speaker per language."""
    clips = []
    for lang_dir in sorted(p for p in folder.glob("*") if p.is_dir()):
        for path in sorted(lang_dir.rglob("*")):
            if path.is_file() and path.suffix.lower() in (".ogg", ".wav", ".opus"):
                name = path.relative_to(folder).with_suffix("").as_posix().replace("/", "__")
                clips.append(FoundClip(name, path, f"{source.package}:{lang_dir.name}", None, lang_dir.name))
    return clips


def _read_klettres(source: SpeechSource, root: Path, extras: dict[str, Path]) -> list[FoundClip]:
    return _read_per_language(root / "usr/share/klettres", source)


def _read_ktuberling(source: SpeechSource, root: Path, extras: dict[str, Path]) -> list[FoundClip]:
    return _read_per_language(root / "usr/share/ktuberling/sounds", source)


def _read_alsa(source: SpeechSource, root: Path, extras: dict[str, Path]) -> list[FoundClip]:
    """alsa-utils' speaker-test voice: Front_Left.wav says "front left" (Noise.wav is noise)."""
    clips = []
    for path in sorted((root / "usr/share/sounds/alsa").glob("*.wav")):
        if path.stem.lower() != "noise":
            clips.append(FoundClip(path.stem, path, None, path.stem.replace("_", " ").lower()))
    return clips


_READERS: dict[str, Callable[[SpeechSource, Path, dict[str, Path]], list[FoundClip]]] = {
    "asterisk": _read_asterisk,
    "fillets": _read_fillets,
    "drascula": _read_drascula,
    "klettres": _read_klettres,
    "ktuberling": _read_ktuberling,
    "alsa": _read_alsa,
}


def find_clips(source: SpeechSource, root: Path, extras: dict[str, Path]) -> list[FoundClip]:
    """The spoken clips of one extracted package (`extras`: the extracted trees of its extra_packages).

    Symbolic links are left out: Debian packages use them for files identical to another package's (e.g.
    drascula-spanish links a few English voice files), which would put one recording in two places."""
    return [c for c in _READERS[source.layout](source, Path(root), extras) if not c.path.is_symlink()]


# ---------------------------------------------------------------- converting


def decode_clip(clip: FoundClip) -> np.ndarray:
    """(samples,) float32 mono at 16 kHz."""
    if clip.decoder == "drascula":
        raw = np.frombuffer(clip.path.read_bytes(), dtype=np.uint8)
        audio = (raw.astype(np.float32) - 128.0) / 128.0
        return np.clip(resample_audio(audio, 11_025, SAMPLE_RATE), -1.0, 1.0)
    if clip.decoder == "gsm":
        import soundfile as sf

        audio, rate = sf.read(
            str(clip.path), format="RAW", subtype="GSM610", samplerate=8000, channels=1, dtype="float32"
        )
        return np.clip(resample_audio(audio, int(rate), SAMPLE_RATE), -1.0, 1.0)
    return load_audio(clip.path, SAMPLE_RATE)


def split_long(audio: np.ndarray, max_seconds: float = MAX_CLIP_SECONDS) -> list[np.ndarray]:
    """Cut audio longer than max_seconds into equal parts, each cut moved to the quietest 20 ms within 2 s."""
    limit = int(max_seconds * SAMPLE_RATE)
    if len(audio) <= limit:
        return [audio]
    parts = int(np.ceil(len(audio) / limit)) + 1  # one spare part leaves room to move cuts to pauses
    hop, search = SAMPLE_RATE // 50, 2 * SAMPLE_RATE
    cuts = [0]
    for k in range(1, parts):
        centre = k * len(audio) // parts
        lo, hi = max(cuts[-1] + hop, centre - search), min(len(audio) - hop, centre + search)
        starts = np.arange(lo, hi, hop)
        energy = [float(np.mean(audio[s : s + hop] ** 2)) for s in starts]
        cuts.append(int(starts[int(np.argmin(energy))]) if len(starts) else centre)
    cuts.append(len(audio))
    return [audio[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def usable(audio: np.ndarray) -> bool:
    return len(audio) >= MIN_CLIP_SECONDS * SAMPLE_RATE and float(np.abs(audio).max()) >= SILENCE_PEAK * 10


# ---------------------------------------------------------------- indexing


def index_sources(
    out_dir: Path,
    provide: Callable[[str], Path],
    sources: Iterable[SpeechSource] = SOURCES,
    log: Callable[[str], None] = print,
) -> tuple[list[dict], list[str]]:
    """Convert every source's clips into OUT/clips/<package>/; returns (manifest entries, missing packages).

    `provide(package)` returns a package's extracted tree or raises PackageUnavailable. A wav already on disk is
    reused, not converted again."""
    out_dir = Path(out_dir)
    entries: list[dict] = []
    missing: list[str] = []
    for source in sources:
        try:
            root = provide(source.package)
        except PackageUnavailable as exc:
            log(f"skipping {source.package}: {exc}")
            missing.append(source.package)
            continue
        extras = {}
        for extra in source.extra_packages:
            try:
                extras[extra] = provide(extra)
            except PackageUnavailable as exc:
                log(f"{source.package} is indexed without {extra} (no transcripts or speakers from it): {exc}")
                missing.append(extra)
        started, before = time.time(), len(entries)
        for clip in find_clips(source, root, extras):
            entries.extend(_convert(clip, source, out_dir))
        seconds = sum(e["seconds"] for e in entries[before:])
        log(f"{source.package}: {len(entries) - before} clips, {seconds / 3600:.2f} h ({time.time() - started:.0f} s)")
    return entries, sorted(set(missing))


def _convert(clip: FoundClip, source: SpeechSource, out_dir: Path) -> list[dict]:
    """Write the clip (or its parts) as 16 kHz mono wav; [] when it is too short, silent or undecodable."""
    import soundfile as sf

    folder = out_dir / "clips" / source.package
    single, first_part = folder / f"{clip.name}.wav", folder / f"{clip.name}_part0.wav"
    if single.is_file():
        paths, transcripts = [single], [clip.transcript]
    elif first_part.is_file():
        paths = sorted(folder.glob(f"{clip.name}_part*.wav"), key=lambda p: int(p.stem.rsplit("_part", 1)[1]))
        transcripts = [None] * len(paths)
    else:
        try:
            audio = decode_clip(clip)
        except (ValueError, RuntimeError, OSError) as exc:  # AudioError, libsndfile: one bad file never stops the run
            print(f"  skipped {clip.path}: {exc}", file=sys.stderr)
            return []
        if not usable(audio):
            return []
        parts = [p for p in split_long(audio) if usable(p)]
        if len(parts) == 1:
            paths, transcripts = [save_wav(single, parts[0])], [clip.transcript]
        else:  # a transcript no longer matches a part
            paths = [save_wav(folder / f"{clip.name}_part{k}.wav", p) for k, p in enumerate(parts)]
            transcripts = [None] * len(paths)
    entries = []
    for path, transcript in zip(paths, transcripts, strict=True):
        rel = path.relative_to(out_dir).as_posix()
        entries.append(
            {
                "id": rel[: -len(".wav")],
                "wav": rel,
                "source": source.package,
                "speaker": clip.speaker,
                "language": clip.language or source.language,
                "seconds": round(sf.info(str(path)).frames / SAMPLE_RATE, 3),
                "transcript": transcript,
                "licence": source.licence,
                "aligned": False,
            }
        )
    return entries


def speaker_of(entry: dict) -> str:
    """The speaker a clip counts as for splitting: its speaker id, or its source when unknown."""
    return entry["speaker"] or entry["source"]


def dev_speakers(entries: list[dict]) -> set[str]:
    """DEV_SPEAKERS plus the English drascula speakers not in DRASCULA_TRAIN_SPEAKERS (seven voice actors)."""
    drascula = {speaker_of(e) for e in entries if e["source"] == DRASCULA_DEV_SOURCE}
    return set(DEV_SPEAKERS) | (drascula - DRASCULA_TRAIN_SPEAKERS)


def make_splits(entries: list[dict], aligned_ids: set[str]) -> dict[str, list[str]]:
    """train / real-dev (aligned dev clips) / real-dev-unscored, by whole speakers (see the module docstring)."""
    held_out = dev_speakers(entries)
    splits: dict[str, list[str]] = {"train": [], "real-dev": [], "real-dev-unscored": []}
    for entry in sorted(entries, key=lambda e: e["id"]):
        if speaker_of(entry) not in held_out:
            splits["train"].append(entry["id"])
        elif entry["id"] in aligned_ids:
            splits["real-dev"].append(entry["id"])
        else:
            splits["real-dev-unscored"].append(entry["id"])
    return splits


def dev_split_shortfall(
    entries: list[dict], splits: dict[str, list[str]], min_minutes: float = 10.0, min_speakers: int = 5
) -> list[str]:
    """What the dev splits (real-dev + real-dev-unscored) lack against their minimums; [] when they meet them."""
    by_id = {e["id"]: e for e in entries}
    dev = [by_id[i] for split in DEV_SPLITS for i in splits.get(split, [])]
    minutes = sum(e["seconds"] for e in dev) / 60
    speakers = len({speaker_of(e) for e in dev})
    problems = []
    if minutes < min_minutes:
        problems.append(f"dev holds {minutes:.1f} minutes of speech; at least {min_minutes:g} are wanted")
    if speakers < min_speakers:
        problems.append(f"dev holds {speakers} speakers; at least {min_speakers} are wanted")
    return problems


def drop_duplicates(out_dir: Path, entries: list[dict]) -> tuple[list[dict], int]:
    """Entries with byte-identical wavs kept once (a dev speaker's copy first, then the first id); the other
    copies' files are deleted. Packages reuse recordings (ktuberling's languages, asterisk's aliases), and one
    recording under two speakers could otherwise sit in train and dev at once."""
    held_out = dev_speakers(entries)
    seen: set[bytes] = set()
    kept = []
    for entry in sorted(entries, key=lambda e: (speaker_of(e) not in held_out, e["id"])):
        digest = hashlib.sha256((out_dir / entry["wav"]).read_bytes()).digest()
        if digest in seen:
            (out_dir / entry["wav"]).unlink()
            continue
        seen.add(digest)
        kept.append(entry)
    return kept, len(entries) - len(kept)


def content_hash(out_dir: Path, entries: list[dict]) -> str:
    """sha256 over the sorted clip ids with each clip's wav bytes hash (and npz bytes hash when aligned)."""
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e["id"]):
        digest.update(entry["id"].encode())
        digest.update(hashlib.sha256((out_dir / entry["wav"]).read_bytes()).digest())
        npz = out_dir / f"{entry['id']}.npz"
        if entry.get("aligned") and npz.is_file():
            digest.update(hashlib.sha256(npz.read_bytes()).digest())
    return digest.hexdigest()


# ---------------------------------------------------------------- aligning the English dev clips

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen \
seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """0 <= n < 1,000,000 spelled out in English (1962 -> 'one thousand nine hundred sixty two')."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    return number_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))


def speakable_transcript(text: str) -> str:
    """A transcript as words pocketsphinx can align: bracketed notes dropped, numbers spelled out, '#' -> 'pound'."""
    text = re.sub(r"\[[^\]]*\]", " ", text).replace("#", " pound ").replace("*", " star ").replace("&", " and ")
    text = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", text)  # ordinals are rare in prompts; the cardinal is close
    return re.sub(r"\d{1,6}", lambda m: f" {number_words(int(m.group()))} ", text)


def align_english_clips(out_dir: Path, entries: list[dict], log: Callable[[str], None] = print) -> dict:
    """Force-align every English clip that has a transcript, dev and train (writes ID.npz beside ID.wav); marks
    them aligned. Dev clips are scored with it; train clips can be phase C's targets instead of the teacher's take.

    A clip whose npz already exists is not aligned again. Returns counts (all, and of the dev clips) and the
    failure reasons by kind."""
    from core.data.align import AlignmentError, align_recording_to_clip

    held_out = dev_speakers(entries)
    todo = [e for e in entries if e["language"] == "en" and e["transcript"]]
    todo.sort(key=lambda e: speaker_of(e) not in held_out)  # the dev clips first: the scored set is ready soonest
    failures: dict[str, int] = {}
    started = time.time()
    for i, entry in enumerate(todo):
        npz = out_dir / f"{entry['id']}.npz"
        if not npz.is_file():
            try:
                align_recording_to_clip(
                    out_dir / entry["wav"], speakable_transcript(entry["transcript"]), npz.with_suffix(""),
                    speaker=speaker_of(entry), seed=0,
                )  # fmt: skip
            except (AlignmentError, ValueError) as exc:
                kind = "unknown words" if "dictionary" in str(exc) else type(exc).__name__
                failures[kind] = failures.get(kind, 0) + 1
                continue
        entry["aligned"] = True
        if (i + 1) % 100 == 0:
            log(f"  aligned {i + 1}/{len(todo)} English clips ({time.time() - started:.0f} s)")
    aligned = sum(e["aligned"] for e in todo)
    dev = [e for e in todo if speaker_of(e) in held_out]
    dev_aligned = sum(e["aligned"] for e in dev)
    log(f"aligned {aligned} of {len(todo)} English clips with transcripts, {dev_aligned} of {len(dev)} in dev "
        f"({time.time() - started:.0f} s)")  # fmt: skip
    return {
        "attempted": len(todo), "aligned": aligned, "failed": len(todo) - aligned, "failures": failures,
        "dev_attempted": len(dev), "dev_aligned": dev_aligned,
    }  # fmt: skip


# ---------------------------------------------------------------- the whole step


def write_index(
    out_dir: Path, entries: list[dict], missing: list[str], duplicates: int, alignment: dict, log: Callable[[str], None]
) -> tuple[dict, dict[str, list[str]]]:
    """Write manifest.json and splits.json (`write_json_files`)."""
    splits = make_splits(entries, {e["id"] for e in entries if e["aligned"]})
    for problem in (shortfall := dev_split_shortfall(entries, splits)):
        log(f"warning: {problem}")
    by_id = {e["id"]: e for e in entries}
    hours_per_source: dict[str, float] = {}
    for entry in entries:
        hours_per_source[entry["source"]] = hours_per_source.get(entry["source"], 0.0) + entry["seconds"] / 3600
    manifest = {
        "kind": "real-speech",
        "clips": len(entries),
        "hours": round(sum(e["seconds"] for e in entries) / 3600, 3),
        "hours_per_source": {k: round(v, 3) for k, v in sorted(hours_per_source.items())},
        "speakers": sorted({speaker_of(e) for e in entries}),
        "languages": sorted({e["language"] for e in entries}),
        "missing_packages": missing,
        "duplicates_dropped": duplicates,
        "dev_speakers": sorted(dev_speakers(entries) & {speaker_of(e) for e in entries}),
        "split_minutes": {k: round(sum(by_id[i]["seconds"] for i in ids) / 60, 2) for k, ids in splits.items()},
        "split_speakers": {k: len({speaker_of(by_id[i]) for i in ids}) for k, ids in splits.items()},
        "alignment": alignment or {"attempted": 0, "aligned": sum(e["aligned"] for e in entries), "failed": 0},
        "dev_shortfall": shortfall,
        "content_hash": content_hash(out_dir, entries),
        "entries": sorted(entries, key=lambda e: e["id"]),
    }
    write_json_files(out_dir, {"manifest.json": manifest, "splits.json": splits})
    return manifest, splits


def write_json_files(out_dir: Path, files: dict[str, object]) -> None:
    """Write each value as OUT/name, each replaced atomically: a reader never sees half a file."""
    for name, value in files.items():
        partial = out_dir / f".{name}.partial"
        partial.write_text(json.dumps(value, indent=1, ensure_ascii=False))
        partial.replace(out_dir / name)


def build_real_speech(
    out_dir: Path,
    provide: Callable[[str], Path],
    sources: Iterable[SpeechSource] = SOURCES,
    align: bool = True,
    log: Callable[[str], None] = print,
) -> RealSpeechSummary:
    """Index every source into OUT, split by speakers, align the English clips (unless align=False), and
    write manifest.json and splits.json. Raises RuntimeError when no package could be indexed at all."""
    started = time.time()
    out_dir = Path(out_dir)
    entries, missing = index_sources(out_dir, provide, sources, log)
    if not entries:
        raise RuntimeError(
            f"no real-speech clip was indexed (missing packages: {', '.join(missing) or 'none'}); "
            "check that `apt-get download` works on this machine (run `apt-get update` first)."
        )
    entries, duplicates = drop_duplicates(out_dir, entries)
    if duplicates:
        log(f"dropped {duplicates} clips identical to another clip")
    # Written before the (slow) alignment too, so the training audio is usable while the dev clips align.
    for entry in entries:  # a clip aligned by an earlier run counts as aligned
        entry["aligned"] = (out_dir / f"{entry['id']}.npz").is_file()
    manifest, splits = write_index(out_dir, entries, missing, duplicates, {}, log)
    if align:
        alignment = align_english_clips(out_dir, entries, log)
        manifest, splits = write_index(out_dir, entries, missing, duplicates, alignment, log)
    return RealSpeechSummary(
        out_dir, len(entries), manifest["hours"], manifest["hours_per_source"], len(manifest["speakers"]),
        manifest["languages"], missing, manifest["split_minutes"], manifest["split_speakers"],
        sum(e["aligned"] for e in entries), int(manifest["alignment"]["failed"]), manifest["content_hash"],
        round(time.time() - started, 1),
    )  # fmt: skip
