"""The phase A2 student network: a shallower student starts as the teacher minus some of its blocks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from core.models.talker import DiffusionTalker, TalkerConfig
from core.training.distill import kept_teacher_blocks, pruned_feed_forward, student_network
from core.training.train_teacher import load_teacher


def _teacher(layers: int = 3) -> DiffusionTalker:
    torch.manual_seed(0)
    config = TalkerConfig.tiny()
    config.denoiser = dataclasses.replace(config.denoiser, layers=layers)
    return DiffusionTalker(config).eval()


def _x0(model: DiffusionTalker, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x_t, audio = torch.randn(2, 20, 52, generator=g), torch.randn(2, 20, 16, generator=g)
    tokens = torch.randn(2, 2, 32, generator=g)
    with torch.no_grad():
        return model.denoiser(x_t, torch.tensor([0.3, 0.9]), audio, tokens)


def test_kept_blocks_are_evenly_spaced_with_the_first_and_last():
    assert kept_teacher_blocks(4, 3) == [0, 2, 3]
    assert kept_teacher_blocks(4, 4) == [0, 1, 2, 3]
    assert kept_teacher_blocks(6, 2) == [0, 5]
    assert kept_teacher_blocks(5, 1) == [4]
    with pytest.raises(ValueError, match="cannot start"):
        kept_teacher_blocks(3, 4)


def test_shallower_student_starts_from_the_teachers_blocks():
    teacher = _teacher(3)
    student = student_network(teacher, {"layers": 2})
    assert len(student.denoiser.blocks) == 2
    for new_index, old_index in enumerate([0, 2]):
        for (name, a), (_, b) in zip(
            student.denoiser.blocks[new_index].state_dict().items(),
            teacher.denoiser.blocks[old_index].state_dict().items(),
            strict=True,
        ):
            assert torch.equal(a, b), name
    assert torch.equal(student.denoiser.audio_in.weight, teacher.denoiser.audio_in.weight)
    assert torch.equal(student.denoiser.motion_out.weight, teacher.denoiser.motion_out.weight)
    assert torch.equal(student.motion_std, teacher.motion_std)
    # One block fewer changes the function, and the copy is a copy: training the student leaves the teacher alone.
    assert not torch.allclose(_x0(student), _x0(teacher))
    with torch.no_grad():
        student.denoiser.blocks[0].ff[0].weight.add_(1.0)
    assert not torch.equal(student.denoiser.blocks[0].ff[0].weight, teacher.denoiser.blocks[0].ff[0].weight)


def test_all_layers_kept_is_the_teacher_and_other_shapes_keep_its_personalizer():
    teacher = _teacher(3)
    same = student_network(teacher, {"layers": 3})
    assert torch.allclose(_x0(same), _x0(teacher))
    narrow = student_network(teacher, {"width": 32, "heads": 2})
    assert narrow.denoiser.config.width == 32
    assert torch.equal(  # the personalizer is always the teacher's
        narrow.personalizer.audio_in.weight, teacher.personalizer.audio_in.weight
    )


def test_narrower_feed_forward_keeps_the_teachers_most_important_units():
    teacher = _teacher(2)
    block = teacher.denoiser.blocks[1]
    hidden = block.ff[0].out_features  # ff_mult 2 in the tiny config
    with torch.no_grad():  # unit 5 reaches nothing (zero out-weights): it must be the one dropped first
        block.ff[2].weight[:, 5] = 0.0
    student = student_network(teacher, {"ff_mult": 1})
    kept = student.denoiser.blocks[1].ff[0].weight
    assert kept.shape == (hidden // 2, teacher.config.denoiser.width)
    teacher_rows = [row for row in block.ff[0].weight]
    positions = [next(i for i, row in enumerate(teacher_rows) if torch.equal(row, k)) for k in kept]
    assert positions == sorted(positions) and 5 not in positions  # a subset, in order, without the dead unit
    out_columns = student.denoiser.blocks[1].ff[2].weight
    assert torch.equal(out_columns, block.ff[2].weight[:, positions])
    assert torch.equal(student.denoiser.blocks[1].attn.qkv.weight, block.attn.qkv.weight)


def test_pruning_that_keeps_every_unit_is_the_teacher():
    teacher = _teacher(2)
    assert torch.allclose(_x0(student_network(teacher, {"ff_mult": 2, "layers": 2})), _x0(teacher))
    wider = student_network(teacher, {"ff_mult": 3})  # wider than the teacher: fresh weights, not a prune
    assert not torch.equal(wider.denoiser.motion_out.weight, teacher.denoiser.motion_out.weight)
    with pytest.raises(ValueError, match="cannot prune"):
        pruned_feed_forward(teacher.denoiser.blocks[0].state_dict(), 10_000)


def test_distillation_reads_the_shipped_teacher_from_a_weights_folder(tmp_path):
    from core.inference import TEACHER_FILE, save_teacher
    from core.style_library import build_style_library

    teacher = _teacher(2)
    dim = teacher.config.personalizer.embed_dim
    rng = torch.Generator().manual_seed(0)
    clips = [f"c{i}" for i in range(4)]
    styles = build_style_library(
        {c: torch.randn(dim, generator=rng).numpy() for c in clips},
        {c: torch.randn(dim, generator=rng).numpy() for c in clips},
        dict(zip(clips, ["a", "b", "a", "b"], strict=True)),
        dict(zip(clips, ["neutral", "happy", "neutral", "happy"], strict=True)),
    )
    save_teacher(tmp_path, teacher, styles, steps=4)
    loaded = load_teacher(tmp_path)
    assert torch.allclose(_x0(loaded), _x0(teacher))
    with pytest.raises(FileNotFoundError, match="train teacher"):
        load_teacher(tmp_path / "nothing")
    data = bytearray((tmp_path / TEACHER_FILE).read_bytes())
    data[-1] ^= 0xFF  # one flipped byte: the manifest's checksum refuses it
    (tmp_path / TEACHER_FILE).write_bytes(bytes(data))
    with pytest.raises(Exception, match="sha256|checksum"):
        load_teacher(tmp_path)
