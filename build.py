"""Build the Blender extension package: `python build.py` -> dist/diffusiontalker-<version>.zip

Zip layout (Blender installs it as bl_ext.<repo>.diffusiontalker):
    blender_manifest.toml
    __init__.py, operators.py, ...   the add-on's runtime files from diffusiontalker_addon/
    _vendor/core/...                 core/runtime.py and its import closure (found with `ast`): the add-on's
                                     shipped files import core only through `core.runtime`
    weights/                         student + styles, and a manifest.json listing exactly those files

The vendored core is a subpackage of the extension (`bl_ext.<repo>.diffusiontalker._vendor.core`), never a global
`core`: the build rewrites `core` imports into relative ones, in the vendored modules and in the add-on's own files,
so two installed versions and another add-on's `core` coexist. In a source checkout the add-on imports the repository's
`core` unchanged.

The zip is deterministic: entries sorted, fixed timestamps and permissions, so the same sources give the same bytes.
Install it with Edit > Preferences > Get Extensions > Install from Disk, or drag it into Blender.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent
MANIFEST = REPO / "blender_manifest.toml"
ADDON_DIR = REPO / "diffusiontalker_addon"
CORE_DIR = REPO / "core"
RUNTIME_MODULE = "core.runtime"  # the one module the add-on imports core through; the zip ships its import closure
WEIGHTS_DIR = REPO / "weights"
VENDOR_PREFIX = "_vendor/core"
WEIGHTS_MANIFEST = "manifest.json"

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
_SKIPPED_DIRS = {"__pycache__", "tests", ".pytest_cache", ".ruff_cache", ".git"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}
_SKIPPED_NAMES = {".DS_Store", ".gitignore", ".gitkeep", ".gitattributes"}
# Development entry points of the add-on: the repository demo (it needs the bundled clip), the contact-sheet renderer
# and `python -m diffusiontalker_addon` that runs them. Everything else in diffusiontalker_addon/ ships.
_ADDON_FILES_NOT_SHIPPED = ("demo.py", "contact_sheet.py", "__main__.py")
# The model the add-on runs (never the teacher: it is torch + Whisper only and doubles the zip).
SHIPPED_WEIGHTS = ("student.safetensors", "styles.safetensors")
# Data files (relative to core/) that shipped modules read: the demo heads and the rig-name presets.
CORE_DATA = ("assets/human_head.npz", "assets/LICENSE-human-head.txt", "assets/canonical_face_model.obj",
             "assets/LICENSE-mediapipe-canonical-face.txt", "rig/presets")  # fmt: skip


class BuildError(RuntimeError):
    """The sources cannot be packaged as they are (the message says what to change)."""


def read_manifest(path: Path = MANIFEST) -> dict:
    with path.open("rb") as file:
        return tomllib.load(file)


def _files_under(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(part in _SKIPPED_DIRS for part in parts[:-1]) or not path.is_file():
            continue
        if path.suffix in _SKIPPED_SUFFIXES or path.name in _SKIPPED_NAMES:
            continue
        yield path


# ---- the import closure ---------------------------------------------------------------------------------------------


def shipped_addon_files() -> list[Path]:
    """The add-on's runtime files: every file of diffusiontalker_addon/ but the development entry points."""
    return [p for p in _files_under(ADDON_DIR) if p.relative_to(ADDON_DIR).as_posix() not in _ADDON_FILES_NOT_SHIPPED]


