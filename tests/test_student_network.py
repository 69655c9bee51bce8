"""The phase A2 student network: a shallower student starts as the teacher minus some of its blocks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from core.models.talker import DiffusionTalker, TalkerConfig
from core.training.distill import kept_teacher_blocks, student_network


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
