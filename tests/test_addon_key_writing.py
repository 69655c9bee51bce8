"""Key writing at scale: 18,000 frames x 52 channels (10 minutes at 30 fps). Timings go to the report, not asserts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_addon_kit import bpy

REPO = Path(__file__).resolve().parents[1]


def test_benchmark_writes_18000_frames_of_52_channels_and_cleans_up():
    from diffusiontalker_addon.action_writer import benchmark_key_writing

    bpy.ops.wm.read_factory_settings(use_empty=True)
    seconds = benchmark_key_writing(frames=18000)
    print(f"key writing: 18000 frames x 52 channels in {seconds:.3f} s")
    assert seconds > 0
    assert len(bpy.data.actions) == 0 and len(bpy.data.meshes) == 0 and len(bpy.data.shape_keys) == 0


def test_benchmark_runs_from_the_command_line_and_prints_json():
    completed = subprocess.run(
        [sys.executable, "-m", "diffusiontalker_addon", "benchmark", "--frames", "3000", "--repeat", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["frames"] == 3000 and report["channels"] == 52 and report["seconds"] > 0
