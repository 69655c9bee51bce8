"""Panel settings saved with the scene (`scene.diffusiontalker`) and the running job's state (`wm.diffusiontalker_job`,
not saved: a job never outlives the session)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from core.runtime import DEFAULT_BLINKS_PER_MINUTE, DEFAULT_IDENTITY, NEUTRAL_EMOTION

from . import scene_guard, style_store

LOCKABLE_REGION_ITEMS = [
    (region, region.replace("_", " & ").title(), scene_guard.describe_region(region))
    for region in scene_guard.region_names()
]


def _mapping_preset_suggestions(_self, _context, _edit_text: str) -> list[str]:
    from core.runtime import preset_names

    return preset_names()


class DIFFUSIONTALKER_PG_settings(bpy.types.PropertyGroup):
    audio_source: EnumProperty(
        name="Audio Source",
        items=[
            ("FILE", "File", "An audio file on disk (.wav, .flac, .ogg, .mp3)"),
            ("STRIP", "Sound Strip", "A sound strip in this scene's sequencer; keys start where the strip starts"),
        ],
        default="FILE",
    )
    audio_path: StringProperty(
        name="Audio",
        description="The voice recording to animate",
        subtype="FILE_PATH",
        options={"PATH_SUPPORTS_BLEND_RELATIVE"},
    )
    sound_strip: StringProperty(name="Sound Strip", description="The sequencer sound strip to animate")
    # Saved as names, shown through the menus below (style_store explains why not as menu positions).
    identity: StringProperty(name="Identity", description="Whose speaking manner to imitate", default=DEFAULT_IDENTITY)
    emotion: StringProperty(name="Emotion", description="The emotion to speak with", default=NEUTRAL_EMOTION)
    identity_menu: EnumProperty(
        name="Identity",
        description="Whose speaking manner to imitate",
        items=style_store.enum_items_callback("identity"),
        get=style_store.menu_getter("identity"),
        set=style_store.menu_setter("identity"),
        options={"SKIP_SAVE"},
    )
    emotion_menu: EnumProperty(
        name="Emotion",
        description="The emotion to speak with",
        items=style_store.enum_items_callback("emotion"),
        get=style_store.menu_getter("emotion"),
        set=style_store.menu_setter("emotion"),
        options={"SKIP_SAVE"},
    )
    emotion_strength: FloatProperty(
        name="Intensity", description="How strongly the emotion shows", default=1.0, min=0.0, max=2.0, soft_max=1.5
    )
    seed: IntProperty(name="Seed", description="Each seed is a different take of the same audio and style", min=0)
    blinks_per_minute: FloatProperty(
        name="Blinks / min",
        description="Blinks laid over the model's eyelids, drawn to the pauses (0: only the model's own)",
        default=DEFAULT_BLINKS_PER_MINUTE, min=0.0, max=60.0, soft_max=30.0,
    )  # fmt: skip
    start_frame: IntProperty(name="Start Frame", description="Scene frame of the first audio sample", default=1)
    add_audio_strip: BoolProperty(
        name="Add Audio to Sequencer",
        description="Put the audio in the sequencer at the start frame so playback is in sync with the keys",
        default=True,
    )
    set_frame_range: BoolProperty(
        name="Fit Frame Range", description="Set the scene's start/end frames to the animation", default=True
    )
    locked_regions: EnumProperty(
        name="Lock",
        description="Face regions to leave untouched (they keep their current animation)",
        items=LOCKABLE_REGION_ITEMS,
        options={"ENUM_FLAG"},
    )
    locked_channels: StringProperty(
        name="Lock Channels", description="More shape keys to leave untouched, comma-separated (e.g. eyeBlinkLeft)"
    )
    use_frame_window: BoolProperty(
        name="Regenerate Range Only",
        description="Only replace the keys between First and Last, blending into the current animation",
    )
    window_first: IntProperty(name="First", default=1)
    window_last: IntProperty(name="Last", default=100)
    blend_frames: IntProperty(
        name="Blend", description="Frames to cross-fade at each edge of the range", default=3, min=0
    )
    mapping_preset: StringProperty(
        name="Name Mapping",
        description="Preset that maps the rig's shape-key names to ARKit names: a shipped preset's name or a .json "
        "path (empty: match names automatically)",
        search=_mapping_preset_suggestions,
    )


class DIFFUSIONTALKER_PG_job(bpy.types.PropertyGroup):
    running: BoolProperty(options={"SKIP_SAVE"})
    progress: FloatProperty(min=0.0, max=1.0, subtype="FACTOR", options={"SKIP_SAVE"})
    message: StringProperty(options={"SKIP_SAVE"})
    cancel_requested: BoolProperty(options={"SKIP_SAVE"})


def animate_arguments(settings: DIFFUSIONTALKER_PG_settings) -> dict[str, object]:
    """The panel's settings as `bpy.ops.diffusiontalker.animate(...)` keyword arguments."""
    from_strip = settings.audio_source == "STRIP"
    return {
        "audio": "" if from_strip else settings.audio_path,
        "sound_strip": settings.sound_strip if from_strip else "",
        "identity": settings.identity,
        "emotion": settings.emotion,
        "emotion_strength": settings.emotion_strength,
        "seed": settings.seed,
        "blinks_per_minute": settings.blinks_per_minute,
        "start_frame": settings.start_frame,
        "add_audio_strip": settings.add_audio_strip and not from_strip,
        "set_frame_range": settings.set_frame_range,
        "locked_regions": set(settings.locked_regions),
        "locked_channels": settings.locked_channels,
        "use_frame_window": settings.use_frame_window,
        "window_first": settings.window_first,
        "window_last": settings.window_last,
        "blend_frames": settings.blend_frames,
        "mapping_preset": settings.mapping_preset,
    }


classes = (DIFFUSIONTALKER_PG_settings, DIFFUSIONTALKER_PG_job)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.diffusiontalker = PointerProperty(type=DIFFUSIONTALKER_PG_settings)
    bpy.types.WindowManager.diffusiontalker_job = PointerProperty(type=DIFFUSIONTALKER_PG_job)


def unregister() -> None:
    del bpy.types.WindowManager.diffusiontalker_job
    del bpy.types.Scene.diffusiontalker
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
