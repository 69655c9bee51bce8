"""Check everything an animation needs before any data is touched, so a failure never harms the scene.

Every check raises SceneGuardError with a message that names the problem and the fix. Operators call
`check_animate_inputs` first, run the engine, then `check_animation` and `recheck_target` (the user may have
changed the scene while a modal job ran), and only then write, in one undoable step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from core.runtime import (
    ARKIT52,
    ARKIT_NAMES,
    OPTIONS_BY_NAME,
    REGION_PATTERNS,
    Animation,
    AnimationEngine,
    AnimationRequest,
    AudioError,
    RigDescriptor,
    region_of,
    validate_speech_audio,
)

from . import audio_source
from .action_writer import ShapeKeyChannel

MAX_AUDIO_SECONDS = 30 * 60  # 54,000 frames at 30 fps; split longer recordings (batch.py animates a folder)
MAX_AUDIO_BYTES = 1 << 30


class SceneGuardError(Exception):
    """A problem found before anything was written. The message says what is wrong and how to fix it."""


@dataclass
class AnimateOptions:
    """What the user asked for (operator properties or batch arguments), before validation."""

    object_name: str = ""  # "" -> the active object
    audio_path: str = ""
    sound_strip: str = ""  # a sequencer sound strip instead of a file; keys then start where the strip starts
    # The animate options' defaults are core/animate_options.py's (the operator checks their ranges).
    identity: str = OPTIONS_BY_NAME["identity"].default
    emotion: str = OPTIONS_BY_NAME["emotion"].default
    emotion_strength: float = OPTIONS_BY_NAME["emotion_strength"].default
    seed: int = OPTIONS_BY_NAME["seed"].default
    blinks_per_minute: float = OPTIONS_BY_NAME["blinks_per_minute"].default
    start_frame: int = OPTIONS_BY_NAME["start_frame"].default
    add_audio_strip: bool = False
    set_frame_range: bool = False
    locked_regions: frozenset[str] = frozenset()  # keys of core.rig.arkit.REGION_PATTERNS
    locked_channels: str = ""  # comma-separated ARKit or rig shape-key names
    frame_window: tuple[int, int] | None = None  # regenerate only these scene frames
    blend_frames: int = 3
    mapping_preset: str = ""


@dataclass
class CheckedTarget:
    object_name: str
    key: bpy.types.Key | None  # None only for a vertex-basis rig whose keys the write creates (rig_keys.py)
    channels: list[ShapeKeyChannel]
    unmapped: list[str] = field(default_factory=list)  # rig shape keys no ARKit channel drives
    rig: RigDescriptor = ARKIT52  # the engine's rig: ShapeKeyChannel.channel_index indexes its names


@dataclass
class AnimatePlan:
    """Validated inputs: everything the job and the writer need, by value or by name."""

    target: CheckedTarget
    locked_key_blocks: frozenset[str]
    audio: audio_source.AudioInput
    audio_seconds: float
    engine: AnimationEngine
    request: AnimationRequest
    scene_fps: float
    options: AnimateOptions
    scene_name: str
    # The character's other meshes with mapped keys (teeth, tongue, eyes...): each gets the take too.
    other_targets: tuple[CheckedTarget, ...] = ()


def check_animate_inputs(context: bpy.types.Context, options: AnimateOptions, engine: AnimationEngine) -> AnimatePlan:
    """Validate target object, audio, style and options; touch nothing."""
    scene = context.scene
    obj = bpy.data.objects.get(options.object_name) if options.object_name else context.active_object
    if options.object_name and obj is None:
        raise SceneGuardError(
            f"There is no object named '{options.object_name}'; check the name (it is case-sensitive)"
        )
    target, other_targets = check_character(obj, options.mapping_preset, engine_rig(engine))
    locked = resolve_locked_key_blocks(target, options.locked_regions, options.locked_channels)
    if len(locked) == len(target.channels):
        raise SceneGuardError(
            "Every matched shape key is locked, so there is nothing to animate; unlock a region or channel"
        )

    if options.sound_strip:
        audio = check_sound_strip(scene, options.sound_strip)
    else:
        audio = audio_source.AudioInput(path=check_audio_path_text(options.audio_path), start_frame=options.start_frame)
    samples = check_audio_file(audio.path)
    seconds = len(samples) / audio_source.ANALYSIS_SAMPLE_RATE
    check_style(engine, options.identity, options.emotion)

    scene_fps = scene.render.fps / scene.render.fps_base
    if options.frame_window is not None:
        check_frame_window(target, options.frame_window, audio.start_frame, int(round(seconds * scene_fps)) + 1)
    if options.add_audio_strip and not options.sound_strip:
        duration_frames = int(math.ceil(seconds * scene_fps))
        if audio_source.find_sound_strip(scene, audio.path, audio.start_frame) is None:
            if audio_source.free_sequencer_channel(scene, audio.start_frame, duration_frames) is None:
                raise SceneGuardError(
                    f"No free sequencer channel at frame {audio.start_frame} for the audio strip; "
                    "free a channel or untick Add Audio to Sequencer"
                )
    request = AnimationRequest(
        audio_path=audio.path,
        identity=options.identity,
        emotion=options.emotion,
        emotion_strength=float(options.emotion_strength),
        seed=int(options.seed),
        blinks_per_minute=float(options.blinks_per_minute),
        fps=float(scene_fps),
        audio=samples,
    )
    return AnimatePlan(
        target, locked, audio, seconds, engine, request, scene_fps, options, scene.name, tuple(other_targets)
    )


def engine_rig(engine: AnimationEngine) -> RigDescriptor:
    """The rig an engine's Animations are in (ARKit-52 for an engine that does not say)."""
    return getattr(engine, "rig", None) or ARKIT52


