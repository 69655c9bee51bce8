"""Blender side of the demo heads and of "Add ARKit Keys": turns core.rig.demo_head's and core.rig.human_head's
arrays into mesh objects."""

from __future__ import annotations

import bpy
import numpy as np

from core.runtime import (
    ARKIT_NAMES,
    FACE_PART_LOOKS,
    FACE_PARTS,
    MATERIAL_LOOKS,
    PART_MATERIALS,
    HeadPart,
    load_demo_head,
    load_human_head,
    map_channel_names,
    to_blender_frame,
)

OBJECT_NAME = "DemoHead"
HUMAN_OBJECT_NAME = "HumanHead"


def create_demo_head_object(context: bpy.types.Context) -> bpy.types.Object:
    """A new "DemoHead" mesh object at the 3D cursor in the active collection, active and selected, with a Basis
    and the 52 ARKit shape keys, UVs and a material per face part (skin, lips, brows, dark openings)."""
    head = load_demo_head()
    basis = to_blender_frame(head.vertices)  # (V, 3) metres, Z up, facing -Y

    mesh = bpy.data.meshes.new(OBJECT_NAME)
    mesh.from_pydata(basis.tolist(), [], head.faces.tolist())
    uv_layer = mesh.uv_layers.new(name="UVMap")
    loop_vertices = np.empty(len(mesh.loops), dtype=np.int32)
    mesh.loops.foreach_get("vertex_index", loop_vertices)
    uv_layer.data.foreach_set("uv", head.uvs[loop_vertices].ravel())
    mesh.polygons.foreach_set("use_smooth", np.ones(len(mesh.polygons), dtype=bool))
    for part in FACE_PARTS:  # slot i is part i, as face_parts indexes them
        mesh.materials.append(_part_material(part))
    mesh.polygons.foreach_set("material_index", head.face_parts.astype(np.int32))
    mesh.update()

    obj = bpy.data.objects.new(OBJECT_NAME, mesh)
    collection = context.collection or context.scene.collection
    collection.objects.link(obj)
    obj.location = context.scene.cursor.location
    obj.shape_key_add(name="Basis", from_mix=False)
    for name, delta in head.shape_key_deltas().items():
        block = obj.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", (basis + to_blender_frame(delta)).ravel())
        block.value = 0.0  # bpy 5.0 adds keys at 1.0: the neutral face has every key off

    for other in context.view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj


def create_human_head_objects(context: bpy.types.Context, link_parts: bool = True) -> bpy.types.Object:
    """The CC0 human head (core.rig.human_head) at the 3D cursor: a "HumanHead" skin mesh, active and selected, and
    its parts "HumanHead Eyes", "... Teeth", "... Tongue", "... Eyelashes" as children, each with a Basis and the
    ARKit keys that move it; the head has all 52. Returns the head, the object to animate.

    With `link_parts`, every part's key is driven by the head's key of that name, so an Action on the head moves
    the eyes, teeth, tongue and lashes with it."""
    human = load_human_head()
    collection = context.collection or context.scene.collection
    # The head carries every channel of the character, so animating it drives all 52: a channel no skin vertex
    # follows (tongueOut) is an empty key here that the tongue's key follows.
    channels = {name for part in human.parts for name in part.keys}
    head = _part_object(human.part("head"), HUMAN_OBJECT_NAME, collection, [n for n in ARKIT_NAMES if n in channels])
    head.location = context.scene.cursor.location
    for part in human.parts[1:]:
        child = _part_object(part, f"{HUMAN_OBJECT_NAME} {part.name.capitalize()}", collection)
        child.parent = head
        if link_parts:
            _drive_keys_from(child, head)

    for other in context.view_layer.objects:
        other.select_set(False)
    head.select_set(True)
    context.view_layer.objects.active = head
    return head


def _part_object(
    part: HeadPart, name: str, collection: bpy.types.Collection, key_names: list[str] | None = None
) -> bpy.types.Object:
    """One mesh object from a human-head part: quads, per-corner UVs, smooth shading, materials, a Basis and the
    part's keys (or `key_names`, in that order: a name the part does not move becomes an empty key)."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(part.vertices.tolist(), [], part.faces.tolist())
    uv_layer = mesh.uv_layers.new(name="UVMap")
    uv_layer.data.foreach_set("uv", part.uvs.ravel())  # from_pydata keeps the face corner order
    mesh.polygons.foreach_set("use_smooth", np.ones(len(mesh.polygons), dtype=bool))
    for material in PART_MATERIALS[part.name]:
        mesh.materials.append(_look_material(f"HumanHead {material}", *MATERIAL_LOOKS[material]))
    mesh.polygons.foreach_set("material_index", part.material_index.astype(np.int32))
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    obj.shape_key_add(name="Basis", from_mix=False)
    for key_name in part.keys if key_names is None else key_names:
        block = obj.shape_key_add(name=key_name, from_mix=False)
        block.value = 0.0  # bpy 5.0 adds keys at 1.0
        if key_name in part.keys:
            block.data.foreach_set("co", (part.vertices + part.key_deltas(key_name)).ravel())
    return obj


def _drive_keys_from(child: bpy.types.Object, head: bpy.types.Object) -> None:
    """Drive each of the child's keys by the head's key of the same name (a plain property driver: no Python)."""
    head_key = head.data.shape_keys
    for block in child.data.shape_keys.key_blocks[1:]:
        if block.name not in head_key.key_blocks:
            continue
        curve = block.driver_add("value")
        curve.driver.type = "SUM"
        variable = curve.driver.variables.new()
        variable.name = "head"
        variable.type = "SINGLE_PROP"
        variable.targets[0].id_type = "KEY"
        variable.targets[0].id = head_key
        variable.targets[0].data_path = f'key_blocks["{block.name}"].value'


def add_arkit_shape_keys(obj: bpy.types.Object, preset: str | None = None) -> list[str]:
    """Add an empty shape key for every ARKit channel the object's keys do not already provide (Basis first if it
    has none). A key the name matcher already maps (e.g. `JawOpen`, `eyeBlink_L`) counts as provided, so no
    duplicate steals its channel. Returns the names added, in order."""
    added = []
    if obj.data.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
        added.append("Basis")
    existing = [block.name for block in obj.data.shape_keys.key_blocks[1:]]
    provided = map_channel_names(existing, preset=preset)
    for name in provided.missing_arkit_names():
        if name in obj.data.shape_keys.key_blocks:
            continue  # present but left undriven on purpose (a preset maps it to null): no duplicate
        obj.shape_key_add(name=name, from_mix=False).value = 0.0  # bpy 5.0 adds keys at 1.0
        added.append(name)
    return added


def _part_material(part: str) -> bpy.types.Material:
    """One shared material per face part ("DemoHead skin", ...), reused by later demo heads."""
    return _look_material(f"DemoHead {part.replace('_', ' ')}", *FACE_PART_LOOKS[part])


def _look_material(name: str, color: tuple[float, float, float], roughness: float) -> bpy.types.Material:
    """A shared plain material of this name (reused when it exists in this file)."""
    material = bpy.data.materials.get(name)
    if material is not None and material.library is None:
        return material
    material = bpy.data.materials.new(name)
    material.diffuse_color = (*color, 1.0)  # the viewport's Solid mode shows this
    material.roughness = roughness
    material.use_nodes = True
    bsdf = material.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (*color, 1.0)
        bsdf.inputs["Roughness"].default_value = roughness
    return material
