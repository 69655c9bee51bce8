"""The Identity and Emotion menus: built from the engine's style names, saved in the scene as names.

The scene stores the chosen *names* (`settings.identity`, `settings.emotion`, plain strings). The menus
(`identity_menu`, `emotion_menu`) are views over them: their items come from the engine's style library (shipped
styles, then the user's own under a "Your Styles" heading), and their value is looked up by name every time. So a
saved "flite_slt / sad" reopens as exactly that after styles were added, or on another machine; a name the library
no longer offers shows as "Missing: <name>", and animating refuses it instead of using another style.

Blender keeps only pointers to the strings of dynamic EnumProperty items; if Python frees them, menus show garbage
or Blender crashes (a long-known Blender limitation). So each item list is built once per distinct content and kept
alive here for the whole session.
"""

from __future__ import annotations

import bpy

from core.runtime import DEFAULT_IDENTITY, NEUTRAL_EMOTION, emotion_display_name, identity_display_name

from . import engine, preferences

MISSING_ITEM = "__MISSING__"  # the menu entry standing for a saved name the library does not offer
STYLE_KINDS = ("identity", "emotion")

EnumItem = tuple[str, str, str, str, int]  # (identifier, label, tooltip, icon, number)
_kept_alive: dict[tuple, list[EnumItem]] = {}


def identity_names(context: bpy.types.Context) -> list[str]:
    return list(engine.get_engine(preferences.get_preferences(context)).identities()) or [DEFAULT_IDENTITY]


def emotion_names(context: bpy.types.Context) -> list[str]:
    return list(engine.get_engine(preferences.get_preferences(context)).emotions()) or [NEUTRAL_EMOTION]


def offered_names(kind: str, context: bpy.types.Context) -> list[str]:
    return identity_names(context) if kind == "identity" else emotion_names(context)


def menu_items(kind: str, settings, context: bpy.types.Context | None) -> list[EnumItem]:
    """The `kind` menu ("identity" or "emotion") for `settings`, whose stored name decides the Missing entry."""
    context = context or bpy.context
    offered = offered_names(kind, context)
    user = engine.user_style_names(preferences.get_preferences(context))
    shipped = [name for name in offered if name not in user]
    yours = [name for name in offered if name in user]
    stored = getattr(settings, kind, "") if settings is not None else ""
    missing = stored if stored not in offered else None
    display = identity_display_name if kind == "identity" else emotion_display_name
    # The key holds what the items show (display names too), so a changed label never reads a stale list
    cache_key = (kind, tuple((name, display(name)) for name in shipped), tuple(yours), missing)
    if cache_key not in _kept_alive:
        _kept_alive[cache_key] = _build_items(kind, shipped, yours, missing)
    return _kept_alive[cache_key]


def _build_items(kind: str, shipped: list[str], yours: list[str], missing: str | None) -> list[EnumItem]:
    default = DEFAULT_IDENTITY if kind == "identity" else NEUTRAL_EMOTION
    display = identity_display_name if kind == "identity" else emotion_display_name
    shipped = sorted(shipped, key=lambda name: (name != default, display(name).lower()))
    items: list[EnumItem] = []
    for name in shipped:
        items.append((name, display(name), f"{kind.title()} '{name}' (shipped with the model)", "NONE", len(items)))
    if yours:
        items.append(("", "Your Styles", "", "NONE", len(items)))  # a heading, not a choice
        for name in sorted(yours, key=str.lower):
            tooltip = f"Your {kind} '{name}', made from a reference clip"
            items.append((name, name, tooltip, "USER", len(items)))
    if missing is not None:
        tooltip = (
            f"This scene asks for the {kind} '{missing}', which the style library does not offer (added on another "
            "machine, renamed or deleted); pick another, or add it again from its reference clip"
        )
        items.append((MISSING_ITEM, f"Missing: {missing or '(none)'}", tooltip, "ERROR", len(items)))
    return items


def missing_names(settings, context: bpy.types.Context | None = None) -> dict[str, str]:
    """{kind: stored name} for each of identity / emotion whose saved name the library does not offer."""
    context = context or bpy.context
    return {
        kind: getattr(settings, kind)
        for kind in STYLE_KINDS
        if getattr(settings, kind) not in offered_names(kind, context)
    }


def menu_getter(kind: str):
    """EnumProperty `get`: the number of the item named like the stored string (the Missing entry if none is)."""

    def get(settings) -> int:
        items = menu_items(kind, settings, bpy.context)
        stored = getattr(settings, kind)
        fallback = MISSING_ITEM if stored not in (item[0] for item in items) else stored
        return next(item[4] for item in items if item[0] == fallback)

    return get


def menu_setter(kind: str):
    """EnumProperty `set`: store the chosen item's name (the heading and the Missing entry change nothing)."""

    def set_(settings, value: int) -> None:
        for identifier, _label, _tooltip, _icon, number in menu_items(kind, settings, bpy.context):
            if number == value and identifier not in ("", MISSING_ITEM):
                setattr(settings, kind, identifier)
                return

    return set_


def enum_items_callback(kind: str):
    """EnumProperty `items`."""

    def items(settings, context) -> list[EnumItem]:
        return menu_items(kind, settings, context)

    return items
