"""ARKit keys carried from the template face to a bare head mesh (core.rig.key_transfer; numpy only, no Blender).

The target is the demo head itself, remeshed so nothing lines up by index: every triangle split in four (the new
vertices' true keys are the old ones interpolated, since the split keeps the surface), vertex order shuffled,
turned into Blender's frame or an OBJ's, scaled, and closed at the back with a skull shell the template never saw."""

from __future__ import annotations

import time

import numpy as np
import pytest

from core.rig.arkit import ARKIT_NAMES
from core.rig.demo_head import EYE_LEFT_LOWER, EYE_LEFT_UPPER, LIPS_INNER_LOWER, LIPS_INNER_UPPER, load_demo_head
from core.rig.key_transfer import (
    FaceNotFoundError,
    face_frame,
    guess_face_frame,
    make_arkit_keys,
    procedural_template,
)

UPPER_LIP, LOWER_LIP = LIPS_INNER_UPPER[5], LIPS_INNER_LOWER[5]
LEFT_UPPER_LID, LEFT_LOWER_LID = EYE_LEFT_UPPER[4], EYE_LEFT_LOWER[4]
BLENDER_FRAME = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # face (x, y, z) -> Blender (x, -z, y)


def subdivided(vertices: np.ndarray, faces: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split every triangle into four `levels` times. Returns vertices, faces and the (V', V) interpolation
    matrix from old to new vertices (the first V rows are the identity: old vertices keep their index)."""
    interp = np.eye(len(vertices))
    v, f = vertices.astype(np.float64), faces.astype(np.int64)
    for _ in range(levels):
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        unique, inverse = np.unique(edges, axis=0, return_inverse=True)
        mid = len(v) + inverse.reshape(3, -1).T  # (F, 3) index of the midpoint of edges 01, 12, 20
        v = np.concatenate([v, (v[unique[:, 0]] + v[unique[:, 1]]) / 2])
        interp = np.concatenate([interp, (interp[unique[:, 0]] + interp[unique[:, 1]]) / 2])
        a, b, c = f.T
        ab, bc, ca = mid.T
        f = np.concatenate([np.stack(t, 1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return v, f, interp


def skull_shell(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A closed ellipsoid behind the mask (face frame, cm): the back of a head, (count, 3) vertices and triangles."""
    rows = max(int(np.sqrt(count / 2)), 4)
    theta, phi = np.meshgrid(np.linspace(0.05, np.pi - 0.05, rows), np.linspace(0, 2 * np.pi, 2 * rows, endpoint=False))
    theta, phi = theta.T.ravel(), phi.T.ravel()
    points = np.stack([8.5 * np.sin(theta) * np.cos(phi), 12.0 * np.cos(theta), 8.0 * np.sin(theta) * np.sin(phi)], 1)
    points = points + np.array([0.0, 0.5, -7.0])  # a skull behind the face: 24 cm tall, 23 cm from nose to back
    grid = np.arange(rows * 2 * rows).reshape(rows, 2 * rows)
    right = np.roll(grid, -1, axis=1)
    quads = np.stack([grid[:-1], right[:-1], right[1:], grid[1:]], -1).reshape(-1, 4)
    return points, np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])


def remeshed_head(levels: int = 1, shell: int = 0, seed: int = 0, frame: np.ndarray = BLENDER_FRAME, scale=0.01):
    """The demo head remeshed (see the module docstring). Returns vertices, triangles, true deltas (name -> (V, 3)),
    the new index of every original vertex, and how many vertices are the skull shell (the last ones)."""
    head = load_demo_head()
    v, f, interp = subdivided(head.vertices, head.faces, levels)
    truth = {name: interp @ d for name, d in head.shape_key_deltas().items()}
    shell_count = 0
    if shell:
        sv, sf = skull_shell(shell, seed)
        f = np.concatenate([f, sf + len(v)])
        truth = {name: np.concatenate([d, np.zeros_like(sv)]) for name, d in truth.items()}
        v, shell_count = np.concatenate([v, sv]), len(sv)
    order = np.random.default_rng(seed).permutation(len(v))  # new vertex i is old vertex order[i]
    new_index = np.argsort(order)
    v, f = v[order] @ frame.T * scale, new_index[f]
    truth = {name: d[order] @ frame.T * scale for name, d in truth.items()}
    return v, f, truth, new_index, new_index[len(new_index) - shell_count :] if shell_count else np.zeros(0, int)


