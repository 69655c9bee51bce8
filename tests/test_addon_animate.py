"""Animate from Audio in background mode with the reference engine: what gets written, where, and what is kept."""

from __future__ import annotations

import numpy as np
import pytest
from test_addon_kit import (
    CLOSURE_SECONDS,
    action_fcurves,
    bpy,
    clip_weights,
    curve_by_key_block,
    fcurve_keys,
    make_clip,
    make_face,
    registered_addon,
)

from core.animation_job import Animation
from core.rig.arkit import ARKIT_NAMES, channel_index


@pytest.fixture
def addon():
    for registered in registered_addon():
        bpy.context.scene.render.fps = 30  # the clips' rate, unless a test says otherwise
        yield registered


def keyed_action(obj):
    data = obj.data.shape_keys.animation_data
    return data.action, data.action_slot


def test_animate_writes_a_new_slotted_action_with_one_curve_per_arkit_key(addon, tmp_path):
    face = make_face()
    wav = make_clip(tmp_path)
    weights, _ = clip_weights(wav)

    result = bpy.ops.diffusiontalker.animate(audio=str(wav), start_frame=10)

    assert result == {"FINISHED"}
    action, slot = keyed_action(face)
    assert slot is not None and slot.target_id_type == "KEY" and slot in action.slots[:]
    assert action.name.startswith("Face_voice_default_neutral")
    curves = curve_by_key_block(action)
    assert sorted(curves) == sorted(ARKIT_NAMES)
    for name in ("jawOpen", "eyeBlinkLeft", "tongueOut"):
        keys = fcurve_keys(curves[name])
        assert keys[0, 0] == 10 and len(keys) == len(weights)
        np.testing.assert_array_equal(keys[:, 0], 10 + np.arange(len(weights)))
        np.testing.assert_allclose(keys[:, 1], weights[:, channel_index(name)], atol=1e-6)
    assert action["diffusiontalker"]["source"] == "reference targets (not the model)"


def test_animated_shape_keys_evaluate_to_the_targets_frame_by_frame(addon, tmp_path):
    face = make_face()
    wav = make_clip(tmp_path)
    weights, _ = clip_weights(wav)
    bpy.ops.diffusiontalker.animate(audio=str(wav), start_frame=1)
    blocks = face.data.shape_keys.key_blocks
    for frame in (1, 17, 33, len(weights)):
        bpy.context.scene.frame_set(frame)
        assert blocks["jawOpen"].value == pytest.approx(weights[frame - 1, channel_index("jawOpen")], abs=1e-6)
        assert blocks["mouthSmileLeft"].value == pytest.approx(
            weights[frame - 1, channel_index("mouthSmileLeft")], abs=1e-6
        )


@pytest.mark.parametrize("scene_fps", [24, 60])
def test_animate_resamples_30_fps_targets_to_the_scene_frame_rate(addon, tmp_path, scene_fps):
    face = make_face()
    wav = make_clip(tmp_path, fps=30.0, seconds=2.0)
    weights, clip_fps = clip_weights(wav)
    bpy.context.scene.render.fps = scene_fps

    bpy.ops.diffusiontalker.animate(audio=str(wav), start_frame=1)

    keys = fcurve_keys(curve_by_key_block(keyed_action(face)[0])["jawOpen"])
    expected_frames = int(round((len(weights) - 1) * scene_fps / clip_fps)) + 1
    assert len(keys) == expected_frames
    np.testing.assert_array_equal(keys[:, 0], 1 + np.arange(expected_frames))
    seconds = np.arange(expected_frames) / scene_fps  # each scene frame samples the targets at its own time...
    expected = np.interp(seconds * clip_fps, np.arange(len(weights)), weights[:, channel_index("jawOpen")])
    np.testing.assert_allclose(keys[:-1, 1], expected[:-1], atol=1e-5)
    assert keys[-1, 1] == pytest.approx(weights[-1, channel_index("jawOpen")], abs=1e-6)  # ...the last is pinned
    closed = (seconds >= CLOSURE_SECONDS[0] + 0.05) & (seconds <= CLOSURE_SECONDS[1] - 0.05)
    assert np.all(keys[closed, 1] < 1e-6), "the bilabial closure must survive resampling"