def module_file(name: str, core_dir: Path = CORE_DIR) -> Path | None:
    """core/a/b.py or core/a/b/__init__.py for `core.a.b`; None when `name` is not a module of core."""
    parts = name.split(".")
    if parts[0] != "core":
        return None
    base = core_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py") if len(parts) > 1 else None, base / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, core_dir: Path) -> str:
    parts = ["core", *path.relative_to(core_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(path: Path, core_dir: Path) -> str:
    """The package a core file's relative imports resolve against."""
    name = _module_name(path, core_dir)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imported_names(tree: ast.AST, package: str) -> Iterator[tuple[ast.AST, str]]:
    """(node, dotted name) for every import anywhere in the tree (module and function level) and every
    importlib.import_module / __import__ call with a literal name. `from a import b` yields a and a.b (b may be a
    submodule); relative names are resolved against `package`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base = ".".join([*anchor, *([base] if base else [])])
            yield node, base
            for alias in node.names:
                yield node, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node, node.args[0].value


def core_closure(start_files: list[Path], core_dir: Path = CORE_DIR) -> set[Path]:
    """The core files that importing `start_files` can load: their `core` imports, transitively, with the packages
    (__init__.py) above each. Found by parsing, so imports inside functions count too."""
    closure: set[Path] = set()
    pending = list(start_files)
    seen_start: set[Path] = set()
    while pending:
        path = pending.pop()
        if path in seen_start:
            continue
        seen_start.add(path)
        is_core = path.is_relative_to(core_dir)
        package = _package_of(path, core_dir) if is_core else ""
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, name in _imported_names(tree, package):
            if not (name == "core" or name.startswith("core.")):
                continue
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # importing core.a.b runs core, core.a, then core.a.b
                found = module_file(".".join(parts[:depth]), core_dir)
                if found is None:
                    is_attribute = isinstance(node, ast.ImportFrom) and depth == len(parts) and depth > 1
                    if not is_attribute:  # `from core.x import NAME` with NAME a value is fine; a missing module is not
                        raise BuildError(f"{path}: imports '{name}', but {core_dir} has no such module")
                    break
                if found not in closure:
                    closure.add(found)
                    pending.append(found)
    return closure


def runtime_closure(core_dir: Path = CORE_DIR) -> set[Path]:
    """core/runtime.py and every core file importing it can load: what the zip vendors."""
    runtime = module_file(RUNTIME_MODULE, core_dir)
    if runtime is None:
        raise BuildError(f"{core_dir} has no {RUNTIME_MODULE} module; restore core/runtime.py from git")
    return {runtime} | core_closure([runtime], core_dir)


def imports_outside_runtime(files: list[Path]) -> list[str]:
    """'file:line imports core.x' for every `core` import in `files` that does not go through core.runtime."""
    offenders = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
                if node.module == "core":  # `from core import runtime` names the module in the alias
                    names = [f"core.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            offenders += [
                f"{path}:{node.lineno} imports {name}"
                for name in names
                if (name == "core" or name.startswith("core.")) and name != RUNTIME_MODULE
            ]
    return offenders


def _check_addon_imports(addon_files: list[Path]) -> None:
    offenders = imports_outside_runtime(addon_files)
    if offenders:
        raise BuildError(
            f"the add-on must import core only through {RUNTIME_MODULE} (the zip ships only its import closure): "
            + "; ".join(offenders)
            + f". Export what it needs from core/runtime.py and import it with `from {RUNTIME_MODULE} import ...`"
        )


# ---- rewriting `core` imports into relative ones -------------------------------------------------------------------

_FROM_CORE = re.compile(r"from\s+core((?:\s*\.\s*\w+)*)\s+import\b")


def _spell(core_as: str, rest: str) -> str:
    """`core.<rest>` spelled relative to where `core` is reached as `core_as` ("." / ".." / "._vendor.core")."""
    if not rest:
        return core_as
    return f"{core_as}{rest}" if set(core_as) == {"."} else f"{core_as}.{rest}"


def relative_core_imports(source: str, core_as: str, where: str) -> str:
    """`source` with every absolute `core` import made relative, `core` itself being reached as `core_as`:
    "." in core/__init__.py and core/x.py, ".." in core/rig/x.py, "._vendor.core" in the add-on's files. So
    `from core.rig.arkit import A` becomes `from ..rig.arkit import A` in core/data/, and `import core.x.y as z`
    becomes `from ..x import y as z`. Only the import's head is edited: comments and line breaks stay."""
    tree = ast.parse(source, filename=where)
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode("utf-8")))
    data = source.encode("utf-8")
    edits: list[tuple[int, int, bytes]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "core":
            begin = offsets[node.lineno - 1] + node.col_offset
            end = offsets[node.end_lineno - 1] + node.end_col_offset
            text = data[begin:end].decode("utf-8")
            match = _FROM_CORE.match(text)
            if match is None:
                raise BuildError(f"{where}:{node.lineno}: cannot rewrite '{text.splitlines()[0]}'")
            rest = re.sub(r"\s+", "", match.group(1)).lstrip(".")
            head = f"from {_spell(core_as, rest)} import".encode()
            edits.append((begin, begin + len(match.group(0).encode("utf-8")), head))
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "core" for a in node.names):
            alias = node.names[0]
            if len(node.names) != 1 or alias.asname is None or "." not in alias.name:
                raise BuildError(
                    f"{where}:{node.lineno}: write `from core.x import y` (or `import core.x.y as z`) so the build can "
                    "vendor it; a bare `import core...` binds the global name `core`"
                )
            parent, _, leaf = alias.name.rpartition(".")
            parent_rest = parent.removeprefix("core").lstrip(".")
            begin = offsets[node.lineno - 1] + node.col_offset
            end = offsets[node.end_lineno - 1] + node.end_col_offset
            edits.append((begin, end, f"from {_spell(core_as, parent_rest)} import {leaf} as {alias.asname}".encode()))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            value = node.args[0].value
            is_import = called in ("import_module", "__import__")
            if is_import and isinstance(value, str) and (value == "core" or value.startswith("core.")):
                raise BuildError(
                    f"{where}:{node.lineno}: imports '{value}' by name; use a `from core... import` statement so the "
                    "build can vendor it"
                )
    for begin, end, text in sorted(edits, reverse=True):
        data = data[:begin] + text + data[end:]
    return data.decode("utf-8")


