"""The built zip installs into a fresh Blender user folder, animates a face from a generated clip, and uninstalls.

Runs in a subprocess like a stock Blender: a private BLENDER_USER_RESOURCES, no repository on sys.path (the add-on
can only work through its vendored copy of core), and neither soundfile nor torch importable (a stock Blender has
neither: audio is decoded by Blender's `aud`, the model runs on the numpy student).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_addon_kit import CLOSURE_SECONDS, make_clip

import build
from core.data.demo_clip import demo_clip_paths

DEMO_WAV = demo_clip_paths()[0]

pytest.importorskip("bpy")

# The share of the demo line's P/B/M on which the shipped student's lips close: the bar. The shipped
# student (phase C round 4, guidance 2, numpy backend) closes 14 of 15 = 0.93 at every seed 0-4.
MIN_BILABIAL_CLOSURE = 0.90

INSTALL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["soundfile"] = None  # what a stock Blender lacks: imports of these now fail
    sys.modules["torch"] = None
    import importlib, importlib.util
    from pathlib import Path
    import bpy

    zip_path, wav, speech_wav = sys.argv[1], sys.argv[2], sys.argv[3]
    report = {"soundfile_importable": importlib.util.find_spec("soundfile") is not None}
    repo_dir = bpy.utils.user_resource("EXTENSIONS", path="user_default")
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    module = "bl_ext.user_default.diffusiontalker"
    report["enabled"] = module in bpy.context.preferences.addons
    vendored = module + "._vendor.core"  # the extension's own core: never the global name `core`
    report["core_file"] = sys.modules[vendored].__file__
    report["global_core_loaded"] = "core" in sys.modules
    report["preferences_device"] = bpy.context.preferences.addons[module].preferences.device

    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    bpy.ops.diffusiontalker.add_demo_head()
    face = bpy.context.active_object
    bpy.context.scene.render.fps = 30
    addon_engine = sys.modules[module + ".engine"]
    report["backend_label"] = addon_engine.backend_label(bpy.context.preferences.addons[module].preferences)
    report["uses_model"] = addon_engine.engine_is_model(bpy.context.preferences.addons[module].preferences)
    # The shipped student, on real speech with no reference targets beside it (whatever engine is in use).
    bpy.ops.diffusiontalker.animate(audio=speech_wav, start_frame=1)
    model_action = face.data.shape_keys.animation_data.action
    report["model_source"] = model_action["diffusiontalker"]["source"]
    report["model_take"] = model_action.name
    ARKIT_NAMES = importlib.import_module(vendored + ".rig.arkit").ARKIT_NAMES
    bag = model_action.layers[0].strips[0].channelbag(face.data.shape_keys.animation_data.action_slot)
    curves = {fc.data_path.split('"')[1]: fc for fc in bag.fcurves}
    frames = range(1, len(curves["jawOpen"].keyframe_points) + 1)
    report["model_weights"] = [[curves[n].evaluate(f) for n in ARKIT_NAMES] for f in frames]
    # The rest checks exact numbers, so it pins the reference engine (the generated clip's own targets).
    ReferenceTargetsEngine = importlib.import_module(vendored + ".reference_engine").ReferenceTargetsEngine
    addon_engine.use_engine(ReferenceTargetsEngine())
    bpy.ops.diffusiontalker.animate(audio=wav, start_frame=1, seed=1)
    first_take = face.data.shape_keys.animation_data.action
    bpy.ops.diffusiontalker.animate(audio=wav, start_frame=1)

    action = face.data.shape_keys.animation_data.action
    tracks = face.data.shape_keys.animation_data.nla_tracks
    report["kept_previous"] = [(t.mute, [st.action.name for st in t.strips]) for t in tracks]
    report["first_take"] = first_take.name
    report["first_take_curves"] = len(first_take.layers[0].strips[0].channelbags[0].fcurves)
    report["action"] = action.name
    report["curves"] = len([fc for l in action.layers for s in l.strips for b in s.channelbags for fc in b.fcurves])
    blocks = face.data.shape_keys.key_blocks
    report["frames"] = {}
    for frame in (10, 34, 50):  # speaking, inside the closure (1.1 s), speaking
        bpy.context.scene.frame_set(frame)
        mesh = face.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
        report["frames"][frame] = {
            "jawOpen": blocks["jawOpen"].value,
            "mouthPressLeft": blocks["mouthPressLeft"].value,
            "vertices": [tuple(v.co) for v in mesh.vertices][:50],
        }
        face.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh_clear()

    bpy.ops.extensions.package_uninstall(repo_directory=repo_dir, pkg_id="diffusiontalker")
    report["uninstalled"] = module not in bpy.context.preferences.addons
    report["files_left"] = Path(repo_dir, "diffusiontalker").exists()
    report["operator_left"] = hasattr(bpy.types, "DIFFUSIONTALKER_OT_animate")
    print("REPORT " + json.dumps(report))
    """
)


