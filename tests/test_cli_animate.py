"""`python -m core animate`: a real wav in, an .npz / Live Link Face .csv out, styles by name or by reference clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.audio import save_wav
from core.cli import main
from core.data.datasets.live_link_face import load_live_link_face_csv
from core.data.resample import resampled_frame_count
from core.models.audio_features import frames_for_samples
from core.rig.arkit import ARKIT_NAMES
from tests.test_inference import write_tiny_student


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    write_tiny_student(folder)
    return folder


@pytest.fixture(scope="module")
def speech_like_wav(tmp_path_factory):
    rate = 44_100
    t = np.arange(int(2.0 * rate)) / rate
    voice = np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    stereo = np.stack([voice, 0.8 * voice], axis=1).astype(np.float32) * 0.3
    return save_wav(tmp_path_factory.mktemp("audio") / "line.wav", stereo, rate)


def test_animate_writes_an_npz_at_the_requested_fps(weights_dir, speech_like_wav, tmp_path, capsys):
    out = tmp_path / "take.npz"
    assert main(["animate", str(speech_like_wav), "--out", str(out), "--model", str(weights_dir), "--fps", "24"]) == 0
    with np.load(out, allow_pickle=False) as z:
        assert tuple(z["names"]) == ARKIT_NAMES
        assert float(z["fps"]) == 24.0
        # 2 s -> 60 model frames at 30 fps (the project clock) -> resampled to 24 fps
        assert z["weights"].shape == (resampled_frame_count(frames_for_samples(2 * 16_000, 30.0), 30.0, 24.0), 52)
        assert 0.0 <= z["weights"].min() and z["weights"].max() <= 1.0
    assert "wrote" in capsys.readouterr().out


def test_animate_writes_a_live_link_face_csv_that_reads_back(weights_dir, speech_like_wav, tmp_path):
    out = tmp_path / "take.csv"
    assert main(["animate", str(speech_like_wav), "--out", str(out), "--model", str(weights_dir)]) == 0
    header = out.read_text().splitlines()[0].split(",")
    assert header[:3] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft"]
    clip = load_live_link_face_csv(out, fps=30.0, capture_fps=30.0, audio_path=speech_like_wav).clip
    npz = tmp_path / "same.npz"
    main(["animate", str(speech_like_wav), "--out", str(npz), "--model", str(weights_dir)])
    with np.load(npz) as z:
        np.testing.assert_allclose(clip.weights, z["weights"], atol=2e-6)


def test_a_reference_recording_changes_the_take(weights_dir, speech_like_wav, tmp_path):
    rate = 16_000
    t = np.arange(rate * 2) / rate
    other = (0.3 * np.sign(np.sin(2 * np.pi * 90 * t))).astype(np.float32)
    reference = save_wav(tmp_path / "ref.wav", other, rate)
    plain, styled = tmp_path / "plain.npz", tmp_path / "styled.npz"
    main(["animate", str(speech_like_wav), "--out", str(plain), "--model", str(weights_dir)])
    main(
        [
            "animate",
            str(speech_like_wav),
            "--out",
            str(styled),
            "--model",
            str(weights_dir),
            "--ref-audio",
            str(reference),
        ]
    )
    with np.load(plain) as a, np.load(styled) as b:
        assert np.abs(a["weights"] - b["weights"]).max() > 1e-4


def test_unknown_style_and_bad_output_are_clear_errors(weights_dir, speech_like_wav, tmp_path, capsys):
    code = main(["animate", str(speech_like_wav), "--out", str(tmp_path / "x.npz"), "--model", str(weights_dir),
                 "--style", "nobody"])  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert "nobody" in error and "alice" in error  # names the bad choice and lists the good ones
    code = main(["animate", str(speech_like_wav), "--out", str(tmp_path / "x.txt"), "--model", str(weights_dir)])
    assert code == 2
    assert not (tmp_path / "x.npz").exists()


def test_plot_takes_draws_two_takes_side_by_side(weights_dir, speech_like_wav, tmp_path):
    from matplotlib.image import imread

    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    main(["animate", str(speech_like_wav), "--out", str(a), "--model", str(weights_dir), "--emotion", "happy"])
    main(["animate", str(speech_like_wav), "--out", str(b), "--model", str(weights_dir), "--emotion", "sad"])
    out = tmp_path / "swap.png"
    assert main(["plot-takes", str(a), str(b), "--out", str(out), "--labels", "happy,sad"]) == 0
    image = imread(out)
    assert image.shape[1] > image.shape[0]  # two columns side by side
    assert main(["plot-takes", str(a), "--out", str(out), "--labels", "x,y"]) == 2  # labels must match the takes


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--emotion-strength", "nan", "not a finite number"),
        ("--emotion-strength", "inf", "not a finite number"),
        ("--emotion-strength", "2.5", "between 0 and 2"),
        ("--steps", "0", "between 1 and 64"),
        ("--steps", "65", "between 1 and 64"),
        ("--guidance", "0.5", "between 1 and 5"),
        ("--guidance", "nan", "not a finite number"),
        ("--fps", "0", "between 1 and 240"),
        ("--fps", "nan", "not a finite number"),
        ("--blinks-per-minute", "-1", "between 0 and 60"),
        ("--blinks-per-minute", "61", "between 0 and 60"),
        ("--seed", "-1", "between 0 and 2147483647"),
        ("--seed", "2147483648", "between 0 and 2147483647"),
        ("--seed", "1.5", "not a whole number"),
    ],
)
def test_numeric_options_refuse_nan_inf_and_out_of_range_naming_the_option(
    weights_dir, speech_like_wav, tmp_path, capsys, option, value, says
):
    out = tmp_path / "take.npz"
    with pytest.raises(SystemExit) as exited:
        main(["animate", str(speech_like_wav), "--out", str(out), "--model", str(weights_dir), f"{option}={value}"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert f"argument {option}: " in error and says in error, error
    assert not out.exists()


def test_list_styles_prints_identities_with_readable_names_and_emotions(capsys):
    assert main(["animate", "--list-styles"]) == 0
    out = capsys.readouterr().out
    assert "identities (--style):" in out and "piper_joe" in out and "Joe - US male, warm" in out
    assert "emotions (--emotion): angry, happy, neutral, sad, surprised" in out


def _read_only_folder(tmp_path):
    """A folder that refuses new files: chmod works for ordinary users; root ignores it, but not sysfs."""
    import os

    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_unwritable_outputs_are_refused_before_the_model_loads(speech_like_wav, tmp_path, capsys):
    (tmp_path / "take.npz").mkdir()  # a folder named like the file
    (tmp_path / "plain_file").write_text("not a folder")
    missing_model = str(tmp_path / "no_weights_here")  # loading it would fail: the output check must come first
    for out, says in (
        (tmp_path / "take.npz", "is a folder"),
        (_read_only_folder(tmp_path) / "take.npz", "cannot be written"),
        (tmp_path / "plain_file" / "take.csv", "cannot be written"),
    ):
        code = main(["animate", str(speech_like_wav), "--out", str(out), "--model", missing_model])
        error = capsys.readouterr().err
        assert code == 2 and error.count("\n") == 1 and error.startswith("error: --out ") and says in error, error
        assert "Traceback" not in error and "no_weights_here" not in error


FULL_DISK_SCRIPT = """
import resource, signal, sys
from core.cli import main
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-size write fails with EFBIG, as a full disk fails it
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
sys.exit(main(sys.argv[1:]))
"""


def test_a_write_that_fails_midway_exits_2_with_one_line_and_leaves_no_file(weights_dir, speech_like_wav, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "takes" / "take.csv"  # the csv of 2 s is ~30 kB: far over the 2000-byte limit
    completed = subprocess.run(
        [sys.executable, "-c", FULL_DISK_SCRIPT, "animate", str(speech_like_wav), "--out", str(out),
         "--model", str(weights_dir)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1],
        env={**__import__("os").environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    assert completed.returncode == 2, completed.stderr[-2000:]
    error_lines = [line for line in completed.stderr.split("\n") if line.startswith("error:")]
    assert len(error_lines) == 1 and "writing" in error_lines[0] and "nothing was written" in error_lines[0]
    assert "Traceback" not in completed.stderr
    assert list(out.parent.iterdir()) == []  # no take, no temporary file


def test_an_error_after_progress_starts_gets_a_line_of_its_own(weights_dir, tmp_path, capsys):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x01\x00\x00WAVEjunk" + bytes(range(256)) * 8)  # decoding fails after "loading"
    code = main(["animate", str(broken), "--out", str(tmp_path / "take.npz"), "--model", str(weights_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "[  0.0%] loading broken.wav" in err
    error_line = next(line for line in err.split("\n") if "error:" in line)
    assert error_line.startswith("error: "), repr(error_line)
    assert not (tmp_path / "take.npz").exists()


def _corrupt_copy_of_the_shipped_weights(folder: Path, how: str) -> Path:
    """weights/ copied to `folder`, its student damaged: bytes flipped (the checksum no longer matches) or replaced by
    unreadable bytes that the manifest lists (the checksum matches, the safetensors header does not parse)."""
    import json
    import shutil

    from core.training.model_zoo import WEIGHTS_DIR
    from core.weights_io import MANIFEST_NAME, sha256_of_file

    shutil.copytree(WEIGHTS_DIR, folder)
    student = folder / "student.safetensors"
    if how == "checksum":
        data = bytearray(student.read_bytes())
        data[-10] ^= 0xFF
        student.write_bytes(bytes(data))
    else:
        student.write_bytes(b"\xff" * 64)
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        manifest["files"]["student.safetensors"].update(sha256=sha256_of_file(student), bytes=64)
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize("how", ["checksum", "unreadable"])
def test_corrupt_shipped_weights_say_corrupt_and_how_to_reinstall_never_distill(
    speech_like_wav, tmp_path, capsys, monkeypatch, how
):
    import core.runtime

    broken = _corrupt_copy_of_the_shipped_weights(tmp_path / "weights", how)
    monkeypatch.setattr(core.runtime, "WEIGHTS_DIR", broken)  # where `--model student` looks
    out = tmp_path / "take.npz"

    assert main(["animate", str(speech_like_wav), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: the model's weights are corrupt or incomplete: ") and error.count("\n") == 1
    assert str(broken / "student.safetensors") in error
    assert "`git checkout weights/`" in error and "re-install the extension" in error
    assert "distill" not in error and "not installed" not in error and "Traceback" not in error
    assert not out.exists()

    assert main(["animate", "--list-styles"]) == 2  # the same for the listing
    assert "corrupt" in capsys.readouterr().err


def test_a_corrupt_weights_folder_given_with_model_says_copy_it_again(weights_dir, speech_like_wav, tmp_path, capsys):
    import shutil

    broken = tmp_path / "my_weights"
    shutil.copytree(weights_dir, broken)
    data = bytearray((broken / "student.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (broken / "student.safetensors").write_bytes(bytes(data))

    assert main(["animate", str(speech_like_wav), "--out", str(tmp_path / "t.npz"), "--model", str(broken)]) == 2
    error = capsys.readouterr().err
    assert "student.safetensors' is corrupt" in error and f"copy the folder '{broken}' again" in error, error
    assert "distill" not in error
