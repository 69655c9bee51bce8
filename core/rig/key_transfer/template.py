"""A template face whose shape keys are carried over to other meshes, and the regions that keep its lips and lids
apart: every point (on the template, or a target point mapped into the template's frame) is on one side of the mouth
line (the jaw's side or the skull's) and, near an eye, on one side of that eye's lid line. A target point only takes
deltas from template triangles of its own region, so an upper lip never follows the jaw and a left lid never
follows the right one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from core.rig.demo_head import (
    EYE_LEFT_LOWER,
    EYE_LEFT_UPPER,
    EYE_OPENING,
    LIPS_INNER_LOWER,
    LIPS_INNER_UPPER,
    MOUTH_OPENING,
    load_demo_head,
)
from core.rig.key_transfer.landmarks import CORNER_LANDMARKS, midline_landmarks, refine_corners

# Region labels (TransferTemplate.regions).
FACE, JAW, LEFT_UPPER_LID, LEFT_LOWER_LID, RIGHT_UPPER_LID, RIGHT_LOWER_LID = range(6)
REGION_NAMES = ("face", "jaw", "left_upper_lid", "left_lower_lid", "right_upper_lid", "right_lower_lid")
# Regions that must never share a template triangle: the two sides of the mouth line and of each lid line.
KEPT_APART = {
    FACE: (JAW,),
    JAW: (FACE, LEFT_UPPER_LID, LEFT_LOWER_LID, RIGHT_UPPER_LID, RIGHT_LOWER_LID),
    LEFT_UPPER_LID: (LEFT_LOWER_LID, JAW),
    LEFT_LOWER_LID: (LEFT_UPPER_LID, JAW),
    RIGHT_UPPER_LID: (RIGHT_LOWER_LID, JAW),
    RIGHT_LOWER_LID: (RIGHT_UPPER_LID, JAW),
}


@dataclass(frozen=True)
class TransferTemplate:
    """A face with shape keys, in its own face coordinates (x left, y up, z front)."""

    name: str
    vertices: np.ndarray  # (V, 3)
    triangles: np.ndarray  # (F, 3) int64
    deltas: dict[str, np.ndarray] = field(repr=False)  # key name -> (V, 3) offsets at weight 1
    landmarks: dict[str, np.ndarray] = field(repr=False)  # FIT_LANDMARKS -> (3,), placed as a target's are
    corner_guesses: dict[str, np.ndarray] = field(repr=False)  # CORNER_LANDMARKS before refine_corners: where a
    # target's corners are first guessed (so a target shaped like the template gets exactly its landmarks)
    mouth_line: np.ndarray = field(repr=False)  # (K, 2) x, y where the lips meet, sorted by x (corner to corner)
    line_rise: float  # beyond the mouth corners the line rises this much per unit of x (towards the jaw hinge)
    eye_lines: tuple[np.ndarray, np.ndarray] = field(repr=False)  # left, right: (K, 2) where the lids meet, by x
    lid_reach: tuple[float, float]  # how far above / below its lid line an eye's region reaches
    lid_gap: float  # how far apart the lids are in the middle of the eye: the eye keys close this much
    source_triangles: np.ndarray = field(repr=False)  # (F,) bool: False for triangles filling an opening
    falloff: tuple[float, float]  # target points this close to the template take its deltas fully, this far: not

    @property
    def face_height(self) -> float:
        """Nasion to chin: the template's unit of 'how far' for the fit."""
        return float(self.landmarks["nasion"][1] - self.landmarks["chin"][1])

    def regions(self, points: np.ndarray) -> np.ndarray:
        """(N,) int8 region label (FACE, JAW, ...) of (N, 3) points in template coordinates."""
        x, y = points[:, 0], points[:, 1]
        line = self.mouth_line
        beyond = np.maximum(line[0, 0] - x, 0.0) + np.maximum(x - line[-1, 0], 0.0)
        labels = np.where(y < np.interp(x, line[:, 0], line[:, 1]) + self.line_rise * beyond, JAW, FACE)
        above, below = self.lid_reach
        for lid_line, upper, lower in ((self.eye_lines[0], LEFT_UPPER_LID, LEFT_LOWER_LID),
                                       (self.eye_lines[1], RIGHT_UPPER_LID, RIGHT_LOWER_LID)):  # fmt: skip
            lid_y = np.interp(x, lid_line[:, 0], lid_line[:, 1])
            near = (x >= lid_line[0, 0]) & (x <= lid_line[-1, 0])  # between the corners, where the lids part
            labels = np.where(near & (y >= lid_y) & (y < lid_y + above), upper, labels)
            labels = np.where(near & (y < lid_y) & (y > lid_y - below), lower, labels)
        return labels.astype(np.int8)

    def source_triangles_for(self, region: int) -> np.ndarray:
        """Indices of the template triangles a point of `region` may take deltas from: those touching the region
        and none of the regions kept apart from it. A template vertex on a dividing line (a lid's or the lips'
        corner, where both sides move alike) belongs to both sides, so the corners are covered."""
        step = np.array([0.0, 1e-3 * self.face_height, 0.0])
        above, below = self.regions(self.vertices + step), self.regions(self.vertices - step)
        on_line = above != below
        x = self.vertices[:, 0]
        beside_mouth = (x <= self.mouth_line[0, 0]) | (x >= self.mouth_line[-1, 0])  # cheeks: the jaw's pull fades
        on_line |= beside_mouth & np.isin(above, (FACE, JAW))
        labels = np.where(on_line, -1, self.regions(self.vertices))[self.triangles]  # (F, 3), -1: either side
        touches = ((labels == region) | (labels == -1)).any(axis=1)
        conflicts = np.isin(labels, KEPT_APART[region]).any(axis=1)
        return np.flatnonzero(self.source_triangles & touches & ~conflicts)


