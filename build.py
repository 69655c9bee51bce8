"""Build the Blender extension package: `python build.py` -> dist/diffusiontalker-<version>.zip

Zip layout (Blender installs it as bl_ext.<repo>.diffusiontalker):
    blender_manifest.toml
    __init__.py, operators.py, ...   the files of diffusiontalker_addon/
    _vendor/core/...                 core, imported by the add-on without touching sys.path (see __init__.py)
    weights/...                      the trained model and style library, whatever weights/ holds

The zip is deterministic: entries sorted, fixed timestamps and permissions, so the same sources give the same bytes.
Install it with Edit > Preferences > Get Extensions > Install from Disk, or drag it into Blender.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent
MANIFEST = REPO / "blender_manifest.toml"
ADDON_DIR = REPO / "diffusiontalker_addon"
CORE_DIR = REPO / "core"
WEIGHTS_DIR = REPO / "weights"
VENDOR_PREFIX = "_vendor/core"

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
_SKIPPED_DIRS = {"__pycache__", "tests", ".pytest_cache", ".ruff_cache", ".git"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}
_SKIPPED_NAMES = {".DS_Store", ".gitignore", ".gitkeep", ".gitattributes"}
# Parts of core that only training and the demo use; the add-on never imports them.
_CORE_PATHS_NOT_SHIPPED = ("training/", "evaluation.py", "bench.py", "assets/demo/", "data/demo_clip.py",
                           "rig/human_head_build.py", "rig/viseme_fit.py")  # fmt: skip
# The repository demo (it needs the bundled clip) and the contact-sheet renderer (a development check).
_ADDON_PATHS_NOT_SHIPPED = ("demo.py", "contact_sheet.py")


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


def package_entries() -> dict[str, Path]:
    """Archive name -> source file, for everything the extension ships."""
    entries = {"blender_manifest.toml": MANIFEST}
    for path in _files_under(ADDON_DIR):
        relative = path.relative_to(ADDON_DIR).as_posix()
        if not relative.startswith(_ADDON_PATHS_NOT_SHIPPED):
            entries[relative] = path
    for path in _files_under(CORE_DIR):
        relative = path.relative_to(CORE_DIR).as_posix()
        if not relative.startswith(_CORE_PATHS_NOT_SHIPPED):
            entries[f"{VENDOR_PREFIX}/{relative}"] = path
    for path in _files_under(WEIGHTS_DIR):
        entries[f"weights/{path.relative_to(WEIGHTS_DIR).as_posix()}"] = path
    if "__init__.py" not in entries:
        raise FileNotFoundError(f"{ADDON_DIR}/__init__.py is missing; the add-on cannot be packaged")
    return entries


def build_extension(out_dir: Path = REPO / "dist") -> Path:
    """Write `<out_dir>/<id>-<version>.zip` and return its path."""
    manifest = read_manifest()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, source in sorted(package_entries().items()):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, whatever builds it
            archive.writestr(info, source.read_bytes())
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the DiffusionTalker Blender extension zip.")
    parser.add_argument("--out", default=str(REPO / "dist"), help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    target = build_extension(Path(args.out))
    with zipfile.ZipFile(target) as archive:
        count = len(archive.namelist())
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB, {count} files)")
    if not any(WEIGHTS_DIR.glob("*.safetensors")):
        print(
            f"note: {WEIGHTS_DIR} holds no trained weights, so the add-on in this zip can only replay reference "
            "targets (it says so in its panel); train the student first to ship the model"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
