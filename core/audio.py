"""Speech audio in and out: load any common file as 16 kHz mono float32, check it is usable speech, write wav.

Numpy + soundfile only (no scipy, no torch), so the same code runs inside Blender's Python.
Decoding goes through libsndfile (wav, flac, ogg/vorbis, mp3, aiff, ...); resampling is our own
windowed-sinc (Kaiser) interpolator, exact in its sample times and flat to about 0.9 of the lower Nyquist.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000  # Hz, mono: the one rate every recording is decoded to before a model hears it
MIN_SPEECH_SECONDS = 0.25  # shorter than one syllable: nothing to animate
SILENCE_PEAK = 1e-3  # about -60 dBFS: a peak below this is a muted or unplugged microphone

# Resampler quality: zero crossings of the sinc on each side, Kaiser beta, and passband edge as a fraction
# of the lower Nyquist. 16 / 8.6 / 0.90 keeps aliasing and passband ripple below about -70 dB.
_SINC_ZERO_CROSSINGS = 16
_KAISER_BETA = 8.6
_ROLLOFF = 0.90
_MAX_PHASE_TABLE = 4096  # up to this many distinct fractional phases, kernels come from a precomputed table
_OUTPUT_CHUNK = 8192  # output samples per vectorised block (bounds memory on long files)

_CONVERT_HINT = (
    "convert it first, e.g. `ffmpeg -i INPUT -ac 1 -ar 16000 OUTPUT.wav` or `sox INPUT -r 16000 -c 1 OUTPUT.wav`"
)


class AudioError(ValueError):
    """Audio that cannot be used; the message says what is wrong with which file and what to do."""


@dataclass(frozen=True)
class AudioInfo:
    duration: float  # seconds
    sample_rate: int
    channels: int
    frames: int  # samples per channel
    format: str  # libsndfile's name, e.g. 'WAV', 'FLAC', 'OGG', 'MP3'


def supported_extensions() -> tuple[str, ...]:
    """File extensions libsndfile on this machine can decode (lower case, without the dot)."""
    import soundfile as sf

    extensions = {name.lower() for name in sf.available_formats()}
    extensions |= {alias for name, alias in (("ogg", "oga"), ("ogg", "opus"), ("aiff", "aif")) if name in extensions}
    return tuple(sorted(extensions))


def audio_info(path: Path | str) -> AudioInfo:
    """Duration, rate and channel count from the file header, without decoding the samples."""
    import soundfile as sf

    path = _existing_file(path)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError depending on the failure
        raise _decode_error(path, exc) from None
    return AudioInfo(
        duration=float(info.frames) / float(info.samplerate) if info.samplerate else 0.0,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        format=str(info.format),
    )


def load_audio(path: Path | str, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """Decode an audio file to mono float32 in [-1, 1] at `sample_rate`.

    Stereo is mixed down, any input rate is resampled. Raises AudioError for a missing, unreadable,
    unsupported, empty or (with `max_seconds`) too long file. Whether it is usable *speech* (long enough,
    not silent) is a separate question: see `validate_speech_audio`.
    """
    import soundfile as sf

    path = _existing_file(path)
    if max_seconds is not None:
        # Check the header first so an hour-long file is refused without decoding it.
        info = audio_info(path)
        if info.duration > max_seconds:
            raise AudioError(
                f"'{path}' is {info.duration:.1f} s long; the limit is {max_seconds:.1f} s. "
                "Split it into shorter files (e.g. `sox IN.wav OUT.wav trim 0 60 : newfile : restart`)."
            )
    try:
        data, source_rate = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    except Exception as exc:
        raise _decode_error(path, exc) from None
    if data.shape[0] == 0:
        raise AudioError(f"'{path}' contains no audio samples (0 frames). Re-export or re-record it.")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"'{path}' contains NaN or infinite samples; re-export it as 16-bit PCM wav.")
    audio = resample_audio(mono, int(source_rate), int(sample_rate))
    if max_seconds is not None and len(audio) > max_seconds * sample_rate:  # headers can under-report (mp3)
        raise AudioError(
            f"'{path}' is {len(audio) / sample_rate:.1f} s long; the limit is {max_seconds:.1f} s. Split it."
        )
    return np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)


def validate_speech_audio(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, name: str = "audio") -> None:
    """Raise AudioError unless `audio` (mono samples) is long enough and not silent to animate a face from."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise AudioError(f"{name}: expected mono samples (1-D), got shape {audio.shape}; mix down first.")
    if audio.size == 0:
        raise AudioError(f"{name} is empty (0 samples). Pick a file that contains speech.")
    seconds = audio.size / float(sample_rate)
    if seconds < MIN_SPEECH_SECONDS:
        raise AudioError(
            f"{name} is only {seconds * 1000:.0f} ms long; at least {MIN_SPEECH_SECONDS * 1000:.0f} ms of speech is needed."
        )
    peak = float(np.max(np.abs(audio)))
    if not np.isfinite(peak):
        raise AudioError(f"{name} contains NaN or infinite samples.")
    if peak < SILENCE_PEAK:
        raise AudioError(
            f"{name} is silent (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS, below {20 * np.log10(SILENCE_PEAK):.0f} dBFS). "
            "Check the microphone/mute or pick another file."
        )


