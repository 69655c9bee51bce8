"""One animate-options schema (core/animate_options.py): the CLI flags, batch flags, the operator's properties and the
panel's scene settings all have its defaults and bounds, and an out-of-range value is refused with the same words
by each (never clamped silently)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from test_addon_kit import bpy, registered_addon, scene_dump

from core.animate_options import ANIMATE_OPTIONS, BATCH, BLENDER, CLI, AnimateOption, OptionValueError
from core.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
BATCH_REQUIRED = ["--object", "Face", "--audio", "voice.wav", "--out", "takes"]


@pytest.fixture
def addon():
    yield from registered_addon()


def _batch_parse(arguments: list[str]):
    from diffusiontalker_addon import batch

    return batch.parse_arguments([*BATCH_REQUIRED, *arguments])


def _cli_parse(arguments: list[str]):
    return build_parser().parse_args(["animate", *arguments])


PARSERS = {CLI: _cli_parse, BATCH: _batch_parse}


def _operator_property(name: str):
    return bpy.ops.diffusiontalker.animate.get_rna_type().properties[name]


def _settings_property(name: str):
    return bpy.context.scene.diffusiontalker.bl_rna.properties[name]


def _text(option: AnimateOption, value: float) -> str:
    return str(int(value)) if option.kind is int else repr(float(value))


@pytest.mark.parametrize("option", ANIMATE_OPTIONS, ids=lambda option: option.name)
def test_every_front_end_has_the_schemas_default_and_bounds(addon, option):
    for front_end, parse in PARSERS.items():
        if front_end not in option.front_ends:
            continue
        for flag in option.cli_flags:  # every spelling reaches the same option
            assert getattr(parse([]), option.name) == option.default, (front_end, flag)
            if option.kind is str:
                assert getattr(parse([f"{flag}=someone"]), option.name) == "someone"
                continue
            for edge in (option.minimum, option.maximum):  # the edges are allowed...
                if edge is not None:
                    assert getattr(parse([f"{flag}={_text(option, edge)}"]), option.name) == edge, (front_end, flag)
            step = 1 if option.kind is int else 0.5
            for outside in (option.minimum - step, option.maximum + step):  # ...one step beyond them is not
                with pytest.raises(SystemExit):
                    parse([f"{flag}={_text(option, outside)}"])

    if BLENDER not in option.front_ends:
        assert option.name not in bpy.context.scene.diffusiontalker.bl_rna.properties
        assert option.name not in bpy.ops.diffusiontalker.animate.get_rna_type().properties
        return
    settings, operator = _settings_property(option.name), _operator_property(option.name)
    for prop in (settings, operator):
        assert prop.name == option.label and prop.description == option.description
        assert prop.default == option.default
        if option.kind is not str:
            assert (prop.soft_min, prop.soft_max) == (option.slider_minimum, option.slider_maximum)
    if option.kind is not str:
        # The panel's field cannot leave the allowed range; a script's operator call is checked instead (below).
        assert (settings.hard_min, settings.hard_max) == (option.minimum, option.maximum)
        scene_settings = bpy.context.scene.diffusiontalker
        setattr(scene_settings, option.name, option.kind(option.minimum - 1))
        assert getattr(scene_settings, option.name) == option.minimum
        if option.maximum < 2**31 - 1:  # beyond that Blender refuses any int property
            setattr(scene_settings, option.name, option.kind(option.maximum + 1))
            assert getattr(scene_settings, option.name) == option.maximum


def _bad_values(option: AnimateOption) -> list[float]:
    values = [option.minimum - (1 if option.kind is int else 0.5), option.maximum + (1 if option.kind is int else 0.5)]
    return values + ([math.nan, math.inf] if option.kind is float else [])


REFUSALS = [(option, value) for option in ANIMATE_OPTIONS if option.kind is not str for value in _bad_values(option)]


@pytest.mark.parametrize(("option", "value"), REFUSALS, ids=[f"{option.name}={value}" for option, value in REFUSALS])
def test_an_out_of_range_value_is_refused_with_the_same_words_everywhere(addon, capsys, option, value):
    with pytest.raises(OptionValueError) as schema_refusal:
        option.check(value)
    problem = schema_refusal.value.problem  # e.g. "2.5 is out of range; use a value between 0 and 2"
    assert option.describe_range() in problem

    for front_end, parse in PARSERS.items():
        if front_end not in option.front_ends:
            continue
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            parse([f"{option.cli_flags[0]}={_text(option, value) if math.isfinite(value) else value}"])
        assert exited.value.code == 2
        error = capsys.readouterr().err
        assert f"argument {'/'.join(option.cli_flags)}: {problem}" in error, (front_end, error)

    if BLENDER in option.front_ends:
        before = scene_dump()
        if option.kind is int and not -(2**31) <= value <= 2**31 - 1:
            with pytest.raises(ValueError, match="not in 'int' range"):  # Blender itself refuses it
                bpy.ops.diffusiontalker.animate(**{option.name: option.kind(value)})
        else:
            with pytest.raises(RuntimeError) as refused:
                bpy.ops.diffusiontalker.animate(**{option.name: option.kind(value)})
            message = str(refused.value)
            if math.isinf(value):  # Blender stores inf as the largest float32, 3.40282e+38: out of range all the same
                assert f"{option.label} ({option.name}): 3.40282e+38 is out of range; use a value " in message
                assert message.rstrip().endswith(option.describe_range()), message
            else:
                assert f"{option.label} ({option.name}): {problem}" in message
        assert scene_dump() == before


def test_the_panel_animates_with_exactly_the_schemas_blender_options(addon):
    from core.animate_options import options_for
    from diffusiontalker_addon import properties

    settings = bpy.context.scene.diffusiontalker
    settings.emotion_strength, settings.seed, settings.blinks_per_minute, settings.start_frame = 0.25, 7, 3.0, 11
    arguments = properties.animate_arguments(settings)
    for option in options_for(BLENDER):
        assert arguments[option.name] == getattr(settings, option.name)
    assert (arguments["emotion_strength"], arguments["seed"], arguments["start_frame"]) == (0.25, 7, 11)


FRONT_END_FILES = {  # path: the part that declares animate options (None: the whole file)
    "core/cli.py": ('sub.add_parser("animate"', "set_defaults(func=_animate)"),  # other commands have a --seed too
    "diffusiontalker_addon/batch.py": None,
    "diffusiontalker_addon/operators.py": None,
    "diffusiontalker_addon/properties.py": None,
    "diffusiontalker_addon/panel.py": None,
    "diffusiontalker_addon/audio_source.py": None,
    "diffusiontalker_addon/scene_guard.py": None,
}


@pytest.mark.parametrize("path", FRONT_END_FILES)
def test_front_ends_restate_no_option_or_constant(path):
    """Options, their defaults and bounds, the sample rate and the audio formats live in core/animate_options.py."""
    source = (REPO / path).read_text()
    if FRONT_END_FILES[path] is not None:
        start, end = FRONT_END_FILES[path]
        source = source[source.index(start) : source.index(end)]
    restated = {
        "the sample rate": r"\b16_?000\b",
        "an audio format list": r"[\"'*]\.flac\b",
        "the blink default": r"DEFAULT_BLINKS_PER_MINUTE|\b15\.0\b",
        "a style default": r"DEFAULT_IDENTITY|NEUTRAL_EMOTION",
    }
    for option in ANIMATE_OPTIONS:
        restated[f"the property {option.name}"] = rf"\b{option.name}: *(String|Float|Int)Property\("
        for flag in option.cli_flags:
            restated[f"the flag {flag}"] = rf"add_argument\(\s*[\"']{flag}[\"']"
    for what, pattern in restated.items():
        found = re.search(pattern, source)
        assert found is None, f"{path} restates {what}: {found.group(0)!r}"


def test_the_sample_rate_is_a_number_in_one_module_only():
    """16 kHz is core/audio.py's SAMPLE_RATE; any other core module that spells the number out (as a value, not in a
    message such as an ffmpeg hint) would drift from it."""
    import ast

    spelled = []
    for path in sorted((REPO / "core").rglob("*.py")):
        if path == REPO / "core" / "audio.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value == 16000:
                spelled.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert spelled == []


def test_a_bare_request_has_the_schemas_defaults():
    """The engine, batch and the add-on all build an AnimationRequest: its own defaults are the options'."""
    import dataclasses

    from core.animation_job import AnimationRequest

    fields = {field.name: field.default for field in dataclasses.fields(AnimationRequest)}
    shared = [option for option in ANIMATE_OPTIONS if option.name in fields]
    assert {option.name for option in shared} >= {"identity", "emotion", "emotion_strength", "seed", "fps", "steps"}
    for option in shared:
        assert fields[option.name] == option.default, option.name
