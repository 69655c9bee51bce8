"""A vertex-basis rig's channels as shape keys: the rig descriptor carries, per channel, the vertex offsets a weight
of 1 adds (core/rig/descriptor.py); here they become shape keys on the mesh the rig was built for, so the take's
weights can be keyed on them like any other rig's.
"""

from __future__ import annotations

import bpy
import numpy as np

from core.runtime import RigDescriptor

from .scene_guard import SceneGuardError


def ensure_vertex_basis_keys(obj: bpy.types.Object, rig: RigDescriptor) -> tuple[bpy.types.Key, list[str]]:
    """The mesh's shape keys, with a Basis when it had none and one key per rig channel it lacks (a key of the same
    name, in any case, is left as it is): the key's offsets from the Basis are the channel's basis vectors.
    Returns the Key and the names of the keys created."""
    if rig.basis is None:
        raise ValueError(f"rig '{rig.name}' is not a vertex basis; its shape keys come from the rig, not from it")
    mesh = obj.data
    if len(mesh.vertices) != rig.vertex_count:
        raise SceneGuardError(
            f"Object '{obj.name}' has {len(mesh.vertices)} vertices, but rig '{rig.name}' is a vertex basis of "
            f"{rig.vertex_count}; select the mesh the model was made for"
        )
    if mesh.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
    key = mesh.shape_keys
    rest = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    key.reference_key.data.foreach_get("co", rest)  # (vertices * 3,)
    existing = {block.name.lower() for block in key.key_blocks}
    created = []
    for index, name in enumerate(rig.names):
        if name.lower() in existing:
            continue
        block = obj.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", rest + rig.basis[index].reshape(-1))  # basis[index]: (vertices, 3)
        created.append(name)
    mesh.update()
    return key, created
