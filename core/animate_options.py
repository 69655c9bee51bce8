"""The numeric animate options' allowed ranges, and the argparse types that enforce them.

The CLI's `animate` and the add-on's batch.py both parse these flags; a value out of range (or NaN / infinite)
is an argparse error that names the option, never a silent clamp or an all-NaN take.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class NumberRange:
    """Inclusive bounds of one option; `maximum` None: no upper bound."""

    minimum: float
    maximum: float | None = None

    def describe(self) -> str:
        return f">= {self.minimum:g}" if self.maximum is None else f"between {self.minimum:g} and {self.maximum:g}"


STEPS = NumberRange(1, 64)
FPS = NumberRange(1, 240)
EMOTION_STRENGTH = NumberRange(0.0, 2.0)
BLINKS_PER_MINUTE = NumberRange(0.0, 60.0)
SEED = NumberRange(0)


def bounded_float(bounds: NumberRange) -> Callable[[str], float]:
    """argparse `type=`: a finite float within `bounds` (argparse prefixes the message with the option's name)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number; use a value {bounds.describe()}")
        if value < bounds.minimum or (bounds.maximum is not None and value > bounds.maximum):
            raise argparse.ArgumentTypeError(f"{value:g} is out of range; use a value {bounds.describe()}")
        return value

    parse.__name__ = "number"  # argparse names the type in its "invalid <type> value" fallback
    return parse


def bounded_int(bounds: NumberRange) -> Callable[[str], int]:
    """argparse `type=`: a whole number within `bounds`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; use one {bounds.describe()}") from None
        if value < bounds.minimum or (bounds.maximum is not None and value > bounds.maximum):
            raise argparse.ArgumentTypeError(f"{value} is out of range; use a whole number {bounds.describe()}")
        return value

    parse.__name__ = "whole number"
    return parse
