"""Registering, the helper operators, style menus and the engine fallback."""

from __future__ import annotations

import pytest
from test_addon_kit import bpy, make_face, registered_addon

from core.reference_engine import ReferenceTargetsEngine
from core.rig.arkit import ARKIT_NAMES

OPERATORS = (
    "animate", "new_take", "cancel", "add_demo_head", "add_arkit_keys", "place_landmarks", "generate_keys",
    "reload_engine",
)  # fmt: skip


@pytest.fixture
def addon():
    yield from registered_addon()


def test_register_then_unregister_leaves_no_trace():
    import diffusiontalker_addon

    bpy.ops.wm.read_factory_settings(use_empty=True)
    for _ in range(2):  # a second cycle proves unregister really cleaned up
        diffusiontalker_addon.register()
        assert all(hasattr(bpy.types, f"DIFFUSIONTALKER_OT_{name}") for name in OPERATORS)
        assert hasattr(bpy.types, "DIFFUSIONTALKER_PT_main") and hasattr(bpy.types.Scene, "diffusiontalker")
        assert bpy.context.window_manager.diffusiontalker_job.running is False
        diffusiontalker_addon.unregister()
        assert not any(name.startswith("DIFFUSIONTALKER_") for name in dir(bpy.types))
        assert not hasattr(bpy.types.Scene, "diffusiontalker")
        assert not hasattr(bpy.types.WindowManager, "diffusiontalker_job")


def test_the_addon_imports_only_relatively_and_never_from_the_repository_root():
    import ast
    from pathlib import Path

    import diffusiontalker_addon

    package = Path(diffusiontalker_addon.__file__).parent
    for path in package.glob("*.py"):
        if path.name == "batch.py":  # a script Blender runs, not part of the package's import graph
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert node.module.split(".")[0] != "diffusiontalker_addon", f"{path.name}: use a relative import"


def test_add_demo_head_makes_a_basis_and_52_arkit_keys(addon):
    assert bpy.ops.diffusiontalker.add_demo_head() == {"FINISHED"}
    head = bpy.context.active_object
    names = [block.name for block in head.data.shape_keys.key_blocks]
    assert len(names) == 53 and set(ARKIT_NAMES) <= set(names)


def test_add_arkit_keys_completes_a_partial_rig(addon):
    face = make_face(key_names=["jawOpen", "Smile"])
    assert bpy.ops.diffusiontalker.add_arkit_keys(method="EMPTY") == {"FINISHED"}
    names = [block.name for block in face.data.shape_keys.key_blocks]
    assert set(ARKIT_NAMES) <= set(names) and "Smile" in names
    assert names.count("jawOpen") == 1


def test_add_arkit_keys_refuses_a_non_mesh(addon):
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    bpy.context.scene.collection.objects.link(camera)
    bpy.context.view_layer.objects.active = camera
    with pytest.raises(RuntimeError, match="'Camera' is a camera, not a mesh"):
        bpy.ops.diffusiontalker.add_arkit_keys()


def test_style_menus_list_the_engines_identities_and_emotions(addon):
    from diffusiontalker_addon import style_store

    settings = bpy.context.scene.diffusiontalker
    engine = ReferenceTargetsEngine()
    assert [item[0] for item in style_store.menu_items("identity", settings, bpy.context)] == engine.identities()
    emotions = [item[0] for item in style_store.menu_items("emotion", settings, bpy.context)]
    assert sorted(emotions) == sorted(engine.emotions()) and emotions[0] == "neutral"  # the default leads
    settings.emotion_menu = "happy"
    assert settings.emotion == "happy" and settings.emotion_menu == "happy"
    # the same list object every time: Blender keeps pointers into it
    first = style_store.menu_items("emotion", settings, bpy.context)
    assert first is style_store.menu_items("emotion", settings, bpy.context)


def test_without_model_weights_the_engine_falls_back_to_labelled_reference_targets(addon, tmp_path):
    from types import SimpleNamespace

    from diffusiontalker_addon import engine

    engine.use_engine(None)
    engine.forget_loaded_engines()
    prefs = SimpleNamespace(weights_dir=str(tmp_path), device="CPU")  # an empty weights folder
    assert isinstance(engine.get_engine(prefs), ReferenceTargetsEngine)
    assert "Reference targets (not the model)" in engine.backend_label(prefs)
    assert not engine.engine_is_model(prefs)
    engine.forget_loaded_engines()


def test_a_script_can_put_in_its_own_engine(addon):
    from diffusiontalker_addon import engine

    own = ReferenceTargetsEngine()
    engine.use_engine(own)
    assert engine.get_engine(None) is own and "set by a script" in engine.backend_label(None)
