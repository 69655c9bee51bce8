"""The animate options, declared once: every front end builds its flags or properties from `ANIMATE_OPTIONS`.

The CLI's `animate` (core/cli.py) and batch.py add argparse flags with `add_flags`; the Blender add-on makes its
operator properties and scene settings from the same entries (diffusiontalker_addon/properties.py). Each option has
one name, type, default, allowed range and description; a value outside the range (or NaN / infinite) is refused
everywhere with the same words (`OptionValueError`), never clamped silently and never turned into an all-NaN take.
The audio formats are defined here; the other constants a request depends on each have one home (sample rate:
core/audio.py, blink default: core/blink_layer.py, style defaults: core/style_library.py), and
core/animation_job.py's `AnimationRequest` takes its defaults from `ANIMATE_OPTIONS`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.blink_layer import DEFAULT_BLINKS_PER_MINUTE
from core.style_library import DEFAULT_IDENTITY, NEUTRAL_EMOTION

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")  # what every front end accepts
AUDIO_FILE_GLOB = ";".join(f"*{suffix}" for suffix in AUDIO_SUFFIXES)  # Blender's file browser filter

INT32_MAX = 2**31 - 1  # Blender's IntProperty range: a seed above it could not be stored in a scene
BLENDER_MAX_FRAME = 1_048_574  # Blender's frame range (MAXFRAME)

CLI, BATCH, BLENDER = "cli", "batch", "blender"  # the front ends, for `AnimateOption.front_ends`


class OptionValueError(ValueError):
    """A value an option refuses; the message names the option, the value and the allowed range."""

    def __init__(self, option: AnimateOption, problem: str) -> None:
        super().__init__(f"{option.label} ({option.name}): {problem}")
        self.option, self.problem = option, problem


@dataclass(frozen=True)
class AnimateOption:
    """One option of an animation request. `minimum` / `maximum` are the allowed range (None: unbounded), refused
    outside; `soft_minimum` / `soft_maximum` are only the range a Blender slider drags over (None: the allowed one)."""

    name: str  # the operator property, scene setting and AnimationRequest field
    kind: type  # float, int or str
    default: float | int | str | None  # None: no value, the engine decides (see `default_text`)
    label: str  # what Blender shows
    description: str
    flags: tuple[str, ...] = ()  # command-line spellings, the first is the main one ((): `--name-with-dashes`)
    front_ends: frozenset[str] = frozenset({CLI, BATCH, BLENDER})
    minimum: float | None = None
    maximum: float | None = None
    soft_minimum: float | None = None
    soft_maximum: float | None = None
    default_text: str = ""  # the help's description of a None default

    @property
    def cli_flags(self) -> tuple[str, ...]:
        return self.flags or ("--" + self.name.replace("_", "-"),)

    @property
    def slider_minimum(self) -> float | None:
        return self.minimum if self.soft_minimum is None else self.soft_minimum

    @property
    def slider_maximum(self) -> float | None:
        return self.maximum if self.soft_maximum is None else self.soft_maximum

    def describe_range(self) -> str:
        if self.minimum is None and self.maximum is None:
            return "any value"
        if self.maximum is None:
            return f">= {_shown(self.minimum)}"
        if self.minimum is None:
            return f"<= {_shown(self.maximum)}"
        return f"between {_shown(self.minimum)} and {_shown(self.maximum)}"

    def check(self, value: float | int | str) -> float | int | str:
        """`value` if this option allows it, else OptionValueError (bools and NaN are not numbers here)."""
        if self.kind is str:
            if not isinstance(value, str):
                raise OptionValueError(self, f"{value!r} is not text")
            return value
        noun = "a whole number" if self.kind is int else "a value"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionValueError(self, f"{value!r} is not a number; use {noun} {self.describe_range()}")
        if self.kind is int and (isinstance(value, float) and not value.is_integer()):
            raise OptionValueError(self, f"{value!r} is not a whole number; use one {self.describe_range()}")
        if not math.isfinite(value):
            raise OptionValueError(self, f"{value!r} is not a finite number; use {noun} {self.describe_range()}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise OptionValueError(self, f"{_shown(value)} is out of range; use {noun} {self.describe_range()}")
        return self.kind(value)

    def parse(self, text: str) -> float | int | str:
        """A command-line value: the text as this option's type, then `check`."""
        if self.kind is str:
            return text
        try:
            value = int(text) if self.kind is int else float(text)
        except ValueError:
            what = "a whole number" if self.kind is int else "a number"
            raise OptionValueError(self, f"{text!r} is not {what}; use one {self.describe_range()}") from None
        return self.check(value)

    def argparse_type(self) -> Callable[[str], float | int | str]:
        """argparse `type=`: `parse`, with the problem as argparse's message (it prefixes the flag's name)."""

        def parse(text: str) -> float | int | str:
            try:
                return self.parse(text)
            except OptionValueError as exc:
                raise argparse.ArgumentTypeError(exc.problem) from None

        parse.__name__ = "whole number" if self.kind is int else "number"  # argparse's "invalid <type> value"
        return parse

    def help_text(self) -> str:
        bounds = "" if self.kind is str else f"{self.describe_range()}; "
        if self.default is None:
            return f"{self.description} ({bounds}{self.default_text})"
        default = self.default if self.kind is str else _shown(self.default)
        return f"{self.description} ({bounds}default {default})"


