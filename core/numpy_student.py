"""The shipped student in numpy alone, for a stock Blender (numpy, no torch): same numbers as the torch modules.

Everything reads a flat state dict (name -> np.ndarray, the torch modules' `state_dict()` names) and the config
dicts stored beside it (TalkerConfig.to_dict(), StudentEncoderConfig.to_dict()), and mirrors, op for op:

    NumpyStudentEncoder   core/models/student_audio_encoder.py  StudentAudioEncoder (log-mel -> 50/s features)
    NumpyTalker           core/models/talker.py                 DiffusionTalker: personalizer (encode_style from
                          audio, fuse), MotionDenoiser forward, DDIM over the cosine schedule (core/models/diffusion.py),
                          generate (per-window DDIM inside core/sampling.py's windowed_sample, as torch's)

Noise comes from the caller (core/sampling.py `NoiseSource`: shape -> float32 array); `seeded_noise(seed)` draws it
with `np.random.default_rng(seed)`, and torch's DiffusionTalker.generate draws from the same source through the same
window loop, so both backends give the same take for a seed. Eval mode only (no dropout). Tolerance against torch:
~1e-5 (float32 round-off; erf is approximated to 1.5e-7). No torch import here, at module level or below.
Not op for op where it pays: the denoiser's windowed attention is computed in bands (the scores its -inf bias would
hide are never formed), convolutions are one matmul over their taps, erf runs in float32: 2-3x faster, same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from core.models.log_mel import front_end_options, log_mel
from core.sampling import FramesProgress, NoiseSource, WindowPlan, windowed_sample
from core.sampling import seeded_noise as seeded_noise  # re-exported: callers imported it from here

COSINE_OFFSET = 0.008  # core/models/diffusion.py
LAYER_NORM_EPS = 1e-5
_NEG_INF = np.float32(-np.inf)


# ---- primitives (inputs channels-last unless noted) --------------------------------------------------------------


_ERF_COEFFS = tuple(np.float32(c) for c in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7; float32 round-off adds about as much): numpy has no vectorised
    erf. In float32, like its input: GELU's erf is the largest single cost of the numpy student."""
    z = np.abs(x.astype(np.float32))
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * z)
    c = _ERF_COEFFS
    poly = t * (c[0] + t * (c[1] + t * (c[2] + t * (c[3] + t * c[4]))))
    return np.sign(x).astype(np.float32) * (np.float32(1.0) - poly * np.exp(-z * z))


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as torch's nn.GELU() default."""
    x = x.astype(np.float32, copy=False)
    return np.float32(0.5) * x * (np.float32(1.0) + erf(x * np.float32(1.0 / math.sqrt(2.0))))


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """torch.nn.functional.normalize along the last axis."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def alibi_slopes(heads: int) -> np.ndarray:
    return np.array([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)], dtype=np.float32)


def conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *, stride: int = 1, padding: int = 0,
           dilation: int = 1, groups: int = 1) -> np.ndarray:  # fmt: skip
    """nn.Conv1d on channels-last input: x (batch, length, in), weight (out, in / groups, kernel) -> (batch, L', out).

    groups is 1 or `in` (depthwise).
    """
    b, length, channels = x.shape
    kernel = weight.shape[2]
    padded = np.pad(x, ((0, 0), (padding, padding), (0, 0)))
    out_length = (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    taps = [padded[:, t * dilation : t * dilation + stride * (out_length - 1) + 1 : stride] for t in range(kernel)]
    if groups == 1:  # one matmul over the taps side by side (faster than a matmul per tap)
        out = np.concatenate(taps, axis=-1) @ weight.transpose(2, 1, 0).reshape(kernel * channels, -1)
    elif groups == channels and weight.shape[1] == 1:
        out = np.zeros((b, out_length, channels), dtype=np.float32)
        for tap, taken in enumerate(taps):
            out += taken * weight[:, 0, tap]
    else:
        raise ValueError(f"conv1d supports groups 1 or {channels}, got {groups}")
    return out if bias is None else out + bias


class _Params:
    """Named access into a flat state dict under a prefix: p["norm.weight"] -> state[prefix + "norm.weight"]."""

    def __init__(self, state: Mapping[str, np.ndarray], prefix: str = "") -> None:
        self.state, self.prefix = state, prefix

    def __getitem__(self, name: str) -> np.ndarray:
        key = self.prefix + name
        if key not in self.state:
            raise KeyError(f"weights lack the tensor {key!r}: do they belong to this model version?")
        return self.state[key]

    def sub(self, name: str) -> _Params:
        return _Params(self.state, f"{self.prefix}{name}.")

    def linear(self, name: str, x: np.ndarray) -> np.ndarray:
        return x @ self[f"{name}.weight"].T + self[f"{name}.bias"]

    def layer_norm(self, name: str, x: np.ndarray) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + LAYER_NORM_EPS) * self[f"{name}.weight"] + self[f"{name}.bias"]

    def audio_input(self, x: np.ndarray, folded: bool) -> np.ndarray:
        """`audio_in(audio_norm(x))`, or its fold (core/models/audio_input.py FoldedFeatureProjection)."""
        if not folded:
            return self.linear("audio_in", self.layer_norm("audio_norm", x))
        factor = self["audio_in.norm_factor"]  # (in + 1, in + 1)
        z = x @ factor[:, :-1].T + factor[:, -1]
        scale = 1.0 / np.sqrt((z * z).sum(axis=-1, keepdims=True) + LAYER_NORM_EPS)
        return (x @ self["audio_in.weight"].T + self["audio_in.shift"]) * scale + self["audio_in.bias"]


def _attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """softmax(q k^T / sqrt(d) + bias) v over (batch, heads, tokens, head_dim)."""
    scores = q @ np.swapaxes(k, -1, -2) / np.float32(math.sqrt(q.shape[-1]))
    if bias is not None:
        scores = scores + bias
    return softmax(scores) @ v


def _split_heads(x: np.ndarray, heads: int) -> np.ndarray:
    b, n, w = x.shape
    return x.reshape(b, n, heads, w // heads).transpose(0, 2, 1, 3)  # (batch, heads, tokens, head_dim)


def _merge_heads(y: np.ndarray) -> np.ndarray:
    b, h, n, d = y.shape
    return y.transpose(0, 2, 1, 3).reshape(b, n, h * d)


def _denoiser_attention(
    p: _Params, x: np.ndarray, heads: int, cond: int, slopes: np.ndarray, window: int, bias: np.ndarray | None
) -> np.ndarray:
    """MotionDenoiser's SelfAttention (fused qkv Linear, attention, proj) over [cond tokens, frames]: the condition
    tokens see each other; a frame sees them and the frames within +-window (ALiBi, MotionDenoiser.attention_bias).
    `bias` (1, heads, tokens, tokens): full attention masked by it; None: the frames' part banded (_local_attention:
    the same numbers, without the scores the bias would hide)."""
    qkv = p.linear("qkv", x)  # (batch, tokens, 3 width)
    q, k, v = (_split_heads(part, heads) for part in np.split(qkv, 3, axis=-1))
    if bias is not None:
        return p.linear("proj", _merge_heads(_attention(q, k, v, bias)))
    head = _attention(q[:, :, :cond], k[:, :, :cond], v[:, :, :cond])
    frames = _local_attention(
        q[:, :, cond:], k[:, :, cond:], v[:, :, cond:], slopes, window, k[:, :, :cond], v[:, :, :cond]
    )
    return p.linear("proj", _merge_heads(np.concatenate([head, frames], axis=2)))


def _local_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    slopes: np.ndarray,
    window: int,
    shared_k: np.ndarray | None = None,
    shared_v: np.ndarray | None = None,
) -> np.ndarray:
    """core/models/local_attention.py: ALiBi attention within +-window frames, in blocks. `shared_k` /
    `shared_v` (batch, heads, c, head_dim): keys every query also sees, unbiased (the denoiser's condition tokens)."""
    b, h, n, d = q.shape
    block = max(window, 1)
    blocks = -(-n // block)
    pad = blocks * block - n
    span = block + 2 * window
    q_blocks = np.pad(q, ((0, 0), (0, 0), (0, pad), (0, 0))).reshape(b, h, blocks, block, d)

    def spans(x: np.ndarray) -> np.ndarray:  # (b, h, blocks, span, d)
        padded = np.pad(x, ((0, 0), (0, 0), (window, pad + window), (0, 0)))
        return np.lib.stride_tricks.sliding_window_view(padded, span, axis=2)[:, :, ::block].swapaxes(-1, -2)

    k_spans, v_spans = spans(k), spans(v)
    scores = q_blocks @ k_spans.swapaxes(-1, -2) / np.float32(math.sqrt(d))  # (b, h, blocks, block, span)
    distance = np.abs(np.arange(block)[:, None] - (np.arange(span)[None, :] - window)).astype(np.float32)
    bias = -slopes[:, None, None] * distance  # (heads, block, span)
    key_frame = np.arange(blocks)[:, None] * block + np.arange(span)[None, :] - window  # (blocks, span)
    hidden = (distance > window)[None, None, None] | ((key_frame < 0) | (key_frame >= n))[None, None, :, None, :]
    scores = np.where(hidden, np.finfo(np.float32).min, scores + bias[None, :, None])
    if shared_k is not None:
        shared = q_blocks @ shared_k[:, :, None].swapaxes(-1, -2) / np.float32(math.sqrt(d))  # (b, h, blocks, block, c)
        scores = np.concatenate([shared, scores], axis=-1)
        v_spans = np.concatenate(
            [np.broadcast_to(shared_v[:, :, None], (b, h, blocks, *shared_v.shape[2:])), v_spans], -2
        )
    out = softmax(scores) @ v_spans  # (b, h, blocks, block, d)
    return out.reshape(b, h, blocks * block, d)[:, :, :n]


# ---- the student audio encoder -----------------------------------------------------------------------------------


class NumpyStudentEncoder:
    """StudentAudioEncoder in numpy: `encode(audio16k)` -> (frames, feature_dim) at 50 frames/s."""

    frame_rate = 50.0

    def __init__(self, state: Mapping[str, np.ndarray], config: Mapping, prefix: str = "") -> None:
        self.config = dict(config)
        self.p = _Params({k: np.asarray(v, np.float32) for k, v in state.items() if k.startswith(prefix)}, prefix)
        self.slopes = alibi_slopes(self.config["heads"])
        self.folded = bool(self.config.get("output_folded", False))  # no output layer (feature_fold.py)
        self.feature_dim = int(self.config["width"] if self.folded else self.config["out_dim"])

    def forward(self, mel: np.ndarray) -> np.ndarray:
        """(batch, mel_bins, mel_frames) -> (batch, ceil(mel_frames / 2), feature_dim)."""
        cfg, p = self.config, self.p
        h = np.ascontiguousarray(np.asarray(mel, np.float32).transpose(0, 2, 1))  # (batch, mel_frames, bins)
        kernel = cfg.get("conv_module_kernel", 0)  # absent in encoders shipped before the conv module
        for i in range(cfg["conv_layers"]):
            stride = 2 if i == cfg["conv_layers"] - 1 else 1
            h = gelu(conv1d(h, p[f"convs.{i}.weight"], p[f"convs.{i}.bias"], stride=stride, padding=1))
        for i in range(cfg["attention_layers"]):
            block = p.sub(f"blocks.{i}")
            x = block.layer_norm("norm_attn", h)
            qkv = block.linear("attn.qkv", x)
            q, k, v = (_split_heads(part, cfg["heads"]) for part in np.split(qkv, 3, axis=-1))
            y = _local_attention(q, k, v, self.slopes, cfg["attention_window"])
            h = h + block.linear("attn.proj", _merge_heads(y))
            if kernel:
                y = conv1d(block.layer_norm("norm_conv", h), block["conv.weight"], block["conv.bias"],
                           padding=kernel // 2, groups=h.shape[-1])  # fmt: skip
                h = h + gelu(y)
            h = h + block.linear("ff.2", gelu(block.linear("ff.0", block.layer_norm("norm_ff", h))))
        h = p.layer_norm("norm_out", h)
        return (h if self.folded else p.linear("out", h)).astype(np.float32)

    def encode(self, audio16k: np.ndarray) -> np.ndarray:
        mel = log_mel(audio16k, **front_end_options(self.config))[None]  # (1, 80, mel_frames)
        if mel.shape[-1] == 0:
            return np.zeros((0, self.feature_dim), np.float32)
        return self.forward(mel)[0]


# ---- diffusion schedule and sampler (core/models/diffusion.py) ---------------------------------------------------


def cosine_alpha_bar(t: np.ndarray | float) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    f = np.cos((t + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
    f0 = math.cos(COSINE_OFFSET / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
    alpha_bar = np.clip(f / f0, 0.0, 1.0)
    return np.where(t >= 1.0, 0.0, alpha_bar)


def alpha_sigma(t: float) -> tuple[np.float32, np.float32]:
    alpha_bar = cosine_alpha_bar(t)
    return np.float32(np.sqrt(alpha_bar)), np.float32(np.sqrt(1.0 - alpha_bar))


def ddim_grid(steps: int) -> np.ndarray:
    """(steps + 1,) float64 times 1, (n-1)/n, ..., 0: timesteps are grid[:-1] (as float32), each steps to the next."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return (steps - np.arange(steps + 1, dtype=np.float64)) / steps


def ddim_step(x0_pred: np.ndarray, t: float, x_t: np.ndarray, t_prev: float) -> np.ndarray:
    """Deterministic DDIM (eta = 0) from t to t_prev given the clean-motion prediction."""
    alpha, sigma = alpha_sigma(t)
    alpha_prev, sigma_prev = alpha_sigma(t_prev)
    eps_pred = (x_t - alpha * x0_pred) / sigma
    return alpha_prev * x0_pred + sigma_prev * eps_pred


# ---- the talker: personalizer + denoiser ---------------------------------------------------------------------------


class NumpyTalker:
    """DiffusionTalker in numpy (eval mode). state: DiffusionTalker.state_dict() names (after `prefix`)."""

    def __init__(self, state: Mapping[str, np.ndarray], talker_config: Mapping, prefix: str = "") -> None:
        self.config = talker_config
        self.pc, self.dc = dict(talker_config["personalizer"]), dict(talker_config["denoiser"])
        arrays = {k: np.asarray(v, np.float32) for k, v in state.items() if k.startswith(prefix)}
        root = _Params(arrays, prefix)
        self.personalizer, self.denoiser = root.sub("personalizer"), root.sub("denoiser")
        self.motion_mean, self.motion_std = root["motion_mean"], root["motion_std"]
        self.slopes = alibi_slopes(self.dc["heads"])
        self.motion_dim = int(self.dc["motion_dim"])
        self.sampling_steps = int(talker_config.get("sampling_steps", 16))
        self.deterministic = bool(talker_config.get("deterministic", False))

    # ---- motion space

    def normalize(self, motion: np.ndarray) -> np.ndarray:
        return ((motion - self.motion_mean) / self.motion_std).astype(np.float32)

    def denormalize(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x * self.motion_std + self.motion_mean, 0.0, 1.0).astype(np.float32)

    # ---- personalizer

    def _clip_encoder(self, p: _Params, h: np.ndarray, mask: np.ndarray) -> np.ndarray:
        keep = mask[..., None].astype(np.float32)
        kernel = self.pc["kernel_size"]
        for i in range(self.pc["conv_layers"]):
            dilation = 2**i
            block = p.sub(f"blocks.{i}")
            y = gelu(block.layer_norm("norm", h)) * keep
            y = conv1d(y, block["conv.weight"], block["conv.bias"], padding=dilation * (kernel - 1) // 2,
                       dilation=dilation)  # fmt: skip
            h = (h + y) * keep
        scores = np.where(mask, p.linear("pool.score", h)[..., 0], _NEG_INF)  # (batch, frames)
        weights = softmax(scores, axis=1)
        pooled = np.einsum("bf,bfw->bw", weights, h)  # (batch, width)
        if self.pc.get("statistics_pooling", False):
            variance = np.einsum("bf,bfw->bw", weights, h * h) - pooled * pooled
            pooled = np.concatenate([pooled, np.sqrt(np.maximum(variance, 1e-6))], axis=-1)  # (batch, 2 width)
        return l2_normalize(p.linear("head.1", p.layer_norm("head.0", pooled)))

    def encode_style(
        self, audio_feats: np.ndarray, mask: np.ndarray | None = None, prosody: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(identity, emotion), each (batch, embed_dim) unit norm, from audio features (batch, ref_frames, audio_dim)
        and, when the personalizer takes it, prosody (batch, ref_frames, prosody_dim)."""
        audio_feats = np.asarray(audio_feats, np.float32)
        batch, frames, _ = audio_feats.shape
        mask = np.ones((batch, frames), dtype=bool) if mask is None else np.asarray(mask, bool)
        if not mask.any(axis=1).all():
            raise ValueError("every reference clip needs at least one valid frame")
        p = self.personalizer
        h = p.audio_input(audio_feats, self.pc.get("audio_input_folded", False))  # (batch, ref_frames, width)
        h = h + p["no_motion"]
        prosody_dim = int(self.pc.get("prosody_dim", 0))
        if prosody_dim:
            if prosody is None or np.shape(prosody) != (batch, frames, prosody_dim):
                got = None if prosody is None else np.shape(prosody)
                raise ValueError(
                    f"this personalizer needs the reference clip's prosody, ({batch}, {frames}, {prosody_dim}) from "
                    f"core.prosody_features.prosody_features; got {got}"
                )
            h = h + p.linear("prosody_in", np.asarray(prosody, np.float32))
        h = h * mask[..., None]
        return self._clip_encoder(p.sub("identity_encoder"), h, mask), self._clip_encoder(
            p.sub("emotion_encoder"), h, mask
        )

    def fuse(
        self,
        identity: np.ndarray,
        emotion: np.ndarray,
        emotion_strength: float = 1.0,
        neutral: np.ndarray | None = None,
    ) -> np.ndarray:
        """Style tokens (batch, style_tokens, width) from identity and emotion embeddings (batch, embed_dim)."""
        p = self.personalizer
        neutral = p["neutral_emotion"] if neutral is None else np.asarray(neutral, np.float32)
        identity, emotion = np.asarray(identity, np.float32), np.asarray(emotion, np.float32)
        emotion = l2_normalize(neutral + np.float32(emotion_strength) * (emotion - neutral))
        sources = np.stack([p.linear("identity_token", identity), p.linear("emotion_token", emotion)], axis=1)
        tokens = np.broadcast_to(p["queries"], (identity.shape[0], *p["queries"].shape))  # (batch, tokens, width)
        heads = self.pc["fusion_heads"]
        for i in range(self.pc["fusion_layers"]):
            layer = p.sub(f"fusion.{i}")
            kv = layer.layer_norm("norm_kv", sources)
            query = layer.layer_norm("norm_q", tokens)
            w_q, w_k, w_v = np.split(layer["attn.in_proj_weight"], 3, axis=0)
            b_q, b_k, b_v = np.split(layer["attn.in_proj_bias"], 3)
            q, k, v = (
                _split_heads(x @ w.T + b, heads) for x, w, b in ((query, w_q, b_q), (kv, w_k, b_k), (kv, w_v, b_v))
            )
            tokens = tokens + layer.linear("attn.out_proj", _merge_heads(_attention(q, k, v)))
            tokens = tokens + layer.linear("ff.2", gelu(layer.linear("ff.0", layer.layer_norm("norm_ff", tokens))))
        return p.layer_norm("fusion_norm", tokens).astype(np.float32)

    # ---- denoiser

    def _timestep_features(self, t: np.ndarray) -> np.ndarray:
        half = self.dc["width"] // 2
        freqs = np.exp(np.float32(-math.log(10_000.0)) * np.arange(half, dtype=np.float32) / np.float32(half))
        angles = (np.float32(1000.0) * t.astype(np.float32))[:, None] * freqs[None, :]
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)  # (batch, width)

    def attention_bias(self, frames: int) -> np.ndarray:
        """(1, heads, cond + frames, cond + frames): MotionDenoiser.attention_bias without padding."""
        cond = 1 + self.dc["style_tokens"]
        n = cond + frames
        pos = np.arange(frames)
        distance = np.abs(pos[:, None] - pos[None, :]).astype(np.float32)
        frame_bias = -self.slopes[:, None, None] * distance
        frame_bias = np.where(distance > self.dc["attention_window"], _NEG_INF, frame_bias)
        bias = np.zeros((self.dc["heads"], n, n), dtype=np.float32)
        bias[:, cond:, cond:] = frame_bias
        bias[:, :cond, cond:] = _NEG_INF
        return bias[None]

    def denoiser_forward(
        self,
        x_t: np.ndarray,
        t: float | np.ndarray,
        audio_feats: np.ndarray | None,
        style_tokens: np.ndarray | None,
        prefix: np.ndarray | None = None,
        prefix_mask: np.ndarray | None = None,
        audio_embedding: np.ndarray | None = None,
    ) -> np.ndarray:
        """MotionDenoiser.forward: x0 prediction (batch, frames, 52); None audio / style = the null condition.
        audio_embedding: `embed_audio(audio_feats)` when the caller has it (the sampler computes it once)."""
        p, dc = self.denoiser, self.dc
        x_t = np.asarray(x_t, np.float32)
        b, frames, _ = x_t.shape
        t = np.broadcast_to(np.asarray(t, np.float32), (b,))
        if prefix is None or prefix_mask is None:
            prefix, prefix_mask = np.zeros_like(x_t), np.zeros((b, frames), dtype=bool)
        known = prefix_mask[..., None].astype(np.float32)  # (batch, frames, 1)
        motion = np.concatenate([x_t, prefix * known, np.broadcast_to(known, x_t.shape)], axis=-1)

        time = p.linear("time_mlp.2", silu(p.linear("time_mlp.0", self._timestep_features(t))))  # (batch, width)

        audio = self.embed_audio(audio_feats, b, frames) if audio_embedding is None else audio_embedding

        if style_tokens is None:
            style = np.broadcast_to(p["null_style"], (b, *p["null_style"].shape))
        else:
            style = p.linear("style_in", np.asarray(style_tokens, np.float32))  # (batch, style_tokens, width)

        h = p.linear("motion_in", motion) + audio + time[:, None, :]  # (batch, frames, width)
        h = np.concatenate([time[:, None, :], style, h], axis=1)  # (batch, 1 + style_tokens + frames, width)
        cond, window = 1 + dc["style_tokens"], dc["attention_window"]
        banded = 4 * window < frames  # else the band covers most of the frames: nothing to skip
        bias = None if banded else self.attention_bias(frames)
        for i in range(dc["layers"]):
            block = p.sub(f"blocks.{i}")
            x = block.layer_norm("norm_attn", h)
            h = h + _denoiser_attention(block.sub("attn"), x, dc["heads"], cond, self.slopes, window, bias)
            h = h + block.linear("ff.2", gelu(block.linear("ff.0", block.layer_norm("norm_ff", h))))
        x0 = p.linear("motion_out", p.layer_norm("norm_out", h[:, -frames:]))
        return np.where(prefix_mask[..., None], prefix, x0).astype(np.float32)

    def embed_audio(self, audio_feats: np.ndarray | None, batch: int, frames: int) -> np.ndarray:
        """MotionDenoiser.embed_audio: (batch, frames, width) the audio condition added to the frames."""
        p, dc = self.denoiser, self.dc
        if audio_feats is None:
            audio = np.broadcast_to(p["null_audio"], (batch, frames, dc["width"]))
        else:
            audio = p.audio_input(np.asarray(audio_feats, np.float32), dc.get("audio_input_folded", False))
        return audio + conv1d(audio, p["audio_conv.weight"], p["audio_conv.bias"], padding=dc["audio_kernel"] // 2,
                              groups=dc["width"])  # fmt: skip

    def denoise(
        self, x_t, t, audio_feats, style_tokens, guidance_scale=1.0, prefix=None, prefix_mask=None, audio_embedding=None
    ):
        """DiffusionTalker.denoise: x0 with classifier-free guidance against null audio + null style."""
        conditional = self.denoiser_forward(x_t, t, audio_feats, style_tokens, prefix, prefix_mask, audio_embedding)
        if guidance_scale == 1.0:
            return conditional
        unconditional = self.denoiser_forward(x_t, t, None, None, prefix, prefix_mask)
        return unconditional + np.float32(guidance_scale) * (conditional - unconditional)

    # ---- sampling

    def sample(
        self,
        audio_feats: np.ndarray,
        tokens: np.ndarray | None,
        steps: int,
        noise: NoiseSource,
        guidance_scale: float = 1.0,
        prefix: np.ndarray | None = None,
    ) -> np.ndarray:
        """DDIM from noise to normalised motion (batch, frames, 52); prefix (batch, k, 52) normalised."""
        b, frames, _ = audio_feats.shape
        prefix_full, prefix_mask = None, None
        if prefix is not None:
            k = prefix.shape[1]
            if k > frames:
                raise ValueError(f"prefix has {k} frames but the audio only {frames}")
            prefix_full = np.zeros((b, frames, prefix.shape[2]), dtype=np.float32)
            prefix_full[:, :k] = prefix
            prefix_mask = np.broadcast_to(np.arange(frames) < k, (b, frames))
        if self.deterministic:  # the regression baseline: one pass from x_t = 0 at t = 1 (TalkerConfig.deterministic)
            steps, x = 1, np.zeros((b, frames, self.motion_dim), np.float32)
        else:
            x = np.asarray(noise((b, frames, self.motion_dim)), dtype=np.float32)  # (batch, frames, 52) at t = 1
        grid = ddim_grid(steps)
        audio = self.embed_audio(audio_feats, b, frames)  # once per window, as DiffusionTalker.sample
        for t, t_prev in zip(grid[:-1], grid[1:], strict=True):
            t32 = float(np.float32(t))  # the torch sampler's timesteps are float32
            x0_pred = self.denoise(x, t32, audio_feats, tokens, guidance_scale, prefix_full, prefix_mask, audio)
            x = ddim_step(x0_pred, t32, x, float(t_prev))
        return x

    def generate(
        self,
        audio_feats: np.ndarray,
        tokens: np.ndarray | None,
        noise: NoiseSource,
        steps: int | None = None,
        guidance_scale: float = 1.0,
        prefix: np.ndarray | None = None,
        window: WindowPlan | None = None,
        progress: FramesProgress | None = None,
    ) -> np.ndarray:
        """Animation (batch, frames, 52) in [0, 1] for features (batch, frames, audio_dim) of any length and style
        tokens (or None), window by window (DiffusionTalker.generate). prefix: (batch, k, 52) in [0, 1]."""
        audio_feats = np.asarray(audio_feats, np.float32)
        b, total, _ = audio_feats.shape
        steps = steps or self.sampling_steps

        def sample_window(start: int, end: int, known: np.ndarray | None) -> np.ndarray:
            return self.sample(audio_feats[:, start:end], tokens, steps, noise, guidance_scale, known)

        normalized_prefix = None if prefix is None else self.normalize(prefix)
        out = windowed_sample(
            sample_window, b, total, self.motion_dim, window or WindowPlan(), normalized_prefix, progress
        )
        return self.denormalize(out)
