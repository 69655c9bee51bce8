"""DiffusionTalker for Blender: lip-synced ARKit-52 shape-key animation from a voice recording.

A thin layer over `core` (the model and everything else that does not need Blender): it reads Blender data, calls
core, and writes Actions. Two layouts are supported:
- source checkout: this folder sits next to `core/` at the repository root, which is on sys.path;
- installed extension (`bl_ext.<repo>.diffusiontalker`): build.py vendors core as `_vendor/core` inside the package.
  It is loaded as the top-level package `core` (core imports itself absolutely) straight from that folder, without
  adding anything to sys.path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_VENDORED_CORE = Path(__file__).resolve().parent / "_vendor" / "core"


def _is_vendored(module) -> bool:
    file = getattr(module, "__file__", None)
    return file is not None and Path(file).resolve().is_relative_to(_VENDORED_CORE)


def _load_vendored_core() -> None:
    """Make `import core` find the copy shipped inside this extension (no-op in a source checkout)."""
    if not (_VENDORED_CORE / "__init__.py").is_file():
        return
    loaded = sys.modules.get("core")
    if loaded is not None:
        if _is_vendored(loaded):
            return
        raise ImportError(
            f"DiffusionTalker ships its own Python package 'core', but another 'core' is already loaded from "
            f"{getattr(loaded, '__file__', '?')}; disable the add-on that provides it and restart Blender"
        )
    spec = importlib.util.spec_from_file_location(
        "core", _VENDORED_CORE / "__init__.py", submodule_search_locations=[str(_VENDORED_CORE)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["core"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["core"]
        raise


_load_vendored_core()

from . import operators, panel, preferences, properties  # noqa: E402 - needs core importable first

_MODULES = (properties, preferences, operators, panel)


def register() -> None:
    for module in _MODULES:
        module.register()


def unregister() -> None:
    from . import engine

    engine.use_engine(None)
    engine.forget_loaded_engines()
    for module in reversed(_MODULES):
        module.unregister()
    # core stays in sys.modules, like this package's own submodules: Blender re-enables add-ons without reimporting.
