"""What the CLI, batch scripts and the Blender add-on share: a request, an engine that fulfils it,
and a job object with progress, cancel and a result (run in a worker thread so a UI stays responsive).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from core.animate_options import OPTIONS_BY_NAME
from core.rig.descriptor import ARKIT52, RigDescriptor


class JobCancelled(Exception):
    """Raised inside an engine when the job's cancel flag is set; nothing is produced."""


_DEFAULT = {name: option.default for name, option in OPTIONS_BY_NAME.items()}


@dataclass
class AnimationRequest:
    audio_path: Path
    # Defaults: the animate options' (core/animate_options.py), so every front end and a bare request agree
    identity: str = _DEFAULT["identity"]
    emotion: str = _DEFAULT["emotion"]
    emotion_strength: float = _DEFAULT["emotion_strength"]
    seed: int = _DEFAULT["seed"]
    fps: float = _DEFAULT["fps"]
    steps: int | None = _DEFAULT["steps"]  # None: the engine's own default
    guidance: float | None = _DEFAULT["guidance"]  # None: the engine's own classifier-free guidance scale
    # Blinks a minute laid over the model's eyelids (core/blink_layer.py); 0 = only the model's own.
    blinks_per_minute: float = _DEFAULT["blinks_per_minute"]
    # Already decoded 16 kHz mono samples of audio_path (the add-on decodes with Blender's `aud` to check the file,
    # and a stock Blender has no soundfile); None: the engine reads audio_path itself.
    audio: np.ndarray | None = field(default=None, repr=False)


@dataclass
class Animation:
    weights: np.ndarray  # (frames, channels) float32 in [0, 1], in the order of rig.names
    fps: float
    source: str = ""  # what produced it, e.g. "student-2step" or "reference targets (not the model)"
    info: dict = field(default_factory=dict)
    rig: RigDescriptor = ARKIT52  # what the channels are: the model's rig, carried to the writer

    @property
    def names(self) -> tuple[str, ...]:
        return self.rig.names

    @property
    def duration(self) -> float:
        return self.weights.shape[0] / self.fps


ProgressCallback = Callable[[float, str], None]  # (fraction 0..1, message)


class AnimationEngine(Protocol):
    name: str
    rig: RigDescriptor  # the rig its Animations are in (callers treat an engine without one as ARKit-52)

    def identities(self) -> list[str]: ...

    def emotions(self) -> list[str]: ...

    def animate(self, request: AnimationRequest, progress: ProgressCallback, cancel: threading.Event) -> Animation: ...


class AnimationJob:
    """Runs `engine.animate(request)` in a daemon thread. Poll `progress`/`message`/`done`; `cancel()` asks it to stop."""

    def __init__(self, engine: AnimationEngine, request: AnimationRequest) -> None:
        self.engine = engine
        self.request = request
        self.progress = 0.0
        self.message = "queued"
        self.result: Animation | None = None
        self.error: BaseException | None = None
        self.error_trace = ""
        self.cancelled = False
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="diffusiontalker-job", daemon=True)
        self.started_at = 0.0
        self.finished_at = 0.0

    def _report(self, fraction: float, message: str) -> None:
        if self._cancel.is_set():
            raise JobCancelled()
        self.progress = float(min(max(fraction, 0.0), 1.0))
        self.message = message

    def _run(self) -> None:
        self.started_at = time.perf_counter()
        try:
            self.result = self.engine.animate(self.request, self._report, self._cancel)
            if self._cancel.is_set():
                raise JobCancelled()
            self.progress, self.message = 1.0, "done"
        except JobCancelled:
            self.result, self.cancelled, self.message = None, True, "cancelled"
        except BaseException as exc:  # noqa: BLE001 - surfaced to the caller via .error
            self.error, self.error_trace, self.message = exc, traceback.format_exc(), f"failed: {exc}"
        finally:
            self.finished_at = time.perf_counter()

    def start(self) -> AnimationJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def done(self) -> bool:
        return self._thread.ident is not None and not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> Animation:
        """Block until finished; return the animation or raise the engine's error / JobCancelled."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("animation job still running")
        if self.cancelled:
            raise JobCancelled()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result
