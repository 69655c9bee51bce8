"""Render every ARKit key of a demo head at weight 1 into one labelled grid PNG (a visual check of the rig).

    python -m diffusiontalker_addon contact-sheet --head human --out docs/contact_sheet_human.png

Builds the head with the add-on's own code (diffusiontalker_addon.demo_head), so the sheet shows exactly what
"Add Demo Head" makes: for the human head, the eyes, teeth, tongue and lashes follow the head's keys. It resets
bpy's session to an empty scene: run it from the CLI, not inside a Blender session whose scene you want to keep.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from core.runtime import ARKIT_NAMES

from .demo_head import create_demo_head_object, create_human_head_objects

NEUTRAL = "neutral"
# mouthClose only means something on an open jaw (it is the seal that cancels jawOpen), so its cell shows both;
# the tongue comes out of an open mouth.
COMPANION_KEYS = {"mouthClose": ("jawOpen",), "tongueOut": ("jawOpen",)}
COLUMNS = 8
LABEL_HEIGHT = 18
HEADS = ("HUMAN", "PROCEDURAL")


def render_contact_sheet(
    out: Path, head: str = "HUMAN", resolution: int = 160, samples: int = 8, keys: Sequence[str] | None = None
) -> Path:
    """Render the neutral head and each key (all 52 by default) with Cycles on the CPU; write a grid PNG to `out`."""
    names = list(ARKIT_NAMES if keys is None else keys)
    unknown = [n for n in names if n not in ARKIT_NAMES]
    if unknown:
        raise ValueError(f"not ARKit-52 names: {', '.join(unknown)}; use names from core/rig/arkit.py")
    if head not in HEADS:
        raise ValueError(f"head must be one of {', '.join(HEADS)}, not {head!r}")

    head_object = _build_scene(head, resolution, samples)
    return render_key_sheet(head_object, names, out)


def render_key_sheet(obj: bpy.types.Object, names: Sequence[str], out: Path) -> Path:
    """Render `obj` (its keys at 0) and then each named key of it at weight 1 (with COMPANION_KEYS) from the scene's
    camera (stage_scene sets one up); write a labelled grid PNG to `out`. The keys are left at 0."""
    key = obj.data.shape_keys
    missing = [n for n in names if key is None or n not in key.key_blocks]
    if missing:
        raise ValueError(f"'{obj.name}' has no shape keys {', '.join(missing)}; run Add ARKit Keys first")
    key_blocks = key.key_blocks
    cells: list[tuple[str, np.ndarray]] = []
    with tempfile.TemporaryDirectory(prefix="contact_sheet_") as tmp:
        for name in [NEUTRAL, *names]:
            for block in key_blocks[1:]:
                block.value = 0.0
            if name != NEUTRAL:
                for driven in (name, *COMPANION_KEYS.get(name, ())):
                    key_blocks[driven].value = 1.0 if driven == name else 0.6
            path = Path(tmp) / f"{len(cells):02d}.png"
            bpy.context.scene.render.filepath = str(path)
            bpy.ops.render.render(write_still=True)
            label = name if name not in COMPANION_KEYS else f"{name} +{'+'.join(COMPANION_KEYS[name])}"
            cells.append((label, _read_png(path)))
    for block in key_blocks[1:]:
        block.value = 0.0
    _write_grid(cells, Path(out))
    return Path(out)


def _build_scene(head: str, resolution: int, samples: int) -> bpy.types.Object:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if head == "HUMAN":
        obj = create_human_head_objects(bpy.context)
        centre, scale = human_head_framing()
    else:
        obj = create_demo_head_object(bpy.context)
        centre, scale = Vector((0.0, 0.0, -0.004)), 0.205

    stage_scene(centre, scale, resolution, samples)
    return obj


def human_head_framing() -> tuple[Vector, float]:
    """Where to look and how much to frame for the human head at the origin: the face, not the neck (from the chin
    to the crown, centred between them)."""
    from core.runtime import load_human_head

    human = load_human_head()
    vertices = human.part("head").vertices
    chin, crown = vertices[human.landmarks["chin"]], vertices[human.landmarks["crown"]]
    return Vector(((chin + crown) / 2).tolist()) + Vector((0.0, 0.0, -0.01)), 1.12 * human.face_height()


def stage_scene(centre: Vector, scale: float, resolution: int, samples: int) -> None:
    """Camera, lights, world and Cycles (CPU) settings for a face seen from the front (-Y, Blender's front) a
    little to its left and above: `centre` the point framed (world coordinates), `scale` the height framed, in
    the scene's units (lights and clipping follow it, so a head renders the same in any units)."""
    scene = bpy.context.scene
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.type = "ORTHO"
    camera.data.ortho_scale = scale
    # A little to the character's left and above: depth reads in the shading.
    camera.location = centre + Vector((0.45, -3.0, 0.3)) * scale
    _aim(camera, centre)
    camera.data.clip_start, camera.data.clip_end = 0.01 * scale, 20.0 * scale
    scene.collection.objects.link(camera)
    scene.camera = camera
    for name, energy, offset, size in (
        ("Key", 5.0, (-1.7, -2.2, 1.7), 1.5),
        ("Fill", 1.5, (2.2, -2.0, 0.0), 2.5),
        ("Rim", 2.5, (0.0, 2.0, 1.5), 1.5),
    ):
        light = bpy.data.objects.new(name, bpy.data.lights.new(name, type="AREA"))
        light.data.energy = energy * (scale / 0.205) ** 2  # watts: the same light on a bigger head
        light.data.size = size * scale
        light.location = centre + Vector(offset) * scale
        _aim(light, centre)
        scene.collection.objects.link(light)

    world = bpy.data.worlds.new("World")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.18, 0.19, 0.21, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.6
    scene.world = world

    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = True
    scene.cycles.max_bounces = 3
    scene.render.resolution_x = scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    scene.render.use_persistent_data = True
    scene.render.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "Standard"


def _aim(obj: bpy.types.Object, target: Vector) -> None:
    """Point a camera's or light's -Z axis at `target`."""
    direction = Vector(target) - Vector(obj.location)
    obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))  # (H, W, 3) uint8


def _write_grid(cells: list[tuple[str, np.ndarray]], out: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    height, width, _ = cells[0][1].shape
    columns = min(COLUMNS, len(cells))
    rows = math.ceil(len(cells) / columns)
    sheet = Image.new("RGB", (columns * width, rows * (height + LABEL_HEIGHT)), (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(9, min(13, width // 12)))
    for i, (label, pixels) in enumerate(cells):
        left, top = (i % columns) * width, (i // columns) * (height + LABEL_HEIGHT)
        sheet.paste(Image.fromarray(pixels), (left, top + LABEL_HEIGHT))
        draw.text((left + 4, top + 3), label, fill=(235, 235, 235), font=font)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
