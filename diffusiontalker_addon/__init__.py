"""DiffusionTalker for Blender: lip-synced ARKit-52 shape-key animation from a voice recording.

A thin layer over `core` (the model and everything else that does not need Blender): it reads Blender data, calls
core, and writes Actions. It imports core only through its one public module, `core.runtime`. Two layouts:
- source checkout: this folder sits next to `core/` at the repository root, which is on sys.path, and the add-on
  imports `core` as written (`from core.runtime import y`);
- installed extension (`bl_ext.<repo>.diffusiontalker`): build.py vendors core.runtime's import closure as
  `_vendor/core` inside this package and rewrites those imports into relative ones
  (`from ._vendor.core.runtime import y`), so it never touches the global `core`: another add-on's `core` and a
  second installed version coexist with it.
"""

from __future__ import annotations

from . import operators, panel, preferences, properties

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
