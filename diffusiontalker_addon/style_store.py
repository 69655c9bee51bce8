"""The Identity and Emotion choices the panel offers, read from the engine's style library.

Blender keeps only pointers to the strings of dynamic EnumProperty items; if Python frees them, menus show garbage
or Blender crashes (a long-known Blender limitation). So each item list is built once per distinct set of names
and kept alive here for the whole session.
"""

from __future__ import annotations

import bpy

from . import engine, preferences

_kept_alive: dict[tuple[str, tuple[str, ...]], list[tuple[str, str, str]]] = {}


def _items(kind: str, names: list[str]) -> list[tuple[str, str, str]]:
    cache_key = (kind, tuple(names))
    if cache_key not in _kept_alive:
        _kept_alive[cache_key] = [(name, name.replace("_", " ").title(), f"{kind.title()} '{name}'") for name in names]
    return _kept_alive[cache_key]


def identity_names(context: bpy.types.Context) -> list[str]:
    return list(engine.get_engine(preferences.get_preferences(context)).identities()) or ["default"]


def emotion_names(context: bpy.types.Context) -> list[str]:
    return list(engine.get_engine(preferences.get_preferences(context)).emotions()) or ["neutral"]


def identity_items(_self, context: bpy.types.Context) -> list[tuple[str, str, str]]:
    return _items("identity", identity_names(context))


def emotion_items(_self, context: bpy.types.Context) -> list[tuple[str, str, str]]:
    return _items("emotion", emotion_names(context))