def face_height() -> float:
    head = load_demo_head()
    return float(np.ptp(head.vertices[:, 1]))


def speech_like_weights(frames: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(frames, 52) smooth weights for every key, with the jaw opening and closing and bilabial closures (jawOpen
    = mouthClose), and the frames that are closures."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 30.0
    w = 0.15 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.3, 2.0, 52) * t[:, None] + rng.uniform(0, 6, 52))
    names = list(ARKIT_NAMES)
    w[:, names.index("jawOpen")] = 0.35 + 0.3 * np.sin(2 * np.pi * 2.5 * t)
    for name in ("mouthClose", "mouthRollLower", "mouthRollUpper", "mouthPressLeft", "mouthPressRight"):
        w[:, names.index(name)] = 0.0
    for name in ("mouthFunnel", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight"):
        w[:, names.index(name)] *= 0.3
    closure = (np.arange(frames) % 40) < 5  # a P/B/M every 40 frames: the jaw half open, the lips sealed
    w[closure] = 0.0
    w[closure, names.index("jawOpen")] = w[closure, names.index("mouthClose")] = 0.25
    return np.clip(w, 0.0, 1.0), closure


def lip_gaps(vertices: np.ndarray, deltas: dict[str, np.ndarray], weights: np.ndarray, upper: int, lower: int):
    """(frames,) distance between two vertices under an animation."""
    stack = np.stack([deltas[name][[upper, lower]] for name in ARKIT_NAMES])  # (52, 2, 3)
    posed = vertices[[upper, lower]][None] + np.einsum("tk,kvc->tvc", weights, stack)
    return np.linalg.norm(posed[:, 0] - posed[:, 1], axis=1)


@pytest.mark.parametrize(("front", "up"), [("-Y", "+Z"), ("+Z", "+Y"), ("+X", "-Z"), ("-Z", "-X"), ("+Y", "+X")])
def test_the_face_frame_is_found_in_axis_aligned_orientations(front, up):
    vertices, triangles, *_ = remeshed_head(levels=0, shell=1200)
    face_axes = face_frame(np.eye(3), front, up).rotation  # rows: left, up, front in mesh axes
    oriented = vertices @ BLENDER_FRAME @ face_axes  # Blender frame -> face frame -> the requested axes
    frame = guess_face_frame(oriented, triangles=triangles)
    assert np.allclose(frame.rotation, face_axes)


def test_landmarks_of_a_remeshed_head_are_the_templates():
    vertices, triangles, *_ = remeshed_head(levels=1, shell=1200, scale=0.37)
    result = make_arkit_keys(vertices, triangles)
    template = procedural_template()
    height = face_height()
    for name, point in template.landmarks.items():
        found = result.warp.similarity(result.frame.to_face(result.landmarks[name][None]))[0]
        assert found == pytest.approx(point, abs=0.01 * height), name


def test_keys_carried_to_a_remeshed_reordered_rotated_head_match_the_originals():
    vertices, triangles, truth, new_index, _ = remeshed_head(levels=1, shell=0, seed=1)
    result = make_arkit_keys(vertices, triangles)
    # A vertex split between the two lids or the two lips (inside a filled opening) truly belongs to one side; its
    # interpolated "truth" is the average of both. Compare everywhere else.
    template = procedural_template()
    _, _, interp = subdivided(template.vertices, template.triangles, 1)
    parent_regions = np.where(interp > 0, template.regions(template.vertices)[None, :], -1)
    one_side = np.array([len(set(row[row >= 0])) == 1 for row in parent_regions])
    compared = new_index[np.flatnonzero(one_side)]
    for name in ARKIT_NAMES:
        error = np.linalg.norm(result.deltas[name][compared] - truth[name][compared], axis=1).mean()
        assert error < 0.05 * np.linalg.norm(truth[name][compared], axis=1).mean(), name
    weights, closure = speech_like_weights()
    upper, lower = new_index[UPPER_LIP], new_index[LOWER_LIP]
    transferred = lip_gaps(vertices, result.deltas, weights, upper, lower)
    authored = lip_gaps(vertices, truth, weights, upper, lower)
    assert np.corrcoef(transferred, authored)[0, 1] >= 0.95
    rest = lip_gaps(vertices, truth, np.zeros((1, 52)), upper, lower)[0]
    assert transferred[closure].max() - rest < 0.01 * face_height() * 0.01  # sealed on every P/B/M (1 %; in m)


def test_jaw_opens_lips_seal_one_eye_blinks_and_the_back_of_the_head_stays():
    vertices, triangles, truth, new_index, shell = remeshed_head(levels=1, shell=3000, seed=2, scale=0.025)
    result = make_arkit_keys(vertices, triangles)
    height = face_height() * 0.025
    d = result.deltas
    upper, lower = new_index[UPPER_LIP], new_index[LOWER_LIP]

    def gap(offsets: np.ndarray, a: int = upper, b: int = lower) -> float:
        return float(np.linalg.norm((vertices + offsets)[a] - (vertices + offsets)[b]))

    rest = gap(np.zeros_like(vertices))  # the demo head's closed lips: inner contours 1.5 % of its height apart
    assert gap(d["jawOpen"]) - rest >= 0.05 * height
    assert gap(d["jawOpen"] + d["mouthClose"]) - rest <= 0.01 * height
    for name in ("mouthPressLeft", "mouthRollLower"):  # bilabial shapes do not part the lips
        assert gap(d[name]) - rest <= 0.01 * height, name
    left = (new_index[LEFT_UPPER_LID], new_index[LEFT_LOWER_LID])
    mirror = load_demo_head().mirror
    right = (new_index[mirror[LEFT_UPPER_LID]], new_index[mirror[LEFT_LOWER_LID]])
    assert gap(d["eyeBlinkLeft"], *left) <= 0.2 * gap(np.zeros_like(vertices), *left)
    assert np.abs(d["eyeBlinkLeft"][list(right)]).max() == 0.0
    behind_ears = shell[(vertices[shell] @ BLENDER_FRAME)[:, 2] < -7.0 * 0.025]  # the skull's back half
    movement = np.stack([np.linalg.norm(d[name][behind_ears], axis=1) for name in ARKIT_NAMES])
    assert movement.max() < 0.001 * float(np.ptp(vertices, axis=0).max())


def test_a_mesh_that_is_not_a_face_is_refused():
    theta, phi = np.meshgrid(np.linspace(0.1, 3.0, 20), np.linspace(0, 6.2, 40))
    sphere = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta), np.sin(theta) * np.sin(phi)], -1).reshape(-1, 3)
    grid = np.arange(800).reshape(40, 20)
    quads = np.stack([grid[:-1, :-1], grid[1:, :-1], grid[1:, 1:], grid[:-1, 1:]], -1).reshape(-1, 4)
    triangles = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    with pytest.raises(FaceNotFoundError):
        make_arkit_keys(sphere, triangles)


@pytest.mark.slow
def test_a_50k_vertex_head_takes_under_5_cpu_seconds():
    """CPU time, not wall time: the shared test machine's load would otherwise decide the result."""
    vertices, triangles, *_ = remeshed_head(levels=3, shell=22000)
    assert len(vertices) >= 50_000
    procedural_template()  # built once per process (cached), not per mesh
    start = time.process_time()
    result = make_arkit_keys(vertices, triangles)
    seconds = time.process_time() - start
    assert len(result.deltas) == 52
    assert seconds < 5.0, f"{seconds:.1f} CPU s for {len(vertices)} vertices"
