"""The student's small audio encoder: log-mel -> features that imitate the frozen Whisper encoder's (L_ae).

    audio 16 kHz --log_mel--> (80, mel_frames) at 100/s (config.noise_floor: each band's stationary floor out first;
                                                          config.late_reverb_rt60: then a room's late reverberation)
      conv k3 + GELU, conv k3 stride 2 + GELU       -> (frames, width) at 50/s, like Whisper's stem
      attention_layers x [pre-norm local self-attention (ALiBi, +-attention_window frames),
                          pre-norm depthwise conv (conv_module_kernel frames) + GELU when conv_module_kernel > 0,
                          pre-norm GELU MLP]
      LayerNorm, Linear                              -> (frames, out_dim) at 50/s

ALiBi's penalty depends on |distance| only, so attention alone cannot tell the frame before from the frame after;
the stem sees 50 ms. The depthwise conv module gives each block ordered local context (what comes before and after a
closure, formant transitions) for width * kernel parameters.

Local attention with a distance penalty and no absolute positions: audio of any length, frame j of the output
describes time j / 50 s, and frames = frames_for_samples(samples, 50) (core/models/audio_features.py's clock).
It is computed block by block (queries in blocks, each seeing only its +-window keys), so memory grows linearly
with the length. A frame sees about attention_layers * attention_window / 50 s either side (1.3 s by default).

The training loop (MSE to cached Whisper base features) is in the training code; this is only the network.
core/numpy_student.py runs the same forward in numpy from this module's state dict.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from core.models.local_attention import alibi_slopes, local_attention
from core.models.log_mel import LOG_MEL_VERSION, MEL_BINS, NOISE_FLOOR_OVERSUBTRACT, front_end_options, log_mel

STUDENT_ENCODER_FRAME_RATE = 50.0


@dataclass
class StudentEncoderConfig:
    mel_bins: int = MEL_BINS
    width: int = 192
    conv_layers: int = 2  # the last conv has stride 2: 100 mel frames/s -> 50 features/s
    attention_layers: int = 2
    heads: int = 4
    attention_window: int = 32  # frames each side a frame can see per layer (0.64 s at 50/s)
    out_dim: int = 512  # Whisper base's feature_dim, the features it imitates
    ff_mult: int = 2
    dropout: float = 0.0
    conv_module_kernel: int = 0  # odd; 0 = no conv module (the encoder shipped before it existed)
    # Shipped form: no output layer, features are the width-sized state (core/models/feature_fold.py folds the
    # output layer into the denoiser's and personalizer's audio input)
    output_folded: bool = False
    # the log-mel front end subtracts each band's stationary noise floor first, then (> 0) the late reverberation
    # of a room with this RT60 in seconds (core/models/log_mel.py); the floor is taken out this many times over
    noise_floor: bool = False
    late_reverb_rt60: float = 0.0
    noise_floor_oversubtract: float = NOISE_FLOOR_OVERSUBTRACT

    def __post_init__(self) -> None:
        if not 0.0 <= self.late_reverb_rt60 <= 5.0:
            raise ValueError(f"late_reverb_rt60 must be 0 (off) or an RT60 in seconds, got {self.late_reverb_rt60}")
        if not 1.0 <= self.noise_floor_oversubtract <= 8.0:
            raise ValueError(f"noise_floor_oversubtract must be 1-8 noise floors, got {self.noise_floor_oversubtract}")
        if self.conv_layers < 1:
            raise ValueError("conv_layers must be >= 1 (the last one halves the frame rate)")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")
        if self.conv_module_kernel < 0 or (self.conv_module_kernel and self.conv_module_kernel % 2 == 0):
            raise ValueError(f"conv_module_kernel must be 0 or odd, got {self.conv_module_kernel}")

    @classmethod
    def tiny(cls, out_dim: int = 16, **overrides) -> StudentEncoderConfig:
        """A few-thousand-parameter config for tests."""
        values = dict(width=24, conv_layers=2, attention_layers=2, heads=2, attention_window=4, out_dim=out_dim)
        return cls(**{**values, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> StudentEncoderConfig:
        return cls(**values)

    def front_end(self) -> dict:
        """`log_mel`'s keyword arguments for this encoder's front end."""
        return front_end_options(asdict(self))


class LocalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.register_buffer("slopes", alibi_slopes(heads), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, w = x.shape  # (batch, frames, width)
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        y = local_attention(q, k, v, self.slopes, self.window)  # (batch, heads, frames, head_dim)
        return self.proj(y.transpose(1, 2).reshape(b, n, w))


def frames_conv(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """`conv` over (batch, frames, channels) x, as (batch, frames, channels): a conv2d over x's own memory seen as a
    channels-last (batch, channels, 1, frames) image: the Conv1d on x transposed, to float round-off, without the
    transposed copies. For the depthwise conv module CPU's channels-last kernel is ~30x faster (inference)."""
    y = F.conv2d(
        x.transpose(1, 2).unsqueeze(2), conv.weight.unsqueeze(2), conv.bias,
        stride=(1, conv.stride[0]), padding=(0, conv.padding[0]), dilation=(1, conv.dilation[0]), groups=conv.groups,
    )  # fmt: skip
    return y.squeeze(2).transpose(1, 2)


