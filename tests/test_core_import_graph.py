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
