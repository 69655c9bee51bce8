"""The demo head's mesh and its 52 procedurally authored ARKit shape keys (numpy only, no Blender)."""

from __future__ import annotations

import numpy as np
import pytest

from core.rig.arkit import ARKIT_NAMES
from core.rig.demo_head import (
    EYE_OPENING,
    FACE_PART_LOOKS,
    FACE_PARTS,
    LIPS_INNER_LOWER,
    LIPS_INNER_UPPER,
    LIPS_OUTER_UPPER,
    MOUTH_OPENING,
    SKIN,
    load_demo_head,
    to_blender_frame,
)

# Keys named ...Left that move the whole mouth/jaw towards the left rather than deforming the left side.
WHOLE_MOUTH_SIDEWAYS = ("mouthLeft", "jawLeft")
LEFT_KEYS = [n for n in ARKIT_NAMES if n.endswith("Left") and n not in WHOLE_MOUTH_SIDEWAYS]


@pytest.fixture(scope="module")
def head():
    return load_demo_head()


@pytest.fixture(scope="module")
def deltas(head):
    return head.shape_key_deltas()


def test_the_mesh_is_the_canonical_face_with_uvs_and_labelled_openings(head):
    assert head.vertices.shape == (468, 3) and head.vertices.dtype == np.float32
    assert head.faces.shape == (898, 3) and head.faces.min() == 0 and head.faces.max() == 467
    assert head.uvs.shape == (468, 2) and 0.0 <= head.uvs.min() and head.uvs.max() <= 1.0
    assert np.count_nonzero(head.face_parts == MOUTH_OPENING) == 18
    assert np.count_nonzero(head.face_parts == EYE_OPENING) == 28
    assert set(np.unique(head.face_parts)) == set(range(len(FACE_PARTS))) and set(FACE_PART_LOOKS) == set(FACE_PARTS)


def test_the_mesh_frame_is_left_up_forward(head):
    v = head.vertices
    assert v[LIPS_INNER_UPPER[5], 1] > v[LIPS_INNER_LOWER[5], 1]  # y is up
    nose_tip = v[np.argmax(v[:, 2])]
    assert abs(nose_tip[0]) < 1e-6 and -2.0 < nose_tip[1] < 1.0  # z is forward: the nose tip is frontmost
    assert np.array_equal(head.mirror[head.mirror], np.arange(len(v)))


def test_the_blender_frame_keeps_the_winding_facing_the_front_view(head):
    v = to_blender_frame(head.vertices)
    a, b, c = (v[head.faces[:, k]].astype(np.float64) for k in range(3))
    normal = np.cross(b - a, c - a).sum(axis=0)
    assert normal[1] < -10 * abs(normal[0])  # faces -Y, Blender's front view
    assert v[:, 2].max() - v[:, 2].min() == pytest.approx(0.177, abs=0.005)  # metres, chin to hairline


def test_all_52_keys_are_finite_offsets_that_move_something(head, deltas):
    assert list(deltas) == list(ARKIT_NAMES)
    for name, delta in deltas.items():
        assert delta.shape == (468, 3) and delta.dtype == np.float32, name
        assert np.all(np.isfinite(delta)), name
        assert np.linalg.norm(delta, axis=1).max() > 0.15, f"{name} barely moves anything"


@pytest.mark.parametrize("left", LEFT_KEYS)
def test_left_keys_move_the_characters_left_side_and_right_keys_mirror_them(head, deltas, left):
    x = head.vertices[:, 0]
    moved = np.linalg.norm(deltas[left], axis=1)
    assert moved[x > 0.3].sum() > 3 * moved[x < -0.3].sum()
    right = left[: -len("Left")] + "Right"
    np.testing.assert_allclose(deltas[right], head.mirrored(deltas[left]), atol=1e-6)


@pytest.mark.parametrize("name", WHOLE_MOUTH_SIDEWAYS)
def test_mouth_left_and_jaw_left_move_towards_the_characters_left(head, deltas, name):
    moving = np.linalg.norm(deltas[name], axis=1) > 0.2
    assert deltas[name][moving, 0].mean() > 0.3
    np.testing.assert_allclose(deltas[name.replace("Left", "Right")][moving, 0].mean(), -deltas[name][moving, 0].mean())


