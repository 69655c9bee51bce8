"""build.py makes a valid, deterministic extension zip: the add-on, the part of core it imports (vendored under the
extension's own package, imports made relative), the student and styles, and nothing else."""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import build  # the repository root is on sys.path (tests/conftest.py)


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> Path:
    return build.build_extension(tmp_path_factory.mktemp("dist"))


def test_build_names_the_zip_after_the_manifest(built_zip):
    manifest = build.read_manifest()
    assert (manifest["id"], manifest["version"]) == ("diffusiontalker", "0.1.0")
    assert built_zip.name == "diffusiontalker-0.1.0.zip"


def test_zip_holds_manifest_addon_and_vendored_core_but_no_caches_or_tests(built_zip):
    names = zipfile.ZipFile(built_zip).namelist()
    for required in (
        "blender_manifest.toml",
        "__init__.py",
        "operators.py",
        "batch.py",
        "_vendor/core/__init__.py",
        "_vendor/core/animation_job.py",
        "_vendor/core/reference_engine.py",
        "_vendor/core/rig/arkit.py",
    ):
        assert required in names
    assert names == sorted(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/tests/" in n]
    assert not [n for n in names if n.startswith("diffusiontalker_addon/")], "add-on files sit at the zip root"


def test_build_is_deterministic(built_zip, tmp_path):
    again = build.build_extension(tmp_path)
    assert again.read_bytes() == built_zip.read_bytes()
    assert {info.date_time for info in zipfile.ZipFile(again).infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_blenders_own_validator_accepts_the_zip(built_zip):
    bpy = pytest.importorskip("bpy")
    cli = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    if not cli.exists():
        pytest.skip(f"Blender's extension CLI not found at {cli}")
    completed = subprocess.run(
        [sys.executable, str(cli), "validate", str(built_zip)], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0 and "Success" in completed.stdout, completed.stdout + completed.stderr


VENDORED_IMPORT_CHECK = """
import importlib, pkgutil, sys
import core
failures = []
for info in pkgutil.walk_packages(core.__path__, "core."):
    if info.name.endswith("__main__"):
        continue  # runs the CLI
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as exc:
        if exc.name.split(".")[0] == "core":  # a part of core the build left out, but something imports it
            failures.append(f"{info.name}: {exc}")
    except Exception:
        pass  # optional third-party packages (torch, transformers, ...) are not the build's business
print("\\n".join(failures) or "OK")
"""


def test_every_vendored_core_module_finds_the_core_modules_it_imports(built_zip, tmp_path):
    with zipfile.ZipFile(built_zip) as archive:
        archive.extractall(tmp_path)
    names = zipfile.ZipFile(built_zip).namelist()
    assert "_vendor/core/inference.py" in names and not [n for n in names if n.startswith("_vendor/core/training/")]
    env = {"PYTHONPATH": str(tmp_path / "_vendor"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(
        [sys.executable, "-c", VENDORED_IMPORT_CHECK],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.stdout.strip() == "OK", completed.stdout + completed.stderr


# ---- what the zip holds: the runtime's import closure, nothing else ------------------------------------------------

MAX_ZIP_BYTES = 10 * 1024 * 1024


def _zip_python(built_zip: Path) -> dict[str, ast.Module]:
    with zipfile.ZipFile(built_zip) as archive:
        return {n: ast.parse(archive.read(n), filename=n) for n in archive.namelist() if n.endswith(".py")}


def _module_of(name: str) -> str:
    """Zip path -> dotted module name inside the extension package ("" is the package itself)."""
    parts = name.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_in_package(name: str, tree: ast.Module) -> set[str]:
    """Modules of the extension package that this zip file's relative imports name (`from .x import y`: x and x.y)."""
    module = _module_of(name)
    package = module if name.endswith("__init__.py") else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            anchor = package.split(".") if package else []
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}".lstrip(".") for alias in node.names)
    return found


def test_every_vendored_core_module_is_imported_by_the_addon_or_another_shipped_module(built_zip):
    trees = _zip_python(built_zip)
    modules = {_module_of(n): n for n in trees}
    imported = set().union(*(_imports_in_package(n, tree) for n, tree in trees.items()))
    # A module counts as used when something imports it or a module inside it (importing core.rig.arkit runs rig/).
    used = {m for m in modules if m in imported or any(i.startswith(m + ".") for i in imported)}
    unused = sorted(modules[m] for m in set(modules) - used if m.startswith("_vendor."))
    assert unused == [], f"vendored modules nothing imports: {unused}"
    # and every relative import finds its module in the zip (the closure is closed)
    missing = sorted(
        i for i in imported if i.startswith("_vendor.core") and i not in modules and i.rpartition(".")[0] not in modules
    )
    assert missing == [], f"imported but not shipped: {missing}"


def test_zip_vendors_exactly_the_runtimes_import_closure(built_zip):
    # The closure per tests/test_core_import_graph.py's parser (not build.py's), plus the packages above each module.
    from test_core_import_graph import core_import_graph, import_closure

    closure = import_closure(core_import_graph(), "core.runtime")
    packages = {".".join(m.split(".")[:depth]) for m in closure for depth in range(1, m.count(".") + 1)}
    expected = {m.replace("core", "_vendor.core", 1) for m in closure | packages}
    trees = _zip_python(built_zip)
    vendored = {_module_of(n) for n in trees if n.startswith("_vendor/core/")}
    assert "_vendor.core.runtime" in vendored and "_vendor.core.rig.key_transfer" in vendored
    assert sorted(vendored - expected) == [], "vendored modules the runtime does not import"
    assert sorted(expected - vendored) == [], "modules the runtime imports but the zip lacks"


def test_build_refuses_an_addon_that_imports_core_around_the_runtime(tmp_path, monkeypatch):
    addon = tmp_path / "diffusiontalker_addon"
    shutil.copytree(build.ADDON_DIR, addon, ignore=shutil.ignore_patterns("__pycache__"))
    with (addon / "engine.py").open("a", encoding="utf-8") as file:
        file.write(
            "\n\ndef _late():\n    from core.data.generate import generate_corpus\n\n    return generate_corpus\n"
        )
    line = (addon / "engine.py").read_text(encoding="utf-8").splitlines().index(
        "    from core.data.generate import generate_corpus"
    ) + 1
    monkeypatch.setattr(build, "ADDON_DIR", addon)
    with pytest.raises(build.BuildError, match=f"engine.py:{line} imports core.data.generate.*core.runtime"):
        build.package_entries()
    (addon / "engine.py").write_text((build.REPO / "diffusiontalker_addon" / "engine.py").read_text(encoding="utf-8"))
    assert "_vendor/core/runtime.py" in build.package_entries()  # the same folder without that import builds


def test_zip_leaves_out_training_data_generation_cli_and_the_development_entry_points(built_zip):
    names = set(zipfile.ZipFile(built_zip).namelist())
    for left_out in ("__main__.py", "demo.py", "contact_sheet.py", "_vendor/core/cli.py", "_vendor/core/__main__.py",
                     "_vendor/core/evaluation.py", "_vendor/core/bench.py", "_vendor/core/data/tts_festival.py",
                     "_vendor/core/data/generate.py", "_vendor/core/data/datasets/__init__.py",
                     "_vendor/core/assets/demo/demo_line.wav"):  # fmt: skip
        assert left_out not in names
    assert not [n for n in names if n.startswith("_vendor/core/training/")]
    for shipped in ("_vendor/core/inference.py", "_vendor/core/numpy_student.py", "_vendor/core/rig/presets/vrm_visemes.json",
                    "_vendor/core/assets/human_head.npz", "_vendor/core/assets/canonical_face_model.obj"):  # fmt: skip
        assert shipped in names


def test_no_shipped_module_uses_subprocess_or_pickle(built_zip):
    offenders = []
    for name, tree in _zip_python(built_zip).items():
        for node in ast.walk(tree):
            roots = []
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [(node.module or "").split(".")[0]]
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                roots = [str(node.args[0].value).split(".")[0]]
            elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                    offenders.append(f"{name}:{node.lineno} allow_pickle")
            offenders += [f"{name}:{node.lineno} {r}" for r in roots if r in ("subprocess", "pickle", "_pickle")]
    assert offenders == []


def test_no_shipped_module_imports_a_global_core(built_zip):
    absolute = []
    for name, tree in _zip_python(built_zip).items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                absolute += [f"{name}:{node.lineno}" for a in node.names if a.name.split(".")[0] == "core"]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "core":
                absolute.append(f"{name}:{node.lineno}")
    assert absolute == [], "absolute `core` imports left in the zip"


def test_zip_ships_student_and_styles_with_a_manifest_listing_exactly_them(built_zip, tmp_path):
    with zipfile.ZipFile(built_zip) as archive:
        weights = sorted(n for n in archive.namelist() if n.startswith("weights/"))
        assert weights == ["weights/manifest.json", "weights/student.safetensors", "weights/styles.safetensors"]
        manifest = json.loads(archive.read("weights/manifest.json"))
        assert sorted(manifest["files"]) == ["student.safetensors", "styles.safetensors"]
        for file_name, entry in manifest["files"].items():
            data = archive.read(f"weights/{file_name}")
            assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
        archive.extractall(tmp_path, members=weights)
    from core.inference import load_engine
    from core.weights_io import verify_manifest

    verify_manifest(tmp_path / "weights")  # every listed file is there, with its sha256
    engine = load_engine(tmp_path / "weights", "cpu", "numpy")  # the add-on's engine, with no teacher beside it
    assert engine.identities() and "neutral" in engine.emotions()


def test_zip_is_at_most_10_mb(built_zip):
    assert built_zip.stat().st_size <= MAX_ZIP_BYTES, f"{built_zip.stat().st_size / 1e6:.2f} MB"


def test_build_refuses_weights_that_do_not_match_their_manifest(tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    for name in build.SHIPPED_WEIGHTS:
        (weights / name).write_bytes(b"half-written " + name.encode())
    listed = {name: {"sha256": "0" * 64, "bytes": 1} for name in build.SHIPPED_WEIGHTS}
    (weights / "manifest.json").write_text(json.dumps({"format_version": 1, "files": listed}))
    with pytest.raises(build.BuildError, match="does not match its manifest entry"):
        build.shipped_weights(weights)


# ---- rewriting core imports -------------------------------------------------------------------------------------

REWRITE_SOURCE = """from core.rig.arkit import ARKIT_NAMES  # noqa: keep me
from core import animate_options
import numpy as np


def later():
    from core.models.talker import (
        DiffusionTalker,  # a comment inside
        TalkerConfig,
    )
    import core.data.resample as resample
    return DiffusionTalker, TalkerConfig, resample
"""


def test_core_imports_become_relative_with_comments_and_layout_kept():
    in_core_rig = build.relative_core_imports(REWRITE_SOURCE, "..", "core/rig/x.py")
    assert in_core_rig.splitlines()[0] == "from ..rig.arkit import ARKIT_NAMES  # noqa: keep me"
    assert "from .. import animate_options\n" in in_core_rig
    assert "    from ..models.talker import (\n        DiffusionTalker,  # a comment inside\n" in in_core_rig
    assert "    from ..data import resample as resample\n" in in_core_rig
    in_addon = build.relative_core_imports(REWRITE_SOURCE, "._vendor.core", "addon/x.py")
    assert in_addon.splitlines()[:2] == [
        "from ._vendor.core.rig.arkit import ARKIT_NAMES  # noqa: keep me",
        "from ._vendor.core import animate_options",
    ]
    assert "import numpy as np" in in_addon and "core." not in in_addon.replace("_vendor.core.", "")


@pytest.mark.parametrize("statement", ["import core.rig.arkit", "import core", "importlib.import_module('core.audio')"])
def test_core_imports_the_build_cannot_make_relative_are_refused(statement):
    with pytest.raises(build.BuildError, match="x.py:1"):
        build.relative_core_imports(statement + "\n", ".", "x.py")


def test_closure_follows_function_level_imports_and_packages(tmp_path):
    core = tmp_path / "core"
    (core / "sub").mkdir(parents=True)
    (core / "__init__.py").write_text("")
    (core / "sub" / "__init__.py").write_text("from core.base import VALUE\n")
    (core / "base.py").write_text("VALUE = 1\n")
    (core / "lazy.py").write_text("def f():\n    from core.sub.leaf import g\n    return g\n")
    (core / "sub" / "leaf.py").write_text("def g():\n    return 2\n")
    (core / "unused.py").write_text("import subprocess\n")
    start = tmp_path / "addon.py"
    start.write_text("from core import lazy\n")
    closure = {p.relative_to(core).as_posix() for p in build.core_closure([start], core)}
    assert closure == {"__init__.py", "lazy.py", "sub/__init__.py", "sub/leaf.py", "base.py"}
    start.write_text("from core.missing import thing\n")
    with pytest.raises(build.BuildError, match="no such module"):
        build.core_closure([start], core)
