"""Operators. Their ids and properties are a stable scripting API:

    bpy.ops.diffusiontalker.add_demo_head(head="HUMAN")  # or "PROCEDURAL"; animate the active object it leaves
    bpy.ops.diffusiontalker.add_arkit_keys()          # 52 keys carried over from the demo face (method="EMPTY": empty)
    bpy.ops.diffusiontalker.place_landmarks()         # the same in two halves: landmark empties to move, then
    bpy.ops.diffusiontalker.generate_keys()           # the keys fitted to them
    bpy.ops.diffusiontalker.animate(audio=PATH, identity=NAME, emotion=NAME, emotion_strength=1.0, seed=0, start_frame=1)
    bpy.ops.diffusiontalker.new_take()          # the panel's settings with the next seed
    bpy.ops.diffusiontalker.add_style_from_clip(filepath=PATH, style_name=NAME)  # a user identity + emotion
    bpy.ops.diffusiontalker.cancel()            # stop the running job; nothing is written
    bpy.ops.diffusiontalker.reload_engine()
    bpy.ops.diffusiontalker.rename_user_style(style_name=NAME, new_name=NAME)  # your styles only
    bpy.ops.diffusiontalker.delete_user_style(style_name=NAME)
    bpy.ops.diffusiontalker.activate_take(object_name=NAME, take=ACTION_NAME)  # make an earlier take the active one
    bpy.ops.diffusiontalker.delete_take(object_name=NAME, take=ACTION_NAME)

Called from a script (or in background mode) `animate` runs to completion before returning and raises RuntimeError
with the reason when it cannot animate. From the panel it runs as a modal job: progress in the panel and status
bar, Esc cancels. Either way the scene is only written at the end, in one undo step.
"""

from __future__ import annotations

from dataclasses import replace

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from core.runtime import (
    AUDIO_FILE_GLOB,
    AUDIO_SUFFIXES,
    BLENDER,
    Animation,
    AnimationJob,
    JobCancelled,
    OptionValueError,
    check_values,
    options_for,
)

from . import action_writer, audio_source, engine, preferences, properties, rig_keys, scene_guard, takes, user_styles

_TIMER_SECONDS = 0.1


