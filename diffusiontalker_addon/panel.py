"""The sidebar panel (3D Viewport > N > DiffusionTalker): target, audio, style, options, run/progress."""

from __future__ import annotations

import bpy

from . import audio_source, engine, key_transfer, preferences, properties, scene_guard, style_store, takes


class _DiffusionTalkerPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "DiffusionTalker"


class DIFFUSIONTALKER_PT_main(_DiffusionTalkerPanel, bpy.types.Panel):
    bl_label = "DiffusionTalker"
    bl_idname = "DIFFUSIONTALKER_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.diffusiontalker
        state = context.window_manager.diffusiontalker_job

        _draw_target(layout.box(), context)

        box = layout.box()
        box.label(text="Audio", icon="SOUND")
        box.row().prop(settings, "audio_source", expand=True)
        if settings.audio_source == "FILE":
            box.prop(settings, "audio_path", text="")
            box.prop(settings, "add_audio_strip")
        elif context.scene.sequence_editor is not None:
            strips_name = "strips_all" if hasattr(context.scene.sequence_editor, "strips_all") else "sequences_all"
            box.prop_search(settings, "sound_strip", context.scene.sequence_editor, strips_name, text="")
        else:
            box.label(text="This scene has no sequencer strips", icon="INFO")

        box = layout.box()
        box.label(text="Style", icon="USER")
        box.prop(settings, "identity_menu")
        box.prop(settings, "emotion_menu")
        for kind, name in style_store.missing_names(settings, context).items():
            if properties.is_legacy_position_name(name):  # see properties.migrate_legacy_styles
                _wrapped_label(
                    box, f"An older version saved the {kind} as a menu position, not a name: choose it again"
                )
            else:
                box.label(text=f"{kind.title()} '{name}' is missing from the style library", icon="ERROR")
        box.prop(settings, "emotion_strength", slider=True)
        box.prop(settings, "blinks_per_minute")
        row = box.row(align=True)
        row.prop(settings, "seed")
        row.operator("diffusiontalker.new_take", icon="FILE_REFRESH")
        box.operator("diffusiontalker.add_style_from_clip", icon="ADD")

        if state.running:
            layout.progress(factor=state.progress, type="BAR", text=f"{state.progress:.0%} {state.message}")
            layout.operator("diffusiontalker.cancel", icon="CANCEL")
        else:
            operator = layout.operator("diffusiontalker.animate", icon="PLAY_SOUND")
            for name, value in properties.animate_arguments(settings).items():
                setattr(operator, name, value)

        is_model = engine.engine_is_model(preferences.get_preferences(context))
        layout.label(
            text=engine.backend_label(preferences.get_preferences(context)), icon="CHECKMARK" if is_model else "INFO"
        )


def _draw_target(box: bpy.types.UILayout, context: bpy.types.Context) -> None:
    obj = context.active_object
    if obj is not None and obj.type == "EMPTY" and key_transfer.LANDMARK_PROPERTY in obj and obj.parent is not None:
        obj = obj.parent  # a landmark empty being moved: show its head
    box.label(text="Face", icon="MESH_MONKEY")
    if obj is None or obj.type != "MESH":
        box.label(text="Select a face mesh, or:")
        box.operator("diffusiontalker.add_demo_head", icon="ADD")
        return
    try:
        target = scene_guard.check_target_object(obj, context.scene.diffusiontalker.mapping_preset)
    except scene_guard.SceneGuardError as exc:
        box.label(text=f"'{obj.name}': not ready", icon="ERROR")
        _wrapped_label(box, str(exc))
        if key_transfer.landmark_empties(obj):
            _wrapped_label(box, "Move any landmark that is off, then:")
            box.operator("diffusiontalker.generate_keys", icon="SHAPEKEY_DATA")
            box.operator("diffusiontalker.place_landmarks", text="Propose Landmarks Again", icon="FILE_REFRESH")
        else:
            box.operator("diffusiontalker.add_arkit_keys", icon="SHAPEKEY_DATA")
        return
    box.label(text=f"'{obj.name}': {len(target.channels)} of 52 ARKit channels", icon="CHECKMARK")
    if target.unmapped:
        box.label(text=f"{len(target.unmapped)} other shape keys stay untouched")


def _wrapped_label(layout: bpy.types.UILayout, text: str, width: int = 42) -> None:
    column = layout.column(align=True)
    line = ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            column.label(text=line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        column.label(text=line)


class DIFFUSIONTALKER_PT_options(_DiffusionTalkerPanel, bpy.types.Panel):
    bl_label = "Options"
    bl_parent_id = "DIFFUSIONTALKER_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        settings = context.scene.diffusiontalker
        column = layout.column()
        column.enabled = settings.audio_source == "FILE"  # a strip's own position sets the start
        column.prop(settings, "start_frame")
        layout.prop(settings, "set_frame_range")
        layout.prop(settings, "mapping_preset")
        layout.label(text="Leave Untouched")
        layout.prop(settings, "locked_regions")
        layout.prop(settings, "locked_channels", text="Channels")
        layout.prop(settings, "use_frame_window")
        column = layout.column(align=True)
        column.enabled = settings.use_frame_window
        column.prop(settings, "window_first")
        column.prop(settings, "window_last")
        column.prop(settings, "blend_frames")
        if settings.audio_source == "STRIP" and not audio_source.sound_strips(context.scene):
            layout.label(text="Add a sound strip in the Video Sequencer first", icon="INFO")


class DIFFUSIONTALKER_PT_takes(_DiffusionTalkerPanel, bpy.types.Panel):
    bl_label = "Takes"
    bl_parent_id = "DIFFUSIONTALKER_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        obj = context.active_object
        key = getattr(getattr(obj, "data", None), "shape_keys", None)
        face_takes = takes.list_takes(key)
        if not face_takes:
            layout.label(text="No takes yet: Animate writes one")
            return
        for take in face_takes:
            box = layout.box()
            row = box.row(align=True)
            row.label(text=take.action_name, icon="PLAY" if take.active else "DOT")
            if not take.active:
                use = row.operator("diffusiontalker.activate_take", text="", icon="CHECKMARK")
                use.object_name, use.take = obj.name, take.action_name
            delete = row.operator("diffusiontalker.delete_take", text="", icon="X")
            delete.object_name, delete.take = obj.name, take.action_name
            box.label(text=f"seed {take.seed}  ·  {take.style}  ·  {take.audio_name or 'no audio'}")


class DIFFUSIONTALKER_PT_user_styles(_DiffusionTalkerPanel, bpy.types.Panel):
    bl_label = "Your Styles"
    bl_parent_id = "DIFFUSIONTALKER_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        names = sorted(engine.user_style_names(preferences.get_preferences(context)), key=str.lower)
        if not names:
            layout.label(text="None yet: Add Style from Reference Clip")
        for name in names:
            row = layout.row(align=True)
            row.label(text=name, icon="USER")
            row.operator("diffusiontalker.rename_user_style", text="", icon="GREASEPENCIL").style_name = name
            row.operator("diffusiontalker.delete_user_style", text="", icon="X").style_name = name
        layout.operator("diffusiontalker.add_style_from_clip", icon="ADD")


classes = (
    DIFFUSIONTALKER_PT_main,
    DIFFUSIONTALKER_PT_takes,
    DIFFUSIONTALKER_PT_user_styles,
    DIFFUSIONTALKER_PT_options,
)
register, unregister = bpy.utils.register_classes_factory(classes)
