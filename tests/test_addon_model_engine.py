"""The add-on with a real (tiny, untrained) student on disk: backend choice and label, animating through the model,
the fallback's reason in error messages, and user styles from a reference clip stored outside the .blend."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
from test_addon_kit import bpy, make_clip, make_face, registered_addon, registered_addon_with_weights, scene_dump
from test_inference import write_tiny_student

from core.reference_engine import ReferenceTargetsEngine


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    write_tiny_student(folder)
    return folder


@pytest.fixture
def model_addon(tiny_weights, tmp_path, monkeypatch):
    """The add-on registered with the tiny student as its shipped weights and a private user-styles file."""
    from diffusiontalker_addon import user_styles

    monkeypatch.setattr(user_styles, "library_path", lambda: tmp_path / "user" / "user_styles.safetensors")
    yield from registered_addon_with_weights(monkeypatch, tiny_weights)


def test_the_numpy_backend_preference_loads_the_student_and_labels_it(tiny_weights):
    from diffusiontalker_addon import engine

    engine.forget_loaded_engines()
    prefs = SimpleNamespace(weights_dir=str(tiny_weights), device="GPU", backend="NUMPY")
    loaded = engine.get_engine(prefs)
    assert engine.engine_is_model(prefs) and engine.fallback_reason(prefs) is None
    assert loaded.identities() == ["alice", "bob", "default"]
    label = engine.backend_label(prefs)
    assert label.startswith("student-2step (numpy, cpu)") and "runs on the CPU" in label
    engine.forget_loaded_engines()


def test_animate_runs_the_model_and_names_it_as_the_source(model_addon, tmp_path):
    face = make_face()
    wav = make_clip(tmp_path, "line", with_targets=False)  # the model needs no reference targets

    assert bpy.ops.diffusiontalker.animate(audio=str(wav), identity="alice", emotion="sad", seed=3) == {"FINISHED"}

    action = face.data.shape_keys.animation_data.action
    assert action.name == "Face_line_alice_sad_s3"
    assert action["diffusiontalker"]["engine"].startswith("student-2step")
    assert "reference" not in action["diffusiontalker"]["source"]


def test_with_corrupt_weights_the_refusal_says_why_the_model_is_not_in_use(
    model_addon, tiny_weights, tmp_path, monkeypatch
):
    from diffusiontalker_addon import engine

    broken = tmp_path / "broken_weights"
    shutil.copytree(tiny_weights, broken)
    data = bytearray((broken / "student.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (broken / "student.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(engine, "default_weights_dir", lambda: broken)
    engine.forget_loaded_engines()
    make_face()
    before = scene_dump()

    with pytest.raises(RuntimeError) as refusal:
        bpy.ops.diffusiontalker.animate(audio=str(make_clip(tmp_path, "untargeted", with_targets=False)))

    assert scene_dump() == before
    message = str(refusal.value)
    assert "No reference targets beside" in message and "could not load the model from" in message
    # It blames the damaged file and says how to get a good one, not "not installed" / "run distill".
    assert "student.safetensors' is corrupt" in message and "re-install the extension" in message, message
    assert "not installed" not in message and "distill" not in message, message


def test_a_style_from_a_reference_clip_joins_the_menus_and_lives_outside_the_blend(model_addon, tmp_path):
    from diffusiontalker_addon import engine, style_store, user_styles

    make_face()
    reference = make_clip(tmp_path, "my_voice", with_targets=False, seconds=1.5)

    assert bpy.ops.diffusiontalker.add_style_from_clip(filepath=str(reference), style_name="narrator") == {"FINISHED"}

    assert user_styles.library_path().is_file()
    settings = bpy.context.scene.diffusiontalker
    assert "narrator" in [item[0] for item in style_store.menu_items("identity", settings, bpy.context)]
    assert "narrator" in [item[0] for item in style_store.menu_items("emotion", settings, bpy.context)]
    assert (settings.identity, settings.emotion) == ("narrator", "narrator")
    wav = make_clip(tmp_path, "line", with_targets=False)
    assert bpy.ops.diffusiontalker.animate(audio=str(wav), identity="narrator", emotion="narrator") == {"FINISHED"}
    assert "narrator" in engine.get_engine(None).identities()


def test_user_styles_made_by_another_model_are_set_aside_with_a_note(model_addon, tmp_path):
    import numpy as np

    from core.style_library import StyleLibrary
    from diffusiontalker_addon import engine, user_styles

    stale = StyleLibrary({"old": np.ones(16)}, {"old": np.ones(16)}, model_sha256="0" * 64)
    user_styles.library_path().parent.mkdir(parents=True)
    stale.save(user_styles.library_path())
    engine.forget_loaded_engines()
    assert engine.engine_is_model(None)
    assert "old" not in engine.get_engine(None).identities()
    assert "your styles in" in engine.backend_label(None) and "another model" in engine.backend_label(None)


def test_adding_a_style_without_the_model_explains_what_is_needed(reference_addon, tmp_path):
    from diffusiontalker_addon import engine

    reference = make_clip(tmp_path, "my_voice", with_targets=False, seconds=1.5)
    with pytest.raises(RuntimeError, match="Styles are computed by the trained model"):
        bpy.ops.diffusiontalker.add_style_from_clip(filepath=str(reference), style_name="narrator")
    assert isinstance(engine.get_engine(None), ReferenceTargetsEngine)


@pytest.fixture
def reference_addon():
    yield from registered_addon()


def test_the_backend_label_follows_the_model_when_it_falls_back_to_the_cpu(tiny_weights):
    from diffusiontalker_addon import engine

    engine.forget_loaded_engines()
    prefs = SimpleNamespace(weights_dir=str(tiny_weights), device="CPU", backend="NUMPY")
    loaded = engine.get_engine(prefs)
    loaded.notes.append("cuda ran out of memory; continuing on the CPU (slower)")  # what the engine does on OOM
    assert engine.backend_label(prefs).endswith("; cuda ran out of memory; continuing on the CPU (slower)")
    engine.forget_loaded_engines()