class DIFFUSIONTALKER_OT_animate(bpy.types.Operator):
    bl_idname = "diffusiontalker.animate"
    bl_label = "Animate from Audio"
    bl_description = "Generate lip-synced facial animation from a voice recording as shape-key keyframes (new Action)"
    bl_options = {"REGISTER", "UNDO"}

    object_name: StringProperty(name="Object", description="Face mesh to animate; empty: the active object")
    audio: StringProperty(
        name="Audio",
        description=f"Voice recording ({', '.join(AUDIO_SUFFIXES)})",
        subtype="FILE_PATH",
        options={"PATH_SUPPORTS_BLEND_RELATIVE"},
    )
    sound_strip: StringProperty(name="Sound Strip", description="Sequencer sound strip to use instead of a file")
    # The animate options, from core/animate_options.py; a script's out-of-range value is refused, not clamped.
    identity: properties.option_property("identity", refuse_out_of_range=True)
    emotion: properties.option_property("emotion", refuse_out_of_range=True)
    emotion_strength: properties.option_property("emotion_strength", refuse_out_of_range=True)
    seed: properties.option_property("seed", refuse_out_of_range=True)
    blinks_per_minute: properties.option_property("blinks_per_minute", refuse_out_of_range=True)
    start_frame: properties.option_property("start_frame", refuse_out_of_range=True)
    add_audio_strip: BoolProperty(name="Add Audio to Sequencer", default=False)
    set_frame_range: BoolProperty(name="Fit Frame Range", default=False)
    locked_regions: EnumProperty(name="Lock", items=properties.LOCKABLE_REGION_ITEMS, options={"ENUM_FLAG"})
    locked_channels: StringProperty(name="Lock Channels", description="Comma-separated shape keys to leave untouched")
    use_frame_window: BoolProperty(name="Regenerate Range Only", default=False)
    window_first: IntProperty(name="First", default=1)
    window_last: IntProperty(name="Last", default=100)
    blend_frames: IntProperty(name="Blend", default=3, min=0)
    mapping_preset: StringProperty(name="Name Mapping", description="Rig-name mapping preset; empty: automatic")

    _job: AnimationJob | None = None
    _plan: scene_guard.AnimatePlan | None = None
    _timer = None
    _cancelling = False

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if _job_state(context).running:
            cls.poll_message_set("An animation job is already running; wait for it or press Esc")
            return False
        return True

    def animate_options(self) -> scene_guard.AnimateOptions:
        """The request as scene_guard checks it; OptionValueError for a value out of its allowed range."""
        return scene_guard.AnimateOptions(
            object_name=self.object_name,
            audio_path=self.audio,
            sound_strip=self.sound_strip,
            **check_values({option.name: getattr(self, option.name) for option in options_for(BLENDER)}),
            add_audio_strip=self.add_audio_strip,
            set_frame_range=self.set_frame_range,
            locked_regions=frozenset(self.locked_regions),
            locked_channels=self.locked_channels,
            frame_window=(self.window_first, self.window_last) if self.use_frame_window else None,
            blend_frames=self.blend_frames,
            mapping_preset=self.mapping_preset,
        )

    def _make_plan(self, context: bpy.types.Context) -> scene_guard.AnimatePlan | None:
        chosen_engine = engine.get_engine(preferences.get_preferences(context))
        try:
            return scene_guard.check_animate_inputs(context, self.animate_options(), chosen_engine)
        except (scene_guard.SceneGuardError, OptionValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return None

    def execute(self, context: bpy.types.Context) -> set[str]:
        plan = self._make_plan(context)
        if plan is None:
            return {"CANCELLED"}
        job = AnimationJob(plan.engine, plan.request).start()
        try:
            animation = job.wait()
        except JobCancelled:
            self.report({"WARNING"}, "Animation cancelled; nothing was written")
            return {"CANCELLED"}
        except Exception as exc:  # noqa: BLE001 - engine failures become a report, never a half-written scene
            self.report({"ERROR"}, _engine_failure_message(context, plan, exc))
            return {"CANCELLED"}
        return self._write(context, plan, animation)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        plan = self._make_plan(context)
        if plan is None:
            return {"CANCELLED"}
        self._plan = plan
        self._job = AnimationJob(plan.engine, plan.request).start()
        self._cancelling = False
        state = _job_state(context)
        state.running, state.progress, state.cancel_requested = True, 0.0, False
        state.message = f"animating {plan.audio.path.name}"
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(_TIMER_SECONDS, window=context.window)
        window_manager.progress_begin(0, 100)
        window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        state = _job_state(context)
        is_escape = event.type == "ESC" and event.value == "PRESS"
        if (is_escape or state.cancel_requested) and not self._cancelling:
            self._cancelling = True
            self._job.cancel()
            state.message = "cancelling..."
        if is_escape:
            return {"RUNNING_MODAL"}  # the Esc was ours; do not pass it on
        if event.type != "TIMER":
            return {"PASS_THROUGH"}  # keep the UI usable while the job runs
        state.progress = self._job.progress
        if not self._cancelling:
            state.message = self._job.message
        context.workspace.status_text_set(f"DiffusionTalker: {state.progress:.0%} {state.message} (Esc to cancel)")
        context.window_manager.progress_update(int(state.progress * 100))
        _redraw_panels(context)
        if not self._job.done:
            return {"PASS_THROUGH"}

        job, plan, cancelling = self._job, self._plan, self._cancelling
        self._end_modal(context)
        if job.cancelled or cancelling:
            self.report({"WARNING"}, "Animation cancelled; nothing was written")
            return {"CANCELLED"}
        if job.error is not None:
            print(job.error_trace)
            self.report({"ERROR"}, _engine_failure_message(context, plan, job.error))
            return {"CANCELLED"}
        return self._write(context, plan, job.result)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the modal (file load, quit): stop the job, write nothing."""
        if self._job is not None:
            self._job.cancel()
        self._end_modal(context)

    def _end_modal(self, context: bpy.types.Context) -> None:
        window_manager = context.window_manager
        if self._timer is not None:
            window_manager.event_timer_remove(self._timer)
            self._timer = None
        window_manager.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        state = _job_state(context)
        state.running, state.cancel_requested, state.progress, state.message = False, False, 0.0, ""
        _redraw_panels(context)

    def _write(self, context: bpy.types.Context, plan: scene_guard.AnimatePlan, result: Animation | None) -> set[str]:
        try:
            animation = scene_guard.check_animation(result, plan.engine)
            target = scene_guard.recheck_target(plan)
        except scene_guard.SceneGuardError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        scene = bpy.data.scenes.get(plan.scene_name) or context.scene  # the scene the job was started in
        try:
            written = write_take(scene, plan, target, animation)
            others = write_other_meshes(scene, plan, animation)
        except Exception as exc:  # noqa: BLE001 - unexpected: data may be partly written, so keep it undoable
            self.report({"ERROR"}, f"Writing the animation failed ({exc}); press Ctrl+Z to undo any partial change")
            return {"FINISHED"}
        unmapped = (
            f"; not driven (no ARKit match): {', '.join(target.unmapped[:8])}{', ...' if len(target.unmapped) > 8 else ''}"
            if target.unmapped
            else ""
        )
        self.report(
            {"INFO"},
            f"Wrote Action '{written.action.name}': frames {written.first_frame}-{written.last_frame}, "
            f"{len(written.channels_written)} shape keys, from {animation.source or plan.engine.name}{unmapped}"
            + "".join(f"; also '{o.action.name}' ({len(o.channels_written)} keys)" for o in others),
        )
        if animation.info.get("warning"):  # e.g. the GPU ran out of memory and the model finished on the CPU
            self.report({"WARNING"}, str(animation.info["warning"]))
        return {"FINISHED"}


def write_take(
    scene: bpy.types.Scene,
    plan: scene_guard.AnimatePlan,
    target: scene_guard.CheckedTarget,
    animation: Animation,
) -> action_writer.ActionWriteResult:
    """All of an animation's writes: the optional audio strip, the Action, the optional frame range."""
    options = plan.options
    request = plan.request
    # One sound strip per audio file (reused by every take of it); only the new take's strip plays afterwards.
    strip_name = plan.audio.strip_name
    if not strip_name:
        if options.add_audio_strip:
            duration_frames = int(round(animation.duration * plan.scene_fps))
            strip = audio_source.add_sound_strip(scene, plan.audio.path, plan.audio.start_frame, duration_frames)
        else:
            strip = audio_source.find_sound_strip(scene, plan.audio.path, plan.audio.start_frame)
        strip_name = strip.name if strip is not None else ""
    if animation.rig.basis is not None:  # a vertex-basis rig: its shape keys are made now, from the basis
        key, _ = rig_keys.ensure_vertex_basis_keys(bpy.data.objects[target.object_name], animation.rig)
        target = replace(target, key=key)
    action_name = f"{target.object_name}_{plan.audio.path.stem}_{request.identity}_{request.emotion}_s{request.seed}"
    result = action_writer.write_shape_key_action(
        target.key,
        animation,
        target.channels,
        scene_fps=plan.scene_fps,
        start_frame=plan.audio.start_frame,
        action_name=action_name,
        locked_key_blocks=plan.locked_key_blocks,
        frame_window=options.frame_window,
        blend_frames=options.blend_frames,
        metadata={
            "audio": str(plan.audio.path),
            "identity": request.identity,
            "emotion": request.emotion,
            "emotion_strength": request.emotion_strength,
            "seed": request.seed,
            "blinks_per_minute": request.blinks_per_minute,
            "source": animation.source,
            "engine": getattr(plan.engine, "name", ""),
            "engine_fps": animation.fps,
            "start_frame": plan.audio.start_frame,
            takes.STRIP_METADATA_KEY: strip_name,
        },
    )
    takes.sync_take_strips(scene, target.key)
    if options.set_frame_range:
        scene.frame_start, scene.frame_end = result.first_frame, result.last_frame
    return result


def write_other_meshes(
    scene: bpy.types.Scene, plan: scene_guard.AnimatePlan, animation: Animation
) -> list[action_writer.ActionWriteResult]:
    """The same take on the character's other meshes (plan.other_targets): each its own Action named after it, with
    the same audio, style, seed and frames, and the same region and channel locks. A mesh deleted meanwhile is
    skipped; the audio strip and frame range were set once, by the main target's write."""
    options = replace(plan.options, add_audio_strip=False, set_frame_range=False)
    results = []
    for other in plan.other_targets:
        obj = bpy.data.objects.get(other.object_name)
        if obj is None or obj.data.shape_keys is None:
            continue
        target = replace(other, key=obj.data.shape_keys)
        locked = scene_guard.lenient_locked_key_blocks(target, options.locked_regions, options.locked_channels)
        if len(locked) == len(target.channels):
            continue
        results.append(write_take(scene, replace(plan, options=options, locked_key_blocks=locked), target, animation))
    return results


def _engine_failure_message(context: bpy.types.Context, plan: scene_guard.AnimatePlan, exc: BaseException) -> str:
    name = getattr(plan.engine, "name", type(plan.engine).__name__)
    message = f"The animation engine '{name}' failed on '{plan.audio.path.name}': {exc}. Nothing was written"
    reason = engine.fallback_reason(preferences.get_preferences(context))
    if reason is not None and plan.engine is engine.get_engine(preferences.get_preferences(context)):
        message += f" ({reason})"
    return message


def _job_state(context: bpy.types.Context) -> properties.DIFFUSIONTALKER_PG_job:
    return context.window_manager.diffusiontalker_job


def _redraw_panels(context: bpy.types.Context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class DIFFUSIONTALKER_OT_new_take(bpy.types.Operator):
    bl_idname = "diffusiontalker.new_take"
    bl_label = "New Take"
    bl_description = "Animate again with the next seed: a different take of the same audio and style"
    bl_options = {"REGISTER"}  # the animate call it makes is the undo step

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return DIFFUSIONTALKER_OT_animate.poll(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        return self._animate_next_seed(context, "EXEC_DEFAULT")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return self._animate_next_seed(context, "EXEC_DEFAULT" if bpy.app.background else "INVOKE_DEFAULT")

    def _animate_next_seed(self, context: bpy.types.Context, call: str) -> set[str]:
        settings = context.scene.diffusiontalker
        settings.seed += 1
        try:
            outcome = bpy.ops.diffusiontalker.animate(call, **properties.animate_arguments(settings))
        except RuntimeError as exc:
            settings.seed -= 1
            self.report({"ERROR"}, str(exc).removeprefix("Error: ").strip())
            return {"CANCELLED"}
        if "CANCELLED" in outcome:
            settings.seed -= 1
            return {"CANCELLED"}
        return {"FINISHED"}


class DIFFUSIONTALKER_OT_cancel(bpy.types.Operator):
    bl_idname = "diffusiontalker.cancel"
    bl_label = "Cancel"
    bl_description = "Stop the running animation job; nothing is written"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _job_state(context).running

    def execute(self, context: bpy.types.Context) -> set[str]:
        _job_state(context).cancel_requested = True
        return {"FINISHED"}


class DIFFUSIONTALKER_OT_add_demo_head(bpy.types.Operator):
    bl_idname = "diffusiontalker.add_demo_head"
    bl_label = "Add Demo Head"
    bl_description = "Add a demo head with the 52 ARKit shape keys, ready to animate"
    bl_options = {"REGISTER", "UNDO"}

    head: EnumProperty(
        name="Head",
        items=(
            ("HUMAN", "Human", "A MakeHuman head (CC0) with artist-made ARKit keys (Face Units) and separate eyes, "
             "teeth, tongue and eyelashes that follow the head's keys"),
            ("PROCEDURAL", "Procedural Mask", "The 468-vertex MediaPipe face mask with procedural ARKit keys"),
        ),
        default="HUMAN",
    )  # fmt: skip

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .demo_head import create_demo_head_object, create_human_head_objects

        if context.mode != "OBJECT":
            self.report({"ERROR"}, "Switch to Object Mode (Tab) to add the demo head")
            return {"CANCELLED"}
        obj = create_human_head_objects(context) if self.head == "HUMAN" else create_demo_head_object(context)
        for other in context.view_layer.objects:
            other.select_set(False)
        obj.select_set(True)
        context.view_layer.objects.active = obj
        count = len(obj.data.shape_keys.key_blocks) if obj.data.shape_keys else 0
        parts = f", and its parts {', '.join(c.name for c in obj.children)}" if obj.children else ""
        self.report({"INFO"}, f"Added '{obj.name}' with {count} shape keys (basis + ARKit){parts}")
        return {"FINISHED"}


_AXIS_ITEMS = (("AUTO", "Automatic", "Guess from the mesh (mirror symmetry and the nose)"),) + tuple(
    (name, name, f"The mesh's local {name} axis") for name in ("-Y", "+Y", "-X", "+X", "+Z", "-Z")
)


def _head_for_keys(context: bpy.types.Context) -> bpy.types.Object:
    """The active mesh, or the head whose landmark empty is active; checked editable, in Object Mode."""
    from .key_transfer import LANDMARK_PROPERTY

    obj = context.active_object
    if obj is not None and obj.type == "EMPTY" and LANDMARK_PROPERTY in obj and obj.parent is not None:
        obj = obj.parent
    scene_guard.check_editable_mesh(obj)
    if context.mode != "OBJECT":
        raise scene_guard.SceneGuardError("Switch to Object Mode (Tab) to add shape keys")
    return obj


def _generate_keys_and_report(
    operator: bpy.types.Operator,
    context: bpy.types.Context,
    obj: bpy.types.Object,
    landmarks: dict | None,
    front: str = "AUTO",
    up: str = "AUTO",
    fill_empty_keys: bool = True,
    make_active: bool = False,
) -> set[str]:
    """Generate Keys on `obj` (landmarks in local coordinates, None: proposed), then the landmark empties go and the
    operator reports what it wrote; on failure nothing changes (not even the selection) and it says why."""
    from core.runtime import FaceNotFoundError

    from .key_transfer import generate_keys, remove_landmark_empties

    try:
        written, kept, _ = generate_keys(obj, landmarks, front, up, fill_empty_keys)
    except (FaceNotFoundError, ValueError) as exc:
        operator.report({"ERROR"}, f"No keys added to '{obj.name}': {exc}")
        return {"CANCELLED"}
    if make_active:  # the head, not the landmark empty that was active (the empties are about to go)
        for other in context.view_layer.objects:
            other.select_set(False)
        obj.select_set(True)
        context.view_layer.objects.active = obj
    remove_landmark_empties(obj)
    kept_text = f"; kept your existing {', '.join(kept[:8])}{', ...' if len(kept) > 8 else ''}" if kept else ""
    operator.report(
        {"INFO"}, f"Generated {len(written)} ARKit shape keys on '{obj.name}' from the template face{kept_text}"
    )
    return {"FINISHED"}


class DIFFUSIONTALKER_OT_add_arkit_keys(bpy.types.Operator):
    bl_idname = "diffusiontalker.add_arkit_keys"
    bl_label = "Add ARKit Keys"
    bl_description = (
        "Give the active head mesh the ARKit-52 shape keys it lacks, carried over from the demo face (in the "
        "viewport: landmarks to check first, then Generate Keys); your existing keys are kept"
    )
    bl_options = {"REGISTER", "UNDO"}

    front_axis: EnumProperty(
        name="Face Looks Along", items=_AXIS_ITEMS, default="AUTO", description="Local axis the face looks along"
    )
    up_axis: EnumProperty(name="Up", items=_AXIS_ITEMS, default="AUTO", description="Local axis to the top of the head")
    method: EnumProperty(
        name="Keys",
        items=(
            ("TRANSFER", "From Template", "Shape the keys by carrying the demo face's keys over to this mesh"),
            ("EMPTY", "Empty", "Add empty keys to sculpt by hand"),
        ),
        default="TRANSFER",
    )
    fill_empty_keys: BoolProperty(
        name="Fill Empty Keys", default=True, description="Give ARKit-named keys that move nothing the template's shape"
    )

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if bpy.app.background or context.window is None or self.method == "EMPTY":
            return self.execute(context)
        from .key_transfer import landmark_empties

        try:
            obj = _head_for_keys(context)
        except scene_guard.SceneGuardError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if landmark_empties(obj):
            return self.execute(context)
        # In the viewport: show the proposed landmarks first; Generate Keys reads them.
        return bpy.ops.diffusiontalker.place_landmarks(front_axis=self.front_axis, up_axis=self.up_axis)

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .key_transfer import landmark_empties, read_landmarks

        try:
            obj = _head_for_keys(context)
        except scene_guard.SceneGuardError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if self.method == "EMPTY":
            from .demo_head import add_arkit_shape_keys

            before = len(obj.data.shape_keys.key_blocks) if obj.data.shape_keys else 0
            add_arkit_shape_keys(obj)
            added = len(obj.data.shape_keys.key_blocks) - before
            self.report({"INFO"}, f"Added {added} ARKit shape keys to '{obj.name}'")
            return {"FINISHED"}
        landmarks = read_landmarks(obj) if landmark_empties(obj) else None
        return _generate_keys_and_report(
            self, context, obj, landmarks, self.front_axis, self.up_axis, self.fill_empty_keys
        )


class DIFFUSIONTALKER_OT_place_landmarks(bpy.types.Operator):
    bl_idname = "diffusiontalker.place_landmarks"
    bl_label = "Place Landmarks"
    bl_description = (
        "Show the face landmarks found on the active head mesh (eye and mouth corners, nose, lips, chin, ears) as "
        "empties you can move; then Generate Keys"
    )
    bl_options = {"REGISTER", "UNDO"}

    front_axis: EnumProperty(
        name="Face Looks Along", items=_AXIS_ITEMS, default="AUTO", description="Local axis the face looks along"
    )
    up_axis: EnumProperty(name="Up", items=_AXIS_ITEMS, default="AUTO", description="Local axis to the top of the head")

    def execute(self, context: bpy.types.Context) -> set[str]:
        from core.runtime import FaceNotFoundError

        from .key_transfer import place_landmarks

        try:
            obj = _head_for_keys(context)
            empties, not_found = place_landmarks(obj, self.front_axis, self.up_axis)
        except scene_guard.SceneGuardError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except (FaceNotFoundError, ValueError) as exc:
            self.report({"ERROR"}, f"No face found on '{context.active_object.name}': {exc}")
            return {"CANCELLED"}
        if not_found:
            self.report(
                {"WARNING"},
                f"No face found on '{obj.name}' ({not_found}); {len(empties)} landmarks placed by its size: move each "
                "onto its feature, then click Generate Keys",
            )
        else:
            self.report(
                {"INFO"},
                f"Placed {len(empties)} landmarks on '{obj.name}'; move any that are off, then click Generate Keys",
            )
        return {"FINISHED"}


class DIFFUSIONTALKER_OT_generate_keys(bpy.types.Operator):
    bl_idname = "diffusiontalker.generate_keys"
    bl_label = "Generate Keys"
    bl_description = "Carry the demo face's ARKit keys over to this head, fitted to its landmark empties"
    bl_options = {"REGISTER", "UNDO"}

    fill_empty_keys: BoolProperty(
        name="Fill Empty Keys", default=True, description="Give ARKit-named keys that move nothing the template's shape"
    )

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .key_transfer import landmark_empties, read_landmarks

        try:
            obj = _head_for_keys(context)
        except scene_guard.SceneGuardError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if not landmark_empties(obj):
            self.report({"ERROR"}, f"'{obj.name}' has no landmark empties; run Place Landmarks (or Add ARKit Keys)")
            return {"CANCELLED"}
        return _generate_keys_and_report(
            self, context, obj, read_landmarks(obj), fill_empty_keys=self.fill_empty_keys, make_active=True
        )


class DIFFUSIONTALKER_OT_add_style_from_clip(bpy.types.Operator):
    bl_idname = "diffusiontalker.add_style_from_clip"
    bl_label = "Add Style from Reference Clip..."
    bl_description = (
        "Compute an identity and an emotion from a recording of a voice and add them, named, to the Identity and "
        "Emotion menus (stored in your extension data folder, not in the .blend)"
    )
    bl_options = {"REGISTER"}  # writes a file outside the .blend: nothing to undo

    filepath: StringProperty(name="Reference Clip", subtype="FILE_PATH", options={"PATH_SUPPORTS_BLEND_RELATIVE"})
    filter_glob: StringProperty(default=AUDIO_FILE_GLOB, options={"HIDDEN"})
    style_name: StringProperty(name="Style Name", description="Name shown in the Identity and Emotion menus")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = preferences.get_preferences(context)
        try:
            path = scene_guard.check_audio_path_text(self.filepath)
            samples = scene_guard.check_audio_file(path)
            name = self.style_name.strip() or path.stem
            target = user_styles.library_path()
            names = user_styles.add_user_style(engine.get_engine(prefs), name, samples, target)
        except (scene_guard.SceneGuardError, ValueError) as exc:  # core's audio and weights errors are ValueErrors
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except Exception as exc:  # noqa: BLE001 - a model failure becomes a report; no style file was written
            self.report({"ERROR"}, f"Computing the style from '{self.filepath}' failed: {exc}; nothing was added")
            return {"CANCELLED"}
        engine.forget_loaded_engines()  # the menus reload with the new style
        settings = getattr(context.scene, "diffusiontalker", None)
        if settings is not None:
            settings.identity, settings.emotion = name, name
        self.report({"INFO"}, f"Added style '{name}' to {target} (your styles: {', '.join(names)})")
        return {"FINISHED"}


class DIFFUSIONTALKER_OT_reload_engine(bpy.types.Operator):
    bl_idname = "diffusiontalker.reload_engine"
    bl_label = "Reload Model"
    bl_description = "Load the model again (after installing weights or changing the device)"

    def execute(self, context: bpy.types.Context) -> set[str]:
        engine.forget_loaded_engines()
        self.report({"INFO"}, engine.backend_label(preferences.get_preferences(context)))
        return {"FINISHED"}


class DIFFUSIONTALKER_OT_rename_user_style(bpy.types.Operator):
    bl_idname = "diffusiontalker.rename_user_style"
    bl_label = "Rename Style"
    bl_description = (
        "Rename one of your own styles (its identity and emotion); scenes using the old name show it as missing"
    )
    bl_options = {"REGISTER"}  # edits a file outside the .blend: nothing to undo

    style_name: StringProperty(name="Style", description="Your style to rename")
    new_name: StringProperty(name="New Name")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        self.new_name = self.new_name or self.style_name
        return context.window_manager.invoke_props_dialog(self)

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = preferences.get_preferences(context)
        try:
            names = user_styles.rename_user_style(
                engine.get_engine(prefs), self.style_name, self.new_name, user_styles.library_path()
            )
        except ValueError as exc:  # core's weights errors are ValueErrors too
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        engine.forget_loaded_engines()
        new_name = self.new_name.strip()
        settings = getattr(context.scene, "diffusiontalker", None)
        if settings is not None:  # this scene follows the rename; other scenes show the old name as missing
            for kind in ("identity", "emotion"):
                if getattr(settings, kind) == self.style_name:
                    setattr(settings, kind, new_name)
        self.report(
            {"INFO"}, f"Renamed your style '{self.style_name}' to '{new_name}' (your styles: {', '.join(names)})"
        )
        return {"FINISHED"}


class DIFFUSIONTALKER_OT_delete_user_style(bpy.types.Operator):
    bl_idname = "diffusiontalker.delete_user_style"
    bl_label = "Delete Style"
    bl_description = "Delete one of your own styles from your styles file (shipped styles cannot be deleted)"
    bl_options = {"REGISTER"}

    style_name: StringProperty(name="Style", description="Your style to delete")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        return context.window_manager.invoke_confirm(self, event)

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = preferences.get_preferences(context)
        try:
            names = user_styles.delete_user_style(engine.get_engine(prefs), self.style_name, user_styles.library_path())
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        engine.forget_loaded_engines()
        self.report({"INFO"}, f"Deleted your style '{self.style_name}' (your styles: {', '.join(names) or 'none'})")
        return {"FINISHED"}


def _face_key(context: bpy.types.Context, object_name: str) -> tuple[bpy.types.Object, bpy.types.Key]:
    obj = bpy.data.objects.get(object_name) if object_name else context.active_object
    key = getattr(getattr(obj, "data", None), "shape_keys", None)
    if obj is None or key is None:
        raise takes.TakeError(f"'{object_name or 'the active object'}' has no shape keys, so no takes")
    return obj, key


class DIFFUSIONTALKER_OT_activate_take(bpy.types.Operator):
    bl_idname = "diffusiontalker.activate_take"
    bl_label = "Use Take"
    bl_description = "Make this take the face's animation (the current one is kept as an earlier take)"
    bl_options = {"REGISTER", "UNDO"}

    object_name: StringProperty(name="Object", description="Face mesh; empty: the active object")
    take: StringProperty(name="Take", description="The take's Action name")

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            obj, key = _face_key(context, self.object_name)
            take = takes.activate_take(context.scene, key, self.take)
        except takes.TakeError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"'{obj.name}' now plays take '{take.action_name}' (seed {take.seed}, {take.style})")
        return {"FINISHED"}


class DIFFUSIONTALKER_OT_delete_take(bpy.types.Operator):
    bl_idname = "diffusiontalker.delete_take"
    bl_label = "Delete Take"
    bl_description = "Delete this take (its Action, and its sound strip when no other take plays it)"
    bl_options = {"REGISTER", "UNDO"}

    object_name: StringProperty(name="Object", description="Face mesh; empty: the active object")
    take: StringProperty(name="Take", description="The take's Action name")

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            obj, key = _face_key(context, self.object_name)
            takes.delete_take(context.scene, key, self.take)
        except takes.TakeError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Deleted take '{self.take}' of '{obj.name}'")
        return {"FINISHED"}


classes = (
    DIFFUSIONTALKER_OT_animate,
    DIFFUSIONTALKER_OT_new_take,
    DIFFUSIONTALKER_OT_cancel,
    DIFFUSIONTALKER_OT_add_demo_head,
    DIFFUSIONTALKER_OT_add_arkit_keys,
    DIFFUSIONTALKER_OT_place_landmarks,
    DIFFUSIONTALKER_OT_generate_keys,
    DIFFUSIONTALKER_OT_add_style_from_clip,
    DIFFUSIONTALKER_OT_reload_engine,
    DIFFUSIONTALKER_OT_rename_user_style,
    DIFFUSIONTALKER_OT_delete_user_style,
    DIFFUSIONTALKER_OT_activate_take,
    DIFFUSIONTALKER_OT_delete_take,
)
register, unregister = bpy.utils.register_classes_factory(classes)
