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
