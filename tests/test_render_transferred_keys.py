"""tools/render_transferred_keys.py without rendering (real bpy 5.0): a scan's landmarks, written in its OBJ file's
coordinates, land where Blender's importer put those points, and Place Landmarks -> moved empties -> Generate Keys
gives a mesh keys fitted to the moved empties."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bpy")

from test_addon_kit import registered_addon  # noqa: E402

TOOL = Path(__file__).resolve().parents[1] / "tools" / "render_transferred_keys.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("render_transferred_keys", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def addon():
    yield from registered_addon()


def write_obj(path: Path, vertices: np.ndarray, triangles: np.ndarray) -> None:
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in triangles]
    path.write_text("\n".join(lines) + "\n")


def demo_head_as_obj_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The procedural demo head, bare, written as an OBJ in the file convention (Y up, face toward +Z, millimetres)."""
    from core.rig.demo_head import load_demo_head

    head = load_demo_head()
    vertices = head.vertices.astype(np.float64) * 10.0  # (V, 3) cm -> mm; x left, y up, z out of the face
    faces = np.asarray(head.faces, dtype=np.int64)
    triangles = faces if faces.shape[1] == 3 else np.concatenate([faces[:, [0, 1, 2]], faces[:, [0, 2, 3]]])
    write_obj(path, vertices, triangles)
    return vertices, triangles


def test_landmarks_in_the_files_coordinates_land_on_the_imported_points(addon, tmp_path):
    tool = load_tool()
    path = tmp_path / "head.obj"
    vertices, _ = demo_head_as_obj_file(path)
    obj = tool.import_scan(path)
    to_local = tool.file_to_local(path, obj)
    local = np.array([v.co for v in obj.data.vertices])
    picked = [0, len(vertices) // 2, len(vertices) - 1]
    np.testing.assert_allclose(vertices[picked] @ to_local, local[picked], atol=1e-2)
    # Blender 5's importer keeps the file's coordinates in the mesh and turns the object: Y up becomes Z up.
    up = np.array(obj.matrix_world.to_3x3()) @ np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(up, [0.0, 0.0, 1.0], atol=1e-6)


def test_generate_keys_fits_the_landmark_empties_where_they_were_moved(addon, tmp_path):
    from core.rig.key_transfer import face_frame, procedural_template, propose_mesh_landmarks, transfer_keys

    tool = load_tool()
    path = tmp_path / "head.obj"
    demo_head_as_obj_file(path)
    obj = tool.import_scan(path)
    local = np.array([v.co for v in obj.data.vertices], dtype=np.float64)
    obj.data.calc_loop_triangles()
    triangles = np.array([t.vertices[:] for t in obj.data.loop_triangles], dtype=np.int64)
    frame = face_frame(local, "+Z", "+Y")  # the file's axes: the mesh keeps them
    proposed = propose_mesh_landmarks(local, triangles, frame, procedural_template())
    moved = {name: point + np.array([0.0, 2.0, 0.0]) for name, point in proposed.items()}  # 2 mm up: not proposed
    assert tool.keys_by_hand(obj, moved) == ""
    expected = transfer_keys(local, triangles, moved, frame, procedural_template()).deltas
    unmoved = transfer_keys(local, triangles, proposed, frame, procedural_template()).deltas
    assert np.abs(expected["jawOpen"] - unmoved["jawOpen"]).max() > 1.0  # the check below tells them apart
    blocks = obj.data.shape_keys.key_blocks
    basis = np.array([d.co for d in blocks["Basis"].data])
    for name in ("jawOpen", "eyeBlinkLeft", "mouthSmileLeft"):
        made = np.array([d.co for d in blocks[name].data]) - basis
        # 20 micrometres: Blender keeps the empties in float32, and a 1e-6 mm change of the landmarks moves a few
        # vertices of these keys by up to 5 um (measured); moved vs unmoved landmarks differ by more than 1 mm
        np.testing.assert_allclose(made, expected[name], atol=0.02)  # millimetres
    jaw = np.array([d.co for d in blocks["jawOpen"].data]) - basis
    assert np.linalg.norm(jaw, axis=1).max() > 1.0  # the jaw opens (millimetres)
    assert not tool.landmark_empties(obj)  # Generate Keys removed them
