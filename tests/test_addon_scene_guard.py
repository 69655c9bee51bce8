"""Every refused request says what is wrong and how to fix it, and leaves the .blend data exactly as it was."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf
from test_addon_kit import bpy, make_clip, make_face, registered_addon, scene_dump

from core.animation_job import Animation, AnimationRequest, JobCancelled
from core.reference_engine import ReferenceTargetsEngine


@pytest.fixture
def addon():
    yield from registered_addon()


@pytest.fixture
def animated_scene(addon, tmp_path):
    """A face that already has an action and a sound strip: the things a bad request must not touch."""
    face = make_face()
    wav = make_clip(tmp_path, "earlier")
    bpy.ops.diffusiontalker.animate(audio=str(wav), add_audio_strip=True, set_frame_range=True)
    return face, tmp_path


def refused(expected_message: str, **animate_arguments) -> str:
    """Run animate expecting a refusal; return the message after checking the scene is untouched."""
    before = scene_dump()
    with pytest.raises(RuntimeError) as refusal:
        bpy.ops.diffusiontalker.animate(**animate_arguments)
    assert scene_dump() == before
    message = str(refusal.value)
    assert expected_message in message
    return message


def write_wav(path, samples, rate=16000):
    sf.write(path, np.asarray(samples, dtype=np.float32), rate)
    return path


def write_bytes(path, content: bytes):
    path.write_bytes(content)
    return path


def test_no_active_object_is_refused(animated_scene):
    bpy.context.view_layer.objects.active = None
    refused("No active object; click the face mesh", audio=str(animated_scene[1] / "earlier.wav"))


def test_an_object_that_is_not_a_mesh_is_refused(animated_scene):
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    bpy.context.scene.collection.objects.link(camera)
    bpy.context.view_layer.objects.active = camera
    refused("'Camera' is a camera, not a mesh", audio=str(animated_scene[1] / "earlier.wav"))


def test_a_mesh_without_shape_keys_is_refused(animated_scene):
    mesh = bpy.data.objects.new("Plain", bpy.data.meshes.new("Plain"))
    bpy.context.scene.collection.objects.link(mesh)
    bpy.context.view_layer.objects.active = mesh
    refused("'Plain' has no shape keys; run Add ARKit Keys", audio=str(animated_scene[1] / "earlier.wav"))


def test_shape_keys_with_no_arkit_names_are_refused_with_what_was_found(animated_scene):
    make_face("Cube", key_names=["Key 1", "Smile"])
    message = refused("no shape keys named like ARKit blendshapes", audio=str(animated_scene[1] / "earlier.wav"))
    assert "Key 1, Smile" in message and "Add ARKit Keys" in message


def test_an_object_named_that_does_not_exist_is_refused(animated_scene):
    refused("no object named 'Fcae'", object_name="Fcae", audio=str(animated_scene[1] / "earlier.wav"))


def _library_with_a_face(tmp_path):
    make_face("LinkedFace", active=False)
    library = tmp_path / "library.blend"
    bpy.data.libraries.write(str(library), {bpy.data.objects["LinkedFace"]})
    bpy.data.objects.remove(bpy.data.objects["LinkedFace"])
    with bpy.data.libraries.load(str(library), link=True) as (source, target):
        target.objects = ["LinkedFace"]
    linked = target.objects[0]
    bpy.context.scene.collection.objects.link(linked)
    return linked


def test_linked_library_data_is_refused(animated_scene):
    linked = _library_with_a_face(animated_scene[1])
    bpy.context.view_layer.objects.active = linked
    refused("is linked from", audio=str(animated_scene[1] / "earlier.wav"))


def test_library_override_data_is_refused(animated_scene):
    linked = _library_with_a_face(animated_scene[1])
    override = linked.override_create()
    bpy.context.scene.collection.objects.link(override)
    bpy.context.view_layer.objects.active = override
    refused("library override", audio=str(animated_scene[1] / "earlier.wav"))


@pytest.mark.parametrize(
    ("make_audio", "expected"),
    [
        (lambda d: d / "missing.wav", "does not exist"),
        (lambda d: d, "is a folder"),
        (lambda d: write_bytes(d / "notes.txt", b"hello"), "unsupported type '.txt'"),
        (lambda d: write_bytes(d / "empty.wav", b""), "is empty (0 bytes)"),
        (lambda d: write_bytes(d / "corrupt.wav", b"RIFF\x00\x00WAVEjunk" * 40), "may be corrupt"),
        (lambda d: write_wav(d / "silent.wav", np.zeros(32000)), "is silent"),
        (lambda d: write_wav(d / "short.wav", 0.3 * np.ones(800)), "is only 50 ms long"),
    ],
    ids=["missing", "folder", "unsupported", "empty", "corrupt", "silent", "too-short"],
)
def test_bad_audio_is_refused_with_the_reason(animated_scene, make_audio, expected):
    (animated_scene[1] / "bad").mkdir()
    refused(expected, audio=str(make_audio(animated_scene[1] / "bad")))


def test_no_audio_chosen_is_refused(animated_scene):
    refused("No audio chosen", audio="")


def test_a_huge_audio_file_is_refused_before_it_is_read(animated_scene):
    from diffusiontalker_addon import scene_guard

    huge = animated_scene[1] / "huge.wav"
    with huge.open("wb") as file:
        file.truncate(scene_guard.MAX_AUDIO_BYTES + 1)  # sparse: no disk is used
    refused("GiB limit", audio=str(huge))


def test_audio_longer_than_the_limit_is_refused(animated_scene, monkeypatch):
    from diffusiontalker_addon import scene_guard

    monkeypatch.setattr(scene_guard, "MAX_AUDIO_SECONDS", 1.5)
    refused("more than the 1.5 s limit", audio=str(animated_scene[1] / "earlier.wav"))


def test_audio_without_reference_targets_reports_the_engine_failure(animated_scene):
    wav = make_clip(animated_scene[1], "no_targets", with_targets=False)
    message = refused("No reference targets beside", audio=str(wav))
    assert "Nothing was written" in message


def test_unknown_style_names_list_the_choices(animated_scene):
    wav = str(animated_scene[1] / "earlier.wav")
    refused("Identity 'nobody' is not in the style library; choose one of: default", audio=wav, identity="nobody")
    refused("Emotion 'bored' is not in the style library", audio=wav, emotion="bored")


def test_bad_locks_and_ranges_are_refused(animated_scene):
    wav = str(animated_scene[1] / "earlier.wav")
    refused("Cannot lock 'eyebrowWiggle'", audio=wav, locked_channels="eyebrowWiggle")
    refused("nothing to animate", audio=wav, locked_regions={"jaw", "mouth", "tongue", "eyes", "brows", "cheeks_nose"})
    refused("is reversed", audio=wav, use_frame_window=True, window_first=30, window_last=10)
    refused("lies outside the animation", audio=wav, use_frame_window=True, window_first=500, window_last=600)


def test_regenerating_a_range_needs_an_existing_animation(addon, tmp_path):
    make_face()
    refused("no animation to blend", audio=str(make_clip(tmp_path)), use_frame_window=True)


def test_a_missing_or_wrong_sound_strip_is_refused(animated_scene):
    refused("no sequencer strip named 'Take 7'", sound_strip="Take 7")
    editor = bpy.context.scene.sequence_editor
    editor.strips.new_effect(name="Fade", type="COLOR", channel=5, frame_start=1, length=10)
    refused("is a color strip, not sound", sound_strip="Fade")


class _FailingEngine(ReferenceTargetsEngine):
    name = "failing"

    def __init__(self, failure: BaseException | None = None, weights: np.ndarray | None = None) -> None:
        self.failure, self.weights = failure, weights

    def animate(self, request: AnimationRequest, progress, cancel: threading.Event) -> Animation:
        if self.failure is not None:
            raise self.failure
        return Animation(weights=self.weights, fps=request.fps)


def test_an_engine_failure_is_reported_and_nothing_is_written(animated_scene):
    from diffusiontalker_addon import engine

    engine.use_engine(_FailingEngine(RuntimeError("out of memory")))
    message = refused("The animation engine 'failing' failed", audio=str(animated_scene[1] / "earlier.wav"))
    assert "out of memory" in message


def test_an_engine_returning_nan_is_refused(animated_scene):
    from diffusiontalker_addon import engine

    engine.use_engine(_FailingEngine(weights=np.full((10, 52), np.nan, dtype=np.float32)))
    refused("returned invalid numbers", audio=str(animated_scene[1] / "earlier.wav"))


def test_a_cancelled_job_writes_nothing(animated_scene):
    from diffusiontalker_addon import engine

    engine.use_engine(_FailingEngine(JobCancelled()))
    before = scene_dump()
    assert bpy.ops.diffusiontalker.animate(audio=str(animated_scene[1] / "earlier.wav")) == {"CANCELLED"}
    assert scene_dump() == before


def test_the_reference_engine_stops_when_its_job_is_cancelled(tmp_path):
    from core.animation_job import AnimationJob

    job = AnimationJob(ReferenceTargetsEngine(), AnimationRequest(audio_path=make_clip(tmp_path)))
    job.cancel()
    with pytest.raises(JobCancelled):
        job.start().wait(timeout=10)
    assert job.result is None


def test_a_refused_new_take_keeps_the_seed(animated_scene):
    settings = bpy.context.scene.diffusiontalker
    settings.audio_path = str(animated_scene[1] / "missing.wav")
    before = scene_dump()
    with pytest.raises(RuntimeError, match="does not exist"):
        bpy.ops.diffusiontalker.new_take()
    assert scene_dump() == before
