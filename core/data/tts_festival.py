"""Festival (Debian `festival` 2.5 + festvox voices): one long-lived `festival --pipe` per voice and process.

Starting festival and loading a voice takes about 0.3 s, synthesising a sentence about 15 ms (diphone voices),
so each worker process keeps one session per voice and feeds it Scheme over stdin (`stdbuf -oL` makes festival
flush each printed line). Segment names and end times come back on stdout, the wave through a temp file.

Prosody: `Duration_Stretch` and the linear-regression intonation targets `int_lr_params` (target_f0_mean /
target_f0_std, Hz) for the diphone voices; the HTS voice takes only a speech rate (`-r` in hts_engine_params),
its pitch is shifted afterwards by resampling (core.data.speech_synthesis).
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.phonemes import normalize_arpabet
from core.data.tts_engine import EngineProsody, EngineSpeech, EngineUnavailable, clean_text


@dataclass(frozen=True)
class FestivalVoice:
    command: str  # the Scheme function that selects it
    package: str  # Debian package that ships it
    voice_dir: str  # under /usr/share/festival/voices
    hts: bool = False


FESTIVAL_VOICES: dict[str, FestivalVoice] = {
    "voice_kal_diphone": FestivalVoice("voice_kal_diphone", "festvox-kallpc16k", "english/kal_diphone"),
    "voice_ked_diphone": FestivalVoice("voice_ked_diphone", "festvox-kdlpc16k", "english/ked_diphone"),
    "voice_cmu_us_slt_arctic_hts": FestivalVoice(
        "voice_cmu_us_slt_arctic_hts", "festvox-us-slt-hts", "us/cmu_us_slt_arctic_hts", hts=True
    ),
}
_VOICES_ROOT = Path("/usr/share/festival/voices")
_START_TIMEOUT_S = 60.0
_SYNTH_TIMEOUT_S = 120.0


def festival_problem(voice: str | None = None) -> str | None:
    """None when festival (and the voice) can be used, else why not."""
    if shutil.which("festival") is None:
        return "festival is not installed: run `make system-deps` (Debian package 'festival')"
    if shutil.which("stdbuf") is None:
        return "stdbuf (coreutils) is missing; festival's output cannot be read line by line"
    if voice is not None:
        spec = FESTIVAL_VOICES.get(voice)
        if spec is None:
            return f"unknown festival voice '{voice}'; known: {sorted(FESTIVAL_VOICES)}"
        if not (_VOICES_ROOT / spec.voice_dir).is_dir():
            return f"festival voice '{voice}' is not installed: Debian package '{spec.package}' (`make system-deps`)"
    return None


def scheme_string(text: str) -> str:
    """A Scheme string literal for text (backslashes and quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class FestivalSession:
    """One festival process with one voice selected; not thread-safe, one per process (see `_session`)."""

    def __init__(self, voice: str) -> None:
        problem = festival_problem(voice)
        if problem:
            raise EngineUnavailable(problem)
        self.voice = FESTIVAL_VOICES[voice]
        self._tmp = tempfile.TemporaryDirectory(prefix="festival_")
        self._counter = 0
        self._process = subprocess.Popen(
            ["stdbuf", "-oL", "festival", "--pipe"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._pending = b""
        # Remember the voice's own duration stretch and intonation model so each utterance sets them afresh.
        self._run(
            f"({self.voice.command}) "
            "(set! dt_base_stretch (Parameter.get 'Duration_Stretch)) "
            "(set! dt_base_lr int_lr_params)",
            timeout=_START_TIMEOUT_S,
        )

    def synthesize(self, text: str, prosody: EngineProsody) -> EngineSpeech:
        import soundfile as sf

        self._counter += 1
        wav = Path(self._tmp.name) / f"u{self._counter}.wav"
        setup = [f"(Parameter.set 'Duration_Stretch (* dt_base_stretch {prosody.duration_stretch:.4f}))"]
        if self.voice.hts:
            rate = 1.0 / prosody.duration_stretch
            setup.append(
                f"(set! hts_engine_params (append {self.voice.command[6:]}::hts_engine_params "
                f'(list (list "-r" {rate:.4f}))))'
            )
        elif prosody.f0_mean_hz is not None or prosody.f0_std_hz is not None:
            mean = (
                "(cadr (assoc 'target_f0_mean dt_base_lr))"
                if prosody.f0_mean_hz is None
                else f"{prosody.f0_mean_hz:.2f}"
            )
            std = (
                "(cadr (assoc 'target_f0_std dt_base_lr))" if prosody.f0_std_hz is None else f"{prosody.f0_std_hz:.2f}"
            )
            setup.append(
                f"(set! int_lr_params (list (list 'target_f0_mean {mean}) (list 'target_f0_std {std}) "
                "(assoc 'model_f0_mean dt_base_lr) (assoc 'model_f0_std dt_base_lr)))"
            )
        lines = self._run(
            " ".join(setup)
            + f" (set! dt_u (utt.synth (Utterance Text {scheme_string(clean_text(text))})))"
            + f" (utt.save.wave dt_u {scheme_string(str(wav))} 'riff)"
            + ' (mapcar (lambda (s) (format t "SEG %s %f\\n" (item.name s) (item.feat s "end")))'
            + " (utt.relation.items dt_u 'Segment))",
            timeout=_SYNTH_TIMEOUT_S,
        )
        phones, ends = [], []
        for line in lines:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "SEG":
                phones.append(normalize_arpabet(parts[1]))
                ends.append(float(parts[2]))
        if not phones or not wav.exists():
            raise RuntimeError(f"festival ({self.voice.command}) returned no speech for {text!r}: {lines[-5:]}")
        audio, rate = sf.read(str(wav), dtype="float32", always_2d=False)
        wav.unlink()
        return EngineSpeech(np.asarray(audio, np.float32).reshape(-1), int(rate), phones, np.asarray(ends))

    def _run(self, scheme: str, timeout: float) -> list[str]:
        """Send Scheme wrapped so that success and failure both print a marker line; return the lines before it."""
        token = f"{os.getpid()}_{self._counter}_{time.monotonic_ns()}"
        stdin = self._process.stdin
        assert stdin is not None and self._process.stdout is not None
        command = f'(unwind-protect (begin {scheme} (format t "DT_OK {token}\\n")) (format t "DT_ERR {token}\\n"))\n'
        stdin.write(command.encode("ascii"))
        stdin.flush()
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" not in self._pending:
                # select + os.read on the raw pipe: a buffered reader would hide lines that select cannot see
                remaining = deadline - time.monotonic()
                ready, _, _ = select.select([self._process.stdout], [], [], max(0.0, remaining))
                if not ready:
                    self.close()
                    raise TimeoutError(f"festival ({self.voice.command}) gave no answer within {timeout:.0f} s")
                chunk = os.read(self._process.stdout.fileno(), 65536)
                if not chunk:
                    self.close()
                    raise RuntimeError(f"festival ({self.voice.command}) exited: {' | '.join(lines[-5:])}")
                self._pending += chunk
            raw, self._pending = self._pending.split(b"\n", 1)
            line = raw.decode("utf-8", "replace")
            if line == f"DT_OK {token}":
                return lines
            if line == f"DT_ERR {token}":
                raise RuntimeError(f"festival ({self.voice.command}) failed: {' | '.join(lines[-5:])}")
            lines.append(line)

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._process.stdin.close()  # festival --pipe exits at end of input
                self._process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._tmp.cleanup()


# Sessions belong to the process that started them: a forked worker must not talk to its parent's pipes.
_SESSIONS: dict[tuple[int, str], FestivalSession] = {}


def _session(voice: str) -> FestivalSession:
    key = (os.getpid(), voice)
    session = _SESSIONS.get(key)
    if session is None or not session.alive:
        session = _SESSIONS[key] = FestivalSession(voice)
    return session


@atexit.register
def close_festival_sessions() -> None:
    for (pid, voice), session in list(_SESSIONS.items()):
        if pid == os.getpid():
            session.close()
            del _SESSIONS[(pid, voice)]


def synthesize_festival(text: str, voice: str, prosody: EngineProsody) -> EngineSpeech:
    return _session(voice).synthesize(text, prosody)
