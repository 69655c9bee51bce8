"""Rig shape-key names -> ARKit channels: variants that match, names that never do, conflicts and presets."""

from __future__ import annotations

import json

import pytest

from core.rig.arkit import ARKIT_NAMES
from core.rig.name_mapping import (
    PRESETS_DIR,
    arkit_name_for,
    list_presets,
    load_preset,
    map_channel_names,
)


def pairs_of(mapping) -> dict[str, str]:
    return {p.rig_name: p.arkit_name for p in mapping.pairs}


def test_the_52_arkit_names_map_to_themselves():
    mapping = map_channel_names(list(ARKIT_NAMES))
    assert pairs_of(mapping) == {n: n for n in ARKIT_NAMES}
    assert mapping.unmapped == () and mapping.conflicts == ()
    assert all(p.scale == 1.0 and p.match == "exact" for p in mapping.pairs)


@pytest.mark.parametrize(
    "rig_name, arkit",
    [
        # Live Link Face capitals and other cases
        ("JawOpen", "jawOpen"),
        ("EyeBlinkLeft", "eyeBlinkLeft"),
        ("MOUTHSMILERIGHT", "mouthSmileRight"),
        # side suffixes
        ("eyeBlink_L", "eyeBlinkLeft"),
        ("eyeBlink_R", "eyeBlinkRight"),
        ("eyeBlink.L", "eyeBlinkLeft"),
        ("mouthSmile.r", "mouthSmileRight"),
        ("browDown_Left", "browDownLeft"),
        ("browDown_RIGHT", "browDownRight"),
        ("cheekSquintleft", "cheekSquintLeft"),
        ("eye_look_in_l", "eyeLookInLeft"),
        # separators
        ("jaw_open", "jawOpen"),
        ("jaw-open", "jawOpen"),
        ("Jaw Open", "jawOpen"),
        ("Mouth_Smile_L", "mouthSmileLeft"),
        ("Brow Outer Up Right", "browOuterUpRight"),
        # prefixes
        ("Face.jawOpen", "jawOpen"),
        ("face_jaw_open", "jawOpen"),
        ("blendShape1.eyeBlinkLeft", "eyeBlinkLeft"),
        ("ARKit_mouthFunnel", "mouthFunnel"),
        ("bs_tongueOut", "tongueOut"),
        ("Head|Face.MouthClose", "mouthClose"),
        ("CC_Base_Body:mouthPucker", "mouthPucker"),
    ],
)
def test_common_naming_variants_match(rig_name, arkit):
    assert arkit_name_for(rig_name) == arkit
    mapping = map_channel_names([rig_name])
    assert pairs_of(mapping) == {rig_name: arkit} and mapping.unmapped == ()


@pytest.mark.parametrize(
    "rig_name",
    ["Smile", "jawOpen.001", "eyeBlinkL", "eyeBlink", "mouthSmil_L", "Key 1", "jaw", "Left", "open_jaw", "jawOpenX"],
)
def test_names_that_spell_no_arkit_channel_are_reported_not_guessed(rig_name):
    mapping = map_channel_names(["jawOpen", rig_name])
    assert pairs_of(mapping) == {"jawOpen": "jawOpen"}
    assert mapping.unmapped == (rig_name,)


def test_rest_pose_names_are_ignored_not_reported():
    mapping = map_channel_names(["Basis", "neutral", "jawOpen"])
    assert mapping.unmapped == () and set(mapping.ignored) == {"Basis", "neutral"}


def test_an_exact_name_wins_a_conflict_and_the_other_key_is_reported_with_a_reason():
    mapping = map_channel_names(["jaw_open", "Face.jawOpen", "jawOpen", "JawOpen"])
    assert pairs_of(mapping) == {"jawOpen": "jawOpen"}
    assert mapping.unmapped == ("jaw_open", "Face.jawOpen", "JawOpen")
    assert {c.rig_name for c in mapping.conflicts} == set(mapping.unmapped)
    assert all(c.kept == "jawOpen" and c.arkit_name == "jawOpen" for c in mapping.conflicts)
    assert "'jawOpen' already drives" in mapping.conflicts[0].reason


def test_between_equal_variants_the_first_rig_key_wins():
    mapping = map_channel_names(["eyeBlink_L", "eye_blink_left"])
    assert pairs_of(mapping) == {"eyeBlink_L": "eyeBlinkLeft"}
    assert mapping.unmapped == ("eye_blink_left",)


