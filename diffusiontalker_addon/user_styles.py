"""The user's own styles: identity + emotion embeddings computed from their reference recordings.

They live in one style-library file in the user's extension data folder (`bpy.utils.extension_path_user`), never
inside the installed extension, so they survive updates; a source-checkout registration (tests, `make demo`) uses
Blender's config folder instead. The file is tied to the model that made it: after a model update its styles are
set aside with a note (re-create them from their clips), never applied to a model they do not fit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

USER_STYLES_FILE = "user_styles.safetensors"
_PACKAGE = __package__  # "bl_ext.<repo>.diffusiontalker" when installed


def library_path() -> Path:
    """Where the user's style library is (the file may not exist yet)."""
    import bpy

    try:
        folder = Path(bpy.utils.extension_path_user(_PACKAGE, path="", create=False))
    except ValueError:  # registered from a source checkout, not installed as an extension
        folder = Path(bpy.utils.user_resource("CONFIG")) / "diffusiontalker"
    return folder / USER_STYLES_FILE


def with_user_styles(engine, path: Path):
    """(engine offering the user's styles too, note for the UI or ""). Unusable files are reported, not fatal."""
    if not path.is_file() or not hasattr(engine, "with_user_styles"):
        return engine, ""
    from core.style_library import StyleLibrary

    try:
        library = StyleLibrary.load(path, model_sha256=getattr(engine, "model_sha256", None))
        return engine.with_user_styles(library), ""
    except Exception as exc:  # noqa: BLE001 - a bad user file must not take the model down with it
        return engine, f"your styles in {path} were not loaded ({exc})"


def add_user_style(engine, name: str, samples: np.ndarray, path: Path) -> tuple[str, ...]:
    """Compute `name`'s identity and emotion from 16 kHz mono `samples` with `engine`'s model and save them.

    Returns the names now in the user's library. Raises ValueError with the reason when it cannot.
    """
    from core.style_library import StyleLibrary

    name = name.strip()
    if not name or "/" in name:
        raise ValueError("Give the style a name (no '/'), e.g. 'narrator'")
    if not hasattr(engine, "style_from_reference"):
        raise ValueError(
            "Styles are computed by the trained model, which is not in use (see the backend in the panel); "
            "install the weights first"
        )
    from core.weights_io import WeightsError

    identity, emotion = engine.style_from_reference(np.asarray(samples, dtype=np.float32))
    library = engine.user_style_library()
    if path.is_file():
        try:
            library = StyleLibrary.load(path, model_sha256=engine.model_sha256)
        except WeightsError:  # made by an older model (or damaged): keep it aside, start a fresh library
            path.replace(path.with_suffix(".stale.safetensors"))
    library.add(name, identity=identity, emotion=emotion)
    path.parent.mkdir(parents=True, exist_ok=True)
    library.save(path)
    return tuple(sorted(set(library.identities) | set(library.emotions)))
