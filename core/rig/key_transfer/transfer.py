"""Carrying a template's shape keys over to a target head mesh.

Each target vertex is mapped into the template's frame by the landmark warp (fit.py); it takes the deltas of the
closest point on the template's surface among the triangles of its own region (template.py), interpolated
barycentrically, faded out with its distance from the template (so the back of a head, the neck and the ears beyond
the template's reach do not move), and turned back into the target's frame and size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from core.rig.key_transfer.closest_point import closest_points_on_mesh
from core.rig.key_transfer.face_frame import FaceFrame, FaceNotFoundError
from core.rig.key_transfer.fit import LandmarkWarp, fit_landmark_warp
from core.rig.key_transfer.landmarks import FIT_LANDMARKS, propose_landmarks
from core.rig.key_transfer.openings import track_opening
from core.rig.key_transfer.template import (
    FACE,
    JAW,
    LEFT_LOWER_LID,
    LEFT_UPPER_LID,
    RIGHT_LOWER_LID,
    RIGHT_UPPER_LID,
    TransferTemplate,
)

_MAX_MISFIT = 0.35  # the landmarks, fitted to the template's by a similarity, may be this far off (face heights)


@dataclass(frozen=True)
class KeyTransfer:
    deltas: dict[str, np.ndarray] = field(repr=False)  # key name -> (V, 3) float32 offsets, mesh coordinates
    regions: np.ndarray = field(repr=False)  # (V,) int8 region of each target vertex (template.REGION_NAMES)
    weights: np.ndarray = field(repr=False)  # (V,) how much of the template's deformation each vertex takes, 0..1
    template_positions: np.ndarray = field(repr=False)  # (V, 3) each target vertex mapped into the template's frame
    warp: LandmarkWarp = field(repr=False)
    frame: FaceFrame = field(repr=False)
    landmarks: dict[str, np.ndarray] = field(repr=False)  # the landmarks used, mesh coordinates
    openings_found: dict[str, bool] = field(default_factory=dict)  # mouth / eye_left / eye_right: own line used
    lid_scale: dict[str, float] = field(default_factory=dict)  # eye_left / eye_right: the eye keys' vertical gain
    seconds: float = 0.0


def propose_mesh_landmarks(
    vertices: np.ndarray, triangles: np.ndarray, frame: FaceFrame, template: TransferTemplate
) -> dict[str, np.ndarray]:
    """Landmarks (landmarks.LANDMARK_NAMES, ears where present) in mesh coordinates: name -> (3,)."""
    face = frame.to_face(vertices)
    found = propose_landmarks(face, np.asarray(triangles, dtype=np.int64), template.landmarks | template.corner_guesses)
    return {name: frame.to_mesh(point[None])[0] for name, point in found.items()}


def landmarks_by_size(vertices: np.ndarray, frame: FaceFrame, template: TransferTemplate) -> dict[str, np.ndarray]:
    """A first placement when none is found on the mesh: the template's landmarks scaled to the mesh's width and
    put with the nose tip on its most forward point, for the user to move onto the face (mesh coordinates)."""
    face = frame.to_face(vertices)
    scale = float(np.ptp(face[:, 0]) / np.ptp(template.vertices[:, 0]))
    tip = face[np.argmax(face[:, 2])]
    return {
        name: frame.to_mesh((tip + scale * (point - template.landmarks["nose_tip"]))[None])[0]
        for name, point in template.landmarks.items()
    }


def transfer_keys(
    vertices: np.ndarray,
    triangles: np.ndarray,
    landmarks: dict[str, np.ndarray],
    frame: FaceFrame,
    template: TransferTemplate,
    names: list[str] | tuple[str, ...] | None = None,
) -> KeyTransfer:
    """The template's keys (`names`, default all) on a mesh: vertices (V, 3), triangles (F, 3) and landmarks
    (name -> (3,)), in mesh coordinates; frame says which way the face looks (face_frame.guess_face_frame)."""
    start = time.perf_counter()
    missing = [name for name in FIT_LANDMARKS if name not in landmarks]
    if missing:
        raise FaceNotFoundError(f"landmarks missing: {', '.join(missing)}; place them (Place Landmarks) and retry")
    target_points = frame.to_face(np.stack([landmarks[name] for name in FIT_LANDMARKS]))
    face_points = dict(zip(FIT_LANDMARKS, target_points, strict=True))
    template_points = np.stack([template.landmarks[name] for name in FIT_LANDMARKS])
    warp = fit_landmark_warp(target_points, template_points, template.face_height)
    face = frame.to_face(vertices)  # (V, 3)
    found_height = float(np.linalg.norm(face_points["nasion"] - face_points["chin"]))
    if not 0.3 < found_height / float(np.ptp(face[:, 0])) < 1.2:  # a head's is about 0.7 of its width
        raise FaceNotFoundError(
            f"the landmarks span {found_height / float(np.ptp(face[:, 0])):.1f} times the mesh's width from nasion "
            "to chin, not a face's 0.7: is this a head mesh (not a whole body)? Check the axes or move the landmarks"
        )
    misfit = float(np.linalg.norm(warp.similarity(target_points) - template_points, axis=1).max())
    if misfit > _MAX_MISFIT * template.face_height:
        raise FaceNotFoundError(
            f"the landmarks do not form a face (one is {misfit / template.face_height:.0%} of the face's height off "
            "where a face would have it); check the front and up axes, or move the landmarks onto the face"
        )
    mapped = warp(face)  # (V, 3) template coordinates
    regions, found, apertures = _own_regions(
        face,
        np.asarray(triangles, dtype=np.int64),
        dict(zip(FIT_LANDMARKS, target_points, strict=True)),
        template.regions(mapped),
        np.asarray(template.lid_reach) / warp.scale,
    )
    # An eye opening taller or shorter than the template's (relative to the face) needs lids that travel further
    # or less to close: the eye keys' vertical motion on each lid is scaled by the ratio of the openings.
    lid_scale = {
        side: float(np.clip(apertures[side] * warp.scale / template.lid_gap, 0.5, 3.0)) if side in apertures else 1.0
        for side in ("eye_left", "eye_right")
    }
    lid_gain = np.ones(len(face))
    lid_gain[np.isin(regions, (LEFT_UPPER_LID, LEFT_LOWER_LID))] = lid_scale["eye_left"]
    lid_gain[np.isin(regions, (RIGHT_UPPER_LID, RIGHT_LOWER_LID))] = lid_scale["eye_right"]
    source = template.source_triangles
    face_of = np.full(len(mapped), -1, dtype=np.int64)
    bary = np.zeros((len(mapped), 3))
    distance = np.full(len(mapped), np.inf)
    for region in np.unique(regions):
        targets = np.flatnonzero(regions == region)
        usable = template.source_triangles_for(int(region))
        if len(usable) == 0:  # no template triangle of this region: any triangle (no lips to keep apart here)
            usable = np.flatnonzero(source)
        tri, b, d = closest_points_on_mesh(mapped[targets], template.vertices, template.triangles[usable])
        face_of[targets], bary[targets], distance[targets] = usable[tri], b, d
    near, far = template.falloff
    s = np.clip((distance - near) / (far - near), 0.0, 1.0)
    weights = 1.0 - s * s * (3.0 - 2.0 * s)
    names = list(names or template.deltas)
    moving = np.flatnonzero(weights > 0)  # most of a whole head is beyond the template's reach
    corners = template.triangles[face_of[moving]]  # (M, 3)
    stacked = np.stack([template.deltas[name] for name in names], axis=1)  # (T, K, 3) template units
    at = sum(bary[moving, i, None, None] * stacked[corners[:, i]] for i in range(3))  # (M, K, 3)
    at *= weights[moving, None, None]
    is_eye = np.array([name.startswith("eye") for name in names])
    at[:, is_eye, 1] *= lid_gain[moving, None]  # template frame: y is up
    # Template offsets -> the target's face frame (the similarity's inverse) -> mesh coordinates: one linear map.
    to_mesh = frame.vectors_to_mesh(warp.vectors_to_target(np.eye(3)))  # (3, 3), rows: template axes in the mesh
    dense = np.zeros((len(face), len(names), 3), dtype=np.float32)
    dense[moving] = at @ to_mesh
    deltas = {name: dense[:, k] for k, name in enumerate(names)}
    used = {name: np.asarray(landmarks[name], dtype=np.float64) for name in landmarks}
    seconds = time.perf_counter() - start
    return KeyTransfer(
        deltas, regions, weights.astype(np.float32), mapped, warp, frame, used, found, lid_scale, seconds
    )


def _own_regions(
    face: np.ndarray,
    triangles: np.ndarray,
    landmarks: dict[str, np.ndarray],
    regions: np.ndarray,
    lid_reach: np.ndarray,
) -> tuple[np.ndarray, dict[str, bool], dict[str, float]]:
    """The regions found in the template's frame, corrected by the target's own mouth and lid lines where the mesh
    shows them (openings.py): near a line, the side of the target's line decides. Returns (V,) int8, which
    lines were found and the found openings' heights in the middle (face units)."""
    regions = regions.copy()
    x, y = face[:, 0], face[:, 1]
    width = float(np.ptp(x))
    found, apertures = {}, {}
    for name, (a, b), window, min_depth in (
        ("mouth", ("mouth_right", "mouth_left"), 0.12, 0.002),
        ("eye_left", ("eye_left_inner", "eye_left_outer"), 0.35, 0.01),
        ("eye_right", ("eye_right_outer", "eye_right_inner"), 0.35, 0.01),
    ):
        ends = np.stack([landmarks[a][:2], landmarks[b][:2]])
        ends = ends[np.argsort(ends[:, 0])]
        span = float(ends[1, 0] - ends[0, 0])
        middle = landmarks["mouth_center"][:2] if name == "mouth" else ends.mean(axis=0)
        track = track_opening(face, triangles, middle, (ends[0, 0], ends[1, 0]), window * span, True, min_depth * width)
        found[name] = track.found
        if not track.found or span <= 0:
            continue
        apertures[name] = track.aperture
        inner = track.points[(track.points[:, 0] > ends[0, 0]) & (track.points[:, 0] < ends[1, 0])]
        line = np.concatenate([ends[:1], inner, ends[1:]])  # (K, 2) from corner to corner
        line_y = np.interp(x, line[:, 0], line[:, 1])
        in_span = (x >= ends[0, 0]) & (x <= ends[1, 0])
        if name == "mouth":
            near = in_span & (np.abs(y - line_y) < 0.3 * span) & np.isin(regions, (FACE, JAW))
            regions[near] = np.where(y[near] < line_y[near], JAW, FACE)
        else:
            upper, lower = (
                (LEFT_UPPER_LID, LEFT_LOWER_LID) if name == "eye_left" else (RIGHT_UPPER_LID, RIGHT_LOWER_LID)
            )
            regions[in_span & (y >= line_y) & (y < line_y + lid_reach[0])] = upper
            regions[in_span & (y < line_y) & (y > line_y - lid_reach[1])] = lower
    return regions, found, apertures
