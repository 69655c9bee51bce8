"""Render every ARKit key of the demo head at weight 1 into one labelled grid PNG (a visual check of the rig).

Needs bpy (Blender as a Python module), imported only when a sheet is rendered so that core/ stays usable without
Blender. It resets bpy's session to an empty scene: run it from the CLI (`python -m core rig contact-sheet --out
keys.png`), not inside a Blender session whose scene you want to keep.
"""

from __future__ import annotations

import importlib
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.rig.arkit import ARKIT_NAMES
from core.rig.demo_head import FACE_PART_LOOKS, FACE_PARTS, load_demo_head, to_blender_frame

NEUTRAL = "neutral"
# mouthClose only means something on an open jaw (it is the seal that cancels jawOpen), so its cell shows both.
COMPANION_KEYS = {"mouthClose": ("jawOpen",)}
COLUMNS = 8
LABEL_HEIGHT = 18


def render_contact_sheet(out: Path, resolution: int = 160, samples: int = 8, keys: Sequence[str] | None = None) -> Path:
    """Render the neutral head and each key (all 52 by default) with Cycles on the CPU; write a grid PNG to `out`."""
    names = list(ARKIT_NAMES if keys is None else keys)
    unknown = [n for n in names if n not in ARKIT_NAMES]
    if unknown:
        raise ValueError(f"not ARKit-52 names: {', '.join(unknown)}; use names from core/rig/arkit.py")
    try:
        bpy = importlib.import_module("bpy")  # lazily: core must import without Blender
    except ImportError:
        raise RuntimeError(
            "rendering the contact sheet needs bpy 5.0.x: `pip install bpy==5.0.1` (Python 3.11)"
        ) from None

    head_object = _build_scene(bpy, resolution, samples)
    key_blocks = head_object.data.shape_keys.key_blocks
    cells: list[tuple[str, np.ndarray]] = []
    with tempfile.TemporaryDirectory(prefix="contact_sheet_") as tmp:
        for name in [NEUTRAL, *names]:
            for block in key_blocks[1:]:
                block.value = 0.0
            if name != NEUTRAL:
                for driven in (name, *COMPANION_KEYS.get(name, ())):
                    key_blocks[driven].value = 1.0
            path = Path(tmp) / f"{len(cells):02d}.png"
            bpy.context.scene.render.filepath = str(path)
            bpy.ops.render.render(write_still=True)
            label = name if name not in COMPANION_KEYS else f"{name} +{'+'.join(COMPANION_KEYS[name])}"
            cells.append((label, _read_png(path)))
    _write_grid(cells, Path(out))
    return Path(out)


def _build_scene(bpy, resolution: int, samples: int):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    head = load_demo_head()
    mesh = bpy.data.meshes.new("DemoHead")
    mesh.from_pydata(to_blender_frame(head.vertices).tolist(), [], head.faces.tolist())
    mesh.update()
    mesh.polygons.foreach_set("use_smooth", np.ones(len(mesh.polygons), dtype=bool))
    mesh.polygons.foreach_set("material_index", head.face_parts.astype(np.int32))
    for part in FACE_PARTS:  # slot i is part i, as face_parts indexes them
        color, roughness = FACE_PART_LOOKS[part]
        mesh.materials.append(_material(bpy, f"DemoHead_{part}", (*color, 1.0), roughness))
    obj = bpy.data.objects.new("DemoHead", mesh)
    scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    basis = to_blender_frame(head.vertices)
    for name, delta in head.shape_key_deltas().items():
        block = obj.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", (basis + to_blender_frame(delta)).ravel())

    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.type = "ORTHO"
    camera.data.ortho_scale = 0.205
    camera.location = (0.09, -0.6, 0.06)  # a little to the character's left and above: depth reads in the shading
    _aim(camera, (0.0, 0.0, -0.004))
    scene.collection.objects.link(camera)
    scene.camera = camera
    for name, energy, location, size in (
        ("Key", 5.0, (-0.35, -0.45, 0.35), 0.3),
        ("Fill", 1.5, (0.45, -0.4, 0.0), 0.5),
        ("Rim", 2.5, (0.0, 0.4, 0.3), 0.3),
    ):
        light = bpy.data.objects.new(name, bpy.data.lights.new(name, type="AREA"))
        light.data.energy = energy  # watts: the head is small and close
        light.data.size = size
        light.location = location
        _aim(light, (0.0, 0.0, 0.0))
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
    return obj


def _material(bpy, name: str, color: tuple[float, float, float, float], roughness: float):
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    bsdf = material.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = color
    bsdf.inputs["Roughness"].default_value = roughness
    return material


def _aim(obj, target: tuple[float, float, float]) -> None:
    """Point a camera's or light's -Z axis at `target`."""
    mathutils = importlib.import_module("mathutils")
    direction = mathutils.Vector(target) - mathutils.Vector(obj.location)
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