class EncoderBlock(nn.Module):
    def __init__(self, config: StudentEncoderConfig) -> None:
        super().__init__()
        w = config.width
        self.norm_attn = nn.LayerNorm(w)
        self.attn = LocalSelfAttention(w, config.heads, config.attention_window)
        k = config.conv_module_kernel
        self.norm_conv = nn.LayerNorm(w) if k else None
        self.conv = nn.Conv1d(w, w, k, padding=k // 2, groups=w) if k else None
        self.norm_ff = nn.LayerNorm(w)
        self.ff = nn.Sequential(nn.Linear(w, config.ff_mult * w), nn.GELU(), nn.Linear(config.ff_mult * w, w))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.norm_attn(x)))
        if self.conv is not None:
            h = self.norm_conv(x)  # (batch, frames, width)
            y = self.conv(h.transpose(1, 2)).transpose(1, 2) if self.training else frames_conv(self.conv, h)
            x = x + self.dropout(F.gelu(y))
        return x + self.dropout(self.ff(self.norm_ff(x)))


class StudentAudioEncoder(nn.Module):
    """Satisfies core.models.audio_features.AudioEncoder: `encode(audio16k)` -> (frames, out_dim) at 50 frames/s."""

    frame_rate = STUDENT_ENCODER_FRAME_RATE

    def __init__(self, config: StudentEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or StudentEncoderConfig()
        convs = []
        for i in range(config.conv_layers):
            last = i == config.conv_layers - 1
            convs.append(
                nn.Conv1d(
                    config.mel_bins if i == 0 else config.width, config.width, 3, stride=2 if last else 1, padding=1
                )
            )
        self.convs = nn.ModuleList(convs)
        self.blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.attention_layers))
        self.norm_out = nn.LayerNorm(config.width)
        self.out = None if config.output_folded else nn.Linear(config.width, config.out_dim)

    @property
    def feature_dim(self) -> int:
        return self.config.width if self.config.output_folded else self.config.out_dim

    @property
    def cache_id(self) -> str:
        """Changes with the weights and the log-mel version (so cached features of an older student miss)."""
        digest = hashlib.sha256(repr(sorted(self.config.to_dict().items())).encode())
        for name, tensor in sorted(self.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
        return f"student-encoder-mel{LOG_MEL_VERSION}-{digest.hexdigest()[:16]}"

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(batch, mel_bins, mel_frames) normalised log-mel -> (batch, ceil(mel_frames / 2), feature_dim) features."""
        h = mel
        for conv in self.convs:
            h = F.gelu(conv(h))  # (batch, width, frames); the last conv halves the frames
        h = h.transpose(1, 2)  # (batch, frames, width)
        for block in self.blocks:
            h = block(h)
        h = self.norm_out(h)
        return h if self.out is None else self.out(h)  # (batch, frames, feature_dim)

    def on_device(self, device: str) -> StudentAudioEncoder:
        """This encoder, in eval mode, on `device` (where the backend runs the talker)."""
        return self.eval().to(device)

    def log_mel(self, audio16k: np.ndarray) -> np.ndarray:
        """(80, mel_frames) the log-mel this encoder reads, through its configured front end."""
        return log_mel(audio16k, **self.config.front_end())

    @torch.no_grad()
    def encode(self, audio16k: np.ndarray) -> torch.Tensor:
        """(frames_for_samples(samples, 50), feature_dim) float32 features on the CPU for 16 kHz mono audio."""
        device = next(self.parameters()).device
        mel = torch.from_numpy(self.log_mel(audio16k)).to(device)[None]  # (1, 80, mel_frames)
        if mel.shape[-1] == 0:
            return torch.zeros(0, self.feature_dim)
        return self(mel)[0].float().cpu()
