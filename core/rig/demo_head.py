"""The demo head: the MediaPipe canonical face mesh with all 52 ARKit shape keys authored procedurally.

Mesh (core/assets/canonical_face_model.obj, Apache-2.0, see core/assets/LICENSE-mediapipe-canonical-face.txt):
468 vertices, 898 triangles, one UV per vertex. Its frame, worked out from the landmarks:

    x: the character's left (+x is the left eye, as ARKit's "Left"), y: up, z: forward (out of the face);
    units: about centimetres (chin to hairline 17.7 cm); mirror-symmetric about x = 0.

The mesh is a mask (open at the back) whose mouth and eye openings are filled: 18 triangles span the lips' inner
contours and 14 each eye's lid contours. `face_parts` marks them (and the lips and brows), so a renderer can give
them a dark "opening" material: when the jaw opens or the lids close, those triangles stretch or collapse and
nothing tears. At load the inner lip contours are brought a third closer, so the neutral mouth reads as closed.

Only the lip, eye and brow contours are taken by index (MediaPipe's published landmark contours,
FACEMESH_LIPS / _LEFT_EYE / _LEFT_EYEBROW ...); every region is then found by position relative to them, and every
key uses smooth falloffs. Left keys are authored once and mirrored, so left/right are exactly symmetric.
Deltas are in the mesh's frame and units; `to_blender_frame` converts to Blender's (Z up, -Y forward, metres).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from core.rig.arkit import ARKIT_NAMES

ASSET = Path(__file__).resolve().parents[1] / "assets" / "canonical_face_model.obj"

# MediaPipe landmark contours, each ordered from the character's right (x < 0) to left (x > 0).
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
# The character's left eye and brow (x > 0), ordered from the nose outwards; the right ones are their mirror images.
EYE_LEFT_UPPER = (362, 398, 384, 385, 386, 387, 388, 466, 263)
EYE_LEFT_LOWER = (362, 382, 381, 380, 374, 373, 390, 249, 263)
BROW_LEFT_LOWER = (285, 295, 282, 283, 276)
BROW_LEFT_UPPER = (336, 296, 334, 293, 300)

# Values of DemoHead.face_parts, which index FACE_PARTS (a renderer's material slots, in this order).
SKIN, MOUTH_OPENING, EYE_OPENING, LIPS, BROWS = range(5)
FACE_PARTS = ("skin", "mouth_opening", "eye_opening", "lips", "brows")
# A look for each part, for renderers: (linear RGB base colour, roughness). The openings are dark: no teeth or eyeballs.
FACE_PART_LOOKS: dict[str, tuple[tuple[float, float, float], float]] = {
    "skin": ((0.80, 0.57, 0.47), 0.5),
    "mouth_opening": ((0.02, 0.004, 0.004), 0.9),
    "eye_opening": ((0.012, 0.01, 0.01), 0.3),
    "lips": ((0.62, 0.28, 0.26), 0.4),
    "brows": ((0.16, 0.09, 0.06), 0.8),
}

JAW_OPEN_RADIANS = np.radians(19.0)  # jawOpen = 1: a wide-open mouth (lips 2.9 cm apart at the middle)


@dataclass(frozen=True)
class DemoHead:
    vertices: np.ndarray  # (V, 3) float32, mesh frame (see module docstring)
    faces: np.ndarray  # (F, 3) int32, counter-clockwise seen from the front
    uvs: np.ndarray  # (V, 2) float32
    face_parts: np.ndarray  # (F,) int8 indices into FACE_PARTS
    mirror: np.ndarray = field(repr=False)  # (V,) int64: index of each vertex's mirror image across x = 0

    def shape_key_deltas(self) -> dict[str, np.ndarray]:
        """ARKit name -> (V, 3) float32 offsets from the neutral mesh at weight 1, for all 52 names (ARKit order)."""
        author = _KeyAuthor(self)
        deltas = {}
        for name in ARKIT_NAMES:
            if name.endswith("Right") and name not in ("mouthRight", "jawRight"):
                continue  # mirrored from the Left key below
            delta = author.key(name)
            deltas[name] = delta.astype(np.float32)
            if name.endswith("Left"):
                right = name[: -len("Left")] + "Right"
                deltas[right] = self.mirrored(delta).astype(np.float32)
        return {name: deltas[name] for name in ARKIT_NAMES}

    def mirrored(self, delta: np.ndarray) -> np.ndarray:
        """The same deformation on the other side: (V, 3) -> (V, 3)."""
        return delta[self.mirror] * np.array([-1.0, 1.0, 1.0])

    def lip_aperture(self, vertices: np.ndarray | None = None) -> float:
        """Mean distance (cm) between matching points of the upper and lower inner lip contours (corners excluded)."""
        v = self.vertices if vertices is None else vertices
        return float(np.linalg.norm(v[list(LIPS_INNER_UPPER[1:-1])] - v[list(LIPS_INNER_LOWER[1:-1])], axis=1).mean())

    def eye_aperture(self, side: str, vertices: np.ndarray | None = None) -> float:
        """Mean distance (cm) between the upper and lower lid of the character's 'left' or 'right' eye."""
        v = self.vertices if vertices is None else vertices
        upper, lower = np.array(EYE_LEFT_UPPER[1:-1]), np.array(EYE_LEFT_LOWER[1:-1])
        if side == "right":
            upper, lower = self.mirror[upper], self.mirror[lower]
        elif side != "left":
            raise ValueError(f"side must be 'left' or 'right', not {side!r}")
        return float(np.linalg.norm(v[upper] - v[lower], axis=1).mean())