def save_wav(path: Path | str, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono (samples,) or multichannel (samples, channels) float audio as 16-bit PCM wav; creates folders."""
    import soundfile as sf

    path = Path(path)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim not in (1, 2):
        raise ValueError(f"audio must be (samples,) or (samples, channels), got shape {audio.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(audio, -1.0, 1.0), int(sample_rate), subtype="PCM_16", format="WAV")
    return path


def resample_audio(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling of mono float samples (Kaiser-windowed sinc interpolation).

    Output sample n is the band-limited signal at input time n * source_rate / target_rate, exactly
    (the phase is computed in integers), so a file of N samples gives ceil(N * target_rate / source_rate).
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if source_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {source_rate} -> {target_rate}")
    if source_rate == target_rate or audio.size == 0:
        return audio.copy()
    common = gcd(source_rate, target_rate)
    up, down = target_rate // common, source_rate // common  # out sample n sits at input position n * down / up
    num_out = -(-audio.size * up // down)  # ceil

    # The kernel is the ideal low-pass at the lower Nyquist, in units of input samples.
    cutoff = min(1.0, up / down) * _ROLLOFF
    half_width = _SINC_ZERO_CROSSINGS / cutoff
    reach = int(np.ceil(half_width))
    taps = np.arange(-reach, reach + 1)  # input offsets around the base sample
    padded = np.concatenate([np.zeros(reach + 1, np.float32), audio, np.zeros(reach + 2, np.float32)])

    table = _kernel_rows(np.arange(up) / up, taps, cutoff, half_width) if up <= _MAX_PHASE_TABLE else None
    out = np.empty(num_out, dtype=np.float32)
    for start in range(0, num_out, _OUTPUT_CHUNK):
        n = np.arange(start, min(start + _OUTPUT_CHUNK, num_out), dtype=np.int64)
        base, phase = np.divmod(n * down, up)
        kernels = table[phase] if table is not None else _kernel_rows(phase / up, taps, cutoff, half_width)
        # input sample base + k sits at distance (phase/up - k) from the output time
        window = padded[(base + reach + 1)[:, None] - taps[None, :]]
        out[n] = np.einsum("ij,ij->i", window, kernels)
    return out


def _kernel_rows(fractions: np.ndarray, taps: np.ndarray, cutoff: float, half_width: float) -> np.ndarray:
    """(len(fractions), len(taps)) float32 interpolation weights, each row summing to 1 (DC gain exactly 1)."""
    distance = fractions[:, None] + taps[None, :]  # output time minus input sample time, in input samples
    inside = np.clip(1.0 - (distance / half_width) ** 2, 0.0, None)
    window = np.i0(_KAISER_BETA * np.sqrt(inside)) / np.i0(_KAISER_BETA)
    window[np.abs(distance) >= half_width] = 0.0
    kernel = cutoff * np.sinc(cutoff * distance) * window
    return (kernel / kernel.sum(axis=1, keepdims=True)).astype(np.float32)


def _existing_file(path: Path | str) -> Path:
    path = Path(path)
    if not path.exists():
        raise AudioError(f"Audio file '{path}' does not exist. Check the path (relative paths start at {Path.cwd()}).")
    if not path.is_file():
        raise AudioError(f"'{path}' is a folder, not an audio file. Pick a .wav/.flac/.ogg/.mp3 file inside it.")
    return path


def _decode_error(path: Path, exc: Exception) -> AudioError:
    extension = path.suffix.lower().lstrip(".")
    if extension not in supported_extensions():
        return AudioError(
            f"'{path}': '.{extension}' audio is not supported here (readable: {', '.join(supported_extensions())}); "
            + _CONVERT_HINT
            + "."
        )
    if path.stat().st_size == 0:
        return AudioError(f"'{path}' is an empty file (0 bytes). Re-export or re-record it.")
    return AudioError(
        f"'{path}' could not be decoded as {extension} audio ({exc}). The file may be corrupt; {_CONVERT_HINT}."
    )
