"""core/ must stay usable without Blender: no module may import bpy (directly or via a Blender-only module)."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core"
BLENDER_MODULES = {"bpy", "bmesh", "mathutils", "aud", "bpy_extras", "gpu", "diffusiontalker_addon"}


def test_no_core_module_imports_blender():
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                if n.split(".")[0] in BLENDER_MODULES:
                    offenders.append(f"{path.relative_to(CORE.parent)}:{node.lineno} imports {n}")
    assert not offenders, "core must not import Blender modules:\n" + "\n".join(offenders)


def test_cli_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "core", "--help"], cwd=CORE.parent, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for cmd in ("data", "rig"):
        assert cmd in out.stdout
