"""`python -m core animate`: a real wav in, an .npz / Live Link Face .csv out, styles by name or by reference clip."""

from __future__ import annotations

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
