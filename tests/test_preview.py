"""`python -m core data preview`: a PNG of a clip's curves over its phone track."""

from __future__ import annotations

import numpy as np

from core.cli import main
from core.data.clip import Clip, save_clip
from core.data.face_targets import synthesize_face_targets
from core.data.preview import plot_clip

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def a_clip(tmp_path, with_audio: bool):
    phones = ["SIL", "B", "AA", "M", "IY", "F", "UW", "SIL"]
    ends = [0.3, 0.36, 0.52, 0.6, 0.75, 0.85, 1.05, 1.5]
    times = np.array(list(zip([0.0, *ends[:-1]], ends, strict=True)))
    audio = None
    if with_audio:
        t = np.arange(int(1.5 * 16000)) / 16000
        audio = (0.1 * np.sin(2 * np.pi * (120 + 30 * t) * t) * ((t > 0.3) & (t < 1.05))).astype(np.float32)
    w = synthesize_face_targets(phones, times, 1.5, 30.0, "flite_rms", "sad", audio=audio, seed=0)
    clip = Clip(w, 30.0, audio, phones, times, "flite_rms", "sad", "bob me fu")
    return save_clip(clip, tmp_path / "clip")


def test_preview_writes_a_png_of_a_clip_with_audio(tmp_path):
    out = plot_clip(a_clip(tmp_path, with_audio=True), tmp_path / "plots" / "clip.png")
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 1000 and height >= 900  # readable, not a thumbnail


def test_preview_works_without_audio_through_the_cli(tmp_path, capsys):
    npz = a_clip(tmp_path, with_audio=False)
    assert main(["data", "preview", str(npz), "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "wrote" in capsys.readouterr().out