def test_jaw_open_rotates_the_lower_face_down_and_back_and_leaves_the_upper_lip(head, deltas):
    jaw = deltas["jawOpen"]
    assert head.lip_aperture(head.vertices + jaw) > head.lip_aperture() + 1.5  # cm
    chin = np.argmin(head.vertices[:, 1])
    assert jaw[chin, 1] < -1.5 and jaw[chin, 2] < 0
    assert np.abs(jaw[list(LIPS_INNER_UPPER[3:-3])]).max() < 0.05  # the middle of the upper lip stays
    forehead = head.vertices[:, 1] > 0
    assert np.abs(jaw[forehead]).max() < 1e-6


def test_mouth_close_seals_the_lips_of_an_open_jaw(head, deltas):
    rest = head.lip_aperture()
    sealed = head.lip_aperture(head.vertices + deltas["jawOpen"] + deltas["mouthClose"])
    assert sealed < rest + 0.1
    chin = np.argmin(head.vertices[:, 1])
    assert np.linalg.norm(deltas["mouthClose"][chin]) < 0.05  # the jaw stays open: only the lips move


def test_lip_keys_open_or_close_the_lips_the_right_way(head, deltas):
    rest = head.lip_aperture()

    def aperture(name):
        return head.lip_aperture(head.vertices + deltas[name])

    assert aperture("mouthFunnel") > rest + 0.3
    assert aperture("mouthLowerDownLeft") > rest + 0.15 and aperture("mouthUpperUpLeft") > rest + 0.15
    assert aperture("mouthPucker") < rest and aperture("mouthPressLeft") < rest
    lips = list(LIPS_INNER_UPPER[3:-3] + LIPS_INNER_LOWER[3:-3])
    assert deltas["mouthPucker"][lips, 2].mean() > 0.5  # forward
    assert deltas["mouthFunnel"][lips, 2].mean() > 0.4


def test_smile_raises_and_frown_lowers_the_left_corner(head, deltas):
    corner = LIPS_INNER_UPPER[-1]
    assert head.vertices[corner, 0] > 0
    assert deltas["mouthSmileLeft"][corner, 1] > 0.4 and deltas["mouthFrownLeft"][corner, 1] < -0.3
    assert deltas["mouthStretchLeft"][corner, 0] > 0.3 and deltas["mouthDimpleLeft"][corner, 2] < -0.2


def test_eye_blink_closes_the_eye_onto_the_lower_lid(head, deltas):
    closed = head.vertices + deltas["eyeBlinkLeft"]
    assert head.eye_aperture("left", closed) < 0.2 * head.eye_aperture("left")
    assert head.eye_aperture("right", closed) == pytest.approx(head.eye_aperture("right"))
    assert head.eye_aperture("left", head.vertices + deltas["eyeWideLeft"]) > 1.3 * head.eye_aperture("left")
    assert head.eye_aperture("left", head.vertices + deltas["eyeSquintLeft"]) < head.eye_aperture("left")


def test_brows_move_up_and_down(head, deltas):
    assert deltas["browInnerUp"][:, 1].max() > 0.5 and deltas["browOuterUpLeft"][:, 1].max() > 0.5
    assert deltas["browDownLeft"][:, 1].min() < -0.5


def test_skin_stretches_smoothly_without_tearing(head, deltas):
    """Skin edges (not the openings or the lips) change length by less than 2.5x; at the lip corners, where a real
    mouth stretches most, by less than 3.5x."""
    faces = head.faces[head.face_parts == SKIN]
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    corners = np.array([LIPS_OUTER_UPPER[0], LIPS_OUTER_UPPER[-1], LIPS_INNER_UPPER[0], LIPS_INNER_UPPER[-1]])
    at_corner = np.isin(edges, corners).any(axis=1)
    v = head.vertices.astype(np.float64)
    rest = np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)
    for name, delta in deltas.items():
        if name == "mouthClose":
            delta = delta + deltas["jawOpen"]  # it is the seal of an open jaw, meaningless alone
        moved = v + delta
        ratio = np.linalg.norm(moved[edges[:, 0]] - moved[edges[:, 1]], axis=1) / rest
        assert ratio.min() > 0.3, f"{name}: a skin edge shrank to {ratio.min():.2f}x"
        assert ratio[~at_corner].max() < 2.5 and ratio[at_corner].max() < 3.5, f"{name}: stretched {ratio.max():.2f}x"
