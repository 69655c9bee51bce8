"""batch.py animates a folder of recordings into one .blend each, with progress lines and honest exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_addon_kit import bpy, make_clip, make_face

REPO = Path(__file__).resolve().parents[1]
BATCH = REPO / "diffusiontalker_addon" / "batch.py"


@pytest.fixture
def scene_file(tmp_path) -> Path:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    make_face("Face")
    bpy.context.scene.render.fps = 30
    path = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), copy=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return path


def run_batch(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BATCH), "--", *arguments], capture_output=True, text=True, timeout=300, cwd=REPO
    )


def action_names_in(blend: Path) -> list[str]:
    with bpy.data.libraries.load(str(blend)) as (source, _target):
        return list(source.actions)


def test_batch_animates_every_recording_of_a_folder_into_its_own_blend(scene_file, tmp_path):
    voices = tmp_path / "voices"
    voices.mkdir()
    make_clip(voices, "hello", seed=1)
    make_clip(voices, "goodbye", seed=2, seconds=1.5)
    out = tmp_path / "takes"

    completed = run_batch(
        "--blend", str(scene_file), "--object", "Face", "--audio", str(voices), "--emotion", "happy", "--out", str(out)
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert any(line.startswith("[1/2] ok goodbye.wav") for line in lines)
    assert any(line.startswith("[2/2] ok hello.wav") for line in lines)
    assert sorted(p.name for p in out.iterdir()) == ["goodbye.blend", "hello.blend"]
    assert action_names_in(out / "hello.blend") == ["Face_hello_default_happy_s0"]


def test_batch_reports_each_failure_and_exits_non_zero(scene_file, tmp_path):
    voices = tmp_path / "voices"
    voices.mkdir()
    make_clip(voices, "a_good", seed=1)
    (voices / "b_corrupt.wav").write_bytes(b"RIFF\x00\x01\x00\x00WAVEjunk" + bytes(range(256)) * 8)  # not audio
    out = tmp_path / "takes"

    completed = run_batch("--blend", str(scene_file), "--object", "Face", "--audio", str(voices), "--out", str(out))

    assert completed.returncode == 1
    assert "[1/2] ok a_good.wav" in completed.stdout
    assert "[2/2] FAILED b_corrupt.wav: " in completed.stdout and "could not be" in completed.stdout
    assert "1 of 2 recordings failed" in completed.stderr
    assert [p.name for p in out.iterdir()] == ["a_good.blend"]


def test_batch_rejects_bad_arguments_with_exit_status_2(scene_file, tmp_path):
    missing = run_batch("--blend", str(scene_file), "--object", "Face", "--audio", str(tmp_path / "nope"), "--out", "x")
    assert missing.returncode == 2 and "neither a file nor a folder" in missing.stderr
    make_clip(tmp_path, "one")
    wrong_object = run_batch(
        "--blend", str(scene_file), "--object", "Head", "--audio", str(tmp_path / "one.wav"), "--out", str(tmp_path)
    )
    assert wrong_object.returncode == 2 and "no object 'Head' (meshes: Face)" in wrong_object.stderr


def test_batch_refuses_a_file_as_out_an_unknown_style_once_and_out_of_range_numbers(scene_file, tmp_path):
    voices = tmp_path / "voices"
    voices.mkdir()
    for stem in ("a", "b", "c"):
        make_clip(voices, stem, seconds=0.5)
    common = ("--blend", str(scene_file), "--object", "Face", "--audio", str(voices))
    existing_file = tmp_path / "takes.blend"
    existing_file.write_text("already here")

    file_as_out = run_batch(*common, "--out", str(existing_file))
    assert file_as_out.returncode == 2 and "is a file; name a folder" in file_as_out.stderr
    assert "Traceback" not in file_as_out.stderr and existing_file.read_text() == "already here"

    unknown = run_batch(*common, "--identity", "nobody", "--out", str(tmp_path / "out"))
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert unknown.stderr.count("'nobody' is not in the style library") == 1, unknown.stderr  # once, not per file
    assert "FAILED" not in unknown.stdout and not (tmp_path / "out").exists()

    too_strong = run_batch(*common, "--emotion-strength", "3", "--out", str(tmp_path / "out"))
    assert too_strong.returncode == 2 and "argument --emotion-strength: 3 is out of range" in too_strong.stderr
    not_a_number = run_batch(*common, "--blinks-per-minute", "nan", "--out", str(tmp_path / "out"))
    assert not_a_number.returncode == 2 and "argument --blinks-per-minute: nan is not a finite" in not_a_number.stderr