@lru_cache(maxsize=1)
def procedural_template() -> TransferTemplate:
    """The demo head (core/rig/demo_head.py) as a template: the MediaPipe face mask and its 52 procedural keys."""
    head = load_demo_head()
    v = head.vertices.astype(np.float64)
    landmarks = midline_landmarks(v, head.faces)
    right = head.mirror
    landmarks.update(
        eye_left_inner=v[EYE_LEFT_UPPER[0]],
        eye_left_outer=v[EYE_LEFT_UPPER[-1]],
        eye_right_inner=v[right[EYE_LEFT_UPPER[0]]],
        eye_right_outer=v[right[EYE_LEFT_UPPER[-1]]],
        mouth_left=v[LIPS_INNER_UPPER[-1]],  # the inner corners: where a mouth hole's ends are
        mouth_right=v[LIPS_INNER_UPPER[0]],
    )
    guesses = {name: landmarks[name] for name in CORNER_LANDMARKS}
    landmarks = refine_corners(v, head.faces, landmarks)  # exactly as a target's are placed
    mouth_line = (v[list(LIPS_INNER_UPPER), :2] + v[list(LIPS_INNER_LOWER), :2]) / 2
    left_eye = (v[list(EYE_LEFT_UPPER), :2] + v[list(EYE_LEFT_LOWER), :2]) / 2
    right_eye = left_eye[::-1] * np.array([-1.0, 1.0])
    return TransferTemplate(
        name="procedural",
        vertices=v,
        triangles=head.faces.astype(np.int64),
        deltas={name: d.astype(np.float64) for name, d in head.shape_key_deltas().items()},
        landmarks={name: np.asarray(p, dtype=np.float64) for name, p in landmarks.items()},
        corner_guesses=guesses,
        mouth_line=mouth_line[np.argsort(mouth_line[:, 0])],
        line_rise=0.7,  # as the demo head's own lip line (demo_head._KeyAuthor.lip_line)
        eye_lines=(left_eye[np.argsort(left_eye[:, 0])], right_eye[np.argsort(right_eye[:, 0])]),
        lid_reach=(1.6, 1.2),
        lid_gap=float(
            np.linalg.norm(v[EYE_LEFT_UPPER[4]] - v[EYE_LEFT_LOWER[4]])
        ),  # cm: the lids' keys fade out within 1.4 cm above and 1.0 cm below the lid edges
        source_triangles=~np.isin(head.face_parts, (MOUTH_OPENING, EYE_OPENING)),
        falloff=(0.3, 1.5),  # cm
    )