def test_built_extension_installs_animates_lips_closed_and_uninstalls(tmp_path):
    package = build.build_extension(tmp_path / "dist")
    wav = make_clip(tmp_path, "install_voice", fps=30.0, seconds=2.0)
    speech = tmp_path / "speech" / DEMO_WAV.name  # the bundled demo line without its reference targets
    speech.parent.mkdir()
    shutil.copyfile(DEMO_WAV, speech)
    script = tmp_path / "install_check.py"
    script.write_text(INSTALL_SCRIPT)
    user_dir = tmp_path / "blender_user"
    user_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["BLENDER_USER_RESOURCES"] = str(user_dir)
    completed = subprocess.run(
        [sys.executable, str(script), str(package), str(wav), str(speech)],
        cwd=tmp_path,  # not the repository: core must come from the zip
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("REPORT ")]
    assert completed.returncode == 0 and lines, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(lines[-1].removeprefix("REPORT "))

    print(f"install test: backend: {report['backend_label']}")
    assert not report["soundfile_importable"]
    assert report["enabled"] and report["preferences_device"] == "AUTO"
    assert "/extensions/user_default/diffusiontalker/_vendor/core/" in report["core_file"]
    assert not report["global_core_loaded"], "the add-on must not put its core in sys.modules as `core`"
    assert report["curves"] == 52
    speaking, closed, speaking_again = (report["frames"][str(f)] for f in (10, 34, 50))
    assert 1.0 <= 34 / 30 <= 1.2 and CLOSURE_SECONDS == (1.0, 1.2)
    assert closed["jawOpen"] < 1e-6 and closed["mouthPressLeft"] == pytest.approx(0.8, abs=1e-5)
    assert speaking["jawOpen"] > 0.1 and speaking_again["jawOpen"] > 0.1
    assert closed["vertices"] != speaking["vertices"], "the mesh must move when the lips close"
    # Every earlier take stays in the file on a muted NLA track: the model's take (when weights ship), then the first.
    earlier = [report["model_take"], report["first_take"]]
    assert report["kept_previous"] == [[True, [name]] for name in earlier] and report["first_take_curves"] == 52
    assert report["uninstalled"] and not report["files_left"] and not report["operator_left"]
    # The zip ships the trained student: the take must come from it (numpy, as a stock Blender has no torch) and
    # close the lips on nearly every P/B/M of the demo line.
    assert report["uses_model"], report["backend_label"]
    assert report["model_source"].startswith("student-") and "numpy" in report["model_source"], report["model_source"]
    closed = bilabials_closed(np.array(report["model_weights"]), DEMO_WAV.with_suffix(".npz"))
    print(f"install test: {sum(closed)} of {len(closed)} bilabials close ({np.mean(closed):.0%})")
    assert len(closed) >= 10 and np.mean(closed) >= MIN_BILABIAL_CLOSURE, f"{sum(closed)} of {len(closed)} close"


def bilabials_closed(weights: np.ndarray, clip_npz) -> list[bool]:
    """For each P/B/M of the clip: do the lips close within it (or the 100 ms before, faces lead the audio)?"""
    from core.data.phonemes import BILABIALS
    from core.rig.lip_measures import LIPS_CLOSED_APERTURE, lip_aperture

    aperture = lip_aperture(weights)
    seconds = np.arange(len(aperture)) / 30.0
    with np.load(clip_npz, allow_pickle=False) as clip:
        phones, times = [str(p) for p in clip["phones"]], clip["phone_times"]
    return [
        bool(aperture[(seconds >= start - 0.1) & (seconds <= end)].min() < LIPS_CLOSED_APERTURE)
        for phone, (start, end) in zip(phones, times, strict=True)
        if phone in BILABIALS
    ]