def test_writer_resamples_an_engine_rate_that_differs_from_the_scene(addon):
    from diffusiontalker_addon.action_writer import ShapeKeyChannel, write_shape_key_action

    face = make_face(key_names=["jawOpen"])
    ramp = np.zeros((31, 52), dtype=np.float32)
    ramp[:, channel_index("jawOpen")] = np.linspace(0.0, 1.0, 31)  # 1 s at 30 fps
    result = write_shape_key_action(
        face.data.shape_keys,
        Animation(weights=ramp, fps=30.0),
        [ShapeKeyChannel("jawOpen", channel_index("jawOpen"), scale=0.5)],
        scene_fps=24.0,
        start_frame=5,
        action_name="ramp",
    )
    keys = fcurve_keys(action_fcurves(result.action)[0])
    assert (result.first_frame, result.last_frame) == (5, 29)
    np.testing.assert_allclose(keys[:, 1], 0.5 * np.linspace(0.0, 1.0, 25), atol=1e-6)


def test_animate_keeps_the_previous_action_intact_on_a_muted_nla_track(addon, tmp_path):
    face = make_face()
    wav = make_clip(tmp_path)
    jaw = face.data.shape_keys.key_blocks["jawOpen"]
    for frame, value in ((1, 0.2), (20, 0.9)):
        jaw.value = value
        jaw.keyframe_insert("value", frame=frame)
    previous, _ = keyed_action(face)
    previous_keys = fcurve_keys(curve_by_key_block(previous)["jawOpen"]).copy()

    bpy.ops.diffusiontalker.animate(audio=str(wav))

    action, _ = keyed_action(face)
    assert action != previous and previous.name in bpy.data.actions
    np.testing.assert_array_equal(fcurve_keys(curve_by_key_block(previous)["jawOpen"]), previous_keys)
    tracks = face.data.shape_keys.animation_data.nla_tracks
    assert [(t.mute, [s.action for s in t.strips]) for t in tracks] == [(True, [previous])]


def test_takes_stack_up_as_muted_tracks_so_every_take_stays_reachable(addon, tmp_path):
    face = make_face()
    wav = make_clip(tmp_path)
    for seed in range(3):
        bpy.ops.diffusiontalker.animate(audio=str(wav), seed=seed)
    tracks = face.data.shape_keys.animation_data.nla_tracks
    assert [t.strips[0].action["diffusiontalker"]["seed"] for t in tracks] == [0, 1]
    assert keyed_action(face)[0]["diffusiontalker"]["seed"] == 2


def test_locked_regions_keep_their_previous_animation(addon, tmp_path):
    face = make_face()
    blink = face.data.shape_keys.key_blocks["eyeBlinkLeft"]
    for frame, value in ((1, 0.0), (5, 1.0), (9, 0.0)):
        blink.value = value
        blink.keyframe_insert("value", frame=frame)
    previous, _ = keyed_action(face)
    wav = make_clip(tmp_path)
    weights, _ = clip_weights(wav)

    bpy.ops.diffusiontalker.animate(audio=str(wav), locked_regions={"eyes"})

    curves = curve_by_key_block(keyed_action(face)[0])
    np.testing.assert_allclose(fcurve_keys(curves["eyeBlinkLeft"]), [[1, 0.0], [5, 1.0], [9, 0.0]])
    assert "eyeLookUpRight" not in curves  # locked, and it had no animation before
    np.testing.assert_allclose(fcurve_keys(curves["jawOpen"])[:, 1], weights[:, channel_index("jawOpen")], atol=1e-6)
    assert len(action_fcurves(previous)) == 1, "the previous action itself is never edited"


def test_locked_channels_by_name_are_not_keyed(addon, tmp_path):
    face = make_face()
    bpy.ops.diffusiontalker.animate(audio=str(make_clip(tmp_path)), locked_channels="tongueOut, cheekpuff")
    curves = curve_by_key_block(keyed_action(face)[0])
    assert "tongueOut" not in curves and "cheekPuff" not in curves and len(curves) == 50