def _shown(number: float | int) -> str:
    """2.0 -> "2", 2147483647 -> "2147483647" (not `:g`'s "2.14748e+09")."""
    return str(number) if isinstance(number, int) else f"{number:g}"


ANIMATE_OPTIONS: tuple[AnimateOption, ...] = (
    AnimateOption(
        "identity", str, DEFAULT_IDENTITY, "Identity", "Whose speaking manner to imitate: an identity from the "
        "style library", flags=("--identity", "--style"),
    ),
    AnimateOption("emotion", str, NEUTRAL_EMOTION, "Emotion", "The emotion to speak with, from the style library"),
    AnimateOption(
        "emotion_strength", float, 1.0, "Intensity", "How strongly the emotion shows; 0: neutral",
        minimum=0.0, maximum=2.0, soft_maximum=1.5,
    ),
    AnimateOption(
        "seed", int, 0, "Seed", "Each seed is a different take of the same audio and style",
        minimum=0, maximum=INT32_MAX,
    ),
    AnimateOption(
        "blinks_per_minute", float, DEFAULT_BLINKS_PER_MINUTE, "Blinks / min",
        "Blinks laid over the model's eyelids, drawn to the pauses; 0: only the model's own",
        minimum=0.0, maximum=60.0, soft_maximum=30.0,
    ),
    AnimateOption(
        "start_frame", int, 1, "Start Frame", "Scene frame of the first audio sample (file audio)",
        front_ends=frozenset({BATCH, BLENDER}), minimum=-BLENDER_MAX_FRAME, maximum=BLENDER_MAX_FRAME,
    ),
    AnimateOption(
        "steps", int, None, "Steps", "Sampling steps", front_ends=frozenset({CLI}), minimum=1, maximum=64,
        default_text="default: the model's own, student 2, teacher 16",
    ),
    AnimateOption(
        "guidance", float, None, "Guidance", "Classifier-free guidance: how far each step goes from the take without "
        "voice and style towards the one with them; higher closes and opens the lips more crisply and shows the style "
        "more, at some cost in naturalness; 1: the plain conditional take", front_ends=frozenset({CLI}),
        minimum=1.0, maximum=5.0, default_text="default: the model's own, student 2, teacher 1",
    ),
    AnimateOption(
        "fps", float, 30.0, "FPS", "Frames per second of the written animation; Blender uses the scene's",
        front_ends=frozenset({CLI}), minimum=1.0, maximum=240.0,
    ),
)  # fmt: skip
OPTIONS_BY_NAME: dict[str, AnimateOption] = {option.name: option for option in ANIMATE_OPTIONS}


def options_for(front_end: str) -> tuple[AnimateOption, ...]:
    """The options `front_end` (CLI, BATCH or BLENDER) offers, in declaration order."""
    return tuple(option for option in ANIMATE_OPTIONS if front_end in option.front_ends)


def add_flags(parser: argparse.ArgumentParser, front_end: str) -> None:
    """Add `front_end`'s options to `parser` as flags (dest: the option's name)."""
    for option in options_for(front_end):
        parser.add_argument(
            *option.cli_flags, dest=option.name, type=option.argparse_type(), default=option.default,
            help=option.help_text(), metavar=option.name.upper() if option.kind is str else None,
        )  # fmt: skip


def check_values(values: Mapping[str, float | int | str]) -> dict[str, float | int | str]:
    """Each named option's value checked (`AnimateOption.check`); the first refusal raises OptionValueError."""
    return {name: OPTIONS_BY_NAME[name].check(value) for name, value in values.items()}
