"""Shared test setup: tests marked `tts` skip honestly when a speech tool is missing, but fail in CI."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SPEECH_TOOLS = ("flite", "festival", "sox", "espeak-ng")


def missing_speech_tools() -> list[str]:
    return [t for t in SPEECH_TOOLS if shutil.which(t) is None]


@pytest.fixture(autouse=True)
def _require_speech_tools(request):
    if request.node.get_closest_marker("tts") is None:
        return
    missing = missing_speech_tools()
    if missing:
        reason = f"speech tools missing: {', '.join(missing)} (run `make system-deps` as root)"
        if os.environ.get("CI"):
            pytest.fail("CI must have the " + reason)
        pytest.skip(reason)
