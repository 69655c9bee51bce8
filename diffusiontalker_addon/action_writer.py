"""Write an Animation onto a mesh's shape keys as a new Action, fast, without losing the previous one.

Blender 5 Actions are slotted: Action > slot (one per animated datablock) + layer > keyframe strip > channelbag >
F-Curves. Blender 4.2-4.3 has no slots: F-Curves hang off the Action directly; `_ChannelTarget` hides the
difference. Keys are bulk-written (`keyframe_points.add` + `foreach_set`), which is what makes 18,000 frames x 52
channels take well under a second.

The previously assigned Action is never edited: it is pushed onto a muted NLA track so it stays in the file and one
click away in the NLA editor. Locked channels and frame-window regeneration start from a *copy* of it instead.

Run `python -m diffusiontalker_addon benchmark --frames 18000` for the key-writing benchmark (JSON on stdout).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import bpy
import numpy as np

from core.runtime import ARKIT_NAMES, Animation, resample_weights

PREVIOUS_TAKE_TRACK_PREFIX = "DiffusionTalker previous: "
METADATA_KEY = "diffusiontalker"

# F-Curve group of each rig region (core/rig/descriptor.py REGIONS); cheeks and nose share one, as they always have.
_REGION_GROUP_NAMES = {
    "jaw": "Jaw",
    "mouth": "Mouth",
    "tongue": "Tongue",
    "eyes": "Eyes",
    "brows": "Brows",
    "cheeks": "Cheeks & Nose",
    "nose": "Cheeks & Nose",
    "other": "Other",
}


@dataclass(frozen=True)
class ShapeKeyChannel:
    """One rig shape key driven by one channel of the animation's rig: value = weights[:, channel_index] * scale, or,
    for a viseme key, by a mix: value = clip(sum of weights[:, index] * weight, 0, 1) (channel_index is then the
    mix's largest term)."""

    key_block: str
    channel_index: int  # into Animation.rig.names (ARKit-52 for rigs mapped by ARKit name)
    scale: float = 1.0
    mix: tuple[tuple[int, float], ...] = ()  # (channel index, weight)


@dataclass
class ActionWriteResult:
    action: bpy.types.Action
    previous_action: bpy.types.Action | None
    first_frame: int
    last_frame: int
    channels_written: tuple[str, ...]

    @property
    def num_frames(self) -> int:
        return self.last_frame - self.first_frame + 1


def shape_key_data_path(key_block_name: str) -> str:
    escaped = key_block_name.replace("\\", "\\\\").replace('"', '\\"')
    return f'key_blocks["{escaped}"].value'


def write_shape_key_action(
    key: bpy.types.Key,
    animation: Animation,
    channels: Sequence[ShapeKeyChannel],
    *,
    scene_fps: float,
    start_frame: int,
    action_name: str,
    locked_key_blocks: Collection[str] = (),
    frame_window: tuple[int, int] | None = None,
    blend_frames: int = 0,
    metadata: Mapping[str, object] | None = None,
) -> ActionWriteResult:
    """Key every scene frame of `animation` (resampled to `scene_fps`) from `start_frame` on `key`, in a new Action.

    `locked_key_blocks` are left exactly as the previous Action animates them. With `frame_window=(first, last)` only
    those frames are regenerated, cross-faded over `blend_frames` frames into the previous Action's curves.
    The new Action is assigned (with its slot); the previous one goes to a muted NLA track.
    """
    weights = animation.weights
    if abs(animation.fps - scene_fps) > 1e-6:
        weights = resample_weights(weights, animation.fps, scene_fps)  # (scene frames, channels)
    num_frames = int(weights.shape[0])
    if num_frames == 0:
        raise ValueError("The animation has no frames; nothing to write")
    frames = start_frame + np.arange(num_frames, dtype=np.float64)

    animation_data = key.animation_data or key.animation_data_create()
    previous_action = animation_data.action
    previous_slot = getattr(animation_data, "action_slot", None)
    start_from_previous = previous_action is not None and (bool(locked_key_blocks) or frame_window is not None)
    if start_from_previous:
        target = _ChannelTarget.copy_of(previous_action, previous_slot, action_name, key)
    else:
        target = _ChannelTarget.new(action_name, key)

    written = []
    for channel in channels:
        if channel.key_block in locked_key_blocks:
            continue
        values = weights[:, channel.channel_index].astype(np.float64) * channel.scale
        if channel.mix:
            indices, mix = zip(*channel.mix, strict=True)
            values = np.clip(weights[:, list(indices)].astype(np.float64) @ np.array(mix), 0.0, 1.0)
        data_path = shape_key_data_path(channel.key_block)
        group = _REGION_GROUP_NAMES[animation.rig.regions[channel.channel_index]]
        if frame_window is None:
            fcurve = target.fcurve(data_path, group, clear=True)
            _write_dense_keys(fcurve, frames, values)
        else:
            fcurve = target.fcurve(data_path, group, clear=False)
            static_value = key.key_blocks[channel.key_block].value
            _merge_window_keys(fcurve, frames, values, frame_window, blend_frames, static_value)
        written.append(channel.key_block)

    if metadata is not None:
        target.action[METADATA_KEY] = dict(metadata)
    if previous_action is not None:
        push_to_muted_nla_track(animation_data, previous_action, previous_slot, start_frame)
    target.assign_to(animation_data)
    return ActionWriteResult(
        action=target.action,
        previous_action=previous_action,
        first_frame=int(frames[0]),
        last_frame=int(frames[-1]),
        channels_written=tuple(written),
    )


class _ChannelTarget:
    """Where F-Curves go: a slot's channelbag (Blender 4.4+) or the Action itself (4.2-4.3)."""

    def __init__(self, action: bpy.types.Action, slot, container) -> None:
        self.action = action
        self.slot = slot
        self.container = container  # anything with .fcurves (and .groups on the slotted API)

    @classmethod
    def new(cls, name: str, key: bpy.types.Key) -> _ChannelTarget:
        action = bpy.data.actions.new(name)
        if not hasattr(action, "slots"):
            action.id_root = "KEY"
            return cls(action, None, action)
        slot = action.slots.new(id_type="KEY", name=key.name)
        strip = action.layers.new("DiffusionTalker").strips.new(type="KEYFRAME")
        return cls(action, slot, strip.channelbag(slot, ensure=True))

    @classmethod
    def copy_of(cls, previous: bpy.types.Action, previous_slot, name: str, key: bpy.types.Key) -> _ChannelTarget:
        action = previous.copy()
        action.name = name
        action.use_fake_user = False
        if not hasattr(action, "slots"):
            return cls(action, None, action)
        identifier = previous_slot.identifier if previous_slot is not None else None
        slot = next((s for s in action.slots if s.identifier == identifier), None)
        if slot is None:
            slot = action.slots.new(id_type="KEY", name=key.name)
        layer = action.layers[0] if len(action.layers) else action.layers.new("DiffusionTalker")
        strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type="KEYFRAME")
        return cls(action, slot, strip.channelbag(slot, ensure=True))

    def fcurve(self, data_path: str, group: str, *, clear: bool) -> bpy.types.FCurve:
        fcurves = self.container.fcurves
        fcurve = fcurves.find(data_path)
        if fcurve is None:
            if self.slot is None:
                return fcurves.new(data_path, action_group=group)
            return fcurves.new(data_path, group_name=group)
        if clear:
            fcurve.keyframe_points.clear()
        return fcurve

    def assign_to(self, animation_data: bpy.types.AnimData) -> None:
        animation_data.action = self.action
        if self.slot is not None:
            animation_data.action_slot = self.slot


