"""A model trained on another rig ships and writes through the same path as ARKit-52: a tiny 6-channel vertex-basis
student saved as weights, loaded by the add-on, animating a bare mesh through the Animate operator in real bpy."""

from __future__ import annotations

import numpy as np
import pytest
from test_addon_kit import bpy, registered_addon_with_weights
from test_rig_descriptor import grid_vertices, vertex_basis_rig, write_rig_student, write_voice

from core.animation_job import Animation


@pytest.fixture(scope="module")
def rig_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rig_weights")
    write_rig_student(folder, vertex_basis_rig())
    return folder


@pytest.fixture
def rig_addon(rig_weights, monkeypatch):
    """The add-on registered with the vertex-basis student as its shipped weights."""
    yield from registered_addon_with_weights(monkeypatch, rig_weights)


def make_grid(name: str = "Grid", vertices: np.ndarray | None = None):
    """A bare mesh (no shape keys) with the rig's 9 grid vertices, active."""
    vertices = grid_vertices() if vertices is None else vertices
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(map(float, v)) for v in vertices], [], [(0, 1, 4, 3), (1, 2, 5, 4), (3, 4, 7, 6)])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    return obj


def evaluated_vertices(obj, frame: int) -> np.ndarray:
    bpy.context.scene.frame_set(frame)
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    co = np.empty(len(evaluated.data.vertices) * 3, dtype=np.float32)
    evaluated.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)  # (vertices, 3)


def test_a_vertex_basis_model_animates_a_bare_mesh_through_the_animate_operator(rig_addon, tmp_path):
    rig = vertex_basis_rig()
    grid = make_grid()
    wav = write_voice(tmp_path / "line.wav")

    assert bpy.ops.diffusiontalker.animate(audio=str(wav), identity="alice", seed=2) == {"FINISHED"}

    key = grid.data.shape_keys
    assert [b.name for b in key.key_blocks] == ["Basis", *rig.names]
    for index, name in enumerate(rig.names):  # each key is its channel's basis vectors over the rest shape
        co = np.empty(27, dtype=np.float32)
        key.key_blocks[name].data.foreach_get("co", co)
        np.testing.assert_allclose(co.reshape(9, 3) - grid_vertices(), rig.basis[index], atol=1e-6)
    action = key.animation_data.action
    fcurves = action.layers[0].strips[0].channelbag(action.slots[0]).fcurves
    assert sorted(fc.data_path for fc in fcurves) == sorted(f'key_blocks["{n}"].value' for n in rig.names)
    assert all(len(fc.keyframe_points) == 45 for fc in fcurves)  # 1.5 s at 30 fps, one key per frame
    groups = {fc.data_path.split('"')[1]: fc.group.name for fc in fcurves}
    assert (groups["pca_00"], groups["pca_03"], groups["pca_05"]) == ("Jaw", "Eyes", "Other")  # the rig's regions
    assert action["diffusiontalker"]["engine"].startswith("student-2step")

    first, later = evaluated_vertices(grid, 1), evaluated_vertices(grid, 30)
    assert np.abs(later - first).max() > 1e-3, "moving a frame must move the mesh"
    values = np.array([key.key_blocks[n].value for n in rig.names])
    np.testing.assert_allclose(later, grid_vertices() + np.einsum("c,cvk->vk", values, rig.basis), atol=1e-5)


def test_a_second_take_reuses_the_rigs_keys_and_keeps_the_first_take(rig_addon, tmp_path):
    grid = make_grid()
    wav = write_voice(tmp_path / "line.wav")
    assert bpy.ops.diffusiontalker.animate(audio=str(wav), identity="alice", seed=1) == {"FINISHED"}
    first = grid.data.shape_keys.animation_data.action
    assert bpy.ops.diffusiontalker.animate(audio=str(wav), identity="bob", seed=1) == {"FINISHED"}
    key = grid.data.shape_keys
    assert len(key.key_blocks) == 7 and key.animation_data.action is not first
    assert [t.strips[0].action for t in key.animation_data.nla_tracks] == [first]


def test_a_mesh_with_other_vertices_is_refused_before_anything_is_written(rig_addon, tmp_path):
    cube = make_grid("Cube", grid_vertices()[:8])
    wav = write_voice(tmp_path / "line.wav")
    with pytest.raises(RuntimeError, match="has 8 vertices, but the model's rig 'grid-pca6' is a vertex basis of 9"):
        bpy.ops.diffusiontalker.animate(audio=str(wav), identity="alice")
    assert cube.data.shape_keys is None


def test_an_animation_in_another_rig_than_the_engines_is_refused():
    from diffusiontalker_addon import scene_guard

    class SixChannelEngine:
        name, rig = "six", vertex_basis_rig()

    arkit_take = Animation(weights=np.zeros((10, 52), np.float32), fps=30.0)
    with pytest.raises(scene_guard.SceneGuardError, match="channels of rig 'arkit52' that are not its rig 'grid-pca6'"):
        scene_guard.check_animation(arkit_take, SixChannelEngine())
    own = Animation(weights=np.zeros((10, 6), np.float32), fps=30.0, rig=SixChannelEngine.rig)
    assert scene_guard.check_animation(own, SixChannelEngine()).rig == SixChannelEngine.rig
