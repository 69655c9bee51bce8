"""`python -m diffusiontalker_addon demo --out output` (make demo): the demo head animated from the bundled clip, saved and rendered.

What it does, in a fresh Blender scene (bpy is imported only inside `run_demo`):
  1. registers the add-on from this source tree and adds the demo head (`diffusiontalker.add_demo_head`): the human
     head (MakeHuman + Face Units, CC0) by default, `--head procedural` for the MediaPipe mask;
  2. animates it from the bundled clip through the add-on's real operator (`diffusiontalker.animate`) with
     the engine the add-on picks: the trained student when `weights/` holds one, else the labelled
     reference-targets fallback (the clip's own generated targets, not the model); the output says which;
  3. puts the audio in the sequencer, stages a camera and lights, saves `OUT/demo.blend`;
  4. renders with Cycles on the CPU: `OUT/demo_preview.png`, a contact sheet of frames at marked phones
     (P/B/M closures, open vowels), and `OUT/demo.mp4` with sound when the estimated render time fits.

The bundled clip (core/data/demo_clip.py) is regenerated with `python -m diffusiontalker_addon demo --make-clip`:
festival speech (never Piper: it is GPL-3 and must not ship) and the corpus generator's own face targets.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.runtime import (
    BILABIALS,
    DEMO_EMOTION,
    DEMO_FPS,
    DEMO_SEED,
    DEMO_TEXT,
    DEMO_VOICE,
    demo_clip_paths,
    extreme_lip_frames,
    marked_phone_frames,
)


@dataclass
class DemoOptions:
    resolution: int = 256  # pixels, square, of each contact-sheet frame
    samples: int = 8  # Cycles samples per pixel (denoised)
    video: str = "auto"  # "auto": render demo.mp4 when the estimate fits video_budget_s; "always"; "never"
    video_budget_s: float = 240.0
    video_resolution: int = 192  # the video has 30 times more frames per second of speech: cheaper frames
    video_samples: int = 4
    sheet_frames: int = 12  # cells of the contact sheet (marked phones, plus the rest pose)
    audio: str = ""  # another recording instead of the bundled clip (needs the trained model: it has no targets)
    identity: str = ""  # style names; empty: the bundled clip's voice when the model knows it, else "default"
    emotion: str = ""
    head: str = "HUMAN"  # the add_demo_head choice: "HUMAN" or "PROCEDURAL"


@dataclass
class DemoResult:
    blend: Path
    preview: Path
    video: Path | None
    video_note: str  # why there is no video, or what it is
    engine_label: str  # the add-on's backend label, e.g. "Reference targets (not the model): ..."
    uses_model: bool
    source: str  # the Action's source: the student's name, or "reference targets (not the model)"
    marked_frames: list[tuple[int, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        animated_by = self.source if self.uses_model else f"{self.source.upper()}: the trained model is not in use"
        lines = [
            f"animated by: {animated_by}",
            f"engine: {self.engine_label}",
            f"wrote {self.blend}",
            f"wrote {self.preview} ({len(self.marked_frames)} frames: "
            + ", ".join(f"{label}@{frame}" for frame, label in self.marked_frames)
            + ")",
            f"wrote {self.video}" if self.video is not None else f"no video: {self.video_note}",
            "timings: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.timings.items()),
        ]
        return "\n".join(lines)


def run_demo(out_dir: Path, options: DemoOptions | None = None, log=print) -> DemoResult:
    """Build, save and render the demo into `out_dir` (see the module docstring). Needs the `bpy` module."""
    options = options or DemoOptions()
    if options.video not in ("auto", "always", "never"):
        raise ValueError(f"video must be 'auto', 'always' or 'never', not '{options.video}'")
    try:
        import bpy
    except ImportError:
        raise RuntimeError(
            "the demo needs Blender's Python module: `pip install bpy==5.0.1` (make demo does it in .venv)"
        ) from None
    wav, npz = demo_clip_paths()
    if options.audio:
        wav, npz = Path(options.audio).expanduser().resolve(), None
        if not wav.is_file():
            raise FileNotFoundError(f"--audio {options.audio}: no such file")
    elif not (wav.is_file() and npz.is_file()):
        raise FileNotFoundError(
            f"the bundled clip {wav} / {npz.name} is missing; run `python -m diffusiontalker_addon demo --make-clip`"
        )
    from . import engine as addon_engine
    from . import register, unregister

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    began = time.perf_counter()

    bpy.ops.wm.read_factory_settings(use_empty=True)
    registered_here = not hasattr(bpy.types, "DIFFUSIONTALKER_OT_animate")
    if registered_here:
        register()
    try:
        # The output folder gets its own copy of the clip so demo.blend's sound strip and the fallback's
        # targets (the .npz beside the audio) travel with it.
        audio = out_dir / wav.name
        shutil.copyfile(wav, audio)
        if npz is not None:
            shutil.copyfile(npz, out_dir / npz.name)
        scene = bpy.context.scene
        scene.render.fps, scene.render.fps_base = DEMO_FPS, 1.0
        bpy.ops.diffusiontalker.add_demo_head(head=options.head)
        head = bpy.context.active_object

        chosen_engine = addon_engine.get_engine(None)
        engine_label = addon_engine.backend_label(None)
        uses_model = addon_engine.engine_is_model(None)
        for asked, offered in (
            (options.identity, chosen_engine.identities()),
            (options.emotion, chosen_engine.emotions()),
        ):
            if asked and asked not in offered:
                raise ValueError(
                    f"style '{asked}' is not offered by {engine_label}; choose one of {', '.join(offered)}"
                )
        identity = _first_offered((options.identity, DEMO_VOICE, "default"), chosen_engine.identities())
        emotion = _first_offered((options.emotion, DEMO_EMOTION), chosen_engine.emotions())
        log(f"animating '{head.name}' from {audio.name} with {engine_label} (identity {identity}, emotion {emotion})")
        started = time.perf_counter()
        bpy.ops.diffusiontalker.animate(
            object_name=head.name,
            audio=str(audio),
            identity=identity,
            emotion=emotion,
            seed=DEMO_SEED,
            start_frame=1,
            add_audio_strip=True,
            set_frame_range=True,
        )
        timings["animate"] = time.perf_counter() - started
        action = head.data.shape_keys.animation_data.action
        source = str(action["diffusiontalker"]["source"])

        _stage_for_rendering(scene, head, options)
        blend = out_dir / "demo.blend"
        _set_video_output(scene, out_dir / "demo.mp4")  # what Render Animation makes from demo.blend
        for strip in scene.sequence_editor.strips_all:  # //demo_line.wav: the output folder can move
            if strip.type == "SOUND":
                strip.sound.filepath = bpy.path.relpath(bpy.path.abspath(strip.sound.filepath), start=str(out_dir))
        blend.unlink(missing_ok=True)  # a fresh file, not a demo.blend1 backup of the last run
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
        timings["build and save"] = time.perf_counter() - began

        weights = _action_weights(head)
        if npz is None:  # a recording without phone timings: the take's own most closed / most open moments
            marked = extreme_lip_frames(weights, scene.frame_start, options.sheet_frames)
        else:
            marked = marked_phone_frames(npz, weights, scene.frame_start, options.sheet_frames)
        started = time.perf_counter()
        preview = out_dir / "demo_preview.png"
        title = f'"{DEMO_TEXT}"' if npz is not None else wav.name
        seconds_per_frame = _render_contact_sheet(scene, marked, preview, source, uses_model, title)
        timings["contact sheet"] = time.perf_counter() - started
        log(f"contact sheet: {len(marked)} frames at {seconds_per_frame:.2f} s a frame")

        video, video_note = None, ""
        frames = scene.frame_end - scene.frame_start + 1
        cost_ratio = (options.video_resolution**2 * options.video_samples) / (options.resolution**2 * options.samples)
        estimate = frames * seconds_per_frame * cost_ratio  # render time scales with pixels x samples, roughly
        if options.video == "never":
            video_note = "skipped (--video never)"
        elif options.video == "auto" and estimate > options.video_budget_s:
            video_note = (
                f"skipped: {frames} frames would take about {estimate:.0f} s, over the {options.video_budget_s:.0f} s "
                "budget; use --video always, or a smaller --video-resolution / --video-samples"
            )
        elif not bpy.app.build_options.codec_ffmpeg:
            video_note = "skipped: this Blender build has no FFmpeg video output"
        else:
            log(f"rendering {frames} frames of video (about {estimate:.0f} s)")
            started = time.perf_counter()
            video = _render_video(scene, out_dir / "demo.mp4", options.video_resolution, options.video_samples)
            timings["video"] = time.perf_counter() - started
            video_note = f"{frames} frames at {DEMO_FPS} fps, {options.video_resolution} px, H.264 + AAC"
        timings["total"] = time.perf_counter() - began
        return DemoResult(blend, preview, video, video_note, engine_label, uses_model, source, marked, timings)
    finally:
        if registered_here:
            unregister()


def _first_offered(preferred: tuple[str, ...], offered: list[str]) -> str:
    """The first preferred style name the engine offers (the clip's own voice when the model knows it)."""
    return next((name for name in preferred if name in offered), offered[0])


def _action_weights(head) -> np.ndarray:
    """(scene frames, 52) the head's Action evaluated at every keyed frame, in ARKit order."""
    from core.runtime import ARKIT_NAMES

    key = head.data.shape_keys
    scene = next(iter(head.users_scene))
    frames = np.arange(scene.frame_start, scene.frame_end + 1)
    weights = np.zeros((len(frames), len(ARKIT_NAMES)), dtype=np.float32)
    bag = _channelbag(key.animation_data)
    for index, name in enumerate(ARKIT_NAMES):
        fcurve = bag.fcurves.find(f'key_blocks["{name}"].value') if bag is not None else None
        if fcurve is not None:
            weights[:, index] = [fcurve.evaluate(float(f)) for f in frames]
    return weights


def _channelbag(animation_data):
    action, slot = animation_data.action, animation_data.action_slot
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot)
            if bag is not None:
                return bag
    return None


