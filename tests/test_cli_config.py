"""Training configs: `extends` layers a config on another, and the shipped ablations differ from the main run
only in what they ablate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import _load_config
from core.training.distill import DistillConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_extends_starts_from_the_base_and_overrides_win(tmp_path):
    (tmp_path / "base.json").write_text(json.dumps({"round_steps": 7, "rounds": [4, 2], "seed": 3}))
    (tmp_path / "child.json").write_text(json.dumps({"extends": "base.json", "rounds": [2]}))
    config = _load_config(DistillConfig, str(tmp_path / "child.json"), ["seed=5"])
    assert (config.round_steps, config.rounds, config.seed) == (7, [2], 5)
    (tmp_path / "loop.json").write_text(json.dumps({"extends": "loop.json"}))
    with pytest.raises(ValueError, match="extends itself"):
        _load_config(DistillConfig, str(tmp_path / "loop.json"), [])


@pytest.mark.parametrize(
    "name, changed",
    [
        ("ablation_direct", {"run_dir", "rounds", "round_steps"}),
        ("ablation_no_pc", {"run_dir", "pc_weight"}),
        ("ablation_big_encoder", {"run_dir", "student_encoder"}),
        ("ablation_small_network", {"run_dir", "student_denoiser", "compress_steps"}),
        ("distill_teacher_input", {"run_dir", "encoder_target"}),
    ],
)
def test_each_ablation_changes_only_what_it_ablates(name, changed):
    main = _load_config(DistillConfig, str(CONFIGS / "distill.json"), []).__dict__
    ablation = _load_config(DistillConfig, str(CONFIGS / f"{name}.json"), []).__dict__
    assert {k for k in main if main[k] != ablation[k]} == changed
    if name == "ablation_direct":  # the same number of distillation steps in one round
        assert ablation["round_steps"] == main["round_steps"] * len(main["rounds"])


def test_baseline_is_the_teacher_config_made_deterministic():
    from core.training.train_teacher import TeacherTrainConfig

    teacher = _load_config(TeacherTrainConfig, str(CONFIGS / "teacher.json"), []).__dict__
    baseline = _load_config(TeacherTrainConfig, str(CONFIGS / "baseline.json"), []).__dict__
    assert {k for k in teacher if teacher[k] != baseline[k]} == {"run_dir", "deterministic"}


def test_the_manifest_records_the_distill_command_that_ran():
    """The weights' training_command is the command line itself: the second phase C round names its own config."""
    from core.cli import build_parser, distill_command

    args = build_parser().parse_args(
        ["distill", "--config", "configs/distill_ears_round2.json", "--set", "ears_steps=10", "--weights", "my weights"]
    )
    assert distill_command(args) == (
        "python -m core distill --config configs/distill_ears_round2.json --set ears_steps=10 --weights 'my weights'"
    )
    assert distill_command(build_parser().parse_args(["distill"])) == "python -m core distill"


def test_a_teacher_run_records_the_train_command_that_ran():
    """The teacher fine-tuned for real voices is its own command, and export-teacher copies it into the manifest."""
    from core.cli import build_parser, train_command

    args = build_parser().parse_args(
        ["train", "teacher", "--config", "configs/teacher_ears.json", "--set", "steps=10", "--set", "real_speech="]
    )
    assert train_command(args) == (
        "python -m core train teacher --config configs/teacher_ears.json --set steps=10 --set real_speech="
    )
    assert train_command(build_parser().parse_args(["train", "baseline"])) == "python -m core train baseline"


def test_every_shipped_config_loads_into_its_config_class():
    """A config in configs/ with a typo'd key or a missing base would only fail after hours of features."""
    from pathlib import Path

    from core.cli import _load_config
    from core.training.distill import DistillConfig
    from core.training.train_teacher import TeacherTrainConfig

    for path in sorted(Path("configs").glob("*.json")):
        cls = DistillConfig if path.name.startswith(("distill", "ablation")) else TeacherTrainConfig
        config = _load_config(cls, str(path), [])
        assert isinstance(config, cls), path
    ears = _load_config(TeacherTrainConfig, "configs/teacher_ears.json", [])
    assert ears.init_from == "weights" and ears.augment_views == 1 and ears.real_speech == "data/real_speech"
    assert ears.acoustic_augment.reverb_prob == 0.6
