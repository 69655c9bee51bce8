"""Acoustic degradations of 16 kHz mono speech: what users record, heard by the student in training and by the evaluation.

The shipped student was distilled on clean synthetic speech; on a telephone band or with room reverb it stops closing the
lips on P/B/M. Training feeds it a degraded copy of each crop while its targets still come from the CLEAN audio, so every
primitive here keeps the input's length and timing (a delayed copy would teach the student to move late).

Primitives (16 kHz mono float32 in, same length float32 out, always finite):
- `reverberate`: a synthetic room (direct path at t=0, early reflections, an exponentially decaying noise tail),
- `add_noise`: white / pink / brown noise or a given signal (e.g. `babble`) at an SNR measured on the active speech,
- `band_limit`: the channel of a round trip through a lower rate, as the zero-phase low-pass that core.audio's
  resampler applies there (it cuts at 0.9 x the lower Nyquist; the FFT form is ~10x faster than resampling twice):
  "telephone" (300-3400 Hz band: what an 8 kHz round trip keeps), "11k" (11.025 kHz: everything above ~5 kHz goes),
  "22k" (22.05 kHz: for 16 kHz input only the resampler's mild low-pass near 7.2 kHz),
- `codec_round_trip`: MP3 or Ogg Vorbis encoded and decoded in memory through libsndfile,
- `apply_gain`: a level change with hard clipping at +-1,
- `eq_tilt`: a microphone's colouration, a spectral tilt around 1 kHz with an optional low cut.
`AcousticAugment` draws a random chain of them per crop; `degrade` applies the evaluation's fixed degradations.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import soundfile as sf

from core.audio import SAMPLE_RATE

NOISE_COLOURS = ("white", "pink", "brown")
BAND_KINDS = ("telephone", "11k", "22k")
CODECS = ("mp3", "ogg")
DEGRADATIONS = ("telephone", "reverb", "noise", "mp3")

_BAND_RATES = {"telephone": 8000, "11k": 11025, "22k": 22050}  # the intermediate rate of each round trip
_RESAMPLER_CUTOFF = 0.9  # core.audio.resample_audio's low-pass, as a fraction of the lower Nyquist
_TELEPHONE_BAND_HZ = (300.0, 3400.0)
_EDGE_HZ = 50.0  # half-width of the raised-cosine transition at a band edge (a brick wall would ring)
_ACTIVE_BELOW_PEAK_DB = 40.0  # frames within this of the loudest 20 ms frame count as speech for the SNR
_FRAME = 320  # 20 ms at 16 kHz
_TILT_PIVOT_HZ = 1000.0
# MP3 at 16 kHz is MPEG-2 layer III; libsndfile sets its constant bit rate from the compression level c in [0, 1] as
# 160 - 152 c kbps (measured: c = 0.5 -> 84 kbps, c = 0.84 -> 32 kbps), rounded by LAME to a legal MPEG-2 rate.
_MP3_MAX_KBPS, _MP3_SPAN_KBPS = 160.0, 152.0
_MP3_ENCODER_DELAY = 1105  # LAME's 576 + 529 samples, left in when libsndfile writes no gapless header (low rates)
# Vorbis has no settable bit rate in libsndfile, only a quality from the compression level. Measured on 16 kHz speech-like
# audio: c = 0 -> ~78 kbps, c = 0.5 -> ~49 kbps, c = 0.95 -> ~36 kbps (the floor). The requested bit rate is mapped
# linearly between those ends, so anything at or below 36 kbps gets the lowest quality.
_OGG_KBPS_AT_C0, _OGG_KBPS_AT_C1 = 78.0, 36.0
_CODEC_FORMATS = {"mp3": ("MP3", "MPEG_LAYER_III"), "ogg": ("OGG", "VORBIS")}


def _as_mono(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio of shape (samples,), got {audio.shape}; mix channels down first")
    return audio


def _finite(audio: np.ndarray) -> np.ndarray:
    return np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0).astype(np.float32, copy=False)


def _fft_length(n: int) -> int:
    """The next power of two >= n: numpy's FFT is fastest there."""
    return 1 << max(0, int(n - 1).bit_length())


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def active_power(audio: np.ndarray) -> float:
    """Mean power of the 20 ms frames within 40 dB of the loudest one (speech without its pauses); 0 for silence."""
    audio = _as_mono(audio)
    n = max(1, audio.size // _FRAME)
    frames = np.resize(audio, n * _FRAME).reshape(n, -1) if audio.size >= _FRAME else audio[None, :]
    power = np.mean(np.square(frames, dtype=np.float64), axis=1)  # (frames,)
    peak = float(power.max()) if power.size else 0.0
    if peak <= 0.0:
        return 0.0
    return float(power[power >= peak * 10 ** (-_ACTIVE_BELOW_PEAK_DB / 10)].mean())


# ---------------------------------------------------------------------------------------------------- primitives


def reverberate(
    audio: np.ndarray, rt60_s: float, rng: np.random.Generator, direct_to_reverb_db: float | None = None
) -> np.ndarray:
    """Convolve with a synthetic room impulse response whose energy falls 60 dB in `rt60_s` seconds.

    The response: the direct path at t = 0 (so the speech keeps its timing), 3-6 early reflections at 2-20 ms, and after
    a pre-delay of 5-20 ms a Gaussian-noise tail decaying as exp(-6.91 t / rt60). The tail's energy sits
    `direct_to_reverb_db` below the direct path's (drawn from -3..+6 dB when None). The output keeps the input's RMS.
    """
    audio = _as_mono(audio)
    if rt60_s <= 0:
        raise ValueError(f"rt60_s must be positive (seconds for a 60 dB decay), got {rt60_s}")
    if audio.size == 0:
        return audio.copy()
    drr_db = float(rng.uniform(-3.0, 6.0)) if direct_to_reverb_db is None else float(direct_to_reverb_db)
    pre_delay = int(rng.uniform(0.005, 0.020) * SAMPLE_RATE)
    tail_len = int(min(rt60_s, 1.5) * SAMPLE_RATE)  # beyond RT60 the tail is below -60 dB
    t = np.arange(tail_len) / SAMPLE_RATE
    tail = rng.standard_normal(tail_len) * np.exp(-3.0 * np.log(10.0) * t / rt60_s)  # amplitude: -60 dB at rt60
    tail *= np.sqrt(10 ** (-drr_db / 10) / max(np.sum(tail**2), 1e-12))  # direct path has energy 1
    rir = np.zeros(pre_delay + tail_len)  # (taps,)
    rir[0] = 1.0
    for _ in range(int(rng.integers(3, 7))):
        rir[int(rng.uniform(0.002, 0.020) * SAMPLE_RATE)] += rng.choice((-1.0, 1.0)) * rng.uniform(0.2, 0.6)
    rir[pre_delay:] += tail
    n = _fft_length(audio.size + rir.size - 1)
    wet = np.fft.irfft(np.fft.rfft(audio, n) * np.fft.rfft(rir, n), n)[: audio.size]  # the tail past the end is cut
    wet *= _rms(audio) / max(_rms(wet), 1e-12)
    return _finite(wet)


def coloured_noise(length: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise with a power spectrum flat ("white"), 1/f ("pink") or 1/f^2 ("brown")."""
    if colour not in NOISE_COLOURS:
        raise ValueError(f"unknown noise colour {colour!r}; choose one of {NOISE_COLOURS}")
    white = rng.standard_normal(length)
    if colour != "white" and length > 1:
        spectrum = np.fft.rfft(white)
        f = np.fft.rfftfreq(length, 1.0 / SAMPLE_RATE)
        f[0] = f[1]  # no infinite DC
        spectrum *= f ** (-0.5 if colour == "pink" else -1.0)
        white = np.fft.irfft(spectrum, length)
    return (white / max(_rms(white), 1e-12)).astype(np.float32)


def add_noise(
    audio: np.ndarray,
    snr_db: float,
    rng: np.random.Generator,
    noise: np.ndarray | str = "white",
) -> np.ndarray:
    """Add noise at `snr_db` below the speech's active power (its pauses do not count, see `active_power`).

    `noise` is a colour ("white", "pink", "brown") or a signal (e.g. `babble(...)`): a longer one is cut at a random
    offset, a shorter one is repeated. Silent input is returned unchanged (no SNR is defined).
    """
    audio = _as_mono(audio)
    speech_power = active_power(audio)
    if speech_power <= 0.0:
        return audio.copy()
    if isinstance(noise, str):
        signal = coloured_noise(audio.size, noise, rng)
    else:
        signal = _as_mono(noise)
        if signal.size == 0 or _rms(signal) == 0.0:
            raise ValueError("the noise signal is empty or silent; pass speech babble or a noise recording")
        start = int(rng.integers(0, max(1, signal.size - audio.size + 1)))
        signal = (
            np.resize(signal[start:], audio.size) if signal.size - start < audio.size else signal[start:][: audio.size]
        )
    noise_power = float(np.mean(np.square(signal, dtype=np.float64)))
    scale = np.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10)))
    return _finite(audio + scale * signal)


def babble(
    pool: Sequence[np.ndarray], length: int, rng: np.random.Generator, talkers: tuple[int, int] = (3, 6)
) -> np.ndarray:
    """Other speech summed: `talkers` (inclusive range) clips from `pool`, each at a random offset and equal level.

    (length,) float32 at unit RMS; use it as `add_noise(..., noise=babble(...))`.
    """
    usable = [c for c in (_as_mono(c) for c in pool) if c.size and _rms(c) > 0]
    if not usable:
        raise ValueError("babble needs a pool of non-silent speech clips (16 kHz mono arrays)")
    mix = np.zeros(length, dtype=np.float64)
    for _ in range(int(rng.integers(talkers[0], talkers[1] + 1))):
        clip = usable[int(rng.integers(len(usable)))]
        clip = np.roll(np.resize(clip, max(length, clip.size)), -int(rng.integers(clip.size)))[:length]
        mix += clip / max(np.sqrt(active_power(clip)), 1e-12)
    return (mix / max(_rms(mix), 1e-12)).astype(np.float32)


def _fft_filter(audio: np.ndarray, gain_fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a zero-phase frequency response `gain_fn(freqs_hz) -> gains` (zero-padded, so no circular wrap)."""
    n = _fft_length(audio.size + 2048)
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    out = np.fft.irfft(np.fft.rfft(audio, n) * gain_fn(freqs), n)[: audio.size]
    return _finite(out)


def _raised_cosine_step(freqs: np.ndarray, edge_hz: float) -> np.ndarray:
    """0 below edge - 50 Hz, 1 above edge + 50 Hz, a half cosine between."""
    x = np.clip((freqs - edge_hz + _EDGE_HZ) / (2 * _EDGE_HZ), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def band_pass(audio: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Keep `low_hz`..`high_hz` (zero-phase FFT filter with 100 Hz wide raised-cosine edges)."""
    audio = _as_mono(audio)
    if audio.size == 0:
        return audio.copy()
    return _fft_filter(audio, lambda f: _raised_cosine_step(f, low_hz) * (1.0 - _raised_cosine_step(f, high_hz)))


def band_limit(audio: np.ndarray, kind: str) -> np.ndarray:
    """A narrower channel: "telephone" = the 300-3400 Hz band of an 8 kHz line; "11k" / "22k" = what a round trip
    through 11.025 / 22.05 kHz keeps (see the module docstring)."""
    audio = _as_mono(audio)
    if kind not in BAND_KINDS:
        raise ValueError(f"unknown band limit {kind!r}; choose one of {BAND_KINDS}")
    if audio.size == 0:
        return audio.copy()
    # The round trip's low-pass sits below the lower of the two rates' Nyquist frequencies
    cutoff = _RESAMPLER_CUTOFF * min(_BAND_RATES[kind], SAMPLE_RATE) / 2
    low, high = _TELEPHONE_BAND_HZ if kind == "telephone" else (0.0, cutoff)
    if low <= 0:
        return _fft_filter(audio, lambda f: 1.0 - _raised_cosine_step(f, high))
    return band_pass(audio, low, high)


def _fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    if audio.size >= length:
        return audio[:length]
    return np.concatenate([audio, np.zeros(length - audio.size, np.float32)])


def codec_available(codec: str) -> bool:
    """Whether this libsndfile can write `codec` ("mp3" needs libsndfile >= 1.1 built with LAME / mpg123)."""
    if codec not in _CODEC_FORMATS:
        return False
    fmt, subtype = _CODEC_FORMATS[codec]
    return fmt in sf.available_formats() and subtype in sf.available_subtypes(fmt)


def codec_round_trip(audio: np.ndarray, codec: str, bitrate_kbps: float) -> np.ndarray:
    """Encode and decode in memory. MP3 runs at a constant `bitrate_kbps` (legal MPEG-2 rates 8-160 kbps); Ogg Vorbis
    maps it to a quality level (Vorbis' floor at 16 kHz is ~36 kbps; see _OGG_KBPS_AT_C1). The output is re-aligned to
    the input where the encoder's delay was left in, and cut / padded to the input's length."""
    audio = _as_mono(audio)
    if codec not in _CODEC_FORMATS:
        raise ValueError(f"unknown codec {codec!r}; choose one of {CODECS}")
    if not codec_available(codec):
        raise RuntimeError(
            f"this libsndfile ({sf.__libsndfile_version__}) cannot write {codec}; install libsndfile >= 1.1 with "
            f"MPEG / Vorbis support (e.g. a recent `soundfile` wheel), or leave {codec} out of the augmentation"
        )
    if audio.size == 0:
        return audio.copy()
    fmt, subtype = _CODEC_FORMATS[codec]
    buffer = io.BytesIO()
    clipped = np.clip(audio, -1.0, 1.0)
    if codec == "mp3":
        level = float(np.clip((_MP3_MAX_KBPS - bitrate_kbps) / _MP3_SPAN_KBPS, 0.0, 0.99))
        sf.write(
            buffer, clipped, SAMPLE_RATE, format=fmt, subtype=subtype, compression_level=level, bitrate_mode="CONSTANT"
        )
    else:
        level = float(np.clip((_OGG_KBPS_AT_C0 - bitrate_kbps) / (_OGG_KBPS_AT_C0 - _OGG_KBPS_AT_C1), 0.0, 0.95))
        sf.write(buffer, clipped, SAMPLE_RATE, format=fmt, subtype=subtype, compression_level=level)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    decoded = decoded if decoded.ndim == 1 else decoded.mean(axis=1)
    if decoded.size > audio.size:
        decoded = decoded[_encoder_delay(audio, decoded) :]
    return _finite(_fit_length(decoded, audio.size))


def _encoder_delay(reference: np.ndarray, decoded: np.ndarray) -> int:
    """The lag (0..extra samples) at which `decoded` best matches `reference`, by FFT cross-correlation."""
    max_lag = decoded.size - reference.size
    n = _fft_length(decoded.size + reference.size)
    xcorr = np.fft.irfft(np.fft.rfft(decoded, n) * np.conj(np.fft.rfft(reference, n)), n)[: max_lag + 1]
    if not np.any(xcorr > 0):
        return min(_MP3_ENCODER_DELAY, max_lag)
    return int(np.argmax(xcorr))


def apply_gain(audio: np.ndarray, gain_db: float) -> np.ndarray:
    """Scale by `gain_db` and clip hard at +-1, as an overdriven recording does."""
    audio = _as_mono(audio)
    return _finite(np.clip(audio * np.float32(10 ** (gain_db / 20)), -1.0, 1.0))


def eq_tilt(audio: np.ndarray, db_per_octave: float, low_cut_hz: float = 0.0) -> np.ndarray:
    """A microphone's colouration: gain of `db_per_octave` per octave away from 1 kHz (positive = brighter),
    limited to +-18 dB, and with `low_cut_hz` > 0 a low cut (a raised-cosine edge there). The RMS is kept."""
    audio = _as_mono(audio)
    if audio.size == 0:
        return audio.copy()

    def response(f: np.ndarray) -> np.ndarray:
        octaves = np.log2(np.maximum(f, 20.0) / _TILT_PIVOT_HZ)
        gain = 10 ** (np.clip(db_per_octave * octaves, -18.0, 18.0) / 20)
        return gain * _raised_cosine_step(f, low_cut_hz) if low_cut_hz > 0 else gain

    out = _fft_filter(audio, response)
    return _finite(out * (_rms(audio) / max(_rms(out), 1e-12)))


# ---------------------------------------------------------------------------------------------------- random chain


@dataclass
class AcousticAugment:
    """Per-crop random degradations, applied in the order EQ -> reverb -> noise -> band/codec -> gain/clip.

    Each stage runs with its probability; `clean_prob` of the crops skip every stage, and every other crop gets at
    least one (a chain that drew none is drawn again). Ranges are (low, high), drawn uniformly. Configs are JSON (`from_dict` / `to_dict`); `enabled=False` returns the audio unchanged.
    """

    enabled: bool = True
    clean_prob: float = 0.2
    eq_prob: float = 0.3
    eq_db_per_octave: tuple[float, float] = (-3.0, 3.0)
    eq_low_cut_hz: tuple[float, float] = (0.0, 200.0)
    reverb_prob: float = 0.35
    reverb_rt60_s: tuple[float, float] = (0.1, 0.8)
    noise_prob: float = 0.45
    noise_snr_db: tuple[float, float] = (5.0, 30.0)
    noise_kinds: tuple[str, ...] = ("white", "pink", "brown", "babble")  # "babble" only when a pool is given
    band_prob: float = 0.25
    band_kinds: tuple[str, ...] = BAND_KINDS
    codec_prob: float = 0.15  # band and codec are one stage: a crop gets one of them at most
    codecs: tuple[str, ...] = CODECS
    codec_kbps: tuple[float, float] = (24.0, 64.0)
    gain_prob: float = 0.3
    gain_db: tuple[float, float] = (-30.0, 6.0)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # from JSON
                setattr(self, f.name, tuple(value))
        probs = {f.name: getattr(self, f.name) for f in fields(self) if f.name.endswith("_prob")}
        bad = {k: v for k, v in probs.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"acoustic augment probabilities must lie in [0, 1]: {bad}")
        if self.band_prob + self.codec_prob > 1.0:
            raise ValueError(f"band_prob + codec_prob must be <= 1 (one stage), got {self.band_prob + self.codec_prob}")
        if self.reverb_rt60_s[0] <= 0:
            raise ValueError(f"reverb_rt60_s must be positive seconds, got {self.reverb_rt60_s}")
        unknown = [k for k in self.noise_kinds if k not in (*NOISE_COLOURS, "babble")]
        unknown += [k for k in self.band_kinds if k not in BAND_KINDS] + [c for c in self.codecs if c not in CODECS]
        if unknown:
            raise ValueError(
                f"unknown kinds {unknown}; noise: {(*NOISE_COLOURS, 'babble')}, bands: {BAND_KINDS}, codecs: {CODECS}"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AcousticAugment:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown AcousticAugment keys {unknown}; valid keys: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def draw(self, rng: np.random.Generator, babble_available: bool = False) -> list[tuple[str, dict[str, Any]]]:
        """The chain for one crop: [(stage, parameters)] in application order (empty = clean)."""
        if not self.enabled or rng.random() < self.clean_prob:
            return []
        for _ in range(20):  # all stage probabilities 0 would never draw one: give up (clean) after a few tries
            chain = self._draw_stages(rng, babble_available)
            if chain:
                return chain
        return []

    def _draw_stages(self, rng: np.random.Generator, babble_available: bool) -> list[tuple[str, dict[str, Any]]]:
        chain: list[tuple[str, dict[str, Any]]] = []
        if rng.random() < self.eq_prob:
            low_cut = float(rng.uniform(*self.eq_low_cut_hz)) if rng.random() < 0.5 else 0.0
            chain.append(("eq", {"db_per_octave": float(rng.uniform(*self.eq_db_per_octave)), "low_cut_hz": low_cut}))
        if rng.random() < self.reverb_prob:
            chain.append(("reverb", {"rt60_s": float(rng.uniform(*self.reverb_rt60_s))}))
        if rng.random() < self.noise_prob:
            kinds = [k for k in self.noise_kinds if k != "babble" or babble_available]
            if kinds:
                chain.append(
                    ("noise", {"kind": str(rng.choice(kinds)), "snr_db": float(rng.uniform(*self.noise_snr_db))})
                )
        channel = rng.random()
        available_codecs = [c for c in self.codecs if codec_available(c)]
        if channel < self.band_prob and self.band_kinds:
            chain.append(("band", {"kind": str(rng.choice(self.band_kinds))}))
        elif channel < self.band_prob + self.codec_prob and available_codecs:  # an unavailable codec is skipped
            chain.append(
                (
                    "codec",
                    {"codec": str(rng.choice(available_codecs)), "bitrate_kbps": float(rng.uniform(*self.codec_kbps))},
                )
            )
        if rng.random() < self.gain_prob:
            chain.append(("gain", {"gain_db": float(rng.uniform(*self.gain_db))}))
        return chain

    def __call__(
        self, audio: np.ndarray, rng: np.random.Generator, babble_pool: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """(samples,) 16 kHz float32 -> a degraded copy of the same length; the same rng state gives the same output."""
        out, _ = self.apply(audio, rng, babble_pool)
        return out

    def apply(
        self, audio: np.ndarray, rng: np.random.Generator, babble_pool: Sequence[np.ndarray] | None = None
    ) -> tuple[np.ndarray, list[tuple[str, dict[str, Any]]]]:
        """Like calling it, and also returns the chain that was applied (for logging and tests)."""
        out = _as_mono(audio).copy()
        chain = self.draw(rng, babble_available=bool(babble_pool))
        for stage, params in chain:
            if stage == "eq":
                out = eq_tilt(out, params["db_per_octave"], params["low_cut_hz"])
            elif stage == "reverb":
                out = reverberate(out, params["rt60_s"], rng)
            elif stage == "noise":
                kind = params["kind"]
                noise = babble(babble_pool, out.size, rng) if kind == "babble" else kind
                out = add_noise(out, params["snr_db"], rng, noise=noise)
            elif stage == "band":
                out = band_limit(out, params["kind"])
            elif stage == "codec":
                out = codec_round_trip(out, params["codec"], params["bitrate_kbps"])
            elif stage == "gain":
                out = apply_gain(out, params["gain_db"])
        return out, chain


# ---------------------------------------------------------------------------------------------------- evaluation


def degrade(audio: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """The robustness table's fixed degradations of 16 kHz mono audio, deterministic for a seed:
    "telephone" = 300-3400 Hz through 8 kHz; "reverb" = RT60 0.6 s at 0 dB direct-to-reverberant ratio;
    "noise" = white noise at 10 dB SNR (on the active speech); "mp3" = 32 kbps constant-rate round trip."""
    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}; choose one of {DEGRADATIONS}")
    rng = np.random.default_rng(seed)
    if kind == "telephone":
        return band_limit(audio, "telephone")
    if kind == "reverb":
        return reverberate(audio, 0.6, rng, direct_to_reverb_db=0.0)
    if kind == "noise":
        return add_noise(audio, 10.0, rng, noise="white")
    return codec_round_trip(audio, "mp3", 32.0)