def _enum_value(prop: str, item: str) -> int:
    return bpy.types.Keyframe.bl_rna.properties[prop].enum_items[item].value


# What a freshly written key is: linear (keys are dense, so linear is exact and cannot overshoot), plain keyframe.
_NEW_KEY_ENUMS = {
    "interpolation": _enum_value("interpolation", "LINEAR"),
    "handle_left_type": _enum_value("handle_left_type", "AUTO_CLAMPED"),
    "handle_right_type": _enum_value("handle_right_type", "AUTO_CLAMPED"),
    "type": _enum_value("type", "KEYFRAME"),
    "easing": _enum_value("easing", "AUTO"),
}
_KEY_FLOAT_PAIRS = ("co", "handle_left", "handle_right")


def _write_dense_keys(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray) -> None:
    """Fill an empty F-Curve with one linear key per frame."""
    count = len(frames)
    points = fcurve.keyframe_points
    points.add(count)
    co = np.empty((count, 2), dtype=np.float32)
    co[:, 0], co[:, 1] = frames, values
    points.foreach_set("co", co.ravel())
    points.foreach_set("interpolation", np.full(count, _NEW_KEY_ENUMS["interpolation"], dtype=np.int32))
    points.foreach_set("select_control_point", np.zeros(count, dtype=bool))
    fcurve.update()


def _read_keys(fcurve: bpy.types.FCurve) -> dict[str, np.ndarray]:
    points = fcurve.keyframe_points
    count = len(points)
    keys = {}
    for field in _KEY_FLOAT_PAIRS:
        buffer = np.empty(count * 2, dtype=np.float32)
        points.foreach_get(field, buffer)
        keys[field] = buffer.reshape(count, 2)
    for field in _NEW_KEY_ENUMS:
        buffer = np.empty(count, dtype=np.int32)
        points.foreach_get(field, buffer)
        keys[field] = buffer
    return keys


