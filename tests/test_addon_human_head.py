"""The human demo head in real bpy: Add Demo Head (HUMAN), what its keys do to the evaluated meshes, animating it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_addon_kit import action_fcurves, bpy, registered_addon

from core.rig.arkit import ARKIT_NAMES
from core.rig.human_head import load_human_head

PART_OBJECTS = ("HumanHead Eyelashes", "HumanHead Eyes", "HumanHead Teeth", "HumanHead Tongue")


@pytest.fixture
def addon():
    yield from registered_addon()


@pytest.fixture(scope="module")
def human():
    return load_human_head()


def evaluated_vertices(obj) -> np.ndarray:
    """(V, 3) the object's vertices after shape keys and drivers, in its own space."""
    bpy.context.view_layer.update()
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    out = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", out)
    evaluated.to_mesh_clear()
    return out.reshape(-1, 3)


def set_keys(head, **weights: float) -> None:
    for block in head.data.shape_keys.key_blocks[1:]:
        block.value = weights.get(block.name, 0.0)


def test_add_demo_head_adds_the_human_head_with_52_keys_and_its_parts(addon):
    assert bpy.ops.diffusiontalker.add_demo_head() == {"FINISHED"}
    head = bpy.context.active_object
    assert head.name == "HumanHead" and head.select_get()
    blocks = head.data.shape_keys.key_blocks
    assert blocks[0].name == "Basis" and [b.name for b in blocks[1:]] == list(ARKIT_NAMES)
    assert all(b.value == 0.0 for b in blocks[1:])  # the neutral face
    assert sorted(c.name for c in head.children) == sorted(PART_OBJECTS)
    tongue = bpy.data.objects["HumanHead Tongue"]
    assert [b.name for b in tongue.data.shape_keys.key_blocks[1:]] == ["jawForward", "jawLeft", "jawRight", "jawOpen",
                                                                       "tongueOut"]  # fmt: skip
    assert {m.name for m in head.data.materials} == {"HumanHead skin", "HumanHead lips"}

    from diffusiontalker_addon import scene_guard

    target = scene_guard.check_target_object(head)
    assert len(target.channels) == 52 and target.unmapped == []


def test_the_procedural_head_is_still_offered(addon):
    assert bpy.ops.diffusiontalker.add_demo_head(head="PROCEDURAL") == {"FINISHED"}
    obj = bpy.context.active_object
    assert obj.name == "DemoHead" and len(obj.data.vertices) == 468 and not obj.children
    assert all(b.value == 0.0 for b in obj.data.shape_keys.key_blocks[1:])


def test_jaw_open_opens_the_lips_and_carries_teeth_and_tongue_mouth_close_seals_them(addon, human):
    bpy.ops.diffusiontalker.add_demo_head(head="HUMAN")
    head = bpy.context.active_object
    teeth, tongue = bpy.data.objects["HumanHead Teeth"], bpy.data.objects["HumanHead Tongue"]
    height = human.face_height()
    rest, rest_teeth, rest_tongue = evaluated_vertices(head), evaluated_vertices(teeth), evaluated_vertices(tongue)
    assert human.lip_gap(rest) < 0.01 * height

    set_keys(head, jawOpen=1.0)
    assert human.lip_gap(evaluated_vertices(head)) > 0.1 * height
    lower_teeth_drop = rest_teeth[:, 2] - evaluated_vertices(teeth)[:, 2]
    assert lower_teeth_drop.max() > 0.02 and lower_teeth_drop.min() < 1e-4  # lower teeth follow, upper stay
    assert (rest_tongue[:, 2] - evaluated_vertices(tongue)[:, 2]).max() > 0.01

    set_keys(head, jawOpen=1.0, mouthClose=1.0)
    assert abs(human.lip_gap(evaluated_vertices(head))) < 0.01 * height

    set_keys(head, tongueOut=1.0)  # an empty key on the head that the tongue follows
    np.testing.assert_allclose(evaluated_vertices(head), rest, atol=1e-7)
    assert (rest_tongue[:, 1] - evaluated_vertices(tongue)[:, 1]).max() > 0.01  # out of the mouth, along -Y


def test_eye_blink_left_closes_only_the_left_eye(addon, human):
    bpy.ops.diffusiontalker.add_demo_head()
    head = bpy.context.active_object
    rest = evaluated_vertices(head)
    set_keys(head, eyeBlinkLeft=1.0)
    blink = evaluated_vertices(head)
    assert human.eye_aperture("left", blink) < 0.1 * human.eye_aperture("left", rest)
    assert human.eye_aperture("right", blink) == pytest.approx(human.eye_aperture("right", rest), abs=1e-6)
    right_eye = np.linalg.norm(rest - rest[human.landmarks["right_upper_lid"]], axis=1) < 0.015
    assert np.linalg.norm(blink - rest, axis=1)[right_eye].max() < 1e-6  # nothing around the right eye moves


def test_animating_the_human_head_from_the_bundled_clip_opens_and_closes_its_lips(addon, human, tmp_path):
    from core.data.demo_clip import DEMO_FPS, demo_clip_paths
    from core.data.phonemes import BILABIALS

    wav, npz = demo_clip_paths()
    audio = tmp_path / wav.name
    shutil.copyfile(wav, audio)
    shutil.copyfile(npz, tmp_path / npz.name)  # the reference engine reads the clip's targets beside the audio
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = DEMO_FPS, 1.0
    bpy.ops.diffusiontalker.add_demo_head()
    head = bpy.context.active_object
    assert bpy.ops.diffusiontalker.animate(object_name=head.name, audio=str(audio), start_frame=1) == {"FINISHED"}

    action = head.data.shape_keys.animation_data.action
    curves = {fc.data_path.split('"')[1]: fc for fc in action_fcurves(action)}
    assert set(curves) == set(ARKIT_NAMES) and all(len(fc.keyframe_points) > 10 for fc in curves.values())
    with np.load(npz) as clip:
        phones, times = clip["phones"].tolist(), clip["phone_times"]
    frames = np.arange(bpy.context.scene.frame_start, bpy.context.scene.frame_end + 1)
    gaps = []
    for frame in frames:
        bpy.context.scene.frame_set(int(frame))
        gaps.append(human.lip_gap(evaluated_vertices(head)))
    gaps, seconds, height = np.array(gaps), (frames - 1) / DEMO_FPS, human.face_height()
    assert gaps.max() > 0.04 * height  # the speaking mouth opens on the evaluated mesh (about 15 mm)
    bilabials = [(a, b) for phone, (a, b) in zip(phones, times, strict=True) if phone in BILABIALS]
    assert len(bilabials) > 10
    for start, end in bilabials:  # and closes on every P, B and M
        during = (seconds >= start - 1.5 / DEMO_FPS) & (seconds <= end + 1.5 / DEMO_FPS)  # closure leads the burst
        assert np.abs(gaps[during]).min() < 0.01 * height, f"open lips on the bilabial at {start:.2f} s"
