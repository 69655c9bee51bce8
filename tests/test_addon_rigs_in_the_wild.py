"""Rigs in the wild, in real bpy: a GLB avatar through Blender's own glTF exporter and importer, and a viseme-only
rig animated through the fitted viseme preset."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_addon_kit import bpy, curve_by_key_block, make_face, registered_addon

from core.rig.arkit import ARKIT_NAMES
from core.rig.viseme_fit import OCULUS_VISEMES


@pytest.fixture
def addon():
    yield from registered_addon()


def bundled_clip(tmp_path):
    from core.data.demo_clip import DEMO_FPS, demo_clip_paths

    wav, npz = demo_clip_paths()
    shutil.copyfile(wav, tmp_path / wav.name)
    shutil.copyfile(npz, tmp_path / npz.name)  # the reference engine reads the targets beside the audio
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = DEMO_FPS, 1.0
    return tmp_path / wav.name, npz


def test_a_glb_of_the_human_head_reimports_with_its_morph_targets_as_mapped_shape_keys(addon, tmp_path):
    bpy.ops.diffusiontalker.add_demo_head(head="HUMAN")
    glb = tmp_path / "human_head.glb"
    bpy.ops.export_scene.gltf(filepath=str(glb), export_format="GLB", export_morph=True, export_animations=False)
    assert glb.stat().st_size > 100_000
    bpy.ops.wm.read_factory_settings(use_empty=True)  # a fresh file: only what the GLB carries
    bpy.ops.import_scene.gltf(filepath=str(glb))
    meshes = {o.name: o for o in bpy.data.objects if o.type == "MESH"}
    assert len(meshes) == 5 and all(o.data.shape_keys is not None for o in meshes.values())
    head = meshes["HumanHead"]
    names = [b.name for b in head.data.shape_keys.key_blocks[1:]]
    assert names == list(ARKIT_NAMES)

    from diffusiontalker_addon import scene_guard

    target = scene_guard.check_target_object(head)
    assert len(target.channels) == 52 and target.unmapped == []
    audio, _ = bundled_clip(tmp_path)
    bpy.context.view_layer.objects.active = head
    assert bpy.ops.diffusiontalker.animate(audio=str(audio), start_frame=1) == {"FINISHED"}
    curves = curve_by_key_block(head.data.shape_keys.animation_data.action)
    assert set(curves) == set(ARKIT_NAMES)
    # glTF carries no drivers: the teeth, tongue, eyes and lashes are now meshes of the character with their own keys,
    # so the same take writes each its own Action.
    for name, obj in meshes.items():
        action = obj.data.shape_keys.animation_data.action
        assert action.name == f"{name}_demo_line_default_neutral_s0"
        assert set(curve_by_key_block(action)) == {b.name for b in obj.data.shape_keys.key_blocks[1:]}


def test_a_viseme_only_rig_is_animated_through_the_fitted_mixes_and_closes_on_bilabials(addon, tmp_path):
    face = make_face("Avatar", key_names=["viseme_sil", *OCULUS_VISEMES[1:], "eyeBlinkLeft"])
    audio, npz = bundled_clip(tmp_path)
    assert bpy.ops.diffusiontalker.animate(object_name=face.name, audio=str(audio), start_frame=1) == {"FINISHED"}
    curves = curve_by_key_block(face.data.shape_keys.animation_data.action)
    assert set(curves) == set(OCULUS_VISEMES[1:]) | {"eyeBlinkLeft"}  # viseme_sil stays the rest pose
    frames = np.arange(bpy.context.scene.frame_start, bpy.context.scene.frame_end + 1)
    values = np.array([[curves[v].evaluate(float(f)) for v in OCULUS_VISEMES[1:]] for f in frames])  # (frames, 14)
    assert 0 <= values.min() and values.max() <= 1 and values[:, OCULUS_VISEMES.index("viseme_aa") - 1].max() > 0.3
    with np.load(npz) as clip:
        phones, times, fps = clip["phones"].tolist(), clip["phone_times"], float(clip["fps"])
    seconds = (frames - 1) / fps
    dominated = []
    for phone, (a, b) in zip(phones, times, strict=True):
        if phone in ("P", "B", "M"):
            during = (seconds >= a - 1.5 / fps) & (seconds <= b + 1.5 / fps)
            others = np.delete(values[during], OCULUS_VISEMES.index("viseme_PP") - 1, axis=1).max(axis=1)
            pp = values[during, OCULUS_VISEMES.index("viseme_PP") - 1]
            dominated.append(bool(((pp >= others) | (others < 0.1)).any()))
    assert len(dominated) > 10 and np.mean(dominated) >= 0.9