def _dots_to_core(path: Path, core_dir: Path) -> str:
    """The relative-import prefix from a vendored core module to core itself: "." in core/, ".." in core/rig/."""
    return "." * len(_package_of(path, core_dir).split("."))


def vendored_source(path: Path, core_dir: Path = CORE_DIR, version: str | None = None) -> bytes:
    """A core module as shipped: `core` imports relative (and __version__ set to the build's version)."""
    source = path.read_text(encoding="utf-8")
    rewritten = relative_core_imports(source, _dots_to_core(path, core_dir), str(path))
    if version is not None and path == core_dir / "__init__.py":
        rewritten = re.sub(r'(?m)^__version__ = ".*"$', f'__version__ = "{version}"', rewritten)
    return rewritten.encode("utf-8")


def addon_source(path: Path) -> bytes:
    """An add-on module as shipped: `from core.x import y` becomes `from ._vendor.core.x import y`."""
    return relative_core_imports(path.read_text(encoding="utf-8"), "._vendor.core", str(path)).encode("utf-8")


# ---- weights ------------------------------------------------------------------------------------------------------


def shipped_weights(weights_dir: Path = WEIGHTS_DIR) -> dict[str, bytes]:
    """weights/ entries of the zip: the student and styles, checked against the repository's manifest, and a
    manifest.json that lists exactly them (the add-on refuses files a manifest does not vouch for)."""
    manifest_path = weights_dir / WEIGHTS_MANIFEST
    if not manifest_path.is_file():
        return {}  # no trained model yet: the add-on falls back to reference targets and says so
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    files: dict[str, dict] = {}
    entries: dict[str, bytes] = {}
    for name in SHIPPED_WEIGHTS:
        path = weights_dir / name
        listed = manifest.get("files", {}).get(name)
        if listed is None or not path.is_file():
            raise BuildError(f"{manifest_path} must list {name} and {path} must exist; export the student first")
        data = path.read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        if sha256 != listed.get("sha256"):
            raise BuildError(
                f"{path} does not match its manifest entry (sha256 {sha256}, listed {listed.get('sha256')}); it may "
                "still be being written: export it again"
            )
        files[name] = {**listed, "sha256": sha256, "bytes": len(data)}
        entries[f"weights/{name}"] = data
    shipped_manifest = {**manifest, "files": files}
    shipped_manifest.pop("teacher", None)  # describes a model the zip does not hold
    entries[f"weights/{WEIGHTS_MANIFEST}"] = (json.dumps(shipped_manifest, indent=2) + "\n").encode("utf-8")
    return entries