def check_target_object(
    obj: bpy.types.Object | None, mapping_preset: str = "", rig: RigDescriptor = ARKIT52
) -> CheckedTarget:
    """The object must be a local mesh whose shape keys map onto the rig's channels: by ARKit name (name mapping and
    presets) for ARKit-52, by the rig's own names for another blendshape rig; a vertex-basis rig needs the mesh it
    was built for (same vertex count) and makes its missing keys when the take is written."""
    check_editable_mesh(obj)
    key = obj.data.shape_keys
    if not rig.is_arkit52:
        return _check_rig_target(obj, rig)
    if key is None or len(key.key_blocks) < 2:
        raise SceneGuardError(
            f"Object '{obj.name}' has no shape keys; run Add ARKit Keys (adds the 52 ARKit shape keys to sculpt) "
            "or start from Add Demo Head"
        )
    if not key.use_relative:
        raise SceneGuardError(
            f"Object '{obj.name}' uses absolute shape keys; tick Relative in Object Data > Shape Keys, then try again"
        )
    if key.animation_data is not None and key.animation_data.use_tweak_mode:
        raise SceneGuardError(
            f"The shape keys of '{obj.name}' are in NLA tweak mode; leave it (Tab in the NLA editor), then try again"
        )
    rig_names = [block.name for block in key.key_blocks[1:]]  # [0] is the basis
    channels, unmapped = map_rig_channels(rig_names, mapping_preset)
    if not channels:
        shown = ", ".join(rig_names[:6]) + (", ..." if len(rig_names) > 6 else "")
        raise SceneGuardError(
            f"Object '{obj.name}' has no shape keys named like ARKit blendshapes (found: {shown}); "
            "run Add ARKit Keys or pick a mapping preset in the DiffusionTalker panel"
        )
    return CheckedTarget(obj.name, key, channels, unmapped)


