"""Blender side of "Add ARKit Keys" on a bare head: reads the mesh, shows the proposed landmarks as empties the user
may move, and writes the keys core.rig.key_transfer carries over from the template face.

The landmark empties are children of the head (so they follow its transform) and carry their landmark's name in the
custom property LANDMARK_PROPERTY; the head remembers the face frame they were proposed in (FRAME_PROPERTY)."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from core.runtime import (
    ARKIT_NAMES,
    AXES,
    FaceFrame,
    FaceNotFoundError,
    KeyTransfer,
    face_frame,
    guess_face_frame,
    landmarks_by_size,
    map_channel_names,
    procedural_template,
    propose_mesh_landmarks,
    transfer_keys,
)

LANDMARK_PROPERTY = "diffusiontalker_landmark"
FRAME_PROPERTY = "diffusiontalker_face_axes"  # "front,up", e.g. "-Y,+Z"


def mesh_arrays(obj: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    """The head's rest shape in its local coordinates (the Basis key's when it has keys): (V, 3) float64 vertices
    and (F, 3) int64 triangles (quads and n-gons as Blender triangulates them)."""
    mesh = obj.data
    vertices = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    if mesh.shape_keys is not None:
        mesh.shape_keys.reference_key.data.foreach_get("co", vertices)
    else:
        mesh.vertices.foreach_get("co", vertices)
    mesh.calc_loop_triangles()
    triangles = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", triangles)
    return vertices.reshape(-1, 3).astype(np.float64), triangles.reshape(-1, 3).astype(np.int64)


def axis_name(vector: np.ndarray) -> str:
    return min(AXES, key=lambda name: float(np.linalg.norm(np.array(AXES[name]) - vector)))


def head_frame(obj: bpy.types.Object, vertices: np.ndarray, triangles: np.ndarray, front: str, up: str) -> FaceFrame:
    """The face frame: the axes given ("AUTO" guesses), else the ones the landmarks were proposed in."""
    stored = str(obj.get(FRAME_PROPERTY, "")).split(",")
    if front == "AUTO" and up == "AUTO" and len(stored) == 2 and all(s in AXES for s in stored):
        return face_frame(vertices, *stored)
    if front != "AUTO" and up != "AUTO":
        return face_frame(vertices, front, up)
    return guess_face_frame(vertices, None if front == "AUTO" else front, None if up == "AUTO" else up, triangles)


def landmark_empties(obj: bpy.types.Object) -> dict[str, bpy.types.Object]:
    """The head's landmark empties by landmark name."""
    return {child[LANDMARK_PROPERTY]: child for child in obj.children if LANDMARK_PROPERTY in child}


def remove_landmark_empties(obj: bpy.types.Object) -> None:
    for empty in landmark_empties(obj).values():
        bpy.data.objects.remove(empty)


def place_landmarks(
    obj: bpy.types.Object, front: str = "AUTO", up: str = "AUTO"
) -> tuple[dict[str, bpy.types.Object], str]:
    """Replace the head's landmark empties with freshly proposed ones (spheres, children of the head). Where no face
    is found on the mesh they are placed by its size instead, for the user to move. Returns the empties and, in
    that case, why the face was not found ("" otherwise)."""
    vertices, triangles = mesh_arrays(obj)
    auto = (front, up) == ("AUTO", "AUTO")
    frame = face_frame(vertices, "-Y" if front == "AUTO" else front, "+Z" if up == "AUTO" else up)  # Blender's way
    try:
        frame = (
            guess_face_frame(vertices, triangles=triangles) if auto else head_frame(obj, vertices, triangles, front, up)
        )
        landmarks, not_found = propose_mesh_landmarks(vertices, triangles, frame, procedural_template()), ""
    except FaceNotFoundError as exc:
        landmarks, not_found = landmarks_by_size(vertices, frame, procedural_template()), str(exc)
    remove_landmark_empties(obj)
    obj[FRAME_PROPERTY] = f"{axis_name(frame.front)},{axis_name(frame.up)}"
    size = 0.012 * float(np.ptp(frame.to_face(vertices)[:, 0]))  # local units; about 2 mm on a 16 cm head
    collection = obj.users_collection[0] if obj.users_collection else bpy.context.scene.collection
    empties = {}
    for name, point in landmarks.items():
        empty = bpy.data.objects.new(f"{obj.name} {name}", None)
        empty.empty_display_type = "SPHERE"
        empty.empty_display_size = size
        empty.show_in_front = True
        empty[LANDMARK_PROPERTY] = name
        collection.objects.link(empty)
        empty.parent = obj
        empty.matrix_parent_inverse = Matrix.Identity(4)  # location is in the head's local coordinates
        empty.location = tuple(float(c) for c in point)
        empties[name] = empty
    return empties, not_found


def read_landmarks(obj: bpy.types.Object) -> dict[str, np.ndarray]:
    """The landmark empties' positions in the head's local coordinates (wherever the user moved them)."""
    to_local = obj.matrix_world.inverted()
    return {
        name: np.array(to_local @ empty.matrix_world.translation, dtype=np.float64)
        for name, empty in landmark_empties(obj).items()
    }


def generate_keys(
    obj: bpy.types.Object,
    landmarks: dict[str, np.ndarray] | None = None,
    front: str = "AUTO",
    up: str = "AUTO",
    fill_empty_keys: bool = True,
) -> tuple[list[str], list[str], KeyTransfer]:
    """Write the ARKit keys the head lacks, carried over from the template; landmarks in local coordinates (None:
    proposed automatically). Existing keys are kept; with fill_empty_keys an ARKit-named key that does not move
    anything (an empty key from an earlier "Add ARKit Keys") gets the transferred shape. Returns the names written,
    the ARKit channels kept as they were, and the transfer."""
    vertices, triangles = mesh_arrays(obj)
    frame = head_frame(obj, vertices, triangles, front, up)
    template = procedural_template()
    if landmarks is None:
        landmarks = propose_mesh_landmarks(vertices, triangles, frame, template)
    result = transfer_keys(vertices, triangles, landmarks, frame, template)  # may raise: nothing changed yet
    key = obj.data.shape_keys
    existing = [block.name for block in key.key_blocks[1:]] if key is not None else []
    provided = map_channel_names(existing, preset=None)
    missing = set(provided.missing_arkit_names())
    fill = set()
    if fill_empty_keys and key is not None:
        for block in key.key_blocks[1:]:
            if block.name in ARKIT_NAMES and block.name not in missing and _is_empty(block, vertices):
                fill.add(block.name)
    kept = [name for name in ARKIT_NAMES if name not in missing and name not in fill]
    if obj.data.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
    blocks = obj.data.shape_keys.key_blocks
    written = []
    for name in ARKIT_NAMES:
        if name not in missing and name not in fill:
            continue
        if name in missing and name in blocks:
            continue  # present but left undriven on purpose (a preset maps it to null): not ours to change
        block = blocks.get(name) or obj.shape_key_add(name=name, from_mix=False)
        if name in missing:
            block.value = 0.0  # bpy 5.0 adds keys at 1.0: the neutral face has every key off
        block.data.foreach_set("co", (vertices + result.deltas[name]).astype(np.float32).ravel())
        written.append(name)
    obj.data.update()
    return written, kept, result


def _is_empty(block: bpy.types.ShapeKey, basis: np.ndarray) -> bool:
    co = np.empty(len(block.data) * 3, dtype=np.float32)
    block.data.foreach_get("co", co)
    return bool(np.allclose(co.reshape(-1, 3), basis, atol=1e-7))
