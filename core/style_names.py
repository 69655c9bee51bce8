"""Readable names for the shipped identities: the style library stores voice ids (`piper_joe`), menus show people.

Names that are not in the table (user styles, a retrained library's new voices) are shown as they are.
"""

from __future__ import annotations

from core.style_library import DEFAULT_IDENTITY

SHIPPED_IDENTITY_NAMES: dict[str, str] = {
    DEFAULT_IDENTITY: "Default - the average of all voices",
    "piper_joe": "Joe - US male, warm",
    "flite_slt": "Sally - US female, clear",
    "festival_slt_hts": "Sarah - US female, smooth",
    "flite_rms": "Rob - US male, deep",
    "flite_awb": "Alan - Scottish male",
    "flite_kal": "Karl - US male, low and slow",
    "flite_kal16": "Kyle - US male, even",
    "festival_kal": "Ken - US male, lively tenor",
    "festival_ked": "Ed - US male, plain",
    "espeak_en_us_m": "Max - US male, robotic",
    "espeak_en_f": "Fay - female, robotic",
}


def identity_display_name(voice_id: str) -> str:
    """What a menu shows for an identity: the table's name for a shipped voice, else the id itself."""
    return SHIPPED_IDENTITY_NAMES.get(voice_id, voice_id)


def emotion_display_name(name: str) -> str:
    return name.replace("_", " ").capitalize()