def _check_rig_target(obj: bpy.types.Object, rig: RigDescriptor) -> CheckedTarget:
    """check_target_object for a rig that is not ARKit-52: its channels drive the shape keys of the same names."""
    key = obj.data.shape_keys
    if rig.vertex_count is not None and len(obj.data.vertices) != rig.vertex_count:
        raise SceneGuardError(
            f"Object '{obj.name}' has {len(obj.data.vertices)} vertices, but the model's rig '{rig.name}' is a vertex "
            f"basis of {rig.vertex_count}; select the mesh the model was made for (same vertices, same order)"
        )
    if key is not None and not key.use_relative:
        raise SceneGuardError(
            f"Object '{obj.name}' uses absolute shape keys; tick Relative in Object Data > Shape Keys, then try again"
        )
    if key is not None and key.animation_data is not None and key.animation_data.use_tweak_mode:
        raise SceneGuardError(
            f"The shape keys of '{obj.name}' are in NLA tweak mode; leave it (Tab in the NLA editor), then try again"
        )
    existing = {block.name.lower(): block.name for block in key.key_blocks[1:]} if key is not None else {}
    if rig.vertex_count is None:  # a blendshape rig: only the keys the mesh has
        channels = [ShapeKeyChannel(existing[n.lower()], i) for i, n in enumerate(rig.names) if n.lower() in existing]
        if not channels:
            raise SceneGuardError(
                f"Object '{obj.name}' has no shape keys named like the channels of the model's rig '{rig.name}' "
                f"({', '.join(rig.names[:4])}, ...); add them, or select the mesh the model was made for"
            )
    else:  # a vertex basis: every channel, under the key's existing name (the write adds the missing ones)
        channels = [ShapeKeyChannel(existing.get(n.lower(), n), i) for i, n in enumerate(rig.names)]
    driven = {c.key_block.lower() for c in channels}
    unmapped = [name for lower, name in existing.items() if lower not in driven]
    return CheckedTarget(obj.name, key, channels, unmapped, rig)


def check_editable_mesh(obj: bpy.types.Object | None) -> None:
    """A local (not linked, not overridden) mesh object: one whose data this add-on may change."""
    if obj is None:
        raise SceneGuardError("No active object; click the face mesh in the viewport to make it active, then try again")
    if obj.type != "MESH":
        raise SceneGuardError(
            f"Active object '{obj.name}' is a {obj.type.lower()}, not a mesh; select the face mesh that has the shape keys"
        )
    for datablock, what in ((obj, "Object"), (obj.data, "Mesh"), (obj.data.shape_keys, "Shape keys")):
        if datablock is None:
            continue
        if datablock.library is not None:
            raise SceneGuardError(
                f"{what} '{datablock.name}' of '{obj.name}' is linked from '{datablock.library.filepath}' and cannot be "
                "changed here; make it local (Object > Relations > Make Local > All) or animate it in its own .blend"
            )
        if datablock.override_library is not None:
            raise SceneGuardError(
                f"{what} '{datablock.name}' of '{obj.name}' is a library override, whose shape keys cannot take a new "
                "Action; make it local (Object > Relations > Make Local > All) or animate the source .blend"
            )


def map_rig_channels(rig_names: list[str], mapping_preset: str = "") -> tuple[list[ShapeKeyChannel], list[str]]:
    """Rig shape keys -> ARKit channels through core.rig.name_mapping (scale included); also the unmapped names."""
    from core.runtime import map_channel_names

    preset = mapping_preset.strip()
    if preset.startswith("//"):  # relative to the .blend, like every Blender path
        preset = bpy.path.abspath(preset)
    try:
        mapping = map_channel_names(rig_names, preset=preset or None)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        reason = exc.args[0] if exc.args else exc  # str(KeyError) would wrap the message in quotes
        raise SceneGuardError(f"Mapping preset '{mapping_preset}' cannot be used: {reason}") from None
    channels = [
        ShapeKeyChannel(rig_name, ARKIT_NAMES.index(arkit_name), float(scale), mix)
        for rig_name, arkit_name, scale, mix in _mapping_pairs(mapping)
    ]
    return channels, list(mapping.unmapped)


def _mapping_pairs(mapping) -> Iterable[tuple[str, str, float, tuple[tuple[int, float], ...]]]:
    return (
        (pair.rig_name, pair.arkit_name, pair.scale, tuple((ARKIT_NAMES.index(n), w) for n, w in pair.mix))
        for pair in mapping.pairs
    )


_LOCK_REGION_PARTS = {"cheeks_nose": ("cheeks", "nose")}