def _merge_window_keys(
    fcurve: bpy.types.FCurve,
    frames: np.ndarray,
    values: np.ndarray,
    window: tuple[int, int],
    blend_frames: int,
    static_value: float,
) -> None:
    """Replace the keys inside `window` with new ones, cross-fading from the old curve over `blend_frames` at each edge.

    Keys outside the window keep every attribute (handles, interpolation, key type).
    """
    first, last = window
    old = _read_keys(fcurve)
    old_frames, old_values = old["co"][:, 0], old["co"][:, 1]
    inside = (frames >= first) & (frames <= last)
    new_frames, new_values = frames[inside], values[inside]
    if len(old_frames):
        underlying = np.interp(new_frames, old_frames, old_values)  # dense keys: linear interpolation is exact
    else:
        underlying = np.full(len(new_frames), static_value)
    ramp = np.minimum(new_frames - first + 1, last - new_frames + 1) / (blend_frames + 1)
    weight = np.clip(ramp, 0.0, 1.0)
    blended = weight * new_values + (1.0 - weight) * underlying

    keep = (old_frames < first) | (old_frames > last)
    order = np.argsort(np.concatenate([old_frames[keep], new_frames]), kind="stable")
    new_co = np.column_stack([new_frames, blended]).astype(np.float32)
    merged = {field: np.concatenate([old[field][keep], new_co])[order] for field in _KEY_FLOAT_PAIRS}
    for field, value in _NEW_KEY_ENUMS.items():
        merged[field] = np.concatenate([old[field][keep], np.full(len(new_frames), value, dtype=np.int32)])[order]

    points = fcurve.keyframe_points
    points.clear()
    points.add(len(order))
    for field in _NEW_KEY_ENUMS:  # types before handles: setting a handle type may move its handle
        points.foreach_set(field, merged[field])
    for field in _KEY_FLOAT_PAIRS:
        points.foreach_set(field, merged[field].ravel())
    points.foreach_set("select_control_point", np.zeros(len(order), dtype=bool))
    fcurve.update()


def push_to_muted_nla_track(animation_data: bpy.types.AnimData, action: bpy.types.Action, slot, start: int) -> None:
    track = animation_data.nla_tracks.new()
    track.name = PREVIOUS_TAKE_TRACK_PREFIX + action.name
    frame_start = int(np.floor(action.frame_range[0])) if action.frame_range[1] > action.frame_range[0] else start
    strip = track.strips.new(action.name, frame_start, action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    track.mute = True


def benchmark_key_writing(frames: int = 18000, channels: int = len(ARKIT_NAMES)) -> float:
    """Seconds to write `frames` x `channels` keys with `write_shape_key_action` (temporary data, removed after)."""
    mesh = bpy.data.meshes.new("diffusiontalker_benchmark")
    mesh.vertices.add(1)
    obj = bpy.data.objects.new("diffusiontalker_benchmark", mesh)
    obj.shape_key_add(name="Basis")
    for name in ARKIT_NAMES[:channels]:
        obj.shape_key_add(name=name)
    key = mesh.shape_keys
    rng = np.random.default_rng(0)
    animation = Animation(weights=rng.random((frames, len(ARKIT_NAMES)), dtype=np.float32), fps=30.0)
    mapping = [ShapeKeyChannel(name, index) for index, name in enumerate(ARKIT_NAMES[:channels])]
    try:
        began = time.perf_counter()
        result = write_shape_key_action(
            key, animation, mapping, scene_fps=30.0, start_frame=1, action_name="diffusiontalker_benchmark"
        )
        seconds = time.perf_counter() - began
        bpy.data.actions.remove(result.action)
    finally:
        bpy.data.objects.remove(obj)
        bpy.data.meshes.remove(mesh)  # frees its shape-key datablock too
    return seconds


def benchmark_main(argv: list[str]) -> int:
    """Command line of `python -m diffusiontalker_addon benchmark`: prints one JSON line."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m diffusiontalker_addon benchmark", description="Time DiffusionTalker's shape-key writing."
    )
    parser.add_argument("--frames", type=int, default=18000)
    parser.add_argument("--channels", type=int, default=len(ARKIT_NAMES))
    parser.add_argument("--repeat", type=int, default=3, help="report the fastest of this many runs")
    args = parser.parse_args(argv)
    runs = [benchmark_key_writing(args.frames, args.channels) for _ in range(max(1, args.repeat))]
    report = {"frames": args.frames, "channels": args.channels, "seconds": min(runs), "runs": runs}
    report["keys_per_second"] = args.frames * args.channels / report["seconds"]
    print(json.dumps(report))
    return 0
