"""The personalizer: identity/emotion embeddings of reference clips, InfoNCE, and fusion of stored embeddings."""

from __future__ import annotations

import math

import torch

from core.models.losses import supervised_contrastive_loss
from core.models.personalizer import PersonalizationEncoder, PersonalizerConfig, Style

torch.set_num_threads(1)

AUDIO_DIM = 16


def _config(**overrides) -> PersonalizerConfig:
    values = dict(
        audio_dim=AUDIO_DIM, width=32, conv_layers=2, kernel_size=3, embed_dim=16, style_tokens=3,
        fusion_layers=1, fusion_heads=2, dropout=0.0,
    )  # fmt: skip
    values.update(overrides)
    return PersonalizerConfig(**values)


def _labelled_clips(generator: torch.Generator, speakers: int = 4, emotions: int = 2, takes: int = 2, frames: int = 24):
    """Audio features where a speaker shifts one half of the dimensions and an emotion the other half, plus noise."""
    speaker_mean = torch.randn(speakers, AUDIO_DIM // 2, generator=torch.Generator().manual_seed(100))
    emotion_mean = torch.randn(emotions, AUDIO_DIM // 2, generator=torch.Generator().manual_seed(200))
    speaker = torch.arange(speakers).repeat_interleave(emotions * takes)
    emotion = torch.arange(emotions).repeat_interleave(takes).repeat(speakers)
    center = torch.cat([speaker_mean[speaker], emotion_mean[emotion]], dim=1)  # (batch, audio_dim)
    noise = torch.randn(len(speaker), frames, AUDIO_DIM, generator=generator)
    return center[:, None, :] + 1.5 * noise, speaker, emotion


def test_embeddings_are_unit_vectors_and_tokens_have_the_configured_shape():
    model = PersonalizationEncoder(_config())
    style = model.encode_style(torch.randn(3, 20, AUDIO_DIM), motion=torch.randn(3, 20, 52))
    assert style.identity.shape == (3, 16) and style.emotion.shape == (3, 16)
    torch.testing.assert_close(style.identity.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(style.emotion.norm(dim=-1), torch.ones(3))
    tokens = model.fuse(style.identity, style.emotion)
    assert tokens.shape == (3, 3, 32)
    assert model(torch.randn(2, 9, AUDIO_DIM)).shape == (2, 3, 32)


def test_audio_only_encoding_ignores_padding_frames():
    model = PersonalizationEncoder(_config()).eval()
    audio = torch.randn(1, 15, AUDIO_DIM)
    padded = torch.cat([audio, 5.0 * torch.randn(1, 7, AUDIO_DIM)], dim=1)
    mask = torch.arange(22)[None] < 15
    alone, with_padding = model.encode_style(audio), model.encode_style(padded, mask)
    torch.testing.assert_close(alone.identity, with_padding.identity)
    torch.testing.assert_close(alone.emotion, with_padding.emotion)


def test_motion_changes_the_style_only_for_clips_marked_as_having_it():
    model = PersonalizationEncoder(_config()).eval()
    audio, motion = torch.randn(2, 12, AUDIO_DIM), torch.randn(2, 12, 52)
    model.no_motion.data.normal_()
    audio_only = model.encode_style(audio)
    mixed = model.encode_style(audio, motion=motion, motion_available=torch.tensor([True, False]))
    assert not torch.allclose(mixed.identity[0], audio_only.identity[0])
    torch.testing.assert_close(mixed.identity[1], audio_only.identity[1])


def test_fusion_accepts_stored_embeddings_and_strength_moves_from_neutral_to_the_emotion():
    model = PersonalizationEncoder(_config()).eval()
    stored = Style(
        identity=torch.nn.functional.normalize(torch.randn(2, 16), dim=-1),
        emotion=torch.nn.functional.normalize(torch.randn(2, 16), dim=-1),
    )
    neutral = torch.nn.functional.normalize(torch.randn(16), dim=0)
    at_zero = model.fuse(stored.identity, stored.emotion, emotion_strength=0.0, neutral=neutral)
    as_neutral = model.fuse(stored.identity, neutral.expand(2, -1), emotion_strength=1.0)
    torch.testing.assert_close(at_zero, as_neutral)
    full = model.fuse(stored.identity, stored.emotion, emotion_strength=1.0, neutral=neutral)
    half = model.fuse(stored.identity, stored.emotion, emotion_strength=0.5, neutral=neutral)
    assert (half - at_zero).norm() < (full - at_zero).norm()
    per_item = model.fuse(stored.identity, stored.emotion, emotion_strength=torch.tensor([0.0, 1.0]), neutral=neutral)
    torch.testing.assert_close(per_item[0], at_zero[0])
    torch.testing.assert_close(per_item[1], full[1])


def test_supervised_contrastive_loss_prefers_embeddings_grouped_by_label():
    labels = torch.tensor([0, 0, 1, 1, -1])
    grouped = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [1, 0.1], [0, 1], [0.1, 1], [1, 1]]), dim=-1)
    mixed = grouped[[0, 2, 1, 3, 4]]
    assert supervised_contrastive_loss(grouped, labels, 0.1) < supervised_contrastive_loss(mixed, labels, 0.1)
    no_pairs = supervised_contrastive_loss(grouped[:3].requires_grad_(), torch.tensor([0, 1, 2]), 0.1)
    assert no_pairs == 0.0 and no_pairs.requires_grad


def test_infonce_drops_when_training_on_toy_labelled_clips():
    torch.manual_seed(0)
    model = PersonalizationEncoder(_config())
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    temperature = model.config.temperature

    def nce(audio, speaker, emotion):
        style = model.encode_style(audio)
        return supervised_contrastive_loss(style.identity, speaker, temperature) + supervised_contrastive_loss(
            style.emotion, emotion, temperature
        )

    held_out = _labelled_clips(torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = nce(*held_out).item()
    train_generator = torch.Generator().manual_seed(2)
    for _ in range(60):
        loss = nce(*_labelled_clips(train_generator))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = nce(*held_out).item()
    # Perfect separation still spreads the probability over the positives: the floor is log(positives per anchor).
    floor = math.log(4 - 1) + math.log(8 - 1)  # 4 clips per speaker, 8 per emotion
    assert after - floor < 0.2 * (before - floor), (before, after, floor)
