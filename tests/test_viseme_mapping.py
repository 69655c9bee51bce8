"""Rigs in the wild: Face Cap / Live Link names, and viseme-only rigs (Oculus / Ready Player Me, VRM / VRoid) driven
through the ARKit -> viseme mixes fitted on the corpus (core/rig/viseme_fit.py), checked on a held-out clip."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.demo_clip import demo_clip_paths
from core.rig.arkit import ARKIT_NAMES
from core.rig.name_mapping import map_channel_names
from core.rig.viseme_fit import (
    OCULUS_VISEMES,
    PHONE_TO_OCULUS,
    VRM_VOWELS,
    apply_mix,
    bilabial_dominance,
    fit_from_preset,
    fit_visemes,
    nonnegative_least_squares,
)

DIRECTIONS = ("jawLeft", "jawRight", "mouthLeft", "mouthRight")  # a direction, not a side: no _L/_R


def face_cap_name(name: str) -> str:
    for side, suffix in (("Left", "_L"), ("Right", "_R")):
        if name.endswith(side) and name not in DIRECTIONS:
            return name[: -len(side)] + suffix
    return name


@pytest.fixture(scope="module")
def held_out_clip() -> dict:
    """The bundled demo clip: a festival voice the viseme fit never saw."""
    _, npz = demo_clip_paths()
    with np.load(npz, allow_pickle=False) as data:
        names = [str(n) for n in data["names"]]
        return {
            "weights": data["weights"][:, [names.index(n) for n in ARKIT_NAMES]],
            "fps": float(data["fps"]),
            "phones": [str(p) for p in data["phones"]],
            "phone_times": data["phone_times"],
        }


@pytest.mark.parametrize("prefix", ["", "blendShape1.", "Face_"])
def test_face_cap_and_live_link_names_map_to_all_52_channels(prefix):
    face_cap = [prefix + face_cap_name(n) for n in ARKIT_NAMES]
    assert "eyeBlink_L" in [face_cap_name(n) for n in ARKIT_NAMES]
    mapping = map_channel_names(face_cap)
    assert len(mapping.pairs) == 52 and not mapping.unmapped and not mapping.conflicts
    assert mapping.arkit_for(prefix + "eyeBlink_L") == "eyeBlinkLeft"
    assert mapping.arkit_for(prefix + "mouthLeft") == "mouthLeft"
    live_link = [prefix + n[0].upper() + n[1:] for n in ARKIT_NAMES]  # EyeBlinkLeft, JawOpen, ...
    mapping = map_channel_names(live_link)
    assert len(mapping.pairs) == 52 and mapping.arkit_for(prefix + "EyeBlinkLeft") == "eyeBlinkLeft"


def test_an_oculus_viseme_rig_gets_the_fitted_preset_and_reports_what_it_drives():
    mapping = map_channel_names(["Basis", *OCULUS_VISEMES, "eyeBlinkLeft", "Wink"])
    assert mapping.preset == "Oculus / Ready Player Me visemes"
    driven = {p.rig_name for p in mapping.pairs}
    assert driven == set(OCULUS_VISEMES[1:]) | {"eyeBlinkLeft"}  # viseme_sil is the rest pose: ignored
    assert mapping.ignored == ("Basis", "viseme_sil") and mapping.unmapped == ("Wink",)
    pp = next(p for p in mapping.pairs if p.rig_name == "viseme_PP")
    assert pp.arkit_name == "mouthClose" and all(w > 0 for _, w in pp.mix)


def test_a_rig_with_arkit_mouth_keys_is_not_switched_to_visemes():
    mapping = map_channel_names([*OCULUS_VISEMES, "jawOpen", "mouthClose"])
    assert mapping.preset is None and {p.rig_name for p in mapping.pairs} == {"jawOpen", "mouthClose"}


def test_vrm_and_vroid_vowels_get_the_vrm_preset():
    for names in (["aa", "ih", "ou", "ee", "oh", "blink", "happy"], ["Fcl_MTH_A", "Fcl_MTH_I", "Fcl_MTH_U",
                                                                      "Fcl_MTH_E", "Fcl_MTH_O", "Fcl_EYE_Close"]):  # fmt: skip
        mapping = map_channel_names(names)
        assert mapping.preset == "VRM / VRoid vowels"
        assert len([p for p in mapping.pairs if p.mix]) == 6 and not mapping.unmapped


def test_on_a_held_out_clip_viseme_pp_dominates_every_bilabial(held_out_clip):
    fit = fit_from_preset("oculus_visemes", OCULUS_VISEMES)
    assert bilabial_dominance([held_out_clip], fit, "viseme_PP") >= 0.9
    values = apply_mix(held_out_clip["weights"], fit.mix)  # (frames, 15)
    seconds = np.arange(len(values)) / held_out_clip["fps"]
    aa = [values[(seconds >= a) & (seconds < b), OCULUS_VISEMES.index("viseme_aa")].max()
          for p, (a, b) in zip(held_out_clip["phones"], held_out_clip["phone_times"], strict=True) if p == "AA"]  # fmt: skip
    assert np.mean(aa) > 0.3  # and the open vowel opens


def test_on_a_held_out_clip_the_vrm_vowels_rest_on_bilabials_and_open_on_aa(held_out_clip):
    fit = fit_from_preset("vrm_visemes", VRM_VOWELS)
    values = apply_mix(held_out_clip["weights"], fit.mix)
    seconds = np.arange(len(values)) / held_out_clip["fps"]
    closed, aa = [], []
    for phone, (a, b) in zip(held_out_clip["phones"], held_out_clip["phone_times"], strict=True):
        during = (seconds >= a - 0.05) & (seconds <= b + 0.05)
        if phone in ("P", "B", "M"):
            closed.append(values[during].max(axis=1).min() < 0.2)
        elif phone == "AA":
            aa.append(values[during, 0].max())
    assert np.mean(closed) >= 0.8 and np.mean(aa) > 0.3


def test_fitting_on_a_clip_learns_pp_from_the_lip_seal(held_out_clip):
    fit = fit_visemes([held_out_clip], PHONE_TO_OCULUS, OCULUS_VISEMES)
    assert (fit.mix >= 0).all() and not fit.mix[0].any()  # non-negative; silence is never driven
    pp = fit.mix[OCULUS_VISEMES.index("viseme_PP")]
    assert ARKIT_NAMES[int(np.argmax(pp))] in ("mouthClose", "mouthPressLeft", "mouthPressRight", "mouthRollLower")
    assert not fit.mix[:, [ARKIT_NAMES.index("eyeBlinkLeft"), ARKIT_NAMES.index("browInnerUp")]].any()


def test_nonnegative_least_squares_recovers_a_nonnegative_solution_and_clips_negative_ones():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(400, 6))
    truth = np.array([[0.5, -0.7], [0.0, 0.2], [1.2, 0.0], [0.0, 0.9], [0.3, -0.1], [0.0, 0.4]])
    x = nonnegative_least_squares(a, a @ np.maximum(truth, 0), ridge=1e-9)
    np.testing.assert_allclose(x, np.maximum(truth, 0), atol=1e-4)
    assert (nonnegative_least_squares(a, a @ truth) >= 0).all()
