"""Render the shape keys "Add ARKit Keys" carries onto bare heads, as contact sheets for docs/.

    python tools/render_transferred_keys.py --scan PATH/menpo3d/data/james.obj [--out-dir docs]

(a) docs/transferred_keys_human_bare.png: the human demo head with every shape key removed (its eyes, teeth and
    tongue kept, without keys; the lashes removed, as nothing would move them), then
    bpy.ops.diffusiontalker.add_arkit_keys() with automatic landmarks, as a user would run it in batch.
(b) docs/transferred_keys_scan.png: a face scan imported with Blender's OBJ importer (its defaults, texture and
    all), given keys the way a user does in the UI when the landmarks are not found on the mesh: Place Landmarks,
    each empty moved onto its feature (the positions in --landmarks, in the OBJ file's coordinates), Generate Keys.

The scan is menpo3d 0.8.6's james.obj (`pip download --no-deps --no-binary :all: menpo3d==0.8.6`, in the sdist at
menpo3d/data/), not in this repository; tools/james_landmarks.json says where its landmarks come from.
Cycles on the CPU, a few minutes on two cores. Resets bpy's session: run it from the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bpy  # noqa: E402
from mathutils import Vector  # noqa: E402

import diffusiontalker_addon  # noqa: E402
from diffusiontalker_addon.contact_sheet import human_head_framing, render_key_sheet, stage_scene  # noqa: E402
from diffusiontalker_addon.demo_head import create_human_head_objects  # noqa: E402
from diffusiontalker_addon.key_transfer import landmark_empties  # noqa: E402

# The poses that show whether a transfer works: the jaw and the lips' seal (P/B/M), the lip shapes of speech, each
# eye on its own, the brows.
KEYS = (
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthRollLower",
    "mouthLeft",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeWideLeft",
    "browInnerUp",
    "browDownLeft",
    "cheekPuff",
)
TEMPLATE_FACE_RATIO = 17.67 / 11.22  # the template's chin-to-hairline over its nasion-to-chin


def bare_human_head() -> bpy.types.Object:
    """The human demo head without any shape key (lashes removed), active: a bare head with eyes and mouth parts."""
    head = create_human_head_objects(bpy.context, link_parts=False)
    for child in list(head.children):
        if child.name.endswith("Eyelashes"):
            bpy.data.objects.remove(child)
        else:
            child.shape_key_clear()
    head.shape_key_clear()
    bpy.context.view_layer.objects.active = head
    return head


def import_scan(path: Path) -> bpy.types.Object:
    """The mesh of an .obj file, imported with Blender's importer at its defaults, active and selected."""
    before = set(bpy.data.objects)
    if bpy.ops.wm.obj_import(filepath=str(path)) != {"FINISHED"}:
        raise RuntimeError(f"Blender could not import {path}")
    meshes = [obj for obj in bpy.data.objects if obj not in before and obj.type == "MESH"]
    if len(meshes) != 1:
        raise RuntimeError(f"{path} should hold one mesh, it holds {len(meshes)}")
    obj = meshes[0]
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    return obj


def file_to_local(path: Path, obj: bpy.types.Object) -> np.ndarray:
    """(3, 3) A with local = file @ A: how the importer turned the file's axes into the object's (it keeps the
    vertex order), solved from all vertices so it holds for any of the importer's axis settings."""
    file_vertices = np.array(
        [
            [float(c) for c in line.split()[1:4]]
            for line in path.read_text(errors="replace").splitlines()
            if line[:2] == "v "
        ]
    )  # (V, 3)
    local = np.empty(len(obj.data.vertices) * 3, dtype=np.float64)
    obj.data.vertices.foreach_get("co", local)
    local = local.reshape(-1, 3)
    if len(local) != len(file_vertices):
        raise RuntimeError(f"{path}: {len(file_vertices)} vertices in the file, {len(local)} imported")
    matrix, *_ = np.linalg.lstsq(file_vertices, local, rcond=None)
    if not np.allclose(file_vertices @ matrix, local, atol=1e-3 * np.ptp(local)):
        raise RuntimeError(f"{path}: the import is not a linear map of the file's vertices")
    return matrix


