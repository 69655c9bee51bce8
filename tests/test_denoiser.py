"""The motion denoiser: shapes, condition dropout, prefix conditioning, padding, locality of attention and its banded
inference path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.models.denoiser import DenoiserConfig, MotionDenoiser
from core.models.local_attention import band_bias, banded_attention

torch.set_num_threads(1)

AUDIO_DIM = 16
CONFIG = DenoiserConfig(
    audio_dim=AUDIO_DIM, style_dim=24, style_tokens=2, width=32, layers=2, heads=4, ff_mult=2,
    attention_window=6, audio_kernel=3, dropout=0.0,
)  # fmt: skip


def _inputs(batch: int = 2, frames: int = 40, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(batch, frames, 52, generator=g)
    t = torch.rand(batch, generator=g)
    audio = torch.randn(batch, frames, AUDIO_DIM, generator=g)
    style = torch.randn(batch, CONFIG.style_tokens, CONFIG.style_dim, generator=g)
    return x_t, t, audio, style


def _model() -> MotionDenoiser:
    torch.manual_seed(0)
    model = MotionDenoiser(CONFIG).eval()
    for p in (model.null_audio, model.null_style):  # trained nulls are not zero; make them distinguishable
        p.data.normal_()
    return model


def test_predicts_clean_motion_of_the_input_shape_and_backpropagates():
    model = MotionDenoiser(CONFIG)
    x_t, t, audio, style = _inputs()
    x0 = model(x_t, t, audio, style)
    assert x0.shape == x_t.shape
    x0.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_a_scalar_time_is_shared_by_the_batch():
    model = _model()
    x_t, _, audio, style = _inputs()
    torch.testing.assert_close(model(x_t, 0.5, audio, style), model(x_t, torch.full((2,), 0.5), audio, style))


def test_dropped_style_takes_the_null_path_whatever_the_tokens():
    model = _model()
    x_t, t, audio, style = _inputs()
    keep = torch.tensor([True, False])
    dropped = model(x_t, t, audio, style, style_keep=keep)
    other_style = model(x_t, t, audio, torch.randn_like(style), style_keep=keep)
    no_style = model(x_t, t, audio, None)
    torch.testing.assert_close(dropped[1], no_style[1])
    torch.testing.assert_close(dropped[1], other_style[1])
    assert not torch.allclose(dropped[0], no_style[0])


def test_dropped_audio_takes_the_null_path_whatever_the_audio():
    model = _model()
    x_t, t, audio, style = _inputs()
    keep = torch.tensor([False, True])
    dropped = model(x_t, t, audio, style, audio_keep=keep)
    no_audio = model(x_t, t, None, style)
    torch.testing.assert_close(dropped[0], no_audio[0])
    torch.testing.assert_close(dropped[0], model(x_t, t, torch.randn_like(audio), style, audio_keep=keep)[0])
    assert not torch.allclose(dropped[1], no_audio[1])


def test_prefix_frames_come_back_exactly_and_inform_the_rest():
    model = _model()
    x_t, t, audio, style = _inputs()
    prefix = torch.randn_like(x_t)
    prefix_mask = torch.zeros(2, 40, dtype=torch.bool)
    prefix_mask[0, :8] = True
    x0 = model(x_t, t, audio, style, prefix=prefix, prefix_mask=prefix_mask)
    assert torch.equal(x0[0, :8], prefix[0, :8])
    without = model(x_t, t, audio, style)
    assert not torch.allclose(x0[0, 8:12], without[0, 8:12])  # the model sees the prefix, not only the loss
    torch.testing.assert_close(x0[1], without[1])


def test_padding_frames_do_not_change_the_real_frames():
    model = _model()
    x_t, t, audio, style = _inputs(frames=30)
    padded = model(
        torch.cat([x_t, torch.randn(2, 10, 52)], dim=1), t, torch.cat([audio, torch.randn(2, 10, AUDIO_DIM)], dim=1),
        style, frame_mask=torch.arange(40)[None].expand(2, 40) < 30,
    )  # fmt: skip
    torch.testing.assert_close(padded[:, :30], model(x_t, t, audio, style))


def test_attention_is_local_so_any_length_runs_with_a_bounded_receptive_field():
    model = _model()
    frames = 200  # five times longer than the other tests: no position table to outgrow
    x_t, t, audio, style = _inputs(frames=frames)
    changed_frame = 100
    other_audio = audio.clone()
    other_audio[:, changed_frame] += 3.0
    difference = (model(x_t, t, other_audio, style) - model(x_t, t, audio, style)).abs().amax(dim=(0, 2))  # (frames,)
    reach = CONFIG.audio_kernel // 2 + CONFIG.layers * CONFIG.attention_window
    far = (torch.arange(frames) - changed_frame).abs() > reach
    assert difference[far].max() == 0.0
    assert difference[changed_frame] > 0.0


def test_a_precomputed_audio_embedding_gives_the_same_prediction():
    # The sampler embeds a window's audio once and reuses it at every step.
    model = _model()
    x_t, t, audio, style = _inputs()
    keep = torch.tensor([True, False])
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, 30:] = False
    for kwargs in ({}, {"audio_keep": keep}, {"frame_mask": mask}):
        embedded = model.embed_audio(audio, 2, 40, kwargs.get("audio_keep"), kwargs.get("frame_mask"))
        plain = model(x_t, t, audio, style, **kwargs)
        torch.testing.assert_close(model(x_t, t, audio, style, audio_embedding=embedded, **kwargs), plain)
    wrong = model.embed_audio(audio.flip(1), 2, 40)  # proves the embedding is used, not recomputed
    assert not torch.allclose(model(x_t, t, audio, style, audio_embedding=wrong), model(x_t, t, audio, style))


def test_the_attention_bias_is_built_once_per_length_and_padding_never_leaks_into_it():
    model = _model()
    first = model.attention_bias(40, None)
    assert model.attention_bias(40, None) is first  # reused, not rebuilt
    fresh = MotionDenoiser(CONFIG).attention_bias(40, None)
    torch.testing.assert_close(first, fresh)
    mask = torch.ones(1, 40, dtype=torch.bool)
    mask[0, 35:] = False
    padded = model.attention_bias(40, mask)
    assert torch.isinf(padded[0, :, :, -1]).all() and not torch.isinf(first[0, :, 10:, -1]).all()
    torch.testing.assert_close(model.attention_bias(40, None), fresh)  # the cached bias was not masked in place
    for frames in range(41, 47):  # a few lengths are kept, not every one
        model.attention_bias(frames, None)
    assert len(model._bias_cache) <= 4


def _dense(frames: int) -> torch.Tensor:
    """A frame_mask with no padding: forces the dense attention path with the same numbers expected."""
    return torch.ones(2, frames, dtype=torch.bool)


@pytest.mark.parametrize("frames", [6 * CONFIG.attention_window + 1, 47, 60])
def test_inference_attends_in_bands_with_the_numbers_of_dense_attention(frames):
    # Several blocks of attention_window frames long, whole blocks or not; with and without a prefix
    model = _model()
    assert model.attends_in_bands(frames, None) and not model.attends_in_bands(frames, _dense(frames))
    x_t, t, audio, style = _inputs(frames=frames)
    prefix, prefix_mask = torch.randn_like(x_t), (torch.arange(frames) < 9).expand(2, frames)
    with torch.no_grad():
        for conditions in ({}, {"prefix": prefix, "prefix_mask": prefix_mask}):
            banded = model(x_t, t, audio, style, **conditions)
            dense = model(x_t, t, audio, style, frame_mask=_dense(frames), **conditions)
            torch.testing.assert_close(banded, dense, atol=1e-5, rtol=1e-5)
    assert model._band_bias(frames, 2, torch.float32) is model._band_bias(frames, 2, torch.float32)  # built once
    model.train()  # training keeps the dense path (its numbers and dropout)
    assert not model.attends_in_bands(frames, None)


@pytest.mark.parametrize("frames", [1, 4, CONFIG.attention_window, 13, 25])
def test_banded_attention_equals_dense_attention_with_the_denoisers_bias(frames):
    # Shorter than one block, exactly one, and a few: banded_attention alone (forward bands only longer sequences)
    model = _model()
    cond, heads, head_dim = 1 + CONFIG.style_tokens, CONFIG.heads, 5
    g = torch.Generator().manual_seed(frames)
    q, k, v = torch.randn(3, 2, heads, cond + frames, head_dim, generator=g).unbind(0)
    dense = F.scaled_dot_product_attention(q, k, v, attn_mask=model.attention_bias(frames, None))
    band = band_bias(frames, CONFIG.attention_window, model.slopes, shared=cond, batch=2)
    torch.testing.assert_close(banded_attention(q, k, v, band), dense, atol=1e-5, rtol=1e-5)
