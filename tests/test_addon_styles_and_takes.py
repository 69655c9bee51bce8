"""Scenes keep their meaning: styles saved by name (a missing one says so and is refused), one default emotion,
one sound strip per take's audio with only the active take's playing, a takes list, and user styles a person can
rename and delete but never name like a shipped one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import test_addon_model_engine
from test_addon_kit import bpy, make_clip, make_face, registered_addon, scene_dump

from core.reference_engine import ReferenceTargetsEngine

# The add-on registered on the tiny student with a private user-styles file (fixtures shared with that module)
tiny_weights = test_addon_model_engine.tiny_weights
model_addon = test_addon_model_engine.model_addon


class _StyledReferenceEngine(ReferenceTargetsEngine):
    """The reference engine offering a chosen set of style names (what another machine's library would hold)."""

    def __init__(self, identities: list[str], emotions: list[str]) -> None:
        self._identities, self._emotions = identities, emotions

    def identities(self) -> list[str]:
        return list(self._identities)

    def emotions(self) -> list[str]:
        return list(self._emotions)


@pytest.fixture
def addon():
    for registered in registered_addon():
        bpy.context.scene.render.fps = 30
        yield registered


def _menu_names(kind: str) -> list[str]:
    from diffusiontalker_addon import style_store

    return [item[0] for item in style_store.menu_items(kind, bpy.context.scene.diffusiontalker, bpy.context)]


def test_saved_style_names_reopen_as_the_same_style_after_the_library_changes(addon, tmp_path):
    from diffusiontalker_addon import engine, properties, style_store

    engine.use_engine(_StyledReferenceEngine(["default", "flite_rms", "flite_slt"], ["angry", "neutral", "sad"]))
    make_face()
    settings = bpy.context.scene.diffusiontalker
    settings.identity_menu, settings.emotion_menu = "flite_slt", "sad"
    blend = tmp_path / "takes.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))

    # Another machine: styles were added ahead of these in both menus. The scene still means flite_slt / sad.
    engine.use_engine(
        _StyledReferenceEngine(["aaron", "default", "flite_rms", "flite_slt"], ["aaa", "angry", "neutral", "sad"])
    )
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    settings = bpy.context.scene.diffusiontalker
    assert (settings.identity, settings.emotion) == ("flite_slt", "sad")
    assert (settings.identity_menu, settings.emotion_menu) == ("flite_slt", "sad")
    assert style_store.missing_names(settings) == {}

    # A machine without that voice: the menu says Missing, and animating refuses instead of using another style.
    engine.use_engine(_StyledReferenceEngine(["default", "flite_rms"], ["angry", "neutral", "sad"]))
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    settings = bpy.context.scene.diffusiontalker
    assert settings.identity == "flite_slt" and settings.identity_menu == style_store.MISSING_ITEM
    assert style_store.missing_names(settings) == {"identity": "flite_slt"}
    assert "Missing: flite_slt" in [item[1] for item in style_store.menu_items("identity", settings, bpy.context)]
    settings.audio_path = str(make_clip(tmp_path))
    before = scene_dump()
    with pytest.raises(
        RuntimeError, match="Identity 'flite_slt' is not in the style library; choose one of: default, flite_rms"
    ):
        bpy.ops.diffusiontalker.animate(**properties.animate_arguments(settings))
    assert scene_dump() == before
    settings.identity_menu = "flite_rms"  # picking another style from the menu stores its name
    assert settings.identity == "flite_rms" and style_store.missing_names(settings) == {}


def test_panel_operator_and_batch_default_to_the_neutral_emotion(addon):
    from diffusiontalker_addon import batch

    settings = bpy.context.scene.diffusiontalker
    assert settings.emotion == "neutral" and settings.emotion_menu == "neutral"
    assert settings.identity == "default" and settings.identity_menu == "default"
    assert bpy.ops.diffusiontalker.animate.get_rna_type().properties["emotion"].default == "neutral"
    args = batch.parse_arguments(["--object", "Face", "--audio", "a.wav", "--out", "takes"])
    assert (args.identity, args.emotion) == ("default", "neutral")


def _sound_strips() -> dict[str, bool]:
    """{strip name: muted}"""
    editor = bpy.context.scene.sequence_editor
    return {s.name: s.mute for s in editor.strips_all if s.type == "SOUND"} if editor else {}


def test_each_takes_audio_gets_one_strip_and_only_the_active_takes_strip_plays(addon, tmp_path):
    make_face()
    first, second = make_clip(tmp_path, "first", seed=1), make_clip(tmp_path, "second", seed=2)

    bpy.ops.diffusiontalker.animate(audio=str(first), add_audio_strip=True, seed=0)
    bpy.ops.diffusiontalker.animate(audio=str(second), add_audio_strip=True, seed=0)
    assert _sound_strips() == {"first": True, "second": False}  # the earlier take's voice is muted with it
    bpy.ops.diffusiontalker.animate(audio=str(first), add_audio_strip=True, seed=1)
    bpy.ops.diffusiontalker.animate(audio=str(first), add_audio_strip=True, seed=2)
    assert _sound_strips() == {"first": False, "second": True}  # the same file reuses its strip


def test_the_takes_list_shows_each_take_and_makes_one_active_or_deletes_it(addon, tmp_path):
    from diffusiontalker_addon import takes

    face = make_face()
    first, second = make_clip(tmp_path, "first", seed=1), make_clip(tmp_path, "second", seed=2)
    bpy.ops.diffusiontalker.animate(audio=str(first), add_audio_strip=True, emotion="sad", seed=4)
    bpy.ops.diffusiontalker.animate(audio=str(second), add_audio_strip=True, emotion="happy", seed=5)
    key = face.data.shape_keys

    listed = takes.list_takes(key)
    assert [(t.action_name, t.active, t.seed, t.style, t.audio_name) for t in listed] == [
        ("Face_second_default_happy_s5", True, 5, "default / happy", "second.wav"),
        ("Face_first_default_sad_s4", False, 4, "default / sad", "first.wav"),
    ]

    assert bpy.ops.diffusiontalker.activate_take(object_name="Face", take="Face_first_default_sad_s4") == {"FINISHED"}
    assert key.animation_data.action.name == "Face_first_default_sad_s4"
    assert key.animation_data.action_slot is not None
    assert [(t.action_name, t.active) for t in takes.list_takes(key)] == [
        ("Face_first_default_sad_s4", True),
        ("Face_second_default_happy_s5", False),
    ]
    assert [(t.mute, t.name.endswith("happy_s5")) for t in key.animation_data.nla_tracks] == [(True, True)]
    assert _sound_strips() == {"first": False, "second": True}

    assert bpy.ops.diffusiontalker.delete_take(object_name="Face", take="Face_second_default_happy_s5") == {"FINISHED"}
    assert [t.action_name for t in takes.list_takes(key)] == ["Face_first_default_sad_s4"]
    assert "Face_second_default_happy_s5" not in bpy.data.actions and len(key.animation_data.nla_tracks) == 0
    assert _sound_strips() == {"first": False}  # no take plays 'second' any more

    with pytest.raises(RuntimeError, match="'nope' is not a take of this face"):
        bpy.ops.diffusiontalker.activate_take(object_name="Face", take="nope")
    assert bpy.ops.diffusiontalker.delete_take(object_name="Face", take="Face_first_default_sad_s4") == {"FINISHED"}
    assert takes.list_takes(key) == [] and key.animation_data.action is None and _sound_strips() == {}


def test_path_properties_take_blend_relative_paths(addon):
    from diffusiontalker_addon import preferences, properties

    path_properties = [
        (owner.identifier, prop)
        for owner in (
            bpy.ops.diffusiontalker.animate.get_rna_type(),
            bpy.ops.diffusiontalker.add_style_from_clip.get_rna_type(),
            properties.DIFFUSIONTALKER_PG_settings.bl_rna,
            preferences.DIFFUSIONTALKER_AP_preferences.bl_rna,
        )
        for prop in owner.properties
        if getattr(prop, "subtype", "") in ("FILE_PATH", "DIR_PATH")
    ]
    assert len(path_properties) == 4
    for owner, prop in path_properties:
        assert prop.is_path_supports_blend_relative, f"{owner}.{prop.identifier}"


def test_user_styles_are_found_in_the_same_folder_whether_the_extension_is_enabled_or_not(addon):
    from diffusiontalker_addon import user_styles

    repo = next(r for r in bpy.context.preferences.extensions.repos if r.module == "user_default")
    installed = Path(repo.directory) / "diffusiontalker"
    enabled = user_styles.extension_module_name("bl_ext.user_default.diffusiontalker", installed)
    registered_by_batch = user_styles.extension_module_name("diffusiontalker", installed)  # batch.py's package name
    assert enabled == registered_by_batch == "bl_ext.user_default.diffusiontalker"
    assert user_styles.extension_module_name("diffusiontalker_addon", Path(__file__).parents[1] / "x") is None


# ---- user styles on the (tiny) model ------------------------------------------------------------------------------


def _add_style(tmp_path, name: str) -> set[str]:
    reference = make_clip(tmp_path, f"ref_{len(list(tmp_path.glob('ref_*')))}", with_targets=False, seconds=1.5)
    return bpy.ops.diffusiontalker.add_style_from_clip(filepath=str(reference), style_name=name)


def test_identity_menu_shows_readable_names_with_user_styles_in_their_own_section(model_addon, tmp_path):
    from core.style_names import SHIPPED_IDENTITY_NAMES
    from diffusiontalker_addon import style_store

    SHIPPED_IDENTITY_NAMES["alice"] = "Alice - test voice"  # the tiny model's voices stand for the shipped ones
    try:
        assert _add_style(tmp_path, "narrator") == {"FINISHED"}
        items = style_store.menu_items("identity", bpy.context.scene.diffusiontalker, bpy.context)
    finally:
        del SHIPPED_IDENTITY_NAMES["alice"]
    assert [(item[0], item[1]) for item in items] == [
        ("default", "Default - the average of all voices"),
        ("alice", "Alice - test voice"),
        ("bob", "bob"),
        ("", "Your Styles"),
        ("narrator", "narrator"),
    ]
    assert "'alice'" in items[1][2]  # the voice id in the tooltip
    assert "narrator" in _menu_names("emotion")[-1:]


def test_a_user_style_named_like_a_shipped_one_is_refused_and_the_shipped_one_kept(model_addon, tmp_path):
    from diffusiontalker_addon import engine, user_styles

    with pytest.raises(RuntimeError, match="'alice' is the name of a style shipped with the model"):
        _add_style(tmp_path, "alice")
    with pytest.raises(RuntimeError, match="'neutral' is the name of a style shipped"):
        _add_style(tmp_path, "neutral")
    assert not user_styles.library_path().exists()
    assert engine.user_style_names(None) == frozenset()


def test_user_styles_can_be_renamed_and_deleted_but_shipped_ones_cannot(model_addon, tmp_path):
    from diffusiontalker_addon import engine, style_store

    assert _add_style(tmp_path, "narrator") == {"FINISHED"}
    assert _add_style(tmp_path, "villain") == {"FINISHED"}
    settings = bpy.context.scene.diffusiontalker
    assert (settings.identity, settings.emotion) == ("villain", "villain")

    assert bpy.ops.diffusiontalker.rename_user_style(style_name="villain", new_name="hero") == {"FINISHED"}
    assert engine.user_style_names(None) == {"narrator", "hero"}
    assert (settings.identity, settings.emotion) == ("hero", "hero")  # this scene follows the rename
    with pytest.raises(RuntimeError, match="'bob' is the name of a style shipped"):
        bpy.ops.diffusiontalker.rename_user_style(style_name="hero", new_name="bob")
    with pytest.raises(RuntimeError, match="already have a style named 'narrator'"):
        bpy.ops.diffusiontalker.rename_user_style(style_name="hero", new_name="narrator")
    with pytest.raises(RuntimeError, match="'alice' is not one of your styles"):
        bpy.ops.diffusiontalker.delete_user_style(style_name="alice")

    assert bpy.ops.diffusiontalker.delete_user_style(style_name="hero") == {"FINISHED"}
    assert engine.user_style_names(None) == {"narrator"}
    assert "hero" not in engine.get_engine(None).identities() and "alice" in engine.get_engine(None).identities()
    # This scene still asks for the deleted style: it shows as missing, never as another style.
    assert _menu_names("identity")[-3:] == ["", "narrator", style_store.MISSING_ITEM]
    assert style_store.missing_names(settings) == {"identity": "hero", "emotion": "hero"}


def _unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # root ignores permissions, but sysfs accepts no new folders
        return Path("/sys/diffusiontalker_user")
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o555)
    return folder / "user"


def test_a_read_only_user_folder_error_names_the_write_not_the_model(model_addon, tmp_path, monkeypatch):
    from diffusiontalker_addon import user_styles

    target = _unwritable_folder(tmp_path) / "user_styles.safetensors"
    monkeypatch.setattr(user_styles, "library_path", lambda: target)
    with pytest.raises(RuntimeError) as refusal:
        _add_style(tmp_path, "narrator")
    message = str(refusal.value)
    assert "Could not save your styles to" in message and str(target) in message, message
    assert "Computing the style" not in message