def test_regenerating_a_frame_range_replaces_only_that_range_and_blends_its_edges(addon, tmp_path):
    face = make_face()
    first = make_clip(tmp_path, "first", seed=1)
    second = make_clip(tmp_path, "second", seed=2)
    jaw = channel_index("mouthSmileLeft")
    old, _ = clip_weights(first)
    new, _ = clip_weights(second)
    bpy.ops.diffusiontalker.animate(audio=str(first), start_frame=1)

    bpy.ops.diffusiontalker.animate(
        audio=str(second), start_frame=1, use_frame_window=True, window_first=20, window_last=40, blend_frames=3
    )

    keys = fcurve_keys(curve_by_key_block(keyed_action(face)[0])["mouthSmileLeft"])
    values = dict(zip(keys[:, 0].astype(int), keys[:, 1], strict=True))
    assert len(values) == len(old)
    for frame in (1, 19, 41, len(old)):
        assert values[frame] == pytest.approx(old[frame - 1, jaw], abs=1e-6)
    for frame in (24, 30, 36):
        assert values[frame] == pytest.approx(new[frame - 1, jaw], abs=1e-6)
    ramp = 1 / 4  # frame 20 is the first of 3 blend frames: a quarter new
    assert values[20] == pytest.approx(ramp * new[19, jaw] + (1 - ramp) * old[19, jaw], abs=1e-5)


def test_audio_is_added_to_the_sequencer_once_and_the_frame_range_fits_the_keys(addon, tmp_path):
    make_face()
    wav = make_clip(tmp_path, seconds=2.0)
    for seed in (0, 1):
        bpy.ops.diffusiontalker.animate(
            audio=str(wav), start_frame=12, add_audio_strip=True, set_frame_range=True, seed=seed
        )
    scene = bpy.context.scene
    strips = list(scene.sequence_editor.strips_all)
    assert [(s.type, s.frame_start, s.channel) for s in strips] == [("SOUND", 12, 1)]
    assert bpy.path.abspath(strips[0].sound.filepath) == str(wav)
    assert (scene.frame_start, scene.frame_end) == (12, 12 + 60 - 1)


def test_a_sound_strip_is_an_audio_source_and_sets_where_keys_start(addon, tmp_path):
    face = make_face()
    wav = make_clip(tmp_path)
    editor = bpy.context.scene.sequence_editor_create()
    editor.strips.new_sound(name="Line 1", filepath=str(wav), channel=2, frame_start=50)

    bpy.ops.diffusiontalker.animate(sound_strip="Line 1", start_frame=1)

    keys = fcurve_keys(curve_by_key_block(keyed_action(face)[0])["jawOpen"])
    assert keys[0, 0] == 50
    assert len(editor.strips_all) == 1


def test_new_take_animates_with_the_next_seed_from_the_panel_settings(addon, tmp_path):
    face = make_face()
    settings = bpy.context.scene.diffusiontalker
    settings.audio_path = str(make_clip(tmp_path))
    settings.add_audio_strip = False
    settings.seed = 4

    assert bpy.ops.diffusiontalker.new_take() == {"FINISHED"}

    assert settings.seed == 5
    assert keyed_action(face)[0]["diffusiontalker"]["seed"] == 5


def test_animate_targets_a_named_object_instead_of_the_active_one(addon, tmp_path):
    face = make_face("Face", active=False)
    other = make_face("Other")
    bpy.ops.diffusiontalker.animate(object_name="Face", audio=str(make_clip(tmp_path)))
    assert face.data.shape_keys.animation_data.action is not None
    assert other.data.shape_keys.animation_data is None


def test_invoking_in_background_mode_runs_to_completion_without_a_modal_job(addon, tmp_path):
    face = make_face()
    assert bpy.app.background
    result = bpy.ops.diffusiontalker.animate("INVOKE_DEFAULT", audio=str(make_clip(tmp_path)))
    assert result == {"FINISHED"}
    assert face.data.shape_keys.animation_data.action is not None
    assert bpy.context.window_manager.diffusiontalker_job.running is False
