"""The installed extension imports its own vendored core (`<package>._vendor.core`), never a global `core`: it enables
with another `core` package already imported, and an upgrade installed in the same session runs the new code.

Runs the zip in a stock-Blender-like subprocess (private BLENDER_USER_RESOURCES, no repository on sys.path, no torch:
the add-on animates with the numpy student it ships).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_addon_kit import make_clip

import build

pytest.importorskip("bpy")

MODULE = "bl_ext.user_default.diffusiontalker"

SESSION_SCRIPT = textwrap.dedent(
    """
    import importlib, json, sys, types
    sys.modules["torch"] = None  # a stock Blender has no torch: the shipped numpy student runs
    import bpy

    old_zip, new_zip, wav = sys.argv[1:4]
    module = "bl_ext.user_default.diffusiontalker"
    report = {}

    # Another add-on's top-level `core` package, imported before ours is enabled.
    foreign = types.ModuleType("core")
    foreign.__file__ = "/elsewhere/other_addon/core/__init__.py"
    foreign.__path__ = []
    foreign.OWNER = "other add-on"
    sys.modules["core"] = foreign

    def animate():
        for obj in list(bpy.data.objects):
            bpy.data.objects.remove(obj)
        bpy.ops.diffusiontalker.add_demo_head(head="PROCEDURAL")
        face = bpy.context.active_object
        bpy.ops.diffusiontalker.animate(audio=wav, start_frame=1)
        action = face.data.shape_keys.animation_data.action
        return action["diffusiontalker"]["source"], len(action.layers[0].strips[0].channelbags[0].fcurves)

    bpy.ops.extensions.package_install_files(filepath=old_zip, repo="user_default", enable_on_install=True)
    report["old_enabled"] = module in bpy.context.preferences.addons
    report["old_version"] = sys.modules[module + "._vendor.core"].__version__
    report["old_take"] = animate()
    report["foreign_kept"] = sys.modules.get("core") is foreign and foreign.OWNER == "other add-on"
    report["foreign_untouched"] = sorted(vars(foreign)) == sorted(["__name__", "__doc__", "__package__", "__loader__",
                                                                   "__spec__", "__file__", "__path__", "OWNER"])
    # Mark every module object of the installed 0.1.0: after the upgrade none of them may still be in use.
    old_modules = [name for name in sys.modules if name == module or name.startswith(module + ".")]
    for name in old_modules:
        setattr(sys.modules[name], "_diffusiontalker_old_build", True)
    report["old_module_count"] = len(old_modules)

    bpy.ops.extensions.package_install_files(filepath=new_zip, repo="user_default", enable_on_install=True)
    report["new_enabled"] = module in bpy.context.preferences.addons
    loaded = {name: sys.modules[name] for name in sys.modules if name == module or name.startswith(module + ".")}
    report["stale_modules"] = sorted(n for n, m in loaded.items() if getattr(m, "_diffusiontalker_old_build", False))
    report["new_version"] = sys.modules[module + "._vendor.core"].__version__
    operator_module = bpy.types.DIFFUSIONTALKER_OT_animate.__module__
    report["operator_module_is_new"] = not getattr(sys.modules[operator_module], "_diffusiontalker_old_build", False)
    report["new_take"] = animate()
    report["foreign_still_kept"] = sys.modules.get("core") is foreign
    print("REPORT " + json.dumps(report))
    """
)


def test_extension_coexists_with_a_foreign_core_and_upgrades_in_one_session(tmp_path: Path):
    old_zip = build.build_extension(tmp_path / "old", version="0.1.0")
    new_zip = build.build_extension(tmp_path / "new", version="0.1.1")
    assert (old_zip.name, new_zip.name) == ("diffusiontalker-0.1.0.zip", "diffusiontalker-0.1.1.zip")
    wav = make_clip(tmp_path / "clip", "voice", fps=24.0, seconds=1.5, with_targets=False)
    script = tmp_path / "session.py"
    script.write_text(SESSION_SCRIPT)
    user_dir = tmp_path / "blender_user"
    user_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["BLENDER_USER_RESOURCES"] = str(user_dir)
    completed = subprocess.run(
        [sys.executable, str(script), str(old_zip), str(new_zip), str(wav)],
        cwd=tmp_path,  # not the repository: core must come from the zip
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("REPORT ")]
    assert completed.returncode == 0 and lines, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(lines[-1].removeprefix("REPORT "))

    assert report["old_enabled"] and report["old_version"] == "0.1.0"
    assert report["foreign_kept"] and report["foreign_untouched"], "the other add-on's `core` must be left alone"
    assert report["old_take"][0].startswith("student-") and report["old_take"][1] == 52, report["old_take"]
    assert report["old_module_count"] > 10
    assert report["new_enabled"] and report["new_version"] == "0.1.1", report
    assert report["stale_modules"] == [], "modules of 0.1.0 still in use after installing 0.1.1"
    assert report["operator_module_is_new"]
    assert report["new_take"][0].startswith("student-") and report["new_take"][1] == 52, report["new_take"]
    assert report["foreign_still_kept"]


SETUP_SCRIPT = textwrap.dedent(
    """
    import sys
    import bpy

    bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default", enable_on_install=True)
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    bpy.ops.diffusiontalker.add_demo_head(head="PROCEDURAL")
    bpy.context.active_object.name = "Face"
    bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2])
    """
)


def test_installed_batch_script_runs_with_its_vendored_core(tmp_path: Path):
    """`python <installed add-on>/batch.py` (as `blender --python` runs it) imports the vendored core relatively,
    so it must run inside its package: it registers the add-on and re-enters itself as `<package>.batch`."""
    package = build.build_extension(tmp_path / "dist")
    wav = make_clip(tmp_path / "clip", "voice", fps=24.0, seconds=1.5, with_targets=False)
    (tmp_path / "setup.py").write_text(SETUP_SCRIPT)
    user_dir = tmp_path / "blender_user"
    user_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["BLENDER_USER_RESOURCES"] = str(user_dir)
    scene = tmp_path / "scene.blend"
    run = dict(cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    setup = subprocess.run([sys.executable, str(tmp_path / "setup.py"), str(package), str(scene)], **run)
    assert setup.returncode == 0 and scene.is_file(), setup.stdout[-2000:] + setup.stderr[-2000:]
    batch = user_dir / "extensions" / "user_default" / "diffusiontalker" / "batch.py"
    out = tmp_path / "takes"
    args = ["--", "--blend", str(scene), "--object", "Face", "--audio", str(wav), "--out", str(out)]
    completed = subprocess.run([sys.executable, str(batch), *args], **run)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "[1/1] ok voice.wav" in completed.stdout and (out / "voice.blend").is_file()