def resolve_locked_key_blocks(target: CheckedTarget, regions: Iterable[str], channel_text: str) -> frozenset[str]:
    """Rig shape keys to leave untouched: those driven by a locked region's channels, plus named channels."""
    unknown_regions = sorted(set(regions) - set(REGION_PATTERNS))
    if unknown_regions:
        raise SceneGuardError(
            f"Unknown face region(s) to lock: {', '.join(unknown_regions)}; use {', '.join(REGION_PATTERNS)}"
        )
    # a lockable region is one or two rig regions (the descriptor splits "cheeks_nose" into cheeks and nose)
    locked_regions = {part for region in regions for part in _LOCK_REGION_PARTS.get(region, (region,))}
    names, rig_regions = target.rig.names, target.rig.regions
    by_rig = {c.key_block.lower(): c.key_block for c in target.channels}
    by_arkit = {names[c.channel_index].lower(): c.key_block for c in target.channels}
    locked = {c.key_block for c in target.channels if rig_regions[c.channel_index] in locked_regions}
    unknown = []
    for name in (part.strip() for part in channel_text.split(",")):
        if not name:
            continue
        match = by_rig.get(name.lower()) or by_arkit.get(name.lower())
        if match is None:
            unknown.append(name)
        else:
            locked.add(match)
    if unknown:
        raise SceneGuardError(
            f"Cannot lock {', '.join(repr(n) for n in unknown)}: not a shape key of '{target.object_name}' that "
            "DiffusionTalker animates; use ARKit names (e.g. eyeBlinkLeft) or the rig's own shape-key names"
        )
    return frozenset(locked)


def check_audio_path_text(text: str) -> Path:
    if not text.strip():
        formats = ", ".join(audio_source.SUPPORTED_AUDIO_SUFFIXES)
        raise SceneGuardError(f"No audio chosen; pick a {formats} file (or a sound strip) first")
    return audio_source.absolute_audio_path(text.strip())


def check_sound_strip(scene: bpy.types.Scene, strip_name: str) -> audio_source.AudioInput:
    strip = next((s for s in audio_source.all_strips(scene) if s.name == strip_name), None)
    if strip is None:
        raise SceneGuardError(
            f"Scene '{scene.name}' has no sequencer strip named '{strip_name}'; pick an existing sound strip or a file"
        )
    if strip.type != "SOUND":
        raise SceneGuardError(f"Strip '{strip_name}' is a {strip.type.lower()} strip, not sound; pick a sound strip")
    path = audio_source.strip_audio_path(strip)
    if path is None:
        raise SceneGuardError(
            f"The sound of strip '{strip_name}' is packed into the .blend; unpack it (File > External Data > Unpack "
            "Resources) or pick the audio file directly"
        )
    return audio_source.AudioInput(path=path, start_frame=int(round(strip.frame_start)), strip_name=strip_name)


