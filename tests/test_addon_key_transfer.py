"""Add ARKit Keys on a bare head mesh, in real bpy 5.0: the demo head's keys are removed and the mesh is remeshed
with bmesh (every edge split: bmesh interpolates the old keys onto the new vertices, the truth to compare with),
its vertex order shuffled and the result turned and scaled; then add_arkit_keys, or place_landmarks + generate_keys.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_addon_kit import bpy, registered_addon

from core.rig.arkit import ARKIT_NAMES
from core.rig.demo_head import EYE_LEFT_LOWER, EYE_LEFT_UPPER, LIPS_INNER_LOWER, LIPS_INNER_UPPER

TURN = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90 degrees about Z: the face looks along +X


@pytest.fixture
def addon():
    yield from registered_addon()


def bare_head(remesh: bool, seed: int = 0, scale: float = 1.0) -> tuple[bpy.types.Object, dict[str, np.ndarray], dict]:
    """A keyless head mesh made from the demo head, active. Returns it, the true keys (name -> (V, 3) deltas in its
    coordinates, the demo head's interpolated) and the new index of the demo head's vertices."""
    import bmesh  # importable once bpy is

    from diffusiontalker_addon.demo_head import create_demo_head_object

    demo = create_demo_head_object(bpy.context)
    bm = bmesh.new()
    bm.from_mesh(demo.data)
    if remesh:
        bmesh.ops.subdivide_edges(bm, edges=bm.edges[:], cuts=1, use_grid_fill=True)
    bm.verts.ensure_lookup_table()
    layers = bm.verts.layers.shape
    basis = np.array([v.co for v in bm.verts])
    truth = {name: np.array([v[layers[name]] for v in bm.verts]) - basis for name in ARKIT_NAMES}
    faces = [[v.index for v in f.verts] for f in bm.faces]
    bm.free()
    bpy.data.objects.remove(demo)
    order = np.random.default_rng(seed).permutation(len(basis)) if seed else np.arange(len(basis))
    new_index = np.argsort(order)
    vertices = basis[order] @ TURN.T * scale
    mesh = bpy.data.meshes.new("BareHead")
    mesh.from_pydata(vertices.tolist(), [], [[int(new_index[i]) for i in f] for f in faces])
    obj = bpy.data.objects.new("BareHead", mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    truth = {name: d[order] @ TURN.T * scale for name, d in truth.items()}
    return obj, truth, new_index


def key_deltas(obj: bpy.types.Object) -> dict[str, np.ndarray]:
    blocks = obj.data.shape_keys.key_blocks
    basis = np.array([d.co for d in blocks[0].data])
    return {block.name: np.array([d.co for d in block.data]) - basis for block in blocks[1:]}


def lip_gap(obj: bpy.types.Object, deltas: dict[str, np.ndarray], weights: np.ndarray, new_index) -> np.ndarray:
    """(frames,) distance between the middles of the inner lip contours under (frames, 52) weights."""
    upper, lower = new_index[LIPS_INNER_UPPER[5]], new_index[LIPS_INNER_LOWER[5]]
    rest = np.array([obj.data.vertices[upper].co, obj.data.vertices[lower].co])
    offsets = np.stack([deltas[name][[upper, lower]] for name in ARKIT_NAMES])  # (52, 2, 3)
    posed = rest[None] + np.einsum("tk,kvc->tvc", weights, offsets)
    return np.linalg.norm(posed[:, 0] - posed[:, 1], axis=1)


def test_add_arkit_keys_gives_a_remeshed_turned_head_keys_that_speak_like_the_originals(addon):
    obj, truth, new_index = bare_head(remesh=True, seed=3, scale=2.0)
    assert bpy.ops.diffusiontalker.add_arkit_keys() == {"FINISHED"}
    blocks = obj.data.shape_keys.key_blocks
    assert [b.name for b in blocks] == ["Basis", *ARKIT_NAMES] and all(b.value == 0.0 for b in blocks[1:])
    made = key_deltas(obj)
    frames = np.arange(300)
    rng = np.random.default_rng(0)
    weights = np.clip(0.15 + 0.1 * np.sin(frames[:, None] * rng.uniform(0.02, 0.3, 52) + rng.uniform(0, 6, 52)), 0, 1)
    jaw, close = ARKIT_NAMES.index("jawOpen"), ARKIT_NAMES.index("mouthClose")
    weights[:, jaw], weights[:, close] = 0.35 + 0.3 * np.sin(frames * 0.5), 0.0
    closures = frames % 40 < 5  # bilabials: jaw half open, lips sealed
    weights[closures], weights[np.ix_(closures, [jaw, close])] = 0.0, 0.25
    ours, authored = lip_gap(obj, made, weights, new_index), lip_gap(obj, truth, weights, new_index)
    assert np.corrcoef(ours, authored)[0, 1] >= 0.9
    height = 2.0 * 0.177  # the demo head's chin-to-hairline height (17.7 cm), scaled
    rest = lip_gap(obj, made, np.zeros((1, 52)), new_index)[0]
    assert ours[closures].max() - rest <= 0.01 * height  # every P/B/M closes as the original does
    left_lids = new_index[[EYE_LEFT_UPPER[4], EYE_LEFT_LOWER[4]]]
    blink = made["eyeBlinkLeft"]
    assert np.linalg.norm(blink[left_lids], axis=1).min() > 0.0
    right_side = np.array([v.co.y for v in obj.data.vertices]) < -0.02 * 2.0  # beyond the right eye's inner corner
    assert np.abs(blink[right_side]).max() == 0.0  # turned: the character's right is -Y; that eye does not move


def test_place_landmarks_then_generate_keys_follows_the_moved_landmarks(addon):
    from core.rig.key_transfer import make_arkit_keys
    from diffusiontalker_addon.key_transfer import LANDMARK_PROPERTY, mesh_arrays

    obj, _, _ = bare_head(remesh=False)
    assert bpy.ops.diffusiontalker.place_landmarks() == {"FINISHED"}
    empties = {child[LANDMARK_PROPERTY]: child for child in obj.children}
    assert {"nose_tip", "mouth_center", "mouth_left", "eye_left_outer", "chin"} <= set(empties)
    assert obj["diffusiontalker_face_axes"] == "+X,+Z"  # turned: the face looks along +X
    automatic = make_arkit_keys(*mesh_arrays(obj))
    empties["eye_left_outer"].location.z += 0.004  # the user lifts the left eye's outer corner 4 mm
    bpy.context.view_layer.objects.active = empties["eye_left_outer"]  # generate from the landmark itself
    assert bpy.ops.diffusiontalker.generate_keys() == {"FINISHED"}
    assert not obj.children and bpy.context.view_layer.objects.active == obj
    made = key_deltas(obj)
    left_change = np.abs(made["eyeBlinkLeft"] - automatic.deltas["eyeBlinkLeft"]).max()
    right_change = np.abs(made["eyeBlinkRight"] - automatic.deltas["eyeBlinkRight"]).max()
    assert left_change > 1e-4 and left_change > 5 * right_change  # the moved landmark reshapes its own eye


def test_existing_keys_are_kept_and_empty_ones_filled(addon):
    obj, _, _ = bare_head(remesh=False)
    obj.shape_key_add(name="Basis", from_mix=False)
    mine = obj.shape_key_add(name="jawOpen", from_mix=False)
    mine.data[10].co.z += 0.01
    mine_before = np.array([d.co for d in mine.data])
    obj.shape_key_add(name="eyeBlinkLeft", from_mix=False)  # empty, as the old Add ARKit Keys left them
    assert bpy.ops.diffusiontalker.add_arkit_keys() == {"FINISHED"}
    names = [b.name for b in obj.data.shape_keys.key_blocks]
    assert sorted(names[1:]) == sorted(ARKIT_NAMES)  # nothing duplicated
    assert np.array_equal(np.array([d.co for d in obj.data.shape_keys.key_blocks["jawOpen"].data]), mine_before)
    assert np.abs(key_deltas(obj)["eyeBlinkLeft"]).max() > 1e-3


def test_a_mesh_without_a_face_is_refused_and_left_unchanged_but_landmarks_can_be_placed_by_hand(addon):
    bpy.ops.mesh.primitive_plane_add()
    plane = bpy.context.active_object
    with pytest.raises(RuntimeError, match="No keys added to 'Plane'"):
        bpy.ops.diffusiontalker.add_arkit_keys()
    assert plane.data.shape_keys is None and not plane.children
    assert bpy.ops.diffusiontalker.place_landmarks() == {"FINISHED"}  # placed by size, with a warning, to move
    assert len(plane.children) == 12 and plane.data.shape_keys is None
