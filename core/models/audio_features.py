"""Audio features for the teacher: Whisper log-mel, the pluggable frozen `AudioEncoder`, and alignment to motion frames.

Every encoder here obeys one clock, shared with the motion (core/data/resample.py): for `n` samples at 16 kHz
it returns `frames_for_samples(n, frame_rate)` = ceil(n * frame_rate / 16000) frames, and frame j describes the
audio around time j / frame_rate. `features_at_fps` then puts them on motion frame k at time k / fps.

Whisper (the default teacher encoder) sees fixed windows: 30 s of audio -> 3000 log-mel frames -> 1500
encoder frames (50/s); a shorter clip is zero-padded to the window and the output cut to the real length;
a longer one is covered by overlapping windows whose features are cross-faded (see `WhisperWindowing`).
By default the encoder's output for a silent window is subtracted per position, which removes most of the
absolute-position signature Whisper leaves in its features (see `WhisperAudioEncoder`).
The features depend on that policy, so training and inference must use the same one: it is part of `cache_id`.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from core.audio import SAMPLE_RATE
from core.models.ctranslate2_whisper import WHISPER_SIZES, load_whisper_encoder

if TYPE_CHECKING:
    import torch

MEL_BINS = 80
MEL_FRAME_RATE = 100.0  # Whisper's STFT hop is 160 samples
WHISPER_FRAME_RATE = 50.0  # conv2 has stride 2: one encoder frame per 2 mel frames
_SAMPLES_PER_WHISPER_FRAME = 320
WHISPER_MAX_WINDOW_SECONDS = 30  # Whisper's 1500 position embeddings

# Bump when the windowing code changes its output for the same settings: it invalidates cached features.
WHISPER_WINDOWING_VERSION = 1


@runtime_checkable
class AudioEncoder(Protocol):
    """A frozen audio encoder: 16 kHz mono float audio -> (frames, feature_dim) at `frame_rate` (see module clock)."""

    feature_dim: int
    frame_rate: float
    cache_id: str  # changes whenever the features for the same audio would change (weights, windowing, version)

    def encode(self, audio16k: np.ndarray) -> torch.Tensor: ...


def frames_for_samples(num_samples: int, frame_rate: float) -> int:
    """Frames an encoder returns for `num_samples` at 16 kHz: every frame time j / frame_rate inside the audio."""
    return math.ceil(num_samples * frame_rate / SAMPLE_RATE - 1e-9)


@functools.lru_cache(maxsize=4)
def _whisper_feature_extractor(window_seconds: int):
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=MEL_BINS, sampling_rate=SAMPLE_RATE, chunk_length=window_seconds)


def whisper_log_mel(audio16k: np.ndarray, window_seconds: int = WHISPER_MAX_WINDOW_SECONDS) -> np.ndarray:
    """Whisper's log-mel of one window: (80, window_seconds * 100) float32, exactly as WhisperFeatureExtractor.

    The audio is zero-padded (or cut) to the window, as Whisper does; its log range is clamped to 8 (log10)
    below the window's loudest bin, so the padding's value depends on the window's content.
    """
    audio = _mono_float32(audio16k)
    extractor = _whisper_feature_extractor(int(window_seconds))
    mel = extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="np").input_features  # (1, 80, frames)
    return np.asarray(mel[0], dtype=np.float32)


@dataclass(frozen=True)
class WhisperWindowing:
    """How audio of any length is cut into Whisper windows.

    window_seconds: 30 is Whisper's own window (the features it was trained to give). Shorter windows run
    faster on short clips (attention is quadratic in the window) but change the features: they use the first
    rows of the position table and less padding. Pick one per trained teacher and never mix.
    (transformers' WhisperEncoder insists on exactly 2 * max_source_positions mel frames, so a shorter window
    gets its own encoder built with fewer positions; CTranslate2 treats short inputs the same way, to 2e-4.)
    overlap_seconds: least overlap between neighbouring windows; features are cross-faded linearly over it.
    """

    window_seconds: int = WHISPER_MAX_WINDOW_SECONDS
    overlap_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not (isinstance(self.window_seconds, int) and 1 <= self.window_seconds <= WHISPER_MAX_WINDOW_SECONDS):
            raise ValueError(f"window_seconds must be a whole number of seconds in 1..30, got {self.window_seconds}")
        if not 0 <= self.overlap_seconds <= self.window_seconds / 2:
            raise ValueError(f"overlap_seconds must be in 0..window_seconds/2, got {self.overlap_seconds}")

    @property
    def window_frames(self) -> int:
        return int(self.window_seconds * WHISPER_FRAME_RATE)

    @property
    def overlap_frames(self) -> int:
        return int(round(self.overlap_seconds * WHISPER_FRAME_RATE))

    def window_starts(self, total_frames: int) -> list[int]:
        """First encoder frame of each window covering `total_frames` frames.

        One window when the audio fits; otherwise the fewest windows that overlap by at least `overlap_frames`,
        spread evenly so that each is full of real audio (the last one ends where the audio ends).
        """
        window, overlap = self.window_frames, self.overlap_frames
        if total_frames <= window:
            return [0]
        count = math.ceil((total_frames - overlap) / (window - overlap))
        last_start = total_frames - window
        return [round(i * last_start / (count - 1)) for i in range(count)]

    def blend_weights(self, has_previous: bool, has_next: bool) -> np.ndarray:
        """(window_frames,) weights of one window's frames: 1, ramping linearly to 0 over the overlap with a neighbour.

        Where exactly two windows overlap by `overlap_frames` the ramps sum to 1 (a cross-fade); in longer
        overlaps the frames are averaged. The caller normalises by the summed weights.
        """
        window, ramp = self.window_frames, max(self.overlap_frames, 1)
        position = np.arange(window, dtype=np.float64) + 0.5  # frame centres within the window
        weights = np.ones(window)
        if has_previous:
            weights = np.minimum(weights, position / ramp)
        if has_next:
            weights = np.minimum(weights, (window - position) / ramp)
        return weights


@functools.lru_cache(maxsize=2)
def _frozen_whisper_encoder(size: str, window_seconds: int):
    """The encoder for one window length and its position template (its output for a silent window)."""
    import torch

    model = load_whisper_encoder(size, int(window_seconds * WHISPER_FRAME_RATE))
    silence = torch.from_numpy(whisper_log_mel(np.zeros(window_seconds * SAMPLE_RATE, np.float32), window_seconds))
    with torch.no_grad():
        template = model(silence[None]).last_hidden_state[0]  # (window frames, dim)
    return model, template


class WhisperAudioEncoder:
    """Whisper's encoder (from the packaged CTranslate2 weights) over audio of any length, in `WhisperWindowing`.

    remove_position_template: subtract the encoder's output for a silent window, frame by frame. Whisper's
    absolute position embeddings leave a strong per-position signature in its output: the same speech encoded
    at two offsets in a window agrees only to a mean cosine of ~0.47 (tiny.en), ~0.93 once the silent-window
    output at the same positions is subtracted. Removing it makes features of a frame nearly independent of
    where its window started, so overlapping windows cross-fade cleanly. Subtracting a fixed vector per
    position loses no information. Part of `cache_id`.
    """

    frame_rate = WHISPER_FRAME_RATE

    def __init__(
        self, size: str = "tiny.en", windowing: WhisperWindowing | None = None, remove_position_template: bool = True
    ) -> None:
        if size not in WHISPER_SIZES:
            raise ValueError(f"unknown Whisper size {size!r}; choose one of {', '.join(WHISPER_SIZES)}")
        self.size = size
        self.windowing = windowing or WhisperWindowing()
        self.remove_position_template = remove_position_template
        self.model, template = _frozen_whisper_encoder(size, self.windowing.window_seconds)
        self.position_template = template if remove_position_template else template.new_zeros(template.shape)
        self.feature_dim = int(self.model.config.d_model)

    def on_device(self, device: str) -> WhisperAudioEncoder:
        """This encoder, unmoved: the frozen Whisper runs where it was loaded, whatever `device` the talker uses."""
        return self

    @property
    def cache_id(self) -> str:
        w = self.windowing
        template = "notemplate" if self.remove_position_template else "raw"
        return (
            f"whisper-{self.size}-win{w.window_seconds}s-ovl{w.overlap_frames}f-{template}-v{WHISPER_WINDOWING_VERSION}"
        )

    def encode(self, audio16k: np.ndarray) -> torch.Tensor:
        """(frames, feature_dim) float32 at 50 frames/s; frames = ceil(seconds * 50)."""
        import torch

        audio = _mono_float32(audio16k)
        total = frames_for_samples(audio.size, self.frame_rate)
        window = self.windowing.window_frames
        features = torch.zeros(total, self.feature_dim)  # (frames, dim)
        if total == 0:
            return features
        weight_sum = torch.zeros(total, 1)
        starts = self.windowing.window_starts(total)
        for index, start in enumerate(starts):
            first_sample = start * _SAMPLES_PER_WHISPER_FRAME
            chunk = audio[first_sample : first_sample + window * _SAMPLES_PER_WHISPER_FRAME]
            mel = torch.from_numpy(whisper_log_mel(chunk, self.windowing.window_seconds))  # (80, 2 * window)
            with torch.no_grad():
                encoded = self.model(mel[None]).last_hidden_state[0] - self.position_template  # (window, dim)
            valid = min(window, total - start)  # frames of real audio; the rest saw only padding
            weights = self.windowing.blend_weights(has_previous=index > 0, has_next=index < len(starts) - 1)
            weights = torch.from_numpy(weights[:valid]).float()[:, None]  # (valid, 1)
            features[start : start + valid] += encoded[:valid] * weights
            weight_sum[start : start + valid] += weights
        return features / weight_sum.clamp_min(1e-12)


class HuggingFaceLocalEncoder:
    """A user's local wav2vec2 / HuBERT (any transformers audio model with a conv feature encoder), offline.

    `directory` is what `save_pretrained` writes (config.json + weights, optionally preprocessor_config.json).
    The output is re-timed onto the shared clock: the model's frame j covers samples [stride*j, stride*j +
    receptive_field), so its centre is half a receptive field later than j / frame_rate.
    The whole clip goes through the model at once (its attention is quadratic in length: split hour-long audio).
    """

    def __init__(self, directory: Path | str, device: str = "cpu") -> None:
        from transformers import AutoFeatureExtractor, AutoModel, Wav2Vec2FeatureExtractor

        self.directory = Path(directory)
        if not (self.directory / "config.json").is_file():
            raise FileNotFoundError(
                f"{self.directory} has no config.json; point to a folder written by `model.save_pretrained(...)` "
                "(e.g. a downloaded facebook/wav2vec2-base-960h or facebook/hubert-base-ls960 snapshot)"
            )
        self.model = AutoModel.from_pretrained(self.directory, local_files_only=True).to(device)
        self.model.eval()
        self.model.requires_grad_(False)
        self.device = device
        if (self.directory / "preprocessor_config.json").is_file():
            self.extractor = AutoFeatureExtractor.from_pretrained(self.directory, local_files_only=True)
        else:
            self.extractor = Wav2Vec2FeatureExtractor()  # zero-mean unit-variance input, what these models expect
        config = self.model.config
        if not (hasattr(config, "conv_stride") and hasattr(config, "conv_kernel")):
            raise ValueError(f"{self.directory}: {type(self.model).__name__} has no conv feature encoder to time")
        self.stride = int(np.prod(config.conv_stride))
        self.receptive_field = 1
        for kernel, jump in zip(config.conv_kernel, np.cumprod([1, *config.conv_stride[:-1]]), strict=True):
            self.receptive_field += (kernel - 1) * int(jump)
        self.frame_rate = SAMPLE_RATE / self.stride
        self.feature_dim = int(config.hidden_size)

    def on_device(self, device: str) -> HuggingFaceLocalEncoder:
        """This encoder, unmoved: it runs on the device it was loaded on (its constructor's `device`)."""
        return self

    @functools.cached_property
    def cache_id(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.directory.iterdir()):
            if path.is_file() and path.suffix in {".json", ".safetensors", ".bin"}:
                digest.update(path.name.encode())
                with open(path, "rb") as handle:
                    for block in iter(lambda h=handle: h.read(1 << 22), b""):
                        digest.update(block)
        return f"hf-{type(self.model).__name__}-{digest.hexdigest()[:16]}"

    def encode(self, audio16k: np.ndarray) -> torch.Tensor:
        """(frames, feature_dim) float32 at `frame_rate`, frame j at time j / frame_rate."""
        import torch

        audio = _mono_float32(audio16k)
        total = frames_for_samples(audio.size, self.frame_rate)
        padded = np.pad(audio, (0, max(0, self.receptive_field - audio.size)))  # at least one model frame
        inputs = self.extractor(padded, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        with torch.no_grad():
            hidden = self.model(inputs.input_values.to(self.device)).last_hidden_state[0].float().cpu()  # (F, dim)
        native_times = (np.arange(hidden.shape[0]) * self.stride + (self.receptive_field - 1) / 2) / SAMPLE_RATE
        return _interpolate_frames(hidden, native_times, np.arange(total) / self.frame_rate)


def features_at_fps(
    features: np.ndarray | torch.Tensor, src_rate: float, fps: float, num_frames: int
) -> np.ndarray | torch.Tensor:
    """Encoder features (F, D) at `src_rate` -> (num_frames, D) at motion `fps`, by linear interpolation in time.

    Feature frame j sits at j / src_rate and motion frame k at k / fps (the project's clock), so frame 0 maps to
    frame 0; motion frames past the last feature frame repeat it. Returns the input's type (numpy or torch).
    """
    if src_rate <= 0 or fps <= 0:
        raise ValueError(f"frame rates must be positive, got src_rate={src_rate}, fps={fps}")
    if features.shape[0] == 0:
        raise ValueError("no feature frames to align: the audio is empty")
    source_times = np.arange(features.shape[0]) / src_rate
    return _interpolate_frames(features, source_times, np.arange(num_frames) / fps)


def _interpolate_frames(
    features: np.ndarray | torch.Tensor, source_times: np.ndarray, target_times: np.ndarray
) -> np.ndarray | torch.Tensor:
    """Rows of `features` (at increasing `source_times`) linearly interpolated at `target_times`, clamped at the ends."""
    position = np.interp(target_times, source_times, np.arange(source_times.size, dtype=np.float64))
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, source_times.size - 1)
    fraction = (position - lower).reshape(-1, *([1] * (features.ndim - 1)))
    if isinstance(features, np.ndarray):
        fraction = fraction.astype(features.dtype)
    else:
        import torch

        fraction = torch.from_numpy(fraction).to(features.dtype)
        lower, upper = torch.from_numpy(lower), torch.from_numpy(upper)
    return features[lower] * (1 - fraction) + features[upper] * fraction


def _mono_float32(audio16k: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio16k, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(
            f"expected mono 16 kHz audio as a 1-D array, got shape {audio.shape}; "
            "load it with core.audio.load_audio (it mixes down and resamples)"
        )
    return audio
