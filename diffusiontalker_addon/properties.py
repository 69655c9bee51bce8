"""Panel settings saved with the scene (`scene.diffusiontalker`) and the running job's state (`wm.diffusiontalker_job`,
not saved: a job never outlives the session).

The animate options (Identity, Emotion, Intensity, Seed, Blinks, Start Frame) are made by `option_property` from
core/animate_options.py, the schema the CLI and batch flags come from too.

Scenes saved by older versions: those stored Identity / Emotion as a menu position (an EnumProperty index; an unset
menu meant its first item). A position cannot be turned back into a name (it depended on that machine's menu then),
so `migrate_legacy_styles` makes it a "missing" style that says what happened, never another style. Files written
since carry `settings_version` = SETTINGS_VERSION (stamped on save), so an unset name there is the default.
"""

from __future__ import annotations

import bpy
from bpy.app.handlers import persistent
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from core.runtime import (
    AUDIO_SUFFIXES,
    BLENDER,
    OPTIONS_BY_NAME,
    options_for,
)

from . import scene_guard, style_store

SETTINGS_NAME = "diffusiontalker"  # bpy.types.Scene.<this>: where a .blend keeps the panel's settings
LEGACY_POSITION_PREFIX = "menu item "  # how a migrated menu position reads: "menu item 3 of an older version"
LEGACY_POSITION_SUFFIX = " of an older version"
SETTINGS_VERSION = 2  # 2: Identity / Emotion stored as names; absent (older versions): as menu positions


def option_property(name: str, refuse_out_of_range: bool = False):
    """The bpy property of the animate option `name`, as core/animate_options.py declares it.

    Scene settings clamp to the allowed range (what Blender's fields do); an operator's property instead keeps what a
    script passed (`refuse_out_of_range`), so the operator can refuse it with the CLI's words rather than clamp it
    silently. Either way the sliders drag over the schema's slider range."""
    option = OPTIONS_BY_NAME[name]
    if option.kind is str:
        return StringProperty(name=option.label, description=option.description, default=option.default)
    bounds = {}
    for key, value in (
        ("min", None if refuse_out_of_range else option.minimum),
        ("max", None if refuse_out_of_range else option.maximum),
        ("soft_min", option.slider_minimum),
        ("soft_max", option.slider_maximum),
    ):
        if value is not None:
            bounds[key] = option.kind(value)
    make = IntProperty if option.kind is int else FloatProperty
    return make(name=option.label, description=option.description, default=option.default, **bounds)


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
            ("FILE", "File", f"An audio file on disk ({', '.join(AUDIO_SUFFIXES)})"),
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
    identity: option_property("identity")
    emotion: option_property("emotion")
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
    emotion_strength: option_property("emotion_strength")
    seed: option_property("seed")
    blinks_per_minute: option_property("blinks_per_minute")
    start_frame: option_property("start_frame")
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
    settings_version: IntProperty(
        name="Settings Version", description="How these settings are stored (see properties.py)", options={"HIDDEN"}
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
        **{option.name: getattr(settings, option.name) for option in options_for(BLENDER)},
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


# ---- scenes saved by older versions --------------------------------------------------------------------------------


def legacy_position_name(position: int) -> str:
    """What a migrated menu position (0-based, as an older version stored it) reads as, in the menu and in errors."""
    return f"{LEGACY_POSITION_PREFIX}{position + 1}{LEGACY_POSITION_SUFFIX}"


def is_legacy_position_name(name: str) -> bool:
    return name.startswith(LEGACY_POSITION_PREFIX) and name.endswith(LEGACY_POSITION_SUFFIX)


def _stored_settings(scene: bpy.types.Scene):
    """The scene's raw stored settings (an IDPropertyGroup), None when none were ever written."""
    stored = scene.bl_system_properties_get()
    group = stored.get(SETTINGS_NAME) if stored is not None else None
    return group if hasattr(group, "keys") else None


def migrate_legacy_styles(scene: bpy.types.Scene, unset_means_first_item: bool = True) -> dict[str, str]:
    """Turn Identity / Emotion an older version stored as a menu position into a missing style name; returns
    {kind: new name} for what it changed. Settings stamped with SETTINGS_VERSION are left alone.

    It reads the raw stored values: Blender drops an int stored where a string property now lives the first time
    anything reads it, and the setting would silently become the default style. `unset_means_first_item`: an older
    version's unset menu showed (and animated with) its first item, so an unset name is that position too; False
    where the settings may be this session's own, not yet stamped (the add-on enabled again in one session)."""
    group = _stored_settings(scene)
    if group is None or group.get("settings_version", 0) >= SETTINGS_VERSION:
        return {}
    changed = {}
    for kind in style_store.STYLE_KINDS:
        position = group.get(kind)
        if position is None and unset_means_first_item:
            position = 0
        if isinstance(position, int) and not isinstance(position, bool):
            if kind in group:
                del group[kind]  # an int cannot hold the name: clear it, then store the name through the property
            changed[kind] = legacy_position_name(position)
            setattr(getattr(scene, SETTINGS_NAME), kind, changed[kind])
    return changed


def _migrate_scenes(unset_means_first_item: bool) -> None:
    for scene in bpy.data.scenes:
        changed = migrate_legacy_styles(scene, unset_means_first_item)
        for kind, name in changed.items():
            print(
                f"DiffusionTalker: scene '{scene.name}' was saved by an older version that stored the {kind} as a "
                f"menu position; it now shows as missing ('{name}'): choose the {kind} again in the panel"
            )


@persistent
def _migrate_loaded_file(_filepath: str = "") -> None:
    _migrate_scenes(unset_means_first_item=True)


@persistent
def _stamp_settings_version(_filepath: str = "") -> None:
    """Before saving: mark settings as stored by name, so reopening never mistakes them for an older version's."""
    for scene in bpy.data.scenes:
        if _stored_settings(scene) is not None:
            getattr(scene, SETTINGS_NAME).settings_version = SETTINGS_VERSION


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.diffusiontalker = PointerProperty(type=DIFFUSIONTALKER_PG_settings)
    bpy.types.WindowManager.diffusiontalker_job = PointerProperty(type=DIFFUSIONTALKER_PG_job)
    bpy.app.handlers.load_post.append(_migrate_loaded_file)
    bpy.app.handlers.save_pre.append(_stamp_settings_version)
    if isinstance(getattr(bpy.data, "scenes", None), bpy.types.bpy_prop_collection):
        # Enabled with a file already open (not at startup, when bpy.data is restricted): its settings may be this
        # session's own, so only stored positions are certain to be an older version's.
        _migrate_scenes(unset_means_first_item=False)


def unregister() -> None:
    for handlers, handler in (
        (bpy.app.handlers.load_post, _migrate_loaded_file),
        (bpy.app.handlers.save_pre, _stamp_settings_version),
    ):
        if handler in handlers:
            handlers.remove(handler)
    del bpy.types.WindowManager.diffusiontalker_job
    del bpy.types.Scene.diffusiontalker
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
