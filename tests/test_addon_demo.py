"""`python -m diffusiontalker_addon demo` (make demo) end to end at a tiny resolution: the saved .blend is animated, audible and lip-synced,
and the preview (and video) exist. Runs the demo in a subprocess (it resets Blender's scene) and opens its .blend here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_addon_kit import bpy, curve_by_key_block

from core.data.phonemes import BILABIALS
from core.rig.lip_measures import LIPS_CLOSED_APERTURE, lip_aperture

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("demo_output")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "diffusiontalker_addon",
            "demo",
            "--out",
            str(out),
            "--resolution",
            "32",
            "--samples",
            "1",
        ]
        + ["--video", "always", "--video-resolution", "32", "--video-samples", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return out, completed


@pytest.fixture
def demo_blend(demo_run):
    out, _ = demo_run
    bpy.ops.wm.open_mainfile(filepath=str(out / "demo.blend"), load_ui=False)
    try:
        yield out
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)


def _head():
    """The animated mesh (the human head's eyes, teeth, tongue and lashes follow it through drivers, no Action)."""
    keyed = [o for o in bpy.data.objects if o.type == "MESH" and o.data.shape_keys is not None]
    heads = [o for o in keyed if o.data.shape_keys.animation_data and o.data.shape_keys.animation_data.action]
    assert len(heads) == 1, [o.name for o in bpy.data.objects]
    return heads[0]


def test_demo_says_which_engine_animated_the_head(demo_run):
    _, completed = demo_run
    lines = completed.stdout.splitlines()
    animated_by = next(line for line in lines if line.startswith("animated by: "))
    engine = next(line for line in lines if line.startswith("engine: "))
    # weights/ ships the trained student: the demo must show it, never the clip's reference targets standing in.
    assert "Reference targets" not in engine and engine.startswith("engine: student-"), engine
    assert "reference" not in animated_by.lower(), animated_by
    assert any(line.startswith("timings: ") for line in lines)


def test_demo_blend_has_a_slotted_action_with_mouth_curves_and_the_audio_in_the_sequencer(demo_blend):
    head = _head()
    animation_data = head.data.shape_keys.animation_data
    action, slot = animation_data.action, animation_data.action_slot
    assert slot is not None and slot.target_id_type == "KEY"
    curves = curve_by_key_block(action)
    assert {"mouthClose", "jawOpen"} <= set(curves) and len(curves) == 52
    scene = bpy.context.scene
    assert action["diffusiontalker"]["audio"].endswith("demo_line.wav")
    assert action["diffusiontalker"]["source"].startswith("student-"), "the model, not the reference targets"
    assert (scene.frame_start, scene.frame_end) == (1, len(curves["jawOpen"].keyframe_points))
    [strip] = [s for s in scene.sequence_editor.strips_all if s.type == "SOUND"]
    assert strip.sound.filepath.startswith("//"), "the sound must be relative so the output folder can move"
    assert Path(bpy.path.abspath(strip.sound.filepath)) == demo_blend / "demo_line.wav"
    assert scene.camera is not None and scene.render.engine == "CYCLES"


def test_demo_lips_close_on_bilabials_and_open_on_vowels(demo_blend):
    head = _head()
    curves = curve_by_key_block(head.data.shape_keys.animation_data.action)
    from core.rig.arkit import ARKIT_NAMES

    frames = np.arange(bpy.context.scene.frame_start, bpy.context.scene.frame_end + 1)
    weights = np.stack([[curves[name].evaluate(float(f)) for f in frames] for name in ARKIT_NAMES], axis=1)
    aperture = lip_aperture(weights)  # (frames,)
    with np.load(demo_blend / "demo_line.npz", allow_pickle=False) as clip:
        phones, times = [str(p) for p in clip["phones"]], clip["phone_times"]
    seconds = (frames - frames[0]) / 30.0
    closed = []
    for phone, (start, end) in zip(phones, times, strict=True):
        if phone in BILABIALS:
            window = (seconds >= start - 0.1) & (seconds <= end)
            closed.append(aperture[window].min() < LIPS_CLOSED_APERTURE)
    assert len(closed) >= 10 and np.mean(closed) >= 0.5, f"{sum(closed)} of {len(closed)} bilabials close"
    assert aperture.max() > 0.3, "the mouth must open on the open vowels"


def test_demo_preview_is_a_contact_sheet_png_and_the_video_has_sound(demo_run):
    from matplotlib.image import imread

    out, completed = demo_run
    image = imread(out / "demo_preview.png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.05, "the sheet must show something"
    assert "wrote " + str(out / "demo_preview.png") in completed.stdout
    import aud

    video = out / "demo.mp4"
    assert video.stat().st_size > 1000
    assert aud.Sound(str(video)).length > 0, "the video must carry the audio"


def test_demo_animates_the_human_head_whose_parts_follow_it(demo_blend):
    head = _head()
    assert head.name == "HumanHead" and len(head.data.vertices) > 4000
    teeth = bpy.data.objects["HumanHead Teeth"]
    assert teeth.parent == head and teeth.data.shape_keys.animation_data.drivers
