"""Shared by the add-on tests (no tests here): a registered add-on on an empty scene, a face mesh, generated
speech clips with known targets, and a dump of everything an animation could touch.

Tests use the real bpy 5.0 module. bpy can be imported once per process, so every test starts from
`read_factory_settings(use_empty=True)` and registers the add-on afresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from core.data.clip import SAMPLE_RATE, Clip, save_clip  # noqa: E402
from core.reference_engine import ReferenceTargetsEngine  # noqa: E402
from core.rig.arkit import ARKIT_NAMES, channel_index  # noqa: E402

CLOSURE_SECONDS = (1.0, 1.2)  # the bilabial closure ("p", "b", "m") in every generated clip


def registered_addon() -> Iterator[object]:
    """Fixture body: empty scene, add-on registered, the reference engine in use; unregistered afterwards."""
    import diffusiontalker_addon
    from diffusiontalker_addon import engine

    bpy.ops.wm.read_factory_settings(use_empty=True)
    diffusiontalker_addon.register()
    engine.use_engine(ReferenceTargetsEngine())
    try:
        yield diffusiontalker_addon
    finally:
        engine.use_engine(None)
        diffusiontalker_addon.unregister()
        bpy.ops.wm.read_factory_settings(use_empty=True)


def registered_addon_with_weights(monkeypatch, weights) -> Iterator[object]:
    """Fixture body: registered_addon with `weights` as the shipped weights folder (its model in use, 30 fps)."""
    from diffusiontalker_addon import engine

    monkeypatch.setattr(engine, "default_weights_dir", lambda: weights)
    for registered in registered_addon():
        engine.use_engine(None)
        engine.forget_loaded_engines()
        bpy.context.scene.render.fps = 30
        yield registered
        engine.forget_loaded_engines()


def make_face(name: str = "Face", key_names: tuple[str, ...] | list[str] = ARKIT_NAMES, active: bool = True):
    """A small mesh object with a basis plus `key_names` shape keys (each moves one vertex a little)."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)], [], [(0, 1, 3, 2)])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for index, key_name in enumerate(key_names):
        block = obj.shape_key_add(name=key_name, from_mix=False)
        block.data[index % 4].co.z = 0.01 * (index + 1)
    if active:
        bpy.context.view_layer.objects.active = obj
    return obj


def speech_weights(frames: int, fps: float, seed: int = 0) -> np.ndarray:
    """Distinct smooth curves on all 52 channels, plus a bilabial closure in CLOSURE_SECONDS."""
    t = np.arange(frames)[:, None] / fps
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, size=(1, len(ARKIT_NAMES)))
    rate = np.linspace(0.5, 3.0, len(ARKIT_NAMES))[None, :]
    weights = 0.3 + 0.25 * np.sin(2 * np.pi * rate * t + phase)  # (frames, 52)
    jaw = channel_index("jawOpen")
    weights[:, jaw] = 0.35 + 0.25 * np.sin(2 * np.pi * 4.0 * t[:, 0])
    closing = (t[:, 0] >= CLOSURE_SECONDS[0]) & (t[:, 0] <= CLOSURE_SECONDS[1])
    weights[closing, jaw] = 0.0
    for name in ("mouthPressLeft", "mouthPressRight", "mouthRollLower"):
        weights[closing, channel_index(name)] = 0.8
    return np.clip(weights, 0.0, 1.0).astype(np.float32)


def make_clip(
    folder: Path, stem: str = "voice", fps: float = 30.0, seconds: float = 2.0, seed: int = 0, with_targets: bool = True
) -> Path:
    """`folder/stem.wav` (a 220 Hz tone at 16 kHz) and, with targets, `folder/stem.npz`. Returns the wav path."""
    samples = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    audio = (0.3 * np.sin(2 * np.pi * 220.0 * samples)).astype(np.float32)
    frames = int(round(seconds * fps))
    save_clip(Clip(weights=speech_weights(frames, fps, seed), fps=fps, audio=audio), folder / stem)
    if not with_targets:
        (folder / f"{stem}.npz").unlink()
    return folder / f"{stem}.wav"


def clip_weights(wav: Path) -> tuple[np.ndarray, float]:
    with np.load(wav.with_suffix(".npz")) as data:
        return data["weights"], float(data["fps"])


def action_fcurves(action) -> list:
    """Every F-Curve of an Action, slotted (Blender 4.4+) or legacy."""
    if not hasattr(action, "layers"):
        return list(action.fcurves)
    return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags for fc in bag.fcurves]


def fcurve_keys(fcurve) -> np.ndarray:
    """(keys, 2) frame/value pairs."""
    points = fcurve.keyframe_points
    buffer = np.empty(len(points) * 2, dtype=np.float32)
    points.foreach_get("co", buffer)
    return buffer.reshape(-1, 2)


def curve_by_key_block(action) -> dict[str, object]:
    return {fc.data_path.split('"')[1]: fc for fc in action_fcurves(action)}


def scene_dump() -> dict:
    """Everything an animation could touch, as plain values, to compare before and after a refused request."""
    dump: dict = {"objects": sorted((o.name, o.type) for o in bpy.data.objects)}
    dump["shape_keys"] = {
        key.name: [(b.name, round(b.value, 6), b.slider_min, b.slider_max) for b in key.key_blocks]
        for key in bpy.data.shape_keys
    }
    dump["animation"] = {}
    for key in bpy.data.shape_keys:
        data = key.animation_data
        if data is not None:
            dump["animation"][key.name] = {
                "action": data.action.name if data.action else None,
                "tracks": [(t.name, t.mute, [s.action.name for s in t.strips]) for t in data.nla_tracks],
            }
    dump["actions"] = {
        action.name: (
            action.users,
            action.use_fake_user,
            [(fc.data_path, fcurve_keys(fc).round(6).tolist()) for fc in action_fcurves(action)],
        )
        for action in bpy.data.actions
    }
    scene = bpy.context.scene
    editor = scene.sequence_editor
    dump["strips"] = (
        sorted((s.name, s.type, s.channel, s.frame_start) for s in editor.strips_all) if editor is not None else []
    )
    dump["frame_range"] = (scene.frame_start, scene.frame_end)
    dump["settings_seed"] = scene.diffusiontalker.seed if hasattr(scene, "diffusiontalker") else None
    return dump
