"""Under CI=true a missing bpy stops the run; elsewhere the add-on tests skip. Checked on a child pytest whose
`bpy` is a stand-in that fails to import, as it does where the module is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _pytest_without_bpy(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "bpy.py").write_text("raise ModuleNotFoundError(\"No module named 'bpy' (stand-in)\", name='bpy')\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(tmp_path)  # before site-packages: `import bpy` finds the failing stand-in
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_addon_key_writing.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_ci_fails_the_run_when_bpy_is_missing(tmp_path):
    completed = _pytest_without_bpy(tmp_path, ci="true")
    assert completed.returncode != 0, completed.stdout
    assert "CI is set but the bpy module cannot be imported" in completed.stdout + completed.stderr


def test_outside_ci_the_addon_tests_skip_when_bpy_is_missing(tmp_path):
    completed = _pytest_without_bpy(tmp_path, ci=None)
    assert completed.returncode in (0, 5) and "1 skipped" in completed.stdout, completed.stdout + completed.stderr
