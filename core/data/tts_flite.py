"""flite (Debian `flite`, 2.2): one process per utterance, phones with end times from `-psdur`.

`-psdur` prints `phone:end_time` tokens for the Segment relation, the same times the waveform was made from.
Prosody: `--setf duration_stretch=`, `--setf int_f0_target_mean=` / `int_f0_target_stddev=` (Hz). The diphone
voices (kal, kal16) and the clustergen voices awb and slt follow the f0 targets; rms ignores them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from core.data.phonemes import normalize_arpabet
from core.data.tts_engine import EngineProsody, EngineSpeech, EngineUnavailable, clean_text

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
_TIMEOUT_S = 120


def flite_path() -> str:
    path = shutil.which("flite")
    if path is None:
        raise EngineUnavailable("flite is not installed: run `make system-deps` (Debian package 'flite')")
    return path


def flite_problem(voice: str | None = None) -> str | None:
    """None when flite (and the voice) can be used, else why not."""
    try:
        binary = flite_path()
    except EngineUnavailable as exc:
        return str(exc)
    if voice is not None:
        listed = subprocess.run([binary, "-lv"], capture_output=True, text=True, timeout=30).stdout
        if voice not in listed.split():
            return f"flite has no voice '{voice}' (it lists: {listed.strip()})"
    return None


def synthesize_flite(text: str, voice: str, prosody: EngineProsody) -> EngineSpeech:
    import soundfile as sf

    if voice not in FLITE_VOICES:
        raise ValueError(f"unknown flite voice '{voice}'; choose one of {FLITE_VOICES}")
    args = [flite_path(), "-voice", voice, "-psdur", "--setf", f"duration_stretch={prosody.duration_stretch:.4f}"]
    if prosody.f0_mean_hz is not None:
        args += ["--setf", f"int_f0_target_mean={prosody.f0_mean_hz:.2f}"]
    if prosody.f0_std_hz is not None:
        args += ["--setf", f"int_f0_target_stddev={prosody.f0_std_hz:.2f}"]
    with tempfile.TemporaryDirectory(prefix="flite_") as tmp:
        text_file, wav_file = Path(tmp) / "text.txt", Path(tmp) / "speech.wav"
        text_file.write_text(clean_text(text) + "\n", encoding="ascii")  # a file, so no text is ever an option
        result = subprocess.run(
            [*args, "-f", str(text_file), "-o", str(wav_file)], capture_output=True, text=True, timeout=_TIMEOUT_S
        )
        if result.returncode != 0 or not wav_file.exists():
            raise RuntimeError(f"flite failed for voice {voice} (exit {result.returncode}): {result.stderr.strip()}")
        audio, rate = sf.read(str(wav_file), dtype="float32", always_2d=False)
    phones, ends = parse_psdur(result.stdout)
    return EngineSpeech(np.asarray(audio, np.float32).reshape(-1), int(rate), phones, ends)


def parse_psdur(output: str) -> tuple[list[str], np.ndarray]:
    """'pau:0.136 p:0.234 aa:0.376 ...' -> (['SIL', 'P', 'AA', ...], end times)."""
    phones: list[str] = []
    ends: list[float] = []
    for token in output.split():
        name, sep, end = token.rpartition(":")
        if not sep:
            continue
        try:
            ends.append(float(end))
        except ValueError:
            continue
        phones.append(normalize_arpabet(name))
    if not phones:
        raise RuntimeError(f"flite printed no phone timings (-psdur); got: {output[:200]!r}")
    return phones, np.asarray(ends, dtype=np.float64)
