"""Characters made of several meshes, in real bpy: animating the parent or any mesh animates every mesh of the
character that has mapped (undriven) keys, one Action each, same take; locks apply to all of them."""

from __future__ import annotations

import pytest
from test_addon_kit import bpy, curve_by_key_block, make_clip, make_face, registered_addon

from core.rig.arkit import ARKIT_NAMES


@pytest.fixture
def addon():
    yield from registered_addon()


def make_character() -> dict:
    """An empty "Character" with a head (all 52 keys), teeth and tongue (a few keys), a body with unrelated keys."""
    root = bpy.data.objects.new("Character", None)
    bpy.context.scene.collection.objects.link(root)
    parts = {
        "Head": make_face("Head", ARKIT_NAMES),
        "Teeth": make_face("Teeth", ["jawOpen", "jawLeft", "mouthClose"]),
        "Tongue": make_face("Tongue", ["jawOpen", "tongueOut"]),
        "Body": make_face("Body", ["Breathe", "Flex"]),
    }
    for obj in parts.values():
        obj.parent = root
    parts["Teeth"].parent = parts["Head"]  # nested deeper: still the same character
    parts["Character"] = root
    return parts


def actions_by_object(parts: dict) -> dict[str, object]:
    out = {}
    for name, obj in parts.items():
        key = obj.data.shape_keys if obj.type == "MESH" else None
        if key is not None and key.animation_data is not None and key.animation_data.action is not None:
            out[name] = key.animation_data.action
    return out


@pytest.mark.parametrize("selected", ["Character", "Teeth", "Head"])
def test_animating_the_parent_or_any_mesh_writes_one_action_per_mapped_mesh(addon, tmp_path, selected):
    parts = make_character()
    audio = make_clip(tmp_path)
    bpy.context.scene.render.fps = 30
    assert bpy.ops.diffusiontalker.animate(object_name=selected, audio=str(audio), seed=3) == {"FINISHED"}
    actions = actions_by_object(parts)
    assert set(actions) == {"Head", "Teeth", "Tongue"}  # the body's keys map to nothing: untouched
    assert {name: action.name for name, action in actions.items()} == {
        name: f"{name}_voice_default_neutral_s3" for name in actions
    }  # same take: same stem after the object's name
    assert set(curve_by_key_block(actions["Teeth"])) == {"jawOpen", "jawLeft", "mouthClose"}
    assert set(curve_by_key_block(actions["Head"])) == set(ARKIT_NAMES)
    frames = {name: tuple(action.frame_range) for name, action in actions.items()}
    assert len(set(frames.values())) == 1


def test_region_locks_apply_to_every_mesh_of_the_character(addon, tmp_path):
    parts = make_character()
    audio = make_clip(tmp_path)
    bpy.context.scene.render.fps = 30
    bpy.ops.diffusiontalker.animate(object_name="Character", audio=str(audio), locked_regions={"jaw"})
    actions = actions_by_object(parts)
    assert set(curve_by_key_block(actions["Teeth"])) == {"mouthClose"}
    assert set(curve_by_key_block(actions["Tongue"])) == {"tongueOut"}
    assert not any(name.startswith("jaw") for name in curve_by_key_block(actions["Head"]))


def test_an_armature_whose_meshes_have_no_arkit_keys_is_refused_with_the_fix(addon):
    root = bpy.data.objects.new("Rig", None)
    bpy.context.scene.collection.objects.link(root)
    make_face("Body", ["Breathe"]).parent = root
    with pytest.raises(RuntimeError, match="No mesh of the character 'Rig' belongs to has shape keys named like ARKit"):
        bpy.ops.diffusiontalker.animate(object_name="Rig", audio="/nonexistent.wav")


def test_the_human_heads_parts_follow_by_drivers_and_get_no_action(addon, tmp_path):
    bpy.ops.diffusiontalker.add_demo_head(head="HUMAN")
    head = bpy.context.active_object
    audio = make_clip(tmp_path)
    bpy.context.scene.render.fps = 30
    assert bpy.ops.diffusiontalker.animate(object_name="HumanHead Teeth", audio=str(audio)) == {"FINISHED"}
    assert head.data.shape_keys.animation_data.action is not None  # the head is the one undriven mesh
    for child in head.children:
        data = child.data.shape_keys.animation_data
        assert data.action is None and len(data.drivers) == len(child.data.shape_keys.key_blocks) - 1
