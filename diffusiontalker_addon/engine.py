"""The one place the add-on gets its AnimationEngine from.

`get_engine(prefs)` loads the trained model through `core.inference.load_engine(weights_dir, device)`; when that is
not possible (no weights yet, torch missing in this Blender, ...) it falls back to ReferenceTargetsEngine and says
so in `backend_label()`, which the panel and preferences show. Scripts and tests can put their own engine in
with `use_engine(engine)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.animation_job import AnimationEngine
from core.reference_engine import REFERENCE_SOURCE_LABEL, ReferenceTargetsEngine

DEVICE_CHOICES = {"AUTO": "auto", "CPU": "cpu", "GPU": "cuda"}  # preference value -> core device string


@dataclass
class _LoadedEngine:
    engine: AnimationEngine
    label: str
    is_model: bool


_override: AnimationEngine | None = None
_loaded: dict[tuple[str, str], _LoadedEngine] = {}


def use_engine(engine: AnimationEngine | None) -> None:
    """Make every later `get_engine` return `engine` (None: back to the model / reference fallback)."""
    global _override
    _override = engine


def forget_loaded_engines() -> None:
    """Drop cached engines so the next `get_engine` loads again (after weights or preferences change)."""
    _loaded.clear()


def default_weights_dir() -> Path:
    """`weights/` inside the installed extension, or the repository's `weights/` in a source checkout."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "weights", package_dir.parent / "weights"):
        if candidate.is_dir():
            return candidate
    return package_dir / "weights"


def weights_dir(prefs) -> Path:
    override = getattr(prefs, "weights_dir", "") if prefs is not None else ""
    if override:
        import bpy

        return Path(bpy.path.abspath(override)).expanduser()
    return default_weights_dir()


def device(prefs) -> str:
    return DEVICE_CHOICES.get(getattr(prefs, "device", "AUTO") if prefs is not None else "AUTO", "auto")


def get_engine(prefs) -> AnimationEngine:
    """The engine to animate with under these add-on preferences (None: defaults)."""
    return _engine_for(prefs).engine


def backend_label(prefs) -> str:
    """What `get_engine(prefs)` is, in words for the UI, including why the model is not in use."""
    return _engine_for(prefs).label


def engine_is_model(prefs) -> bool:
    return _engine_for(prefs).is_model


def _engine_for(prefs) -> _LoadedEngine:
    if _override is not None:
        name = getattr(_override, "name", type(_override).__name__)
        return _LoadedEngine(_override, f"{name} (set by a script)", is_model=False)
    cache_key = (str(weights_dir(prefs)), device(prefs))
    if cache_key not in _loaded:
        _loaded[cache_key] = _load(*cache_key)
    return _loaded[cache_key]


def _load(weights: str, device_name: str) -> _LoadedEngine:
    try:
        from core.inference import load_engine
    except ImportError as exc:
        return _fallback(f"the model code is not available ({exc})")
    try:
        engine = load_engine(Path(weights), device_name)
    except Exception as exc:  # noqa: BLE001 - any load failure falls back, with the reason shown to the user
        return _fallback(f"could not load the model from {weights}: {exc}")
    return _LoadedEngine(engine, f"{getattr(engine, 'name', 'model')} on {device_name}", is_model=True)


def _fallback(reason: str) -> _LoadedEngine:
    label = f"{REFERENCE_SOURCE_LABEL.capitalize()}: {reason}"
    return _LoadedEngine(ReferenceTargetsEngine(), label, is_model=False)