def test_pairs_keep_rig_order_and_report_what_stays_undriven():
    mapping = map_channel_names(["mouthClose_R", "jawOpen", "Smile"])  # mouthClose has no side: no match
    assert [p.rig_name for p in mapping.pairs] == ["jawOpen"]
    assert mapping.unmapped == ("mouthClose_R", "Smile")
    assert "eyeBlinkLeft" in mapping.missing_arkit_names() and "jawOpen" not in mapping.missing_arkit_names()


def write_preset(tmp_path, content) -> str:
    path = tmp_path / "rig.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_a_preset_file_maps_other_names_with_scale_and_wins_over_automatic_matches(tmp_path):
    path = write_preset(
        tmp_path,
        {
            "name": "My rig",
            "map": {"Mouth_Open": {"arkit": "jawOpen", "scale": 0.8}, "Blink_Left": "eyeblinkleft", "Unused": None},
        },
    )
    mapping = map_channel_names(["Mouth_Open", "blink_left", "jawOpen", "Unused", "mouthFunnel"], preset=path)
    assert pairs_of(mapping) == {"Mouth_Open": "jawOpen", "blink_left": "eyeBlinkLeft", "mouthFunnel": "mouthFunnel"}
    assert next(p for p in mapping.pairs if p.rig_name == "Mouth_Open").scale == pytest.approx(0.8)
    assert mapping.unmapped == ("jawOpen",) and mapping.conflicts[0].kept == "Mouth_Open"
    assert mapping.ignored == ("Unused",) and mapping.preset == "My rig"


def test_a_preset_may_drive_several_rig_keys_from_one_channel():
    mapping = map_channel_names(["Brow_Raise_Inner_L", "Brow_Raise_Inner_R"], preset="character_creator_example")
    assert mapping.rig_keys_for("browInnerUp") == ["Brow_Raise_Inner_L", "Brow_Raise_Inner_R"]
    assert mapping.conflicts == ()


def test_shipped_presets_are_listed_valid_and_say_they_are_examples():
    presets = list_presets()
    assert len(presets) >= 1 and len(presets) == len(list(PRESETS_DIR.glob("*.json")))
    for preset in presets:
        assert preset.entries and ("example" in preset.description.lower() or "fitted" in preset.description)
        assert all(e.arkit_name is None or e.arkit_name in ARKIT_NAMES for e in preset.entries.values())
    vroid = map_channel_names(["Fcl_EYE_Close_L", "Fcl_MTH_A", "Fcl_HA_Fung1"], preset="vroid_example")
    assert pairs_of(vroid) == {"Fcl_EYE_Close_L": "eyeBlinkLeft", "Fcl_MTH_A": "jawOpen"}
    assert vroid.unmapped == ("Fcl_HA_Fung1",)


def test_an_unknown_preset_name_lists_the_available_ones():
    with pytest.raises(KeyError, match="vroid_example"):
        map_channel_names(["jawOpen"], preset="no_such_rig")


def test_a_missing_preset_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        map_channel_names(["jawOpen"], preset=str(tmp_path / "gone.json"))


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"map": {"A": "jawOpen",}}', "not valid JSON"),
        ('["jawOpen"]', 'must be a JSON object with a "map"'),
        ({"name": "x"}, 'must be a JSON object with a "map"'),
        ({"map": {"A": "jawOpenWide"}}, "'jawOpenWide' is not an ARKit-52 blendshape name"),
        ({"map": {"A": {"arkit": "jawOpen", "scale": -1}}}, "scale must be a positive number"),
        ({"map": {"A": {"arkit": "jawOpen", "scale": "0.5"}}}, "scale must be a positive number"),
        ({"map": {"A": {"arkit": "jawOpen", "scal": 0.5}}}, "unknown field"),
        ({"map": {"A": {"scale": 0.5}}}, 'missing "arkit"'),
        ({"map": {"A": 3}}, "must be a name like"),
        ({"name": 3, "map": {}}, '"name" must be a string'),
    ],
)
def test_a_malformed_preset_raises_value_error_naming_the_problem(tmp_path, content, message):
    path = write_preset(tmp_path, content)
    with pytest.raises(ValueError, match=message):
        load_preset(path)
    with pytest.raises(ValueError, match="rig.json"):  # the message names the file to fix
        map_channel_names(["A"], preset=path)
