"""The user's own styles: identity + emotion embeddings computed from their reference recordings.

They live in one style-library file in the user's extension data folder (`bpy.utils.extension_path_user`), never
inside the installed extension, so they survive updates. batch.py registers an installed extension without
enabling it (its package is then plain `diffusiontalker`): the folder is found from the extension repository the
package sits in, so batch runs see the same styles as the panel. A source-checkout registration (tests,
`make demo`) uses Blender's config folder instead. The file is tied to the model that made it: after a model update its styles are
set aside with a note (re-create them from their clips), never applied to a model they do not fit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

USER_STYLES_FILE = "user_styles.safetensors"
_PACKAGE = __package__  # "bl_ext.<repo>.diffusiontalker" when installed and enabled
_PACKAGE_DIR = Path(__file__).resolve().parent


def library_path() -> Path:
    """Where the user's style library is (the file may not exist yet)."""
    import bpy

    module = extension_module_name(_PACKAGE, _PACKAGE_DIR)
    if module is None:  # registered from a source checkout, not from an installed extension
        return Path(bpy.utils.user_resource("CONFIG")) / "diffusiontalker" / USER_STYLES_FILE
    return Path(bpy.utils.extension_path_user(module, path="", create=False)) / USER_STYLES_FILE


def extension_module_name(package: str, package_dir: Path) -> str | None:
    """`bl_ext.<repo>.<id>` of this extension whether Blender enabled it (the package says so) or a script
    registered it from its installed folder (the repository whose directory holds it says so); None otherwise."""
    if package.startswith("bl_ext."):
        return package
    import bpy

    for repo in bpy.context.preferences.extensions.repos:
        directory = repo.directory  # the custom directory when one is set
        if directory and Path(directory).resolve() == package_dir.resolve().parent:
            return f"bl_ext.{repo.module}.{package_dir.name}"
    return None


def with_user_styles(engine, path: Path):
    """(engine offering the user's styles too, note for the UI or "", the user's style names).
    Unusable files are reported, not fatal."""
    if not path.is_file() or not hasattr(engine, "with_user_styles"):
        return engine, "", frozenset()
    from core.runtime import StyleLibrary

    try:
        library = StyleLibrary.load(path, model_sha256=getattr(engine, "model_sha256", None))
        return engine.with_user_styles(library), "", frozenset(library.identities) | frozenset(library.emotions)
    except Exception as exc:  # noqa: BLE001 - a bad user file must not take the model down with it
        return engine, f"your styles in {path} were not loaded ({exc})", frozenset()


def add_user_style(engine, name: str, samples: np.ndarray, path: Path) -> tuple[str, ...]:
    """Compute `name`'s identity and emotion from 16 kHz mono `samples` with `engine`'s model and save them.

    Returns the names now in the user's library. Raises ValueError with the reason when it cannot (a name the
    model ships is refused: it would hide the shipped style).
    """
    from core.runtime import StyleLibrary, WeightsError

    name = _check_name(name)
    if not hasattr(engine, "style_from_reference"):
        raise ValueError(
            "Styles are computed by the trained model, which is not in use (see the backend in the panel); "
            "install the weights first"
        )
    library = engine.user_style_library()
    if path.is_file():
        try:
            library = StyleLibrary.load(path, model_sha256=engine.model_sha256)
        except WeightsError:  # made by an older model (or damaged): kept aside below, a fresh library starts
            library = None
    _refuse_shipped_name(engine, name, library)
    identity, emotion = engine.style_from_reference(np.asarray(samples, dtype=np.float32))
    if library is None:
        library = engine.user_style_library()
        _write(path, lambda: path.replace(path.with_suffix(".stale.safetensors")), "set aside your old styles file")
    library.add(name, identity=identity, emotion=emotion)
    _save(library, path)
    return names_in(library)


def rename_user_style(engine, old: str, new: str, path: Path) -> tuple[str, ...]:
    """Rename one of the user's styles (its identity and emotion); ValueError says why not."""
    library = _load_for_edit(engine, path, old)
    new = _check_name(new)
    if new != old and (new in library.identities or new in library.emotions):
        raise ValueError(f"You already have a style named '{new}'; delete it first or pick another name")
    _refuse_shipped_name(engine, new, library)
    for table in (library.identities, library.emotions):
        if old in table:
            table[new] = table.pop(old)
    _save(library, path)
    return names_in(library)


def delete_user_style(engine, name: str, path: Path) -> tuple[str, ...]:
    """Remove one of the user's styles; ValueError when there is no such style of theirs."""
    library = _load_for_edit(engine, path, name)
    library.identities.pop(name, None)
    library.emotions.pop(name, None)
    _save(library, path)
    return names_in(library)


def names_in(library) -> tuple[str, ...]:
    return tuple(sorted(set(library.identities) | set(library.emotions)))


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or "/" in name:
        raise ValueError("Give the style a name (no '/'), e.g. 'narrator'")
    return name


def _refuse_shipped_name(engine, name: str, library) -> None:
    users = set(names_in(library)) if library is not None else set()
    shipped = (set(engine.identities()) | set(engine.emotions())) - users
    if name in shipped:
        raise ValueError(
            f"'{name}' is the name of a style shipped with the model; give yours another name (e.g. 'my {name}') "
            "so both stay available"
        )


def _load_for_edit(engine, path: Path, name: str):
    from core.runtime import StyleLibrary

    if not path.is_file():
        raise ValueError(f"You have no styles of your own yet (none in {path}); nothing to change")
    library = StyleLibrary.load(path, model_sha256=getattr(engine, "model_sha256", None))
    if name not in library.identities and name not in library.emotions:
        mine = ", ".join(names_in(library)) or "none"
        raise ValueError(f"'{name}' is not one of your styles (yours: {mine}); shipped styles cannot be changed")
    return library


def _save(library, path: Path) -> None:
    def save() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        library.save(path)

    _write(path, save, "save your styles")


def _write(path: Path, action, what: str) -> None:
    """Run a file write; an OSError becomes a ValueError that names the write and the folder, not the model."""
    try:
        action()
    except OSError as exc:
        raise ValueError(
            f"Could not {what} to '{path}' ({exc.strerror or exc}); make that folder writable, or free disk space, "
            "and try again"
        ) from None