def keys_by_hand(obj: bpy.types.Object, landmarks: dict[str, np.ndarray]) -> str:
    """Place Landmarks, the empties moved to `landmarks` (local coordinates), Generate Keys. Returns what Place
    Landmarks said when it found no face ("" when it did)."""
    messages = []
    result = bpy.ops.diffusiontalker.place_landmarks()
    if result != {"FINISHED"}:
        raise RuntimeError(f"Place Landmarks on '{obj.name}': {result}")
    empties = landmark_empties(obj)
    missing = sorted(set(landmarks) - set(empties))
    if missing:
        raise RuntimeError(f"Place Landmarks made no empties for {', '.join(missing)}")
    for name, empty in empties.items():
        if name in landmarks:
            empty.location = tuple(float(c) for c in landmarks[name])
        else:
            messages.append(f"{name} left where proposed")
    bpy.context.view_layer.update()
    result = bpy.ops.diffusiontalker.generate_keys()
    if result != {"FINISHED"}:
        raise RuntimeError(f"Generate Keys on '{obj.name}': {result}")
    return "; ".join(messages)


def face_framing(nasion: Vector, chin: Vector) -> tuple[Vector, float]:
    """Centre and height to frame a face from its nasion and chin (world coordinates): chin to hairline."""
    height = (nasion - chin).length * TEMPLATE_FACE_RATIO
    top = chin + (nasion - chin).normalized() * height
    return (chin + top) / 2, 1.2 * height


def render_human_bare(out: Path, resolution: int, samples: int) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    diffusiontalker_addon.register()
    try:
        head = bare_human_head()
        start = time.perf_counter()
        if bpy.ops.diffusiontalker.add_arkit_keys() != {"FINISHED"}:
            raise RuntimeError("Add ARKit Keys failed on the bare human head")
        print(f"human head, bare: {len(head.data.vertices)} vertices, keys in {time.perf_counter() - start:.1f} s")
        stage_scene(*human_head_framing(), resolution, samples)
        render_key_sheet(head, KEYS, out)
    finally:
        diffusiontalker_addon.unregister()


def render_scan(scan: Path, landmarks_json: Path, out: Path, resolution: int, samples: int) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    diffusiontalker_addon.register()
    try:
        obj = import_scan(scan)
        to_local = file_to_local(scan, obj)
        in_file = json.loads(landmarks_json.read_text())["landmarks"]
        landmarks = {name: np.asarray(point, dtype=np.float64) @ to_local for name, point in in_file.items()}
        start = time.perf_counter()
        note = keys_by_hand(obj, landmarks)
        print(f"{scan.name}: {len(obj.data.vertices)} vertices, keys in {time.perf_counter() - start:.1f} s {note}")
        world = {name: obj.matrix_world @ Vector(point.tolist()) for name, point in landmarks.items()}
        stage_scene(*face_framing(world["nasion"], world["chin"]), resolution, samples)
        render_key_sheet(obj, KEYS, out)
    finally:
        diffusiontalker_addon.unregister()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=Path, help="the face scan .obj (menpo3d's james.obj); without it only (a)")
    parser.add_argument("--landmarks", type=Path, default=REPO / "tools" / "james_landmarks.json")
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs")
    parser.add_argument("--resolution", type=int, default=160, help="pixels (square) of each cell")
    parser.add_argument("--samples", type=int, default=8, help="Cycles samples per cell")
    args = parser.parse_args()
    start = time.perf_counter()
    out = args.out_dir / "transferred_keys_human_bare.png"
    render_human_bare(out, args.resolution, args.samples)
    print(f"wrote {out} ({out.stat().st_size // 1024} kB)")
    if args.scan:
        out = args.out_dir / "transferred_keys_scan.png"
        render_scan(args.scan, args.landmarks, out, args.resolution, args.samples)
        print(f"wrote {out} ({out.stat().st_size // 1024} kB)")
    print(f"{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
