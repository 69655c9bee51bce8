"""The student's log-mel spectrogram: numpy only, for audio of any length, with a fixed normalisation.

Whisper's log-mel clamps each window's range to 8 (log10) below that window's loudest bin, so its values depend on
the window's content; the student's does not: the same audio gives the same frames wherever it is cut.

    16 kHz mono -> 80 Slaney mel bins of the power spectrum (25 ms periodic Hann window, n_fft = 400, hop 160)
    x = max(log10(max(mel, 1e-10)), -8);  x = (x + 4) / 4        -> digital silence is exactly -1.0

Frames are centred: frame j covers samples [160 j - 200, 160 j + 200), i.e. it describes time j / 100 s, and audio of
n samples gives ceil(n / 160) frames (`frames_for_samples(n, 100)`, the project's clock). Outside the audio the
signal is ZERO-padded (not reflected: reflection needs at least 200 samples and invents signal at the edges).
Pad batches of spectrograms with `SILENCE_LOG_MEL`.

`noise_floor=True` (an encoder config choice, off for encoders trained without it) first takes each mel band's
stationary noise floor out of the power, spectral-subtraction style: the floor is the band's 10th percentile of
5-frame mean power over the whole audio, twice of it is subtracted (`noise_floor_oversubtract`, an encoder config
choice too), and no bin drops below 2 % (-17 dB) of its power.
A real recording's hiss and room tone then look more like the digital silence of the synthetic voices the student
first learnt from (switched on in the round-4 student as it was, P/B/M closure on all 613 real-dev clips went from
0.893 to 0.907; round 8 trained its ears through it). The floor is the whole audio's, so with it frames no longer
depend on the window alone; audio under 0.5 s is left as it is (too little of it to tell noise from speech).

`late_reverb_rt60 > 0` (an encoder config choice, after the noise floor) then takes out each band's late
reverberation, Lebart-style: a room with that RT60 leaves exp(-13.8 d / RT60) of the power of d = 50 ms earlier
(60 dB of decay per RT60), which is subtracted, no bin below 20 % (-7 dB) of its power. In a reverberant room the tail
of a vowel fills the lip closure that follows it; this digs the closure back out. On dry speech it costs a
sustained sound about 1 dB and sharpens its offsets. Switched on at 0.5 s in the round-8 student with no training,
P/B/M closure on 80 real-dev clips went 0.835 -> 0.870 through a 0.6 s room and 0.942 -> 0.923 dry.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from core.audio import SAMPLE_RATE

N_FFT = 400
HOP = 160
MEL_BINS = 80
FRAME_RATE = SAMPLE_RATE / HOP  # 100 frames/s
LOG_FLOOR = -8.0  # log10 units
SILENCE_LOG_MEL = (LOG_FLOOR + 4.0) / 4.0  # -1.0: what all-zero audio gives
LOG_MEL_VERSION = 1  # bump when the output for the same audio changes (it invalidates trained encoders)
_FRAMES_PER_CHUNK = 4096  # bounds memory on long audio
NOISE_FLOOR_PERCENTILE = 10.0
NOISE_FLOOR_SMOOTHING = 5  # frames of mean power the percentile is taken over (single frames are too spiky)
NOISE_FLOOR_OVERSUBTRACT = 2.0
NOISE_FLOOR_KEEP = 0.02  # the least fraction of a bin's power left after the subtraction
NOISE_FLOOR_MIN_FRAMES = 50
LATE_REVERB_DELAY = 5  # frames (50 ms): later than this, a room's reflections are diffuse and decay exponentially
LATE_REVERB_KEEP = 0.2  # the least fraction of a bin's power left after the subtraction


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, log_step = min_log_hz / f_sp, np.log(6.4) / 27.0
    mel = hz / f_sp
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / log_step, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, log_step = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(log_step * (mel - min_log_mel)), f_sp * mel)


def _mel_band_edges(n_mels: int, fmax: float) -> np.ndarray:
    """(n_mels + 2,) Hz: filter i rises from edge i, peaks at edge i + 1 and falls to edge i + 2."""
    return _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(fmax), n_mels + 2))


def mel_centre_frequencies(n_mels: int = MEL_BINS, fmax: float = SAMPLE_RATE / 2) -> np.ndarray:
    """(n_mels,) the frequency in Hz each of `mel_filters`' triangles peaks at."""
    return _mel_band_edges(n_mels, fmax)[1:-1]