def check_audio_file(path: Path) -> np.ndarray:
    """Readable, supported, not empty, not silent, neither too short nor too long: its mono samples at 16 kHz."""
    name = f"Audio file '{path}'"
    if not path.exists():
        raise SceneGuardError(f"{name} does not exist; check the path or pick the file again")
    if not path.is_file():
        raise SceneGuardError(f"{name} is a folder, not a file; pick an audio file inside it")
    if path.suffix.lower() not in audio_source.SUPPORTED_AUDIO_SUFFIXES:
        raise SceneGuardError(
            f"{name} has an unsupported type '{path.suffix or '(none)'}'; use "
            f"{', '.join(audio_source.SUPPORTED_AUDIO_SUFFIXES)} (convert it, e.g. `ffmpeg -i in out.wav`)"
        )
    size = path.stat().st_size
    if size == 0:
        raise SceneGuardError(f"{name} is empty (0 bytes); export the recording again")
    if size > MAX_AUDIO_BYTES:
        raise SceneGuardError(
            f"{name} is {size / (1 << 30):.1f} GiB, more than the {MAX_AUDIO_BYTES >> 30} GiB limit; split it or "
            "export a mono 16 kHz version"
        )
    try:
        seconds = audio_source.probe_duration_seconds(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same thing to the user
        raise SceneGuardError(f"{name} could not be read ({exc}); it may be corrupt: export it again as .wav") from None
    if seconds > MAX_AUDIO_SECONDS:
        raise SceneGuardError(
            f"{name} lasts {seconds:.1f} s, more than the {MAX_AUDIO_SECONDS:g} s limit ({MAX_AUDIO_SECONDS / 60:g} min); "
            "split it into parts (batch.py animates a folder of files)"
        )
    try:
        samples = audio_source.decode_mono(path)
    except AudioError as exc:  # core.audio's messages already say what is wrong and what to do
        raise SceneGuardError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - aud's errors
        raise SceneGuardError(
            f"{name} could not be decoded ({exc}); it may be corrupt: export it again as .wav"
        ) from None
    try:
        validate_speech_audio(samples, audio_source.ANALYSIS_SAMPLE_RATE, name=name)
    except AudioError as exc:
        raise SceneGuardError(str(exc)) from None
    return samples


def check_style(engine: AnimationEngine, identity: str, emotion: str) -> None:
    for kind, name, offered in (("Identity", identity, engine.identities()), ("Emotion", emotion, engine.emotions())):
        if name not in offered:
            raise SceneGuardError(
                f"{kind} '{name}' is not in the style library; choose one of: {', '.join(offered)} (a style saved "
                "with a scene is missing when it was added on another machine, renamed or deleted)"
            )


def check_frame_window(target: CheckedTarget, window: tuple[int, int], start_frame: int, frames: int) -> None:
    first, last = window
    if first > last:
        raise SceneGuardError(f"Regenerate range {first}-{last} is reversed; the first frame must not exceed the last")
    end = start_frame + frames - 1
    if last < start_frame or first > end:
        raise SceneGuardError(
            f"Regenerate range {first}-{last} lies outside the animation (frames {start_frame}-{end}); adjust the range"
        )
    animation_data = target.key.animation_data if target.key is not None else None
    if animation_data is None or animation_data.action is None:
        raise SceneGuardError(
            f"'{target.object_name}' has no animation to blend the regenerated range into; animate the whole clip first"
        )


def check_animation(animation: object, engine: AnimationEngine) -> Animation:
    """The engine's result must be finite (frames, channels) weights at a positive fps, in the engine's rig; returned
    in that rig's channel order (an animation of the same channels in another order is reordered)."""
    name = getattr(engine, "name", type(engine).__name__)
    if not isinstance(animation, Animation):
        raise SceneGuardError(
            f"Engine '{name}' returned {type(animation).__name__}, not an Animation; nothing was written"
        )
    weights = np.asarray(animation.weights, dtype=np.float32)
    if weights.ndim != 2 or weights.shape[0] == 0 or weights.shape[1] != len(animation.names):
        raise SceneGuardError(
            f"Engine '{name}' returned weights of shape {weights.shape}; expected (frames, {len(animation.names)}); "
            "nothing was written"
        )
    if not np.all(np.isfinite(weights)) or not animation.fps > 0:
        raise SceneGuardError(
            f"Engine '{name}' returned invalid numbers (NaN/Inf or fps {animation.fps}); nothing was written"
        )
    expected, rig = engine_rig(engine), animation.rig
    if rig.names != expected.names:
        lookup = {n.lower(): i for i, n in enumerate(animation.names)}
        missing = [n for n in expected.names if n.lower() not in lookup]
        if missing or len(lookup) != expected.num_channels:
            raise SceneGuardError(
                f"Engine '{name}' returned channels of rig '{rig.name}' that are not its rig '{expected.name}' "
                f"(no {', '.join(missing[:4]) or 'match for some'} channel(s)); nothing was written"
            )
        weights, rig = weights[:, [lookup[n.lower()] for n in expected.names]], expected
    return Animation(
        weights=weights, fps=float(animation.fps), source=animation.source, info=dict(animation.info), rig=rig
    )


def recheck_target(plan: AnimatePlan) -> CheckedTarget:
    """Re-validate the target after a modal job: the user may have deleted, renamed or linked it meanwhile."""
    obj = bpy.data.objects.get(plan.target.object_name)
    if obj is None:
        raise SceneGuardError(
            f"Object '{plan.target.object_name}' was deleted or renamed while the animation was generated; "
            "nothing was written; animate again"
        )
    return check_target_object(obj, plan.options.mapping_preset, plan.target.rig)


def region_names() -> list[str]:
    """Face regions a user can lock, in display order."""
    return list(REGION_PATTERNS)


def describe_region(region: str) -> str:
    names = [n for n in ARKIT_NAMES if region_of(n) == region]
    return f"{len(names)} channels: {', '.join(names[:4])}{', ...' if len(names) > 4 else ''}"


def check_character(
    obj: bpy.types.Object | None, mapping_preset: str = "", rig: RigDescriptor = ARKIT52
) -> tuple[CheckedTarget, list[CheckedTarget]]:
    """The take's main target and the character's other meshes that it animates too.

    A character is the object's topmost parent and everything under it (an armature or empty with head, teeth,
    tongue, eye meshes...). A mesh with shape keys is the main target and must pass check_target_object; an
    armature, an empty, a mesh without shape keys or one whose keys all follow drivers hands that role to the first of the character's meshes with
    mapped keys. The other meshes count only with mapped keys that no driver already moves (the human demo head's
    parts follow the head through drivers, so they need no Action). A rig other than ARKit-52 drives the one mesh
    it names (a vertex basis belongs to one mesh): no character search."""
    if not rig.is_arkit52:
        return check_target_object(obj, mapping_preset, rig), []
    others = _character_meshes(obj, mapping_preset) if obj is not None else []
    if obj is not None and obj.type == "MESH" and obj.data.shape_keys is not None:
        main = check_target_object(obj, mapping_preset)
        driven = _driven_key_blocks(main.key)
        if not others or any(c.key_block not in driven for c in main.channels):
            return main, others
        # Every key of this mesh follows another mesh's keys (drivers): the take belongs to that mesh.
    if not others:
        if obj is not None and obj.type != "MESH" and (obj.parent is not None or obj.children):
            raise SceneGuardError(
                f"No mesh of the character '{obj.name}' belongs to has shape keys named like ARKit blendshapes; "
                "select the face mesh, run Add ARKit Keys on it, or pick a mapping preset"
            )
        check_target_object(obj, mapping_preset)  # raises the reason this object cannot be animated
    main = check_target_object(bpy.data.objects[others[0].object_name], mapping_preset)
    return main, others[1:]


def _character_meshes(obj: bpy.types.Object, mapping_preset: str) -> list[CheckedTarget]:
    """The character's meshes other than `obj` whose undriven shape keys map onto ARKit channels, in hierarchy order."""
    root = obj
    while root.parent is not None:
        root = root.parent
    found = []
    for other in (root, *root.children_recursive):
        if other == obj or other.type != "MESH" or other.data.shape_keys is None:
            continue
        try:
            target = check_target_object(other, mapping_preset)
        except SceneGuardError:
            continue  # a body mesh with corrective keys, a linked prop...: not part of the face
        driven = _driven_key_blocks(target.key)
        target.channels = [c for c in target.channels if c.key_block not in driven]
        if target.channels:
            found.append(target)
    return found


def _driven_key_blocks(key: bpy.types.Key) -> set[str]:
    data = key.animation_data
    if data is None:
        return set()
    return {fc.data_path.split('"')[1] for fc in data.drivers if fc.data_path.startswith("key_blocks[")}


def lenient_locked_key_blocks(target: CheckedTarget, regions: Iterable[str], channel_text: str) -> frozenset[str]:
    """resolve_locked_key_blocks for a character's other meshes: a named channel they lack is simply not there."""
    known = {c.key_block.lower() for c in target.channels} | {
        target.rig.names[c.channel_index].lower() for c in target.channels
    }
    names = ",".join(n for n in (part.strip() for part in channel_text.split(",")) if n.lower() in known)
    return resolve_locked_key_blocks(target, regions, names)
