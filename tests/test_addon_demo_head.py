"""The demo head object and Add ARKit Keys, on real bpy."""

from __future__ import annotations

import numpy as np
import pytest
from test_addon_kit import bpy, make_face, registered_addon

from core.rig.arkit import ARKIT_NAMES
from core.rig.demo_head import FACE_PARTS, load_demo_head, to_blender_frame


@pytest.fixture
def addon():
    yield from registered_addon()


def test_the_demo_head_is_active_selected_textured_and_carries_the_core_deltas(addon):
    from diffusiontalker_addon.demo_head import create_demo_head_object

    collection = bpy.data.collections.new("Faces")
    bpy.context.scene.collection.children.link(collection)
    bpy.context.view_layer.active_layer_collection = bpy.context.view_layer.layer_collection.children["Faces"]
    obj = create_demo_head_object(bpy.context)

    assert obj.name == "DemoHead" and obj.name in collection.objects
    assert bpy.context.view_layer.objects.active == obj and obj.select_get()
    mesh = obj.data
    assert len(mesh.vertices) == 468 and len(mesh.polygons) == 898 and mesh.uv_layers.active is not None
    assert [m.name for m in mesh.materials] == [f"DemoHead {p.replace('_', ' ')}" for p in FACE_PARTS]
    blocks = mesh.shape_keys.key_blocks
    assert blocks[0].name == "Basis" and [b.name for b in blocks[1:]] == list(ARKIT_NAMES)

    head = load_demo_head()
    jaw = np.empty(468 * 3, dtype=np.float32)
    blocks["jawOpen"].data.foreach_get("co", jaw)
    expected = to_blender_frame(head.vertices) + to_blender_frame(head.shape_key_deltas()["jawOpen"])
    np.testing.assert_allclose(jaw.reshape(-1, 3), expected, atol=1e-6)


def test_a_second_demo_head_reuses_the_materials(addon):
    from diffusiontalker_addon.demo_head import create_demo_head_object

    first, second = create_demo_head_object(bpy.context), create_demo_head_object(bpy.context)
    assert first.name != second.name and list(first.data.materials) == list(second.data.materials)


def test_the_demo_head_maps_all_52_channels_and_nothing_is_left_over(addon):
    from diffusiontalker_addon import scene_guard
    from diffusiontalker_addon.demo_head import create_demo_head_object

    target = scene_guard.check_target_object(create_demo_head_object(bpy.context))
    assert len(target.channels) == 52 and target.unmapped == []


def test_add_arkit_keys_adds_a_basis_to_a_bare_mesh(addon):
    from diffusiontalker_addon.demo_head import add_arkit_shape_keys

    mesh = bpy.data.meshes.new("Bare")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new("Bare", mesh)
    bpy.context.scene.collection.objects.link(obj)
    assert add_arkit_shape_keys(obj) == ["Basis", *ARKIT_NAMES]
    assert add_arkit_shape_keys(obj) == []  # a second run adds nothing


def test_add_arkit_keys_does_not_duplicate_keys_the_matcher_already_maps(addon):
    from diffusiontalker_addon.demo_head import add_arkit_shape_keys

    face = make_face(key_names=["JawOpen", "eyeBlink_L", "Smile"])
    added = add_arkit_shape_keys(face)
    assert "jawOpen" not in added and "eyeBlinkLeft" not in added and len(added) == 50
    names = [b.name for b in face.data.shape_keys.key_blocks]
    assert names[:4] == ["Basis", "JawOpen", "eyeBlink_L", "Smile"] and not any("." in n for n in names)