@functools.lru_cache(maxsize=4)
def mel_filters(
    n_mels: int = MEL_BINS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE, fmax: float | None = None
) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular Slaney-normalised mel filters, as librosa.filters.mel (and Whisper) use."""
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_edges = _mel_band_edges(n_mels, fmax)
    widths = np.diff(mel_edges)
    ramps = mel_edges[:, None] - fft_freqs[None, :]  # (n_mels + 2, bins)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(lower, upper))
    filters *= (2.0 / (mel_edges[2:] - mel_edges[:-2]))[:, None]  # equal area per filter (Slaney norm)
    filters = filters.astype(np.float32)
    filters.setflags(write=False)
    return filters


@functools.lru_cache(maxsize=1)
def _hann_window() -> np.ndarray:
    n = np.arange(N_FFT)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / N_FFT)  # periodic, like torch.hann_window


def num_log_mel_frames(num_samples: int) -> int:
    """ceil(num_samples / 160): one frame per 10 ms that starts inside the audio."""
    return -(-int(num_samples) // HOP)


def subtract_noise_floor(mel_power: np.ndarray, oversubtract: float = NOISE_FLOOR_OVERSUBTRACT) -> np.ndarray:
    """(bins, frames) mel power with `oversubtract` times each band's stationary floor taken out (see the module
    docstring), in place."""
    frames = mel_power.shape[1]
    if frames < NOISE_FLOOR_MIN_FRAMES:
        return mel_power
    k = NOISE_FLOOR_SMOOTHING
    padded = np.pad(mel_power, ((0, 0), (k // 2, k // 2)), mode="edge")
    # centred k-frame means as a sum of shifted copies (a running cumsum would lose the quiet frames of long audio)
    smooth = sum(padded[:, i : i + frames] for i in range(k)) / k  # (bins, frames)
    floor = np.percentile(smooth, NOISE_FLOOR_PERCENTILE, axis=1, keepdims=True).astype(np.float32)  # (bins, 1)
    np.maximum(mel_power - np.float32(oversubtract) * floor, NOISE_FLOOR_KEEP * mel_power, out=mel_power)
    return mel_power


def front_end_options(encoder_config: Mapping) -> dict:
    """`log_mel`'s keyword arguments from a student encoder's config dict (one saved before a front-end field
    existed has that step off)."""
    return {
        "noise_floor": bool(encoder_config.get("noise_floor", False)),
        "late_reverb_rt60": float(encoder_config.get("late_reverb_rt60", 0.0)),
        "noise_floor_oversubtract": float(encoder_config.get("noise_floor_oversubtract", NOISE_FLOOR_OVERSUBTRACT)),
    }


def suppress_late_reverb(mel_power: np.ndarray, rt60: float) -> np.ndarray:
    """(bins, frames) mel power with the late reverberation of a room of `rt60` seconds taken out (see the module
    docstring), in place."""
    d = LATE_REVERB_DELAY
    if rt60 <= 0 or mel_power.shape[1] <= d:
        return mel_power
    decay = np.float32(np.exp(-np.log(1e6) * (d / FRAME_RATE) / rt60))
    late = decay * mel_power[:, :-d]  # a copy: the subtraction below must read the unsuppressed power
    np.maximum(mel_power[:, d:] - late, LATE_REVERB_KEEP * mel_power[:, d:], out=mel_power[:, d:])
    return mel_power


def log_mel(
    audio16k: np.ndarray,
    noise_floor: bool = False,
    late_reverb_rt60: float = 0.0,
    noise_floor_oversubtract: float = NOISE_FLOOR_OVERSUBTRACT,
) -> np.ndarray:
    """(80, ceil(samples / 160)) float32 normalised log-mel of 16 kHz mono float audio (see module docstring);
    `noise_floor`: first subtract each band's stationary noise floor (`noise_floor_oversubtract` times over);
    `late_reverb_rt60` > 0: then the late reverberation of a room with that RT60."""
    audio = np.asarray(audio16k, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(
            f"expected mono 16 kHz audio as a 1-D array, got shape {audio.shape}; "
            "load it with core.audio.load_audio (it mixes down and resamples)"
        )
    frames = num_log_mel_frames(audio.size)
    out = np.empty((MEL_BINS, frames), dtype=np.float32)
    if frames == 0:
        return out
    half = N_FFT // 2
    padded = np.zeros((frames - 1) * HOP + N_FFT, dtype=np.float32)
    padded[half : half + audio.size] = audio
    # float32 throughout (within 2e-5 of float64, far below what the encoder resolves; twice as fast on long audio)
    window, filters = _hann_window().astype(np.float32), mel_filters()
    segments_all = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]  # (frames, 400), a view
    whole = noise_floor or late_reverb_rt60 > 0  # these need every frame before the logs
    power_all = np.empty((MEL_BINS, frames), dtype=np.float32) if whole else None
    for first in range(0, frames, _FRAMES_PER_CHUNK):
        last = min(first + _FRAMES_PER_CHUNK, frames)
        spectrum = np.fft.rfft(segments_all[first:last] * window, axis=1)  # (chunk, 201)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        mel = power @ filters.T  # (chunk, 80)
        if power_all is not None:
            power_all[:, first:last] = mel.T
            continue
        out[:, first:last] = _normalised_log(mel).T
    if power_all is not None:
        if noise_floor:
            subtract_noise_floor(power_all, noise_floor_oversubtract)
        out[:] = _normalised_log(suppress_late_reverb(power_all, late_reverb_rt60))
    return out


def _normalised_log(mel_power: np.ndarray) -> np.ndarray:
    logs = np.maximum(np.log10(np.maximum(mel_power, 1e-10)), LOG_FLOOR)
    return (logs + 4.0) / 4.0
