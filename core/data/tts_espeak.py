"""espeak-ng (Debian `espeak-ng`, libespeak-ng1) through its C API with ctypes: formant-synthesis voices whose
phoneme events carry the exact start of every phone.

The library is initialised once per process in synchronous mode with IPA phoneme events; the synth callback
collects audio and events, each event's `audio_position` (ms) marks where a phone starts. The IPA names go
through the same IPA -> ARPAbet mapping as piper's (core.data.tts_piper), whose phonemizer is espeak-ng too.

Prosody: rate (words per minute) and pitch range (0-100 scale) per utterance; the pitch itself is shifted by
resampling in core.data.speech_synthesis.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil

import numpy as np

from core.data.phonemes import SILENCE
from core.data.tts_engine import EngineProsody, EngineSpeech, EngineUnavailable, clean_text

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS, _INITIALIZE_PHONEME_IPA, _INITIALIZE_DONT_EXIT = 0x0001, 0x0002, 0x8000
_EVENT_LIST_TERMINATED, _EVENT_END, _EVENT_MSG_TERMINATED, _EVENT_PHONEME = 0, 5, 6, 7
_POS_CHARACTER, _CHARS_UTF8, _ENDPAUSE = 1, 1, 0x1000
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_NORMAL_RATE_WPM = 165
_BASE_PITCH, _BASE_RANGE = 50, 50


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


def _library_path() -> str | None:
    return ctypes.util.find_library("espeak-ng") or (
        "libespeak-ng.so.1" if os.path.exists("/usr/lib/x86_64-linux-gnu/libespeak-ng.so.1") else None
    )


def espeak_problem(voice: str | None = None) -> str | None:
    """None when libespeak-ng can be used, else why not."""
    if _library_path() is None or shutil.which("espeak-ng") is None:
        return "espeak-ng is not installed: run `make system-deps` (Debian packages 'espeak-ng', 'libespeak-ng1')"
    return None


class _Espeak:
    """The process's libespeak-ng, initialised for synchronous synthesis with IPA phoneme events."""

    def __init__(self) -> None:
        problem = espeak_problem()
        if problem:
            raise EngineUnavailable(problem)
        self.lib = ctypes.CDLL(_library_path())
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]  # fmt: skip
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200, None, options)
        if self.sample_rate <= 0:
            raise EngineUnavailable("libespeak-ng failed to initialise (is espeak-ng-data installed?)")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []  # (start ms, IPA)
        self._callback = _CALLBACK(self._on_synth)  # keep a reference: the library holds a raw pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, num_samples, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).astype(np.float32) / 32768.0)
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                self._events.append((event.audio_position, event.id.string.decode("utf-8", "replace")))
            i += 1
        return 0  # continue

    def synthesize(self, text: str, voice: str, prosody: EngineProsody) -> tuple[np.ndarray, list[tuple[int, str]]]:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EngineUnavailable(f"espeak-ng has no voice '{voice}' (see `espeak-ng --voices=en`)")
        rate = int(np.clip(round(_NORMAL_RATE_WPM / prosody.duration_stretch), 80, 450))
        pitch = _BASE_PITCH  # pitch moves by resampling in speech_synthesis, as for piper
        spread = int(np.clip(round(_BASE_RANGE * prosody.expressiveness), 0, 99))
        for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, spread), (_VOLUME, 100)):
            self.lib.espeak_SetParameter(parameter, value, 0)
        self._chunks, self._events = [], []
        data = clean_text(text).encode("utf-8") + b"\0"
        status = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status} for {text!r}")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)
        return audio, list(self._events)


_ENGINES: dict[int, _Espeak] = {}


def _engine() -> _Espeak:
    engine = _ENGINES.get(os.getpid())
    if engine is None:
        engine = _ENGINES[os.getpid()] = _Espeak()
    return engine


def espeak_ipa_to_arpabet(ipa: str) -> list[str]:
    """One espeak phoneme event name (IPA, maybe with stress/length marks or two symbols) -> ARPAbet phones."""
    from core.data.tts_piper import ipa_durations_to_arpabet

    symbols = [c for c in ipa if not c.isspace()]
    if not symbols or all(c == "_" for c in symbols):
        return [SILENCE]
    phones, _ = ipa_durations_to_arpabet(symbols, [1] * len(symbols))
    return phones


def _synthesize_in_fresh_state(
    engine: _Espeak, text: str, voice: str, prosody: EngineProsody
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """`engine.synthesize` in a forked child of a process that has initialised the library but never spoken.

    libespeak-ng carries state from one utterance to the next (its voice flutter and noise run on), so in one
    process the same line comes out a little differently depending on what was spoken before, and a corpus made by
    a pool of workers would differ run to run. A child forked before any synthesis starts from the same state every
    time. Without fork (Windows), it runs in this process."""
    if not hasattr(os, "fork"):
        return engine.synthesize(text, voice, prosody)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: speak, send (header, audio) back, leave without running any cleanup of the parent's
        code = 1
        try:
            os.close(read_end)
            audio, events = engine.synthesize(text, voice, prosody)
            header = json.dumps({"events": events, "samples": int(audio.size)}).encode()
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(len(header).to_bytes(8, "little") + header + audio.astype("<f4").tobytes())
            code = 0
        except BaseException as exc:  # noqa: BLE001 (reported by the parent)
            with contextlib.suppress(OSError):
                os.write(2, f"espeak child failed: {exc!r}\n".encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or len(data) < 8:
        raise RuntimeError(f"espeak-ng synthesis of {text!r} with voice '{voice}' failed in its worker process")
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    audio = np.frombuffer(data[8 + size :], dtype="<f4").astype(np.float32)
    if audio.size != header["samples"]:
        raise RuntimeError(f"espeak-ng synthesis of {text!r}: {audio.size} of {header['samples']} samples arrived")
    return audio, [(int(ms), str(ipa)) for ms, ipa in header["events"]]


def synthesize_espeak(text: str, voice: str, prosody: EngineProsody) -> EngineSpeech:
    engine = _engine()
    audio, events = _synthesize_in_fresh_state(engine, text, voice, prosody)
    duration_ms = 1000.0 * len(audio) / engine.sample_rate
    # Each event starts a phone; it lasts until the next event (the last one until the end of the audio).
    starts = [0.0] + [float(ms) for ms, _ in events]
    names = [""] + [ipa for _, ipa in events]
    bounds = np.minimum(np.maximum.accumulate(np.array(starts + [duration_ms])), duration_ms)
    phones: list[str] = []
    ends: list[float] = []
    for k, ipa in enumerate(names):
        parts = espeak_ipa_to_arpabet(ipa)
        begin, end = bounds[k], bounds[k + 1]
        for j, phone in enumerate(parts):  # an event naming two phones shares its time evenly
            phones.append(phone)
            ends.append(begin + (end - begin) * (j + 1) / len(parts))
    return EngineSpeech(audio.astype(np.float32), engine.sample_rate, phones, np.asarray(ends) / 1000.0)