def load_demo_head(path: Path = ASSET) -> DemoHead:
    """Read the canonical face OBJ and check it is the mesh the landmark contours above belong to."""
    if not path.is_file():
        raise FileNotFoundError(f"demo head mesh {path} is missing; reinstall the add-on or restore core/assets/")
    vertices, uvs, corners = [], [], []
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            vertices.append([float(c) for c in parts[1:4]])
        elif parts[0] == "vt":
            uvs.append([float(c) for c in parts[1:3]])
        elif parts[0] == "f":
            corners.append([[int(i) - 1 for i in c.split("/")[:2]] for c in parts[1:]])
    v = np.array(vertices, dtype=np.float32)  # (468, 3)
    c = np.array(corners, dtype=np.int64)  # (898, 3, 2): vertex and uv index per corner
    per_vertex_uv = np.zeros((len(v), 2), dtype=np.float32)
    per_vertex_uv[c[..., 0].ravel()] = np.array(uvs, dtype=np.float32)[c[..., 1].ravel()]  # one UV per vertex here
    faces = c[..., 0].astype(np.int32)
    _check_landmarks(v)
    v = _close_neutral_lips(v)
    mirror = _mirror_indices(v)
    return DemoHead(v, faces, per_vertex_uv, _face_parts(v, faces, mirror), mirror)


def to_blender_frame(points: np.ndarray) -> np.ndarray:
    """Mesh frame (x left, y up, z forward, cm) -> Blender's (x left, -y forward, z up, metres): (N, 3) -> (N, 3).

    A proper rotation (no flip), so triangle winding and left/right are kept."""
    p = np.asarray(points, dtype=np.float64)
    return (np.stack([p[:, 0], -p[:, 2], p[:, 1]], axis=1) * 0.01).astype(np.float32)


def _check_landmarks(v: np.ndarray) -> None:
    ok = (
        len(v) == 468
        and v[LIPS_INNER_UPPER[5], 1] > v[LIPS_INNER_LOWER[5], 1]  # upper lip above lower lip
        and v[EYE_LEFT_UPPER[4], 0] > 0  # the left eye is at +x
        and v[EYE_LEFT_UPPER[4], 1] > v[LIPS_INNER_UPPER[5], 1]  # eyes above the mouth
    )
    if not ok:
        raise ValueError("the demo head mesh is not the 468-vertex MediaPipe canonical face; restore core/assets/")


def _close_neutral_lips(v: np.ndarray) -> np.ndarray:
    """The canonical mesh rests with its inner lip contours 0.47 cm apart, which renders as parted lips; bring each
    pair a third of the way together so the neutral face reads as a closed mouth (jawOpen still opens from here)."""
    v = v.copy()
    upper, lower = list(LIPS_INNER_UPPER[1:-1]), list(LIPS_INNER_LOWER[1:-1])
    gap = v[upper, 1] - v[lower, 1]
    v[upper, 1] -= gap / 3
    v[lower, 1] += gap / 3
    return v


