"""The one place the add-on gets its AnimationEngine from.

`get_engine(prefs)` loads the trained model through `core.inference.load_engine(weights_dir, device, backend)`
(torch when this Blender has it, else the numpy student) and adds the user's own styles; when the model cannot be
loaded (no weights yet, corrupt files, ...) it falls back to ReferenceTargetsEngine and says why in
`backend_label()`, which the panel and preferences show. Scripts and tests can put their own engine in with
`use_engine(engine)`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from core.runtime import REFERENCE_SOURCE_LABEL, AnimationEngine, ReferenceTargetsEngine

from . import user_styles

DEVICE_CHOICES = ("AUTO", "CPU", "GPU")
BACKEND_CHOICES = {"AUTO": "auto", "TORCH": "torch", "NUMPY": "numpy"}  # preference value -> core backend


@dataclass
class _LoadedEngine:
    engine: AnimationEngine
    is_model: bool
    fixed_label: str = ""  # the fallback's or override's label
    add_on_notes: tuple[str, ...] = ()  # e.g. user styles that could not be loaded
    user_names: frozenset[str] = frozenset()  # the user's own styles among the engine's (identities and emotions)

    @property
    def label(self) -> str:
        if self.fixed_label:
            return self.fixed_label
        # Built live: the model's name and notes change when it falls back from the GPU to the CPU mid-session.
        notes = [*getattr(self.engine, "notes", []), *self.add_on_notes]
        return getattr(self.engine, "name", "model") + "".join(f"; {note}" for note in notes)


_override: AnimationEngine | None = None
_loaded: dict[tuple[str, str, str, str], _LoadedEngine] = {}


def use_engine(engine: AnimationEngine | None) -> None:
    """Make every later `get_engine` return `engine` (None: back to the model / reference fallback)."""
    global _override
    _override = engine


def forget_loaded_engines() -> None:
    """Drop cached engines so the next `get_engine` loads again (after weights, styles or preferences change)."""
    _loaded.clear()


def default_weights_dir() -> Path:
    """`weights/` inside the installed extension, or the repository's `weights/` in a source checkout."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "weights", package_dir.parent / "weights"):
        if candidate.is_dir():
            return candidate
    is_source_checkout = (package_dir.parent / "core" / "__init__.py").is_file()
    return package_dir.parent / "weights" if is_source_checkout else package_dir / "weights"


def weights_dir(prefs) -> Path:
    override = getattr(prefs, "weights_dir", "") if prefs is not None else ""
    if override:
        import bpy

        return Path(bpy.path.abspath(override)).expanduser()
    return default_weights_dir()


def device(prefs) -> str:
    """The core device string for the Device preference: "auto", "cpu", or the GPU kind this machine has."""
    choice = getattr(prefs, "device", "AUTO") if prefs is not None else "AUTO"
    if choice == "CPU":
        return "cpu"
    if choice == "GPU":
        return _gpu_device()
    return "auto"


def _gpu_device() -> str:
    if importlib.util.find_spec("torch") is None:
        return "cuda"  # load_engine's numpy backend then notes that it runs on the CPU
    import torch

    mps = getattr(torch.backends, "mps", None)
    if not torch.cuda.is_available() and mps is not None and mps.is_available():
        return "mps"  # Apple silicon
    return "cuda"


def backend(prefs) -> str:
    return BACKEND_CHOICES.get(getattr(prefs, "backend", "AUTO") if prefs is not None else "AUTO", "auto")


def get_engine(prefs) -> AnimationEngine:
    """The engine to animate with under these add-on preferences (None: defaults)."""
    return _engine_for(prefs).engine


def backend_label(prefs) -> str:
    """What `get_engine(prefs)` is, in words for the UI, including why the model is not in use."""
    return _engine_for(prefs).label


def engine_is_model(prefs) -> bool:
    return _engine_for(prefs).is_model


def user_style_names(prefs) -> frozenset[str]:
    """The names among `get_engine(prefs)`'s styles that are the user's own (not shipped with the model)."""
    return _engine_for(prefs).user_names


def fallback_reason(prefs) -> str | None:
    """Why the model is not in use, when the add-on fell back to reference targets (None otherwise)."""
    if _override is not None or _engine_for(prefs).is_model:
        return None
    return _engine_for(prefs).label


def _engine_for(prefs) -> _LoadedEngine:
    if _override is not None:
        name = getattr(_override, "name", type(_override).__name__)
        return _LoadedEngine(_override, is_model=False, fixed_label=f"{name} (set by a script)")
    cache_key = (str(weights_dir(prefs)), device(prefs), backend(prefs), str(user_styles.library_path()))
    if cache_key not in _loaded:
        _loaded[cache_key] = _load(*cache_key)
    return _loaded[cache_key]


def _load(weights: str, device_name: str, backend_name: str, styles_file: str) -> _LoadedEngine:
    try:
        from core.runtime import FIX_HINT, WeightsError, load_engine
    except ImportError as exc:
        return _fallback(f"the model code is not available ({exc})")
    if not (Path(weights) / "manifest.json").is_file():
        return _fallback(
            f"no trained weights in {weights} (train the student, or pick a weights folder in "
            "Preferences > Add-ons > DiffusionTalker)"
        )
    try:
        engine = load_engine(Path(weights), device_name, backend_name)
    except WeightsError as exc:  # damaged, truncated or mismatched files: the cure is a fresh copy
        why = str(exc).replace(f"; {FIX_HINT}", "")
        return _fallback(
            f"could not load the model from {weights}: its files are corrupt or incomplete ({why}); re-install the "
            "extension (Edit > Preferences > Get Extensions: uninstall DiffusionTalker, then install it again)"
        )
    except Exception as exc:  # noqa: BLE001 - any load failure falls back, with the reason shown to the user
        return _fallback(f"could not load the model from {weights}: {exc}")
    engine, styles_note, user_names = user_styles.with_user_styles(engine, Path(styles_file))
    return _LoadedEngine(
        engine, is_model=True, add_on_notes=(styles_note,) if styles_note else (), user_names=user_names
    )


def _fallback(reason: str) -> _LoadedEngine:
    label = f"{REFERENCE_SOURCE_LABEL.capitalize()}: {reason}"
    return _LoadedEngine(ReferenceTargetsEngine(), is_model=False, fixed_label=label)