# ---- the zip ------------------------------------------------------------------------------------------------------


def _manifest_text(version: str | None) -> bytes:
    text = MANIFEST.read_text(encoding="utf-8")
    if version is not None:
        if not re.fullmatch(r"\d+\.\d+\.\d+", version):
            raise BuildError(f"--version '{version}' is not MAJOR.MINOR.PATCH")
        text, count = re.subn(r'(?m)^version = ".*"$', f'version = "{version}"', text)
        if count != 1:
            raise BuildError(f'{MANIFEST} has no single `version = "..."` line to override')
    return text.encode("utf-8")


def package_entries(version: str | None = None) -> dict[str, bytes]:
    """Archive name -> bytes, for everything the extension ships."""
    entries = {"blender_manifest.toml": _manifest_text(version)}
    addon_files = shipped_addon_files()
    for path in addon_files:
        relative = path.relative_to(ADDON_DIR).as_posix()
        entries[relative] = addon_source(path) if path.suffix == ".py" else path.read_bytes()
    if "__init__.py" not in entries:
        raise FileNotFoundError(f"{ADDON_DIR}/__init__.py is missing; the add-on cannot be packaged")
    entries["_vendor/__init__.py"] = b'"""Packages this extension ships for its own use (imported relatively)."""\n'
    _check_addon_imports([p for p in addon_files if p.suffix == ".py"])
    for path in sorted(runtime_closure()):
        entries[f"{VENDOR_PREFIX}/{path.relative_to(CORE_DIR).as_posix()}"] = vendored_source(path, version=version)
    for data in CORE_DATA:
        source = CORE_DIR / data
        paths = list(_files_under(source)) if source.is_dir() else [source]
        if not paths or not all(p.is_file() for p in paths):
            raise BuildError(f"{source} is missing; restore it from git")
        for path in paths:
            entries[f"{VENDOR_PREFIX}/{path.relative_to(CORE_DIR).as_posix()}"] = path.read_bytes()
    entries.update(shipped_weights())
    return entries


def build_extension(out_dir: Path = REPO / "dist", version: str | None = None) -> Path:
    """Write `<out_dir>/<id>-<version>.zip` and return its path (`version` overrides blender_manifest.toml's)."""
    manifest = read_manifest()
    version = version or None
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = package_entries(version)
    target = out_dir / f"{manifest['id']}-{version or manifest['version']}.zip"
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in sorted(entries.items()):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever builds it
            archive.writestr(info, data)
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the DiffusionTalker Blender extension zip.")
    parser.add_argument("--out", default=str(REPO / "dist"), help="output folder (default: dist/)")
    parser.add_argument("--version", help="extension version to stamp (default: blender_manifest.toml's)")
    args = parser.parse_args(argv)
    try:
        target = build_extension(Path(args.out), args.version)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(target) as archive:
        count = len(archive.namelist())
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB, {count} files)")
    if not (WEIGHTS_DIR / WEIGHTS_MANIFEST).is_file():
        print(
            f"note: {WEIGHTS_DIR} holds no trained weights, so the add-on in this zip can only replay reference "
            "targets (it says so in its panel); train the student first to ship the model"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