def _face_parts(v: np.ndarray, faces: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Label each triangle: the openings are the triangles whose corners all lie on one opening's contours; the lips
    and brows are the triangles inside their contours (found by position), so a renderer can colour them."""
    parts = np.full(len(faces), SKIN, dtype=np.int8)
    x, y = v[:, 0].astype(np.float64), v[:, 1].astype(np.float64)

    def between(lower: tuple[int, ...], upper: tuple[int, ...], tolerance: float) -> np.ndarray:
        """Vertices inside the band from the `lower` to the `upper` contour (both ordered by x)."""
        lo, up = v[list(lower)], v[list(upper)]
        inside_x = (x >= min(lo[0, 0], up[0, 0]) - 1e-3) & (x <= max(lo[-1, 0], up[-1, 0]) + 1e-3)
        bottom, top = np.interp(x, lo[:, 0], lo[:, 1]), np.interp(x, up[:, 0], up[:, 1])
        return inside_x & (y >= bottom - tolerance) & (y <= top + tolerance)

    brow_left = between(BROW_LEFT_LOWER, BROW_LEFT_UPPER, 0.02)
    labels = (
        (between(LIPS_OUTER_LOWER, LIPS_OUTER_UPPER, 0.02), LIPS),
        (brow_left | brow_left[mirror], BROWS),
    )
    for inside, part in labels:
        parts[inside[faces].all(axis=1)] = part
    left_eye = np.array(EYE_LEFT_UPPER + EYE_LEFT_LOWER)
    for contour, part in (
        (np.array(LIPS_INNER_UPPER + LIPS_INNER_LOWER), MOUTH_OPENING),
        (left_eye, EYE_OPENING),
        (mirror[left_eye], EYE_OPENING),
    ):
        on_contour = np.zeros(len(v), bool)
        on_contour[contour] = True
        parts[on_contour[faces].all(axis=1)] = part
    return parts


def _mirror_indices(v: np.ndarray) -> np.ndarray:
    flipped = v * np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    distance = np.linalg.norm(flipped[:, None, :] - v[None, :, :], axis=2)  # (V, V), small enough
    mirror = distance.argmin(axis=1)
    if distance[np.arange(len(v)), mirror].max() > 1e-3:
        raise ValueError("the demo head mesh is not mirror-symmetric; restore core/assets/canonical_face_model.obj")
    return mirror


# ---------------------------------------------------------------------------------------------------------------
# Authoring. Every weight is in [0, 1] and smooth (C1) in position; every offset is in cm in the mesh frame.


def _fall(t: np.ndarray, full: float, zero: float) -> np.ndarray:
    """1 where t <= full, 0 where t >= zero, a smoothstep between."""
    s = np.clip((np.asarray(t, dtype=np.float64) - full) / (zero - full), 0.0, 1.0)
    return 1.0 - s * s * (3.0 - 2.0 * s)


def _bump(points: np.ndarray, center: np.ndarray, radii: tuple[float, float, float]) -> np.ndarray:
    """A smooth ellipsoidal bump: 1 at `center`, 0 outside the ellipsoid with these semi-axes (V,)."""
    d2 = (((points - center) / np.asarray(radii)) ** 2).sum(axis=1)
    return np.where(d2 < 1.0, (1.0 - d2) ** 2, 0.0)


def _vec(x: float, y: float, z: float) -> np.ndarray:
    return np.array([x, y, z], dtype=np.float64)


class _KeyAuthor:
    """Regions of the face found by position, and one method per key (Left keys only; Right keys are mirrored)."""

    def __init__(self, head: DemoHead):
        self.head = head
        self.p = head.vertices.astype(np.float64)  # (V, 3)
        self.x, self.y, self.z = self.p.T

    # -- lips ---------------------------------------------------------------------------------------------
    def _contour_y(self, contour: tuple[int, ...]) -> np.ndarray:
        """The contour's height at every vertex's x (held constant beyond the corners)."""
        pts = self.p[list(contour)]
        return np.interp(self.x, pts[:, 0], pts[:, 1])

    @cached_property
    def mouth_center(self) -> np.ndarray:
        return (self.p[LIPS_INNER_UPPER[5]] + self.p[LIPS_INNER_LOWER[5]]) / 2

    @cached_property
    def corner_x(self) -> float:
        return float(self.p[LIPS_OUTER_UPPER[-1], 0])  # 2.46: the outer lip corner

    @cached_property
    def left_corner(self) -> np.ndarray:
        return self.p[LIPS_OUTER_UPPER[-1]]

    @cached_property
    def lip_line(self) -> np.ndarray:
        """Height of the line where the lips meet, at each vertex's x; beyond the corners it rises to the jaw hinge."""
        mid = (self._contour_y(LIPS_INNER_UPPER) + self._contour_y(LIPS_INNER_LOWER)) / 2
        beyond = np.maximum(np.abs(self.x) - self.corner_x, 0.0)
        return mid + 0.7 * beyond

    @cached_property
    def above_line(self) -> np.ndarray:
        return self.y - self.lip_line  # (V,) > 0 above the lips' meeting line

    @cached_property
    def jaw(self) -> np.ndarray:
        """How much each vertex rides with the mandible: 1 for the lower lip and chin, 0 for the upper lip.

        The transition is sharp between the middle of the lips (their inner contours are 0.16 cm apart), widens
        towards the corners (the opening is lens-shaped and the corners stretch) and over the cheeks, where skin
        stretches between the jaw and the cheekbone."""
        toward_corner = np.maximum(np.abs(self.x) - 0.55 * self.corner_x, 0.0)
        beyond_corner = np.maximum(np.abs(self.x) - self.corner_x, 0.0)
        width = np.minimum(0.12 + 1.0 * toward_corner + 1.5 * beyond_corner, 4.0)
        below_cheekbone = _fall(self.y, -2.0, -0.3)  # the cheekbones and everything above stay put
        return _fall(self.above_line, -width / 2, width / 2) * below_cheekbone

    @cached_property
    def mouth_width_window(self) -> np.ndarray:
        return _fall(np.abs(self.x), self.corner_x - 0.2, self.corner_x + 1.6)

    @cached_property
    def upper_lip(self) -> np.ndarray:
        """The upper lip up to the nose base (1 on the lip itself)."""
        return (1.0 - self.jaw) * _fall(self.above_line, 0.7, 2.1) * self.mouth_width_window

    @cached_property
    def lower_lip(self) -> np.ndarray:
        """The lower lip down to the chin's fold (1 on the lip itself)."""
        return self.jaw * _fall(-self.above_line, 1.1, 2.6) * self.mouth_width_window

    @cached_property
    def lips(self) -> np.ndarray:
        return self.upper_lip + self.lower_lip

    @cached_property
    def upper_red(self) -> np.ndarray:
        """0 on the inner contour of the upper lip, 1 on its outer contour (the vermilion border), beyond it > 1."""
        inner, outer = self._contour_y(LIPS_INNER_UPPER), self._contour_y(LIPS_OUTER_UPPER)
        return np.clip((self.y - inner) / np.maximum(outer - inner, 0.2), 0.0, None)

    @cached_property
    def lower_red(self) -> np.ndarray:
        inner, outer = self._contour_y(LIPS_INNER_LOWER), self._contour_y(LIPS_OUTER_LOWER)
        return np.clip((inner - self.y) / np.maximum(inner - outer, 0.2), 0.0, None)

    def side(self, scale: float = 0.9) -> np.ndarray:
        """0 -> 1 from the character's right to left across the midline (0.5 on it): for one-sided mouth keys."""
        return 0.5 + 0.5 * np.tanh(self.x / scale)

    def jaw_rotation(self, radians: float, weight: np.ndarray) -> np.ndarray:
        """Offsets of rotating `weight` of each vertex about the jaw hinge (down and back), plus the condyle's glide
        forward that real jaws add as they open."""
        hinge = _vec(0.0, 0.5, -3.0)  # in front of the ear, at about the nose's height, behind the face
        rel = self.p - hinge
        c, s = np.cos(radians), np.sin(radians)
        rotated = np.stack([rel[:, 0], rel[:, 1] * c - rel[:, 2] * s, rel[:, 1] * s + rel[:, 2] * c], axis=1)
        glide = _vec(0.0, 0.0, 2.2 * radians)
        return (rotated - rel + glide) * weight[:, None]

    @cached_property
    def jaw_open(self) -> np.ndarray:
        return self.jaw_rotation(JAW_OPEN_RADIANS, self.jaw)

    def along_lower_lip(self, offsets: np.ndarray) -> np.ndarray:
        """The offsets of the lower inner lip contour, looked up at every vertex's x: (V, 3)."""
        idx = list(LIPS_INNER_LOWER)
        xs = self.p[idx, 0]
        return np.stack([np.interp(self.x, xs, offsets[idx, k]) for k in range(3)], axis=1)

    # -- eyes (the left eye: x > 0) -------------------------------------------------------------------------
    @cached_property
    def eye_span(self) -> tuple[float, float]:
        return float(self.p[EYE_LEFT_UPPER[0], 0]), float(self.p[EYE_LEFT_UPPER[-1], 0])  # inner, outer corner

    def _eye_curve(self, contour: tuple[int, ...], axis: int) -> np.ndarray:
        pts = self.p[list(contour)]
        return np.interp(self.x, pts[:, 0], pts[:, axis])

    @cached_property
    def lid_gap(self) -> np.ndarray:
        """Height of the left eye's opening at each vertex's x (0 at and beyond the corners)."""
        gap = self._eye_curve(EYE_LEFT_UPPER, 1) - self._eye_curve(EYE_LEFT_LOWER, 1)
        inner, outer = self.eye_span
        return np.where((self.x > inner) & (self.x < outer), gap, 0.0)

    @cached_property
    def eye_window(self) -> np.ndarray:
        """Across the left eye, fading out just past its corners."""
        inner, outer = self.eye_span
        center, half = (inner + outer) / 2, (outer - inner) / 2
        return _fall(np.abs(self.x - center) / half, 0.85, 1.45)

    @cached_property
    def upper_lid(self) -> np.ndarray:
        """The upper lid and the skin above it, fading out below the brow (1 on the lid's edge)."""
        h = self.y - self._eye_curve(EYE_LEFT_UPPER, 1)
        return np.where(h >= -0.05, _fall(h, 0.0, 1.4), 0.0) * self.eye_window

    @cached_property
    def lower_lid(self) -> np.ndarray:
        """The lower lid and the skin below it, fading out on the cheek (1 on the lid's edge)."""
        h = self._eye_curve(EYE_LEFT_LOWER, 1) - self.y
        return np.where(h >= -0.05, _fall(h, 0.0, 1.0), 0.0) * self.eye_window

    def lids(self, upper_down: float, lower_up: float, forward: float = 0.0) -> np.ndarray:
        """Move the upper lid edge down by `upper_down` and the lower one up by `lower_up`, in units of the opening."""
        gap = self.lid_gap
        dz_upper = self._eye_curve(EYE_LEFT_LOWER, 2) - self._eye_curve(EYE_LEFT_UPPER, 2)
        offsets = np.zeros_like(self.p)
        offsets[:, 1] = -upper_down * gap * self.upper_lid + lower_up * gap * self.lower_lid
        # A closing lid slides over the eyeball: forward a little, towards the lower lid's depth.
        offsets[:, 2] = (max(upper_down, 0.0) * dz_upper + forward * gap) * self.upper_lid
        return offsets

    # -- brows (left) ----------------------------------------------------------------------------------------
    @cached_property
    def brow(self) -> np.ndarray:
        """The left brow band, fading out up the forehead and down to the upper lid."""
        lower, upper = self._eye_curve(BROW_LEFT_LOWER, 1), self._eye_curve(BROW_LEFT_UPPER, 1)
        h = self.y - (lower + upper) / 2
        inner = float(self.p[BROW_LEFT_LOWER[0], 0])
        outer = float(self.p[BROW_LEFT_UPPER[-1], 0])
        across = _fall(np.abs(self.x - (inner + outer) / 2) / ((outer - inner) / 2), 0.9, 1.4)
        return np.where(h > 0, _fall(h, 0.4, 2.8), _fall(-h, 0.4, 1.4)) * across

    @cached_property
    def brow_inner(self) -> np.ndarray:
        return self.brow * _fall(self.x, 1.8, 3.6)

    @cached_property
    def brow_outer(self) -> np.ndarray:
        return self.brow * (1.0 - _fall(self.x, 2.8, 4.8))

    @cached_property
    def normals(self) -> np.ndarray:
        """Area-weighted vertex normals (V, 3), pointing out of the face."""
        f = self.head.faces
        a, b, c = self.p[f[:, 0]], self.p[f[:, 1]], self.p[f[:, 2]]
        face_normals = np.cross(b - a, c - a)
        n = np.zeros_like(self.p)
        for k in range(3):
            np.add.at(n, f[:, k], face_normals)
        return n / np.linalg.norm(n, axis=1, keepdims=True)

    # -- the keys --------------------------------------------------------------------------------------------
    def key(self, name: str) -> np.ndarray:
        method: Callable[[], np.ndarray] = getattr(self, "k_" + name)
        return method()

    def _move(self, weight: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return weight[:, None] * offset[None, :]

    def k_jawOpen(self) -> np.ndarray:
        return self.jaw_open

    def k_jawForward(self) -> np.ndarray:
        return self._move(self.jaw, _vec(0.0, -0.05, 0.75))

    def k_jawLeft(self) -> np.ndarray:
        """The mandible swings towards the character's left about a vertical axis behind the face: the chin moves
        0.8 cm, the sides of the jaw (near the axis) much less."""
        pivot_z = -3.5
        angle = 0.8 / (self.p[np.argmin(self.y), 2] - pivot_z)
        c, s = np.cos(angle), np.sin(angle)
        rel_z = self.z - pivot_z
        swung = np.stack([self.x * c + rel_z * s - self.x, np.zeros_like(self.x), -self.x * s + rel_z * c - rel_z], 1)
        return swung * self.jaw[:, None]

    def k_jawRight(self) -> np.ndarray:
        return self.head.mirrored(self.k_jawLeft())

    def k_mouthClose(self) -> np.ndarray:
        """The lip seal that cancels jawOpen: with jawOpen = mouthClose = 1 the jaw is open and the lips touch.

        The lower lip takes back 80% of the jaw's offset at the lips and the upper lip comes down the other 20%.
        On its own (jaw closed) it pushes the lips into each other, as ARKit's mouthClose does."""
        lower = -0.8 * self.jaw_open * (self.jaw * _fall(-self.above_line, 0.9, 2.6) * self.mouth_width_window)[:, None]
        upper = 0.2 * self.along_lower_lip(self.jaw_open) * self.upper_lip[:, None]
        return lower + upper

    def k_mouthFunnel(self) -> np.ndarray:
        """Lips forward and round, parted into an O."""
        lips = self.lips
        round_in = np.stack([-0.28 * self.x, np.zeros_like(self.x), np.zeros_like(self.x)], axis=1) * lips[:, None]
        center = _fall(np.abs(self.x) / self.corner_x, 0.0, 1.0)  # parts most at the middle
        part = np.zeros_like(self.p)
        part[:, 1] = (0.3 * self.upper_lip * _fall(self.upper_red, 1.0, 2.5) - 0.45 * self.lower_lip) * center
        return round_in + part + self._move(lips, _vec(0.0, 0.0, 0.75))

    def k_mouthPucker(self) -> np.ndarray:
        """Lips pushed forward and narrowed, pressed together (no opening)."""
        lips = self.lips
        narrow = np.stack([-0.4 * self.x, np.zeros_like(self.x), np.zeros_like(self.x)], axis=1) * lips[:, None]
        press = np.zeros_like(self.p)
        press[:, 1] = -0.12 * self.upper_lip * _fall(self.upper_red, 0.0, 1.2) + 0.12 * self.lower_lip * _fall(
            self.lower_red, 0.0, 1.2
        )
        red = self.upper_lip * _fall(self.upper_red, 1.0, 2.6) + self.lower_lip * _fall(self.lower_red, 1.0, 2.6)
        forward = self._move(red * _fall(np.abs(self.x), 0.0, self.corner_x + 1.0), _vec(0.0, 0.0, 0.9))
        return narrow + press + forward

    def k_mouthRollLower(self) -> np.ndarray:
        """The lower lip rolls in over the teeth: its red part turns up and back."""
        roll = np.minimum(self.lower_red, 1.0) * _fall(self.lower_red, 1.0, 2.4) * self.lower_lip
        return self._move(roll, _vec(0.0, 0.35, -0.55)) + self._move(self.lower_lip, _vec(0.0, 0.05, -0.1))

    def k_mouthRollUpper(self) -> np.ndarray:
        roll = np.minimum(self.upper_red, 1.0) * _fall(self.upper_red, 1.0, 2.4) * self.upper_lip
        return self._move(roll, _vec(0.0, -0.35, -0.5)) + self._move(self.upper_lip, _vec(0.0, -0.05, -0.1))

    def k_mouthShrugLower(self) -> np.ndarray:
        """The chin muscle pushes the lower lip up and out; the chin bunches forward."""
        chin = _bump(self.p, self.mouth_center + _vec(0.0, -3.0, 0.0), (2.4, 2.2, 4.0)) * self.jaw
        return self._move(self.lower_lip, _vec(0.0, 0.35, 0.25)) + self._move(chin, _vec(0.0, 0.25, 0.25))

    def k_mouthShrugUpper(self) -> np.ndarray:
        return self._move(self.upper_lip, _vec(0.0, 0.3, 0.2))

    def k_mouthPressLeft(self) -> np.ndarray:
        """Lips pressed together and thinned on the left."""
        side = self.side()
        press = np.zeros_like(self.p)
        press[:, 1] = -0.14 * self.upper_lip * _fall(self.upper_red, 0.0, 1.3) + 0.16 * self.lower_lip * _fall(
            self.lower_red, 0.0, 1.3
        )
        press[:, 2] = -0.12 * self.lips
        corner = _bump(self.p, self.left_corner, (1.6, 1.4, 3.0))
        return press * side[:, None] + self._move(corner, _vec(0.15, 0.0, -0.05))

    def k_mouthLowerDownLeft(self) -> np.ndarray:
        weight = self.lower_lip * _fall(self.lower_red, 1.0, 3.5) * self.side()
        return self._move(weight, _vec(0.0, -0.6, 0.12))

    def k_mouthUpperUpLeft(self) -> np.ndarray:
        weight = self.upper_lip * _fall(self.upper_red, 1.0, 3.0) * self.side()
        return self._move(weight, _vec(0.0, 0.55, 0.1))

    def _corner(self, radii: tuple[float, float, float] = (2.4, 2.2, 3.5)) -> np.ndarray:
        return _bump(self.p, self.left_corner + _vec(0.2, 0.0, 0.0), radii)

    def k_mouthSmileLeft(self) -> np.ndarray:
        """The corner pulled up, out and back; the cheek above it bunches up."""
        cheek = _bump(self.p, self.left_corner + _vec(1.1, 2.2, -0.4), (2.0, 1.6, 3.0))
        return self._move(self._corner((2.7, 2.4, 3.5)), _vec(0.55, 0.9, -0.45)) + self._move(
            cheek, _vec(0.05, 0.35, 0.2)
        )

    def k_mouthFrownLeft(self) -> np.ndarray:
        return self._move(self._corner((2.0, 2.0, 3.5)), _vec(0.1, -0.6, -0.05))

    def k_mouthDimpleLeft(self) -> np.ndarray:
        """The corner drawn straight back (buccinator), with a small dent beside it."""
        dent = _bump(self.p, self.left_corner + _vec(0.9, 0.0, -0.4), (0.9, 0.9, 2.0))
        return self._move(self._corner((1.8, 1.8, 3.5)), _vec(0.3, 0.05, -0.45)) - 0.25 * dent[:, None] * self.normals

    def k_mouthStretchLeft(self) -> np.ndarray:
        """The corner pulled out sideways and a little down (risorius/platysma); the lower lip follows."""
        lower = self.lower_lip * _fall(self.lower_red, 1.0, 3.0) * self.side(1.2)
        return self._move(self._corner(), _vec(0.65, -0.25, -0.15)) + self._move(lower, _vec(0.0, -0.15, 0.0))

    def k_mouthLeft(self) -> np.ndarray:
        """The whole mouth slides towards the character's left, wrapping around the face."""
        region = _bump(self.p, self.mouth_center, (self.corner_x + 2.4, 2.8, 5.0))
        offsets = np.stack([0.75 * region, np.zeros_like(self.x), -0.2 * np.tanh(self.x / 1.5) * region], axis=1)
        return offsets

    def k_mouthRight(self) -> np.ndarray:
        return self.head.mirrored(self.k_mouthLeft())

    def k_eyeBlinkLeft(self) -> np.ndarray:
        """The upper lid comes down onto the lower lid (which rises a little to meet it)."""
        return self.lids(upper_down=0.82, lower_up=0.18, forward=0.1)

    def k_eyeSquintLeft(self) -> np.ndarray:
        """The lower lid pushed up by the cheek; the upper lid lowers a little."""
        cheek = _bump(self.p, self.p[EYE_LEFT_LOWER[4]] + _vec(0.2, -1.0, 0.2), (2.0, 1.3, 3.0))
        return self.lids(upper_down=0.12, lower_up=0.35) + self._move(cheek, _vec(0.0, 0.15, 0.05))

    def k_eyeWideLeft(self) -> np.ndarray:
        return self.lids(upper_down=-0.5, lower_up=-0.08)

    def k_eyeLookUpLeft(self) -> np.ndarray:
        # No eyeball mesh: the lids follow the gaze, which is what shows around an eye.
        return self.lids(upper_down=-0.25, lower_up=0.12)

    def k_eyeLookDownLeft(self) -> np.ndarray:
        return self.lids(upper_down=0.35, lower_up=-0.12)

    def _lids_sideways(self, dx: float) -> np.ndarray:
        inner, outer = self.eye_span
        middle = _fall(np.abs(self.x - (inner + outer) / 2) / ((outer - inner) / 2), 0.0, 1.0)  # corners stay put
        return self._move(np.maximum(self.upper_lid, self.lower_lid) * middle, _vec(dx, 0.0, 0.0))

    def k_eyeLookInLeft(self) -> np.ndarray:
        return self._lids_sideways(-0.22)  # towards the nose

    def k_eyeLookOutLeft(self) -> np.ndarray:
        return self._lids_sideways(0.22)

    def k_browDownLeft(self) -> np.ndarray:
        """The brow lowers, its inner end also drawn towards the nose (corrugator)."""
        return self._move(self.brow, _vec(0.0, -0.55, 0.1)) + self._move(self.brow_inner, _vec(-0.25, -0.2, 0.05))

    def k_browInnerUp(self) -> np.ndarray:
        inner = self.brow_inner + self.brow_inner[self.head.mirror]
        return self._move(inner, _vec(0.0, 0.75, 0.05))

    def k_browOuterUpLeft(self) -> np.ndarray:
        return self._move(self.brow_outer, _vec(0.05, 0.7, 0.0))

    def k_cheekPuff(self) -> np.ndarray:
        """Both cheeks blown out along the surface normal; the lips bulge forward a little."""
        left = _bump(self.p, self.left_corner + _vec(1.6, 0.9, -0.8), (2.7, 2.9, 4.0))
        both = left + left[self.head.mirror]
        return 1.2 * both[:, None] * self.normals + self._move(self.lips, _vec(0.0, 0.0, 0.2))

    def k_cheekSquintLeft(self) -> np.ndarray:
        """The cheek under the eye raised; it lifts the lower lid a little."""
        cheek = _bump(self.p, self.p[EYE_LEFT_LOWER[4]] + _vec(0.4, -1.5, 0.3), (2.4, 1.8, 3.0))
        return self._move(cheek, _vec(0.05, 0.45, 0.18)) + self.lids(upper_down=0.0, lower_up=0.15)

    def k_noseSneerLeft(self) -> np.ndarray:
        """The nose wing and the side of the nose pulled up; the upper lip rises a little beside it."""
        wing = _bump(self.p, _vec(1.6, -1.0, 5.6), (1.3, 2.2, 3.0))
        lip = self.upper_lip * self.side(0.8) * _fall(np.abs(self.x - 1.2), 0.5, 2.0)
        return self._move(wing, _vec(0.05, 0.5, -0.1)) + self._move(lip, _vec(0.0, 0.2, 0.0))

    def k_tongueOut(self) -> np.ndarray:
        # There is no tongue in this mesh: the jaw drops a little and the lower lip is pushed down and out,
        # as it is around an extended tongue. A rig with a tongue gets its own tongueOut key.
        lower = self.lower_lip * _fall(self.lower_red, 1.0, 2.5)
        return self.jaw_rotation(np.radians(5.0), self.jaw) + self._move(lower, _vec(0.0, -0.2, 0.3))
