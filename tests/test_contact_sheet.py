"""The demo heads' contact sheets: a labelled grid PNG rendered with Cycles (real bpy)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("bpy")

from diffusiontalker_addon.contact_sheet import LABEL_HEIGHT, render_contact_sheet  # noqa: E402


def test_unknown_key_names_and_heads_are_refused_before_anything_renders(tmp_path):
    with pytest.raises(ValueError, match="not ARKit-52 names: jawOpenWide"):
        render_contact_sheet(tmp_path / "sheet.png", keys=["jawOpen", "jawOpenWide"])
    with pytest.raises(ValueError, match="head must be one of HUMAN, PROCEDURAL"):
        render_contact_sheet(tmp_path / "sheet.png", head="ROBOT")
    assert not (tmp_path / "sheet.png").exists()


@pytest.mark.slow
@pytest.mark.blender
@pytest.mark.parametrize("head", ["HUMAN", "PROCEDURAL"])
def test_a_two_key_sheet_is_a_grid_of_the_neutral_and_each_key(tmp_path, head):
    from PIL import Image

    out = render_contact_sheet(
        tmp_path / "sheet.png", head=head, resolution=48, samples=1, keys=["jawOpen", "eyeBlinkLeft"]
    )
    with Image.open(out) as image:
        assert image.size == (3 * 48, 48 + LABEL_HEIGHT)
        pixels = np.asarray(image.convert("L"), dtype=np.float32)
    neutral, jaw = pixels[LABEL_HEIGHT:, :48], pixels[LABEL_HEIGHT:, 48:96]
    assert neutral.std() > 10  # a lit head on a background, not an empty frame
    assert np.abs(neutral - jaw).mean() > 1  # the open jaw shows


def test_a_key_sheet_of_a_mesh_without_those_keys_is_refused_before_anything_renders(tmp_path):
    import bpy

    from diffusiontalker_addon.contact_sheet import render_key_sheet

    bpy.ops.wm.read_factory_settings(use_empty=True)
    mesh = bpy.data.meshes.new("Bare")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 0, 1)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new("Bare", mesh)
    bpy.context.scene.collection.objects.link(obj)
    with pytest.raises(ValueError, match="'Bare' has no shape keys jawOpen; run Add ARKit Keys first"):
        render_key_sheet(obj, ["jawOpen"], tmp_path / "sheet.png")
    assert not (tmp_path / "sheet.png").exists()


@pytest.mark.slow
@pytest.mark.blender
def test_a_head_modelled_in_tiny_units_renders_on_a_stage_of_its_size(tmp_path):
    """A head in tenths of a millimetre is about 2,000 units tall: the camera stands 6,000 units off, past Blender's
    default clipping (1,000), so the stage's clipping must follow the size framed or the frame is empty."""
    import bpy
    from mathutils import Matrix, Vector
    from PIL import Image

    from diffusiontalker_addon.contact_sheet import render_key_sheet, stage_scene
    from diffusiontalker_addon.demo_head import create_demo_head_object

    bpy.ops.wm.read_factory_settings(use_empty=True)
    head = create_demo_head_object(bpy.context)
    head.data.transform(Matrix.Scale(10000.0, 4), shape_keys=True)  # the basis and every key: m -> 0.1 mm
    stage_scene(Vector((0.0, 0.0, -40.0)), 2050.0, 48, 1)
    out = render_key_sheet(head, ["jawOpen"], tmp_path / "sheet.png")
    with Image.open(out) as image:
        assert image.size == (2 * 48, 48 + LABEL_HEIGHT)
        pixels = np.asarray(image.convert("L"), dtype=np.float32)
    neutral, jaw = pixels[LABEL_HEIGHT:, :48], pixels[LABEL_HEIGHT:, 48:]
    assert neutral.std() > 10  # the head, lit, not an empty background
    assert np.abs(neutral - jaw).mean() > 1
