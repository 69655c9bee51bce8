"""Blender side of the demo head and of "Add ARKit Keys": turns core.rig.demo_head's arrays into a mesh object."""

from __future__ import annotations

import bpy
import numpy as np

from core.rig.demo_head import FACE_PART_LOOKS, FACE_PARTS, load_demo_head, to_blender_frame
from core.rig.name_mapping import map_channel_names

OBJECT_NAME = "DemoHead"


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

    for other in context.view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj


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
        obj.shape_key_add(name=name, from_mix=False)
        added.append(name)
    return added


def _part_material(part: str) -> bpy.types.Material:
    """One shared material per face part ("DemoHead skin", ...), reused by later demo heads."""
    name = f"DemoHead {part.replace('_', ' ')}"
    material = bpy.data.materials.get(name)
    if material is not None and material.library is None:
        return material
    color, roughness = FACE_PART_LOOKS[part]
    material = bpy.data.materials.new(name)
    material.diffuse_color = (*color, 1.0)  # the viewport's Solid mode shows this
    material.roughness = roughness
    material.use_nodes = True
    bsdf = material.node_tree.nodes.get("Principled BSDF")
    if bsdf is not None:
        bsdf.inputs["Base Color"].default_value = (*color, 1.0)
        bsdf.inputs["Roughness"].default_value = roughness
    return material
