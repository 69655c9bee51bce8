"""One timed bench case, as `python -m core bench --case` runs it (the whole benchmark is `core bench`, not a test)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from core.audio import load_audio
from core.bench import run_case
from core.data.demo_clip import demo_clip_paths
from core.runtime import WEIGHTS_DIR


def test_a_case_times_the_shipped_student_and_names_the_device_it_really_ran_on(tmp_path):
    audio = load_audio(demo_clip_paths()[0])[: 3 * 16000]
    wav = tmp_path / "three_seconds.wav"
    sf.write(wav, audio, 16000)
    cpu = run_case("student", WEIGHTS_DIR, wav, threads=1)
    assert cpu["device"] == "cpu" and cpu["steps"] == 2 and abs(cpu["audio_seconds"] - 3.0) < 0.05
    assert len(cpu["seconds_runs"]) == 3 and cpu["seconds"] == float(np.median(cpu["seconds_runs"])) > 0
    # Asked for a GPU where there is none, the case runs on the CPU and says so (no GPU numbers claimed)
    import torch

    if not torch.cuda.is_available():
        with pytest.warns(RuntimeWarning, match="not available here"):
            fallback = run_case("student", WEIGHTS_DIR, wav, threads=1, device="cuda")
        assert fallback["device"] == "cpu" and "gpu_peak_mb" not in fallback