# ---------------------------------------------------------------- staging and rendering


def _stage_for_rendering(scene, head, options: DemoOptions) -> None:
    """A camera looking straight at the face, a soft key and fill light, a neutral world; Cycles on the CPU."""
    import bpy
    from mathutils import Vector

    mesh = head.data
    matrix = head.matrix_world
    corners = [matrix @ Vector(corner) for corner in head.bound_box]
    centre = sum(corners, Vector()) / 8
    size = max((max(c[i] for c in corners) - min(c[i] for c in corners)) for i in range(3))
    # An open face mask looks where its surface does (its area-weighted mean normal); a closed head's normals
    # cancel out, and it looks along its object's -Y, the Blender convention the human head follows.
    facing = sum((matrix.to_3x3() @ poly.normal * poly.area for poly in mesh.polygons), Vector())
    if facing.length < 0.3 * sum(poly.area for poly in mesh.polygons):
        facing = matrix.to_3x3() @ Vector((0.0, -1.0, 0.0))
    facing = facing.normalized() if facing.length > 1e-9 else Vector((0.0, -1.0, 0.0))

    camera_data = bpy.data.cameras.new("Demo Camera")
    camera_data.lens = 85.0
    camera = bpy.data.objects.new("Demo Camera", camera_data)
    scene.collection.objects.link(camera)
    field_of_view = 2 * math.atan(camera_data.sensor_width / (2 * camera_data.lens))
    distance = 1.05 * size / (2 * math.tan(field_of_view / 2))
    camera.location = centre + facing * distance
    up = Vector((0.0, 0.0, 1.0)) if abs(facing.z) < 0.9 else Vector((0.0, 1.0, 0.0))
    camera.rotation_euler = (-facing).to_track_quat("-Z", "Y" if up.y else "Z").to_euler()
    scene.camera = camera

    side = facing.cross(up).normalized()
    for name, offset, energy, radius in (
        ("Demo Key Light", facing + side * 0.8 + up * 0.6, 9.0, 0.6),
        ("Demo Fill Light", facing - side * 1.0 + up * 0.1, 3.0, 1.0),
        ("Demo Rim Light", -facing + up * 0.8, 5.0, 0.6),
    ):
        light_data = bpy.data.lights.new(name, type="AREA")
        light_data.energy = energy * distance**2  # watts: the same irradiance at any distance
        light_data.size = radius * size
        light = bpy.data.objects.new(name, light_data)
        light.location = centre + offset.normalized() * distance
        light.rotation_euler = (-offset).to_track_quat("-Z", "Y").to_euler()
        scene.collection.objects.link(light)

    world = bpy.data.worlds.new("Demo World")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.18, 0.19, 0.21, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.5
    scene.world = world
    if not mesh.materials:
        material = bpy.data.materials.new("Demo Skin")
        material.use_nodes = True
        bsdf = material.node_tree.nodes["Principled BSDF"]
        bsdf.inputs["Base Color"].default_value = (0.8, 0.6, 0.5, 1.0)
        bsdf.inputs["Roughness"].default_value = 0.55
        mesh.materials.append(material)
    for poly in mesh.polygons:
        poly.use_smooth = True

    render = scene.render
    render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = options.samples
    scene.cycles.use_denoising = options.samples >= 4
    scene.cycles.max_bounces = 3  # skin on a mask: more bounces cost time and show nothing
    render.resolution_x = render.resolution_y = options.resolution
    render.resolution_percentage = 100
    render.film_transparent = False
    render.use_persistent_data = True  # keep the BVH between frames: the mesh deforms, the scene does not change
    scene.view_settings.view_transform = "Standard"


