"""core's imports form a DAG (function-level imports included), and each model module imports first in a fresh
interpreter: no order of imports can meet a half-initialised module."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "core"


def _module_name(path: Path) -> str:
    parts = ["core", *path.relative_to(CORE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_import_graph() -> dict[str, set[str]]:
    """core module -> the core modules it imports anywhere in its file (module or function level)."""
    files = {_module_name(p): p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("core"):
                for alias in node.names:  # `from core.a import b`: b is a module or a name in core.a
                    full = f"{node.module}.{alias.name}"
                    imported.add(full if full in files else node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name in files)
        graph[name] = (imported & set(files)) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as [a, b, ..., a], or [] when the graph is a DAG."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def test_find_cycle_reports_a_cycle_and_accepts_a_dag():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_core_imports_form_a_dag_including_function_level_imports():
    graph = core_import_graph()
    assert {"core.models.denoiser", "core.models.feature_fold", "core.models.talker"} <= set(graph)
    assert "core.models.audio_input" in graph["core.models.denoiser"]  # the graph sees real imports
    assert find_cycle(graph) == [], " -> ".join(find_cycle(graph))


# Each one first: before the split, feature_fold, denoiser, personalizer and talker imported each other.
MODEL_MODULES = sorted(
    _module_name(p) for p in (CORE / "models").glob("*.py") if p.name not in ("__init__.py", "ctranslate2_whisper.py")
)


@pytest.mark.parametrize("first", ["core.models.feature_fold", "core.models.denoiser", "core.models.personalizer"])
def test_model_modules_import_in_any_order_in_a_fresh_interpreter(first):
    pytest.importorskip("torch")
    others = [m for m in MODEL_MODULES if m != first]
    script = (
        "import importlib, sys\n"
        f"for name in {[first, *others]!r}:\n"
        "    importlib.import_module(name)\n"
        "print('imported', len(sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300, env=_env()
    )
    assert completed.returncode == 0 and "imported" in completed.stdout, completed.stderr[-3000:]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}


# ---- the runtime: one public module, imported by the add-on and the CLI's animate, importing no training ------------


def import_closure(graph: dict[str, set[str]], start: str) -> set[str]:
    """`start` and every core module it reaches through the graph."""
    seen, pending = {start}, [start]
    while pending:
        for target in graph[pending.pop()] - seen:
            seen.add(target)
            pending.append(target)
    return seen


# Training, data generation and evaluation: they may import the runtime, never the reverse.
NOT_RUNTIME = ("core.training", "core.evaluation", "core.bench", "core.metrics", "core.cli", "core.__main__",
               "core.data.generate", "core.data.speech_synthesis", "core.data.tts_", "core.data.datasets",
               "core.data.real_speech", "core.data.align", "core.data.face_targets", "core.data.text_corpus",
               "core.data.feature_cache", "core.data.demo_clip_generation", "core.rig.human_head_build",
               "core.rig.viseme_fit")  # fmt: skip


def test_import_closure_follows_the_graph_transitively():
    assert import_closure({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}}, "a") == {"a", "b", "c"}


def test_runtime_never_imports_training_data_generation_or_evaluation():
    graph = core_import_graph()
    closure = import_closure(graph, "core.runtime")
    assert {"core.inference", "core.numpy_student", "core.rig.key_transfer", "core.weights_io"} <= closure
    assert sorted(m for m in closure if m.startswith(NOT_RUNTIME)) == []
    # ...while they do import the runtime's pieces (the direction the rule allows)
    assert "core.inference" in import_closure(graph, "core.training.export")


def _core_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every absolute `core` import in the tree; `from core import x` names core.x."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "core":
            if node.module == "core":
                found += [(node.lineno, f"core.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "core"]
    return found


# The development entry point may regenerate the demo clip (data generation; it never ships).
DEVELOPMENT_IMPORTS = {("__main__.py", "core.data.demo_clip_generation")}


def test_addon_imports_core_only_through_the_runtime():
    addon_files = sorted((REPO / "diffusiontalker_addon").glob("*.py"))
    seen = {(p.name, m) for p in addon_files for _, m in _core_imports(ast.parse(p.read_text(encoding="utf-8")))}
    assert ("operators.py", "core.runtime") in seen  # the check sees the add-on's imports
    assert sorted(seen - DEVELOPMENT_IMPORTS - {(name, "core.runtime") for name, _ in seen}) == []


def test_cli_animate_and_its_flags_import_core_only_through_the_runtime():
    tree = ast.parse((CORE / "cli.py").read_text(encoding="utf-8"))
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    for name in ("_animate", "_describe_styles", "build_parser"):
        modules = {module for _, module in _core_imports(functions[name])}
        assert modules == {"core.runtime"}, f"core/cli.py {name} imports {sorted(modules)}"


def test_runtime_exports_every_name_in_its_all_and_imports_without_torch():
    script = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "import core.runtime as runtime\n"
        "public = {n for n in vars(runtime) if not n.startswith('_')} - {'annotations', 'Path'}\n"
        "missing = sorted(set(runtime.__all__) ^ public)\n"
        "print('missing', missing, 'torch' in sys.modules and sys.modules['torch'] is not None)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300, env=_env()
    )
    assert completed.stdout.strip() == "missing [] False", completed.stdout + completed.stderr[-3000:]
