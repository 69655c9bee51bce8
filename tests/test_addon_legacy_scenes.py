"""A .blend saved by an older version, which stored Identity / Emotion as a menu position (an EnumProperty index),
reopens with a clear "missing style" and never as another style (Blender would silently drop the stored int and
show the default). Made with real bpy: the older version's own property definitions register, set, save."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_addon_kit import bpy, make_clip, make_face, registered_addon, scene_dump
from test_addon_styles_and_takes import _StyledReferenceEngine

OLD_IDENTITIES = ["default", "flite_rms", "flite_slt"]
OLD_EMOTIONS = ["angry", "neutral", "sad"]
LATER_IDENTITIES = ["aaron", "default", "flite_rms", "flite_slt"]  # a style added ahead: positions moved


def _save_with_the_older_version(path: Path, identity: str, emotion: str | None) -> None:
    """What diffusiontalker_addon/properties.py up to 9f9b9b7..3513211 wrote: dynamic enums (3-tuple items, so the
    stored value is the menu position) on `scene.diffusiontalker`, plus an ordinary setting beside them."""
    from bpy.props import EnumProperty, IntProperty, PointerProperty

    identity_items = [(name, name.replace("_", " ").title(), f"Identity '{name}'") for name in OLD_IDENTITIES]
    emotion_items = [(name, name.title(), f"Emotion '{name}'") for name in OLD_EMOTIONS]

    class DIFFUSIONTALKER_PG_settings(bpy.types.PropertyGroup):  # the older version's class name and layout
        __annotations__ = {
            "identity": EnumProperty(name="Identity", items=lambda _self, _context: identity_items),
            "emotion": EnumProperty(name="Emotion", items=lambda _self, _context: emotion_items),
            "seed": IntProperty(name="Seed", min=0),
        }

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.utils.register_class(DIFFUSIONTALKER_PG_settings)
    bpy.types.Scene.diffusiontalker = PointerProperty(type=DIFFUSIONTALKER_PG_settings)
    try:
        make_face()
        settings = bpy.context.scene.diffusiontalker
        settings.identity, settings.seed = identity, 5
        if emotion is not None:  # None: the menu left alone (it showed, and animated with, its first item)
            settings.emotion = emotion
        stored = bpy.context.scene.bl_system_properties_get()["diffusiontalker"]
        assert stored["identity"] == OLD_IDENTITIES.index(identity)
        assert stored.get("emotion") == (None if emotion is None else OLD_EMOTIONS.index(emotion))
        bpy.ops.wm.save_as_mainfile(filepath=str(path))
    finally:
        del bpy.types.Scene.diffusiontalker
        bpy.utils.unregister_class(DIFFUSIONTALKER_PG_settings)
        bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture
def old_blend(tmp_path) -> Path:
    path = tmp_path / "old_take.blend"
    _save_with_the_older_version(path, "flite_slt", "sad")
    return path


@pytest.fixture
def addon(old_blend):
    """The current add-on, registered after the older version saved `old_blend`."""
    yield from registered_addon()


def _assert_shows_missing_positions() -> None:
    """The open scene's Identity and Emotion read as missing (no bpy struct argument: pytest's failure report would
    repr it, and a struct of a file since reloaded crashes Blender)."""
    from diffusiontalker_addon import properties, style_store

    settings = bpy.context.scene.diffusiontalker

    assert settings.identity == properties.legacy_position_name(2) == "menu item 3 of an older version"
    assert settings.emotion == properties.legacy_position_name(2)
    assert (settings.identity_menu, settings.emotion_menu) == (style_store.MISSING_ITEM, style_store.MISSING_ITEM)
    assert style_store.missing_names(settings) == {
        "identity": "menu item 3 of an older version",
        "emotion": "menu item 3 of an older version",
    }
    labels = [item[1] for item in style_store.menu_items("identity", settings, bpy.context)]
    assert "Missing: menu item 3 of an older version" in labels
    assert settings.seed == 5  # the rest of the saved settings are kept


def test_an_older_files_menu_positions_reopen_as_missing_never_as_another_style(addon, old_blend, tmp_path):
    from diffusiontalker_addon import engine, properties

    engine.use_engine(_StyledReferenceEngine(LATER_IDENTITIES, ["aaa", *OLD_EMOTIONS]))
    bpy.ops.wm.open_mainfile(filepath=str(old_blend))
    _assert_shows_missing_positions()
    settings = bpy.context.scene.diffusiontalker
    assert settings.identity not in LATER_IDENTITIES  # not "default" (what Blender alone would show)...
    assert settings.identity != LATER_IDENTITIES[2]  # ...nor position 2 read in today's menu (flite_rms)

    # Animating refuses, naming what happened, and touches nothing.
    settings.audio_path = str(make_clip(tmp_path))
    before = scene_dump()
    with pytest.raises(RuntimeError, match="Identity 'menu item 3 of an older version' is not in the style"):
        bpy.ops.diffusiontalker.animate(**properties.animate_arguments(settings))
    assert scene_dump() == before

    # Choosing again stores names, which survive the next save and reopen.
    settings.identity_menu, settings.emotion_menu = "flite_slt", "sad"
    bpy.ops.wm.save_as_mainfile(filepath=str(old_blend))
    bpy.ops.wm.open_mainfile(filepath=str(old_blend))
    settings = bpy.context.scene.diffusiontalker
    assert (settings.identity, settings.emotion, settings.seed) == ("flite_slt", "sad", 5)


def test_an_older_file_opened_before_the_addon_is_enabled_is_migrated_on_enabling(old_blend):
    import diffusiontalker_addon
    from diffusiontalker_addon import engine

    bpy.ops.wm.open_mainfile(filepath=str(old_blend))  # no add-on yet: the int stays in the file's data
    diffusiontalker_addon.register()
    try:
        engine.use_engine(_StyledReferenceEngine(OLD_IDENTITIES, OLD_EMOTIONS))
        _assert_shows_missing_positions()
    finally:
        engine.use_engine(None)
        diffusiontalker_addon.unregister()
        bpy.ops.wm.read_factory_settings(use_empty=True)


def test_an_older_files_untouched_menu_reopens_as_missing_not_as_todays_default(tmp_path):
    """The older panel's untouched Emotion menu showed its first item ("angry"), not today's default "neutral"."""
    from diffusiontalker_addon import engine, style_store

    blend = tmp_path / "untouched.blend"
    _save_with_the_older_version(blend, "flite_rms", None)
    for _ in registered_addon():
        engine.use_engine(_StyledReferenceEngine(OLD_IDENTITIES, OLD_EMOTIONS))
        bpy.ops.wm.open_mainfile(filepath=str(blend))
        settings = bpy.context.scene.diffusiontalker
        assert settings.identity == "menu item 2 of an older version"
        assert settings.emotion == "menu item 1 of an older version"
        assert style_store.missing_names(settings) == {
            "identity": "menu item 2 of an older version",
            "emotion": "menu item 1 of an older version",
        }


def test_todays_default_styles_survive_save_reopen_and_enabling_again(tmp_path):
    """No false alarm: settings this version wrote (styles left at their defaults) reopen as the defaults, and
    enabling the add-on again in one session, before any save, leaves them alone too."""
    import diffusiontalker_addon
    from diffusiontalker_addon import engine, style_store

    blend = tmp_path / "today.blend"
    for _ in registered_addon():
        engine.use_engine(_StyledReferenceEngine(OLD_IDENTITIES, OLD_EMOTIONS))
        make_face()
        bpy.context.scene.diffusiontalker.seed = 4  # settings stored, identity / emotion never set
        diffusiontalker_addon.unregister()  # enabled again in the same session: nothing saved yet
        diffusiontalker_addon.register()
        engine.use_engine(_StyledReferenceEngine(OLD_IDENTITIES, OLD_EMOTIONS))
        settings = bpy.context.scene.diffusiontalker
        assert (settings.identity, settings.emotion, settings.seed) == ("default", "neutral", 4)
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
        bpy.ops.wm.open_mainfile(filepath=str(blend))
        settings = bpy.context.scene.diffusiontalker
        assert (settings.identity, settings.emotion, settings.seed) == ("default", "neutral", 4)
        assert style_store.missing_names(settings) == {}