def _set_video_output(scene, path: Path) -> None:
    render = scene.render
    render.image_settings.media_type = "VIDEO"
    render.image_settings.file_format = "FFMPEG"
    render.ffmpeg.format = "MPEG4"
    render.ffmpeg.codec = "H264"
    render.ffmpeg.constant_rate_factor = "HIGH"
    render.ffmpeg.audio_codec = "AAC"
    render.ffmpeg.audio_channels = "MONO"
    render.ffmpeg.audio_bitrate = 128
    render.filepath = f"//{path.name}"
    render.use_file_extension = False


def _render_contact_sheet(
    scene, marked: list[tuple[int, str]], out_png: Path, source: str, uses_model: bool, title: str
) -> float:
    """Render each marked frame and lay them out with their labels; returns the mean seconds per frame."""
    import bpy

    render = scene.render
    render.image_settings.media_type = "IMAGE"  # still frames; _render_video switches back to video
    render.image_settings.file_format = "PNG"
    images = []
    seconds = []
    with tempfile.TemporaryDirectory(prefix="diffusiontalker_demo_") as scratch:
        for frame, _label in marked:
            scene.frame_set(frame)
            render.filepath = str(Path(scratch) / f"frame_{frame:04d}.png")
            started = time.perf_counter()
            bpy.ops.render.render(write_still=True)
            seconds.append(time.perf_counter() - started)
            images.append(_read_png(Path(render.filepath)))
    subtitle = (
        f"animated by {source}" if uses_model else f"animated by {source.upper()} - the trained model is not in use"
    )
    _lay_out_sheet(images, [f"{label}  (frame {frame})" for frame, label in marked], title, subtitle, out_png)
    # The first render includes scene sync and kernel setup: leave it out of the per-frame estimate.
    return float(np.mean(seconds[1:] if len(seconds) > 1 else seconds))


def _read_png(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return imread(path)


def _lay_out_sheet(images: list[np.ndarray], labels: list[str], title: str, subtitle: str, out_png: Path) -> None:
    from matplotlib.figure import Figure

    columns = min(4, len(images))
    rows = math.ceil(len(images) / columns)
    figure = Figure(figsize=(2.6 * columns, 2.8 * rows + 0.7), dpi=130, facecolor="white")
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(image)
        axes.set_title(label, fontsize=11, color="#b22222" if label.split()[0] in BILABIALS else "black")
        axes.axis("off")
    figure.suptitle(f"{title}\n{subtitle}", fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.94))
    figure.savefig(out_png)


def _render_video(scene, target: Path, resolution: int, samples: int) -> Path:
    """Render the frame range to `target` (H.264 + AAC of the sequencer's sound)."""
    import bpy

    _set_video_output(scene, target)
    render = scene.render
    render.resolution_x = render.resolution_y = resolution
    scene.cycles.samples = samples
    render.filepath = str(target)
    bpy.ops.render.render(animation=True)
    return target
