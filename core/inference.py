"""The trained model as an AnimationEngine: weights on disk -> `load_engine(weights_dir)` -> `engine.animate(request)`.

A weights folder (see core/weights_io.py for the file format and manifest):

    manifest.json                sha256 + size of every file below; checked before anything is parsed
    student.safetensors          tensors "audio_encoder.*" (StudentAudioEncoder state dict) and "talker.*"
                                 (DiffusionTalker state dict: personalizer, denoiser, motion_mean, motion_std);
                                 metadata {"format_version": 1, "kind": "student", "talker_config": TalkerConfig.to_dict(),
                                 "audio_encoder": {"kind": "student", "config": StudentEncoderConfig.to_dict()},
                                 "steps": 2, "fps": 30.0, "guidance_scale": 1.0,
                                 "window": {"window_frames", "prefix_frames", "crossfade_frames"}}
    styles.safetensors           the student's StyleLibrary (core/style_library.py), tied to student.safetensors' sha256
    teacher.safetensors          (optional) tensors "talker.*"; metadata {"format_version": 1, "kind": "teacher",
                                 "talker_config", "audio_encoder": {"kind": "whisper", "whisper_size": "base",
                                 "window_seconds": 8, "overlap_seconds", "remove_position_template", "cache_id"},
                                 "steps": 16, "fps": 30.0, "guidance_scale", "window"}; the frozen Whisper encoder comes
                                 from its package (WhisperAudioEncoder), never from this file
    teacher_styles.safetensors   (optional) the teacher's StyleLibrary

The "audio_encoder" entry says which encoder makes the model's audio features (`audio_encoder_spec`), so any model
file names its own: "student" (tensors "audio_encoder.*" in the same file; torch or numpy) or "whisper" (torch only).
Files written before that entry carry the same settings as top-level keys ("student_encoder_config"; "whisper_size",
"whisper_window_seconds", ...) and load unchanged.

Write them with `save_student` / `save_teacher` (they update the manifest). Backends: "torch" (CUDA, MPS or CPU) and
"numpy" (core/numpy_student.py, for a stock Blender without torch); both draw the initial noise from
`np.random.default_rng(request.seed)`, so a seed gives the same take on either. The teacher is torch only. Teacher
and student share one code path: only the audio feature function and the step count differ.

One animate call: load + validate audio -> features at the encoder rate -> aligned to the model's 30 fps ->
style tokens from the named identity and emotion (emotion_strength moves the emotion from the library's "neutral")
-> windowed DDIM (progress per window, cancel between windows) -> resampled to request.fps, clipped to [0, 1].
"""

from __future__ import annotations

import copy
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from core.animation_job import Animation, AnimationRequest, JobCancelled, ProgressCallback
from core.audio import load_audio, validate_speech_audio
from core.blink_layer import add_blinks, rig_can_blink
from core.data.resample import resample_weights
from core.models.audio_features import SAMPLE_RATE, AudioEncoder, features_at_fps, frames_for_samples
from core.numpy_student import NumpyStudentEncoder, NumpyTalker
from core.prosody_features import prosody_features
from core.rig.descriptor import RigDescriptor, model_rig
from core.sampling import FramesProgress, NoiseSource, seeded_noise
from core.sampling import WindowPlan as WindowPlan  # re-exported: weights files and callers name it here
from core.style_library import NEUTRAL_EMOTION, StyleLibrary
from core.weights_io import (
    FIX_HINT,
    MANIFEST_NAME,
    WeightsError,
    load_listed_weights,
    manifest_sha256,
    read_manifest,
    save_weights,
    write_manifest,
)

if TYPE_CHECKING:
    import torch

    from core.models.student_audio_encoder import StudentAudioEncoder
    from core.models.talker import DiffusionTalker

MODEL_FORMAT_VERSION = 1
STUDENT_FILE = "student.safetensors"
STYLES_FILE = "styles.safetensors"
TEACHER_FILE = "teacher.safetensors"
TEACHER_STYLES_FILE = "teacher_styles.safetensors"
MODEL_FILES = {"student": (STUDENT_FILE, STYLES_FILE), "teacher": (TEACHER_FILE, TEACHER_STYLES_FILE)}


# The 2-step student's plan: its per-window cost is mostly fixed (two short passes), so fewer, longer windows are
# faster (60 s: 0.35 s -> 0.26 s measured at 2 threads); the 16-step teacher is faster with 240 (attention grows
# with the square of the window, times 16 steps). The denoiser's attention is local (+-48 frames), so both are
# within what it was trained for.
STUDENT_WINDOW = WindowPlan(window_frames=480)


# ---- backends: the model's three operations, in torch or numpy -----------------------------------------------------


class PlacedAudioEncoder(AudioEncoder, Protocol):
    """An AudioEncoder that says where it runs next to a talker on `device` (StudentAudioEncoder moves there;
    WhisperAudioEncoder and HuggingFaceLocalEncoder stay where they were loaded)."""

    def on_device(self, device: str) -> AudioEncoder: ...


class TorchBackend:
    """DiffusionTalker + an audio encoder (core.models.audio_features.AudioEncoder) on a torch device.

    The encoder decides where it runs next to the talker (`PlacedAudioEncoder.on_device`)."""

    name = "torch"

    def __init__(self, talker: DiffusionTalker, encoder: PlacedAudioEncoder, device: str) -> None:
        self.talker, self.device = talker.eval(), device
        self.talker.to(device)
        self.encoder = encoder.on_device(device)
        self.feature_rate = float(encoder.frame_rate)
        self.motion_dim = talker.config.denoiser.motion_dim
        self.rig = talker.rig

    def to_cpu(self) -> TorchBackend:
        return TorchBackend(self.talker.cpu(), self.encoder, "cpu")

    def audio_features(self, audio16k: np.ndarray) -> np.ndarray:
        """(frames, feature_dim) float32 at `feature_rate`."""
        return self.encoder.encode(audio16k).float().cpu().numpy()

    def encode_style(self, feats: np.ndarray, prosody: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.no_grad():
            style = self.talker.encode_style(
                torch.from_numpy(feats).to(self.device)[None], prosody=torch.from_numpy(prosody).to(self.device)[None]
            )
        return style.identity[0].cpu().numpy(), style.emotion[0].cpu().numpy()

    def style_tokens(self, identity: np.ndarray, emotion: np.ndarray, strength: float, neutral: np.ndarray):
        import torch

        def tensor(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(x, np.float32)).to(self.device)

        with torch.no_grad():
            return self.talker.personalizer.fuse(
                tensor(identity)[None], tensor(emotion)[None], strength, tensor(neutral)
            )

    def generate(
        self, feats, tokens, steps: int, noise: NoiseSource, guidance: float, plan: WindowPlan,
        progress: FramesProgress | None,
    ) -> np.ndarray:  # fmt: skip
        """(batch, frames, 52) in [0, 1] for aligned features (batch, frames, audio_dim): DiffusionTalker.generate."""
        import torch

        audio = torch.from_numpy(np.asarray(feats, np.float32)).to(self.device)
        motion = self.talker.generate(
            audio, tokens, steps=steps, noise=noise, guidance_scale=guidance, window=plan, progress=progress
        )
        return motion.cpu().numpy()


class NumpyBackend:
    """NumpyTalker + NumpyStudentEncoder: the same numbers without torch."""

    name = "numpy"
    device = "cpu"
    feature_rate = 50.0

    def __init__(self, talker: NumpyTalker, encoder: NumpyStudentEncoder) -> None:
        self.talker, self.encoder = talker, encoder
        self.motion_dim = talker.motion_dim
        self.rig = model_rig(talker.config.get("rig"), float(talker.config.get("mouth_loss_weight", 2.0)))

    def to_cpu(self) -> NumpyBackend:
        return self

    def audio_features(self, audio16k: np.ndarray) -> np.ndarray:
        return self.encoder.encode(audio16k)

    def encode_style(self, feats: np.ndarray, prosody: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        identity, emotion = self.talker.encode_style(feats[None], prosody=prosody[None])
        return identity[0], emotion[0]

    def style_tokens(self, identity, emotion, strength, neutral) -> np.ndarray:
        return self.talker.fuse(np.asarray(identity)[None], np.asarray(emotion)[None], strength, neutral)

    def generate(
        self, feats, tokens, steps: int, noise: NoiseSource, guidance: float, plan: WindowPlan,
        progress: FramesProgress | None,
    ) -> np.ndarray:  # fmt: skip
        """NumpyTalker.generate: the same window loop and noise as the torch backend."""
        return self.talker.generate(feats, tokens, noise, steps, guidance, None, plan, progress)


def _is_out_of_memory(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower() and type(exc).__name__ in ("OutOfMemoryError", "RuntimeError")


# ---- the engine ---------------------------------------------------------------------------------------------------


class DiffusionTalkerEngine:
    """AnimationEngine over a backend, a style library and sampling settings (teacher and student alike)."""

    def __init__(
        self,
        backend: TorchBackend | NumpyBackend,
        styles: StyleLibrary,
        *,
        model: str,
        steps: int,
        fps: float,
        guidance_scale: float = 1.0,
        window: WindowPlan | None = None,
        model_sha256: str = "",
        notes: tuple[str, ...] = (),
    ) -> None:
        styles.require_complete()
        self.backend, self.styles, self.model = backend, styles, model
        self.steps, self.fps, self.guidance_scale = int(steps), float(fps), float(guidance_scale)
        self.window = window or WindowPlan()
        self.model_sha256 = model_sha256
        self.notes = list(notes)  # what the user should know about how it runs (fallbacks)

    @property
    def name(self) -> str:
        return f"{self.model}-{self.steps}step ({self.backend.name}, {self.backend.device})"

    @property
    def rig(self) -> RigDescriptor:
        """The model's rig (its talker config's; ARKit-52 for weights from before rigs were data)."""
        return self.backend.rig

    def identities(self) -> list[str]:
        return sorted(self.styles.identities)

    def emotions(self) -> list[str]:
        return sorted(self.styles.emotions)

    def with_user_styles(self, library: StyleLibrary) -> DiffusionTalkerEngine:
        """A copy of this engine offering `library`'s styles on top of its own (they must come from this model)."""
        if library.model_sha256 and library.model_sha256 != self.model_sha256:
            raise WeightsError(
                f"these user styles were made with another model (sha256 {library.model_sha256[:12]}..., this one "
                f"is {self.model_sha256[:12]}...); re-create them from their reference clips"
            )
        engine = copy.copy(self)
        engine.styles = self.styles.merged(library)
        engine.notes = list(self.notes)
        return engine

    def user_style_library(self) -> StyleLibrary:
        """An empty library tied to this model, to `add` user styles made with `style_from_reference`."""
        return StyleLibrary(model_sha256=self.model_sha256)

    def style_from_reference(self, audio: np.ndarray | Path | str) -> tuple[np.ndarray, np.ndarray]:
        """(identity, emotion) unit embeddings (embed_dim,) of a reference clip: a file, or 16 kHz mono samples."""
        if isinstance(audio, (str, Path)):
            name, audio = f"'{audio}'", load_audio(audio)
        else:
            name, audio = "the reference audio", np.asarray(audio, np.float32)
        validate_speech_audio(audio, SAMPLE_RATE, name=name)
        feats = self._run_with_cpu_fallback(lambda: self._aligned_features(audio))
        prosody = prosody_features(audio, feats.shape[0], self.fps)  # (frames, PROSODY_DIM), numpy: any backend
        return self._run_with_cpu_fallback(lambda: self.backend.encode_style(feats, prosody))

    def _aligned_features(self, audio: np.ndarray) -> np.ndarray:
        """(model frames, feature_dim) features on the model's frame clock."""
        feats = self.backend.audio_features(audio)
        return features_at_fps(feats, self.backend.feature_rate, self.fps, frames_for_samples(audio.size, self.fps))

    def _run_with_cpu_fallback(self, work: Callable[[], Any]) -> Any:
        try:
            return work()
        except Exception as exc:
            if self.backend.device == "cpu" or not _is_out_of_memory(exc):
                raise
        note = f"{self.backend.device} ran out of memory; continuing on the CPU (slower)"
        warnings.warn(note, RuntimeWarning, stacklevel=3)
        self.notes.append(note)
        self.backend = self.backend.to_cpu()
        return work()

    def animate(self, request: AnimationRequest, progress: ProgressCallback, cancel: threading.Event) -> Animation:
        started = time.perf_counter()
        identity = self.styles.identity(request.identity)  # unknown names fail before any work
        emotion = self.styles.emotion(request.emotion)
        _check_cancel(cancel)
        progress(0.0, f"loading {Path(request.audio_path).name}")
        if request.audio is None:
            audio = load_audio(request.audio_path)  # 16 kHz mono float32, any input rate / channels
        else:
            audio = np.asarray(request.audio, np.float32).reshape(-1)
        validate_speech_audio(audio, SAMPLE_RATE, name=f"'{request.audio_path}'")
        return self._animate_samples(
            audio, identity, emotion, (request.identity, request.emotion), seed=request.seed, steps=request.steps,
            guidance=request.guidance, emotion_strength=request.emotion_strength, fps=request.fps,
            blinks_per_minute=request.blinks_per_minute, progress=progress, cancel=cancel, started=started,
        )  # fmt: skip

    def animate_audio(
        self,
        audio16k: np.ndarray,
        identity: np.ndarray,
        emotion: np.ndarray,
        *,
        seed: int = 0,
        steps: int | None = None,
        guidance: float | None = None,
        emotion_strength: float = 1.0,
        fps: float | None = None,
        blinks_per_minute: float = 0.0,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Animation:
        """`animate` for 16 kHz mono samples with the style given as embeddings (embed_dim,) instead of library names
        (e.g. from `style_from_reference`): what evaluation scores. fps: the output rate (default the model's);
        guidance: the classifier-free guidance scale (default the model's); blinks_per_minute 0 (default) is the
        model's own take, no blink layer."""
        started = time.perf_counter()
        audio = np.asarray(audio16k, np.float32).reshape(-1)
        validate_speech_audio(audio, SAMPLE_RATE, name="the audio")
        return self._animate_samples(
            audio, np.asarray(identity, np.float32), np.asarray(emotion, np.float32), ("(embedding)", "(embedding)"),
            seed=seed, steps=steps, guidance=guidance, emotion_strength=emotion_strength,
            fps=self.fps if fps is None else fps,
            blinks_per_minute=blinks_per_minute, progress=progress or (lambda *_: None),
            cancel=cancel or threading.Event(), started=started,
        )  # fmt: skip

    def _animate_samples(
        self,
        audio: np.ndarray,
        identity: np.ndarray,
        emotion: np.ndarray,
        style_names: tuple[str, str],
        *,
        seed: int,
        steps: int | None,
        guidance: float | None,
        emotion_strength: float,
        fps: float,
        blinks_per_minute: float,
        progress: ProgressCallback,
        cancel: threading.Event,
        started: float,
    ) -> Animation:
        """The one animate path: validated 16 kHz samples (samples,) and style embeddings -> Animation."""
        steps = int(steps or self.steps)
        guidance = self.guidance_scale if guidance is None else float(guidance)
        notes_before = len(self.notes)

        def run() -> np.ndarray:
            _check_cancel(cancel)
            progress(0.05, "encoding audio")
            feats = self._aligned_features(audio)  # (frames, feature_dim) at self.fps
            tokens = self.backend.style_tokens(
                identity, emotion, float(emotion_strength), self.styles.emotions[NEUTRAL_EMOTION]
            )
            _check_cancel(cancel)

            def on_window(done: int, total: int) -> None:
                _check_cancel(cancel)
                progress(0.15 + 0.8 * done / total, f"animating: {done / self.fps:.1f} of {total / self.fps:.1f} s")

            progress(0.15, f"animating ({steps} steps)")
            noise = seeded_noise(seed)
            return self.backend.generate(feats[None], tokens, steps, noise, guidance, self.window, on_window)

        motion = self._run_with_cpu_fallback(run)[0]  # (frames, 52) in [0, 1] at self.fps
        _check_cancel(cancel)
        weights = np.clip(resample_weights(motion, self.fps, float(fps)), 0.0, 1.0).astype(np.float32)
        can_blink = rig_can_blink(self.rig)  # a rig without eyelid channels (a vertex basis) gets none
        if can_blink:
            weights = add_blinks(weights, float(fps), audio, seed, float(blinks_per_minute), self.rig)
        progress(1.0, "done")
        info = {
            "model": self.model,
            "backend": self.backend.name,
            "device": self.backend.device,
            "steps": steps,
            "guidance_scale": guidance,
            "seed": int(seed),
            "identity": style_names[0],
            "emotion": style_names[1],
            "emotion_strength": float(emotion_strength),
            "blinks_per_minute": float(blinks_per_minute) if can_blink else 0.0,
            "model_fps": self.fps,
            "model_sha256": self.model_sha256,
            "seconds": time.perf_counter() - started,
        }
        if len(self.notes) > notes_before:
            info["warning"] = "; ".join(self.notes[notes_before:])
        info["rig"], info["rig_sha256"] = self.rig.name, self.rig.sha256
        return Animation(weights=weights, fps=float(fps), source=self.name, info=info, rig=self.rig)


def _check_cancel(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise JobCancelled()


# ---- choosing where to run ------------------------------------------------------------------------------------------


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def choose_backend(backend: str = "auto") -> str:
    """ "torch" when importable (or asked for), else "numpy"."""
    if backend not in ("auto", "torch", "numpy"):
        raise ValueError(f"unknown backend {backend!r}; choose auto, torch or numpy")
    if backend == "auto":
        return "torch" if torch_available() else "numpy"
    if backend == "torch" and not torch_available():
        raise RuntimeError("backend 'torch' was asked for but torch is not installed here; use backend 'numpy'")
    return backend


def choose_device(device: str = "auto") -> tuple[str, list[str]]:
    """(torch device string, notes): auto is CUDA, else MPS, else CPU; an unavailable GPU falls back to the CPU."""
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        return ("cuda" if cuda else "mps" if mps else "cpu"), []
    if (device.startswith("cuda") and not cuda) or (device == "mps" and not mps):
        return "cpu", [f"device {device!r} is not available here; running on the CPU"]
    return device, []


# ---- loading --------------------------------------------------------------------------------------------------------


def _listed_model(weights_dir: Path, model: str, manifest: Mapping) -> tuple[dict[str, np.ndarray], dict, str]:
    """(tensors, metadata, sha256) of `model` ("student" | "teacher") in `weights_dir`, checked against `manifest`
    and against its own metadata (kind and format) before anything uses it."""
    if model not in MODEL_FILES:
        raise ValueError(f"unknown model {model!r}; choose student or teacher")
    model_file = MODEL_FILES[model][0]
    tensors, metadata, model_sha = load_listed_weights(weights_dir, model_file, manifest)
    _check_metadata(metadata, model, weights_dir / model_file)
    return tensors, metadata, model_sha


def _tied_styles(weights_dir: Path, model: str, manifest: Mapping, model_sha: str) -> StyleLibrary:
    """`model`'s style library, checked against `manifest` and refused when it belongs to another model file."""
    styles_file = MODEL_FILES[model][1]
    return StyleLibrary.load(
        weights_dir / styles_file, manifest_sha256(manifest, styles_file, weights_dir), model_sha256=model_sha
    )


def _split_prefix(tensors: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _check_metadata(metadata: Mapping, kind: str, path: Path) -> None:
    if metadata.get("kind") != kind or metadata.get("format_version") != MODEL_FORMAT_VERSION:
        raise WeightsError(
            f"'{path}' is not a version-{MODEL_FORMAT_VERSION} {kind} file (kind {metadata.get('kind')!r}, "
            f"format_version {metadata.get('format_version')!r}); {FIX_HINT}"
        )


def _load_state(module: torch.nn.Module, state: Mapping[str, np.ndarray], path: Path, what: str) -> None:
    import torch

    result = module.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=False
    )
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"'{path}' does not fit this version's {what}: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}; {FIX_HINT}"
        )


def load_engine(
    weights_dir: Path | str, device: str = "auto", backend: str = "auto", model: str = "student"
) -> DiffusionTalkerEngine:
    """The engine for `weights_dir` (see module docstring), every file checked against the manifest first.

    device: "auto" (CUDA, else MPS, else CPU), "cpu", "cuda", "mps" (torch only; numpy runs on the CPU).
    backend: "auto" (torch when importable, else numpy), "torch" or "numpy". model: "student" or "teacher".
    """
    weights_dir = Path(weights_dir)
    manifest = read_manifest(weights_dir)
    tensors, metadata, model_sha = _listed_model(weights_dir, model, manifest)
    model_path = weights_dir / MODEL_FILES[model][0]
    styles = _tied_styles(weights_dir, model, manifest, model_sha)
    styles.require_complete(f"'{weights_dir / MODEL_FILES[model][1]}'")

    encoder_spec = audio_encoder_spec(metadata, model_path)
    backend = choose_backend(backend)
    if encoder_spec["kind"] != "student" and backend != "torch":
        raise RuntimeError(
            f"the {model} needs torch (its {encoder_spec['kind']} audio encoder is a torch model; the numpy backend "
            "runs only the student's own encoder); install torch or use the student"
        )
    notes: list[str] = []
    talker_tensors = _split_prefix(tensors, "talker.")
    if backend == "numpy":
        engine_backend = NumpyBackend(
            NumpyTalker(talker_tensors, metadata["talker_config"]),
            NumpyStudentEncoder(_split_prefix(tensors, "audio_encoder."), encoder_spec["config"]),
        )
        if device not in ("auto", "cpu"):
            notes.append(f"the numpy backend runs on the CPU, not {device!r}")
    else:
        torch_device, notes = choose_device(device)
        talker = _torch_talker(tensors, metadata, model_path)
        engine_backend = TorchBackend(talker, _torch_audio_encoder(encoder_spec, tensors, model_path), torch_device)
    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=2)
    return DiffusionTalkerEngine(
        engine_backend,
        styles,
        model=model,
        steps=int(metadata["steps"]),
        fps=float(metadata.get("fps", 30.0)),
        guidance_scale=float(metadata.get("guidance_scale", 1.0)),
        window=WindowPlan(**metadata.get("window", {})),
        model_sha256=model_sha,
        notes=tuple(notes),
    )


def load_shipped_talker(weights_dir: Path | str, model: str = "teacher") -> DiffusionTalker:
    """The DiffusionTalker (torch, CPU, eval) of a weights folder's model file, checked against its manifest: what
    distillation reads as its teacher. No audio encoder and no styles (see load_engine for a whole engine)."""
    weights_dir = Path(weights_dir)
    tensors, metadata, _ = _listed_model(weights_dir, model, read_manifest(weights_dir))
    return _torch_talker(tensors, metadata, weights_dir / MODEL_FILES[model][0])


def load_shipped_student(weights_dir: Path | str) -> tuple[StudentAudioEncoder, DiffusionTalker, dict, str]:
    """The shipped student as torch modules (CPU, eval): its (folded) audio encoder, its talker, the file's metadata
    and its sha256, checked against the manifest: what phase C (core/training/adapt_ears.py) starts from."""
    weights_dir = Path(weights_dir)
    tensors, metadata, sha256 = _listed_model(weights_dir, "student", read_manifest(weights_dir))
    path = weights_dir / MODEL_FILES["student"][0]
    talker = _torch_talker(tensors, metadata, path)
    talker.config.sampling_steps = int(metadata["steps"])
    spec = audio_encoder_spec(metadata, path)
    if spec["kind"] != "student":
        raise WeightsError(f"'{path}' has a {spec['kind']} audio encoder, not a student encoder to retrain; {FIX_HINT}")
    return _student_encoder(spec, tensors, path), talker, dict(metadata), sha256


def _torch_talker(tensors: Mapping[str, np.ndarray], metadata: Mapping, path: Path) -> DiffusionTalker:
    from core.models.talker import DiffusionTalker, TalkerConfig

    talker = DiffusionTalker(TalkerConfig.from_dict(metadata["talker_config"]))
    _load_state(talker, _split_prefix(tensors, "talker."), path, "DiffusionTalker")
    return talker.eval()


# ---- the audio encoder a model file names ---------------------------------------------------------------------------

AUDIO_ENCODER_KINDS = ("student", "whisper")


def student_encoder_spec(encoder: StudentAudioEncoder) -> dict:
    """The "audio_encoder" metadata entry of a student encoder whose tensors are stored as "audio_encoder.*"."""
    return {"kind": "student", "config": encoder.config.to_dict()}


def whisper_encoder_spec(
    whisper_size: str, window_seconds: int, overlap_seconds: float, remove_position_template: bool, cache_id: str | None
) -> dict:
    """The "audio_encoder" metadata entry of a frozen Whisper encoder (weights from its package, not the file).
    cache_id: WhisperAudioEncoder.cache_id of the features the model was trained on (checked on load)."""
    return {
        "kind": "whisper",
        "whisper_size": whisper_size,
        "window_seconds": int(window_seconds),
        "overlap_seconds": float(overlap_seconds),
        "remove_position_template": bool(remove_position_template),
        "cache_id": cache_id,
    }


def audio_encoder_spec(metadata: Mapping, path: Path | str) -> dict:
    """The model file's "audio_encoder" entry ({"kind": "student" | "whisper", ...}); for files written before it,
    the same spec read from their top-level keys. WeightsError for a kind this version cannot run."""
    spec = metadata.get("audio_encoder")
    if spec is None and "student_encoder_config" in metadata:  # students written before the entry
        spec = {"kind": "student", "config": metadata["student_encoder_config"]}
    elif spec is None and "whisper_size" in metadata:  # teachers written before the entry
        spec = whisper_encoder_spec(
            metadata["whisper_size"], metadata["whisper_window_seconds"], metadata["whisper_overlap_seconds"],
            metadata.get("whisper_remove_position_template", True), metadata.get("audio_encoder_cache_id"),
        )  # fmt: skip
    kind = spec.get("kind") if isinstance(spec, Mapping) else None
    if kind not in AUDIO_ENCODER_KINDS:
        raise WeightsError(
            f"'{path}' names audio encoder {kind!r}, which this version cannot run (it runs "
            f"{', '.join(AUDIO_ENCODER_KINDS)}); install the DiffusionTalker version these weights were made for, "
            f"or {FIX_HINT}"
        )
    return dict(spec)


def _torch_audio_encoder(spec: Mapping, tensors: Mapping[str, np.ndarray], path: Path) -> PlacedAudioEncoder:
    if spec["kind"] == "student":
        return _student_encoder(spec, tensors, path)
    return _whisper_encoder(spec)


def _student_encoder(spec: Mapping, tensors: Mapping[str, np.ndarray], path: Path) -> StudentAudioEncoder:
    from core.models.student_audio_encoder import StudentAudioEncoder, StudentEncoderConfig

    encoder = StudentAudioEncoder(StudentEncoderConfig.from_dict(spec["config"]))
    _load_state(encoder, _split_prefix(tensors, "audio_encoder."), path, "StudentAudioEncoder")
    return encoder.eval()


def _whisper_encoder(spec: Mapping) -> PlacedAudioEncoder:
    from core.models.audio_features import WhisperAudioEncoder, WhisperWindowing

    windowing = WhisperWindowing(int(spec["window_seconds"]), float(spec["overlap_seconds"]))
    encoder = WhisperAudioEncoder(spec["whisper_size"], windowing, bool(spec.get("remove_position_template", True)))
    expected = spec.get("cache_id")
    if expected and encoder.cache_id != expected:
        raise WeightsError(
            f"the teacher was trained on features '{expected}' but this Whisper gives '{encoder.cache_id}'; "
            "install the Whisper package version it was trained with"
        )
    return encoder


# ---- saving (what training and distillation call) ---------------------------------------------------------------------


def _prefixed(prefix: str, module: torch.nn.Module) -> dict[str, Any]:
    return {f"{prefix}{k}": v for k, v in module.state_dict().items()}


def _update_manifest(weights_dir: Path, names: list[str], extra: Mapping | None) -> None:
    """List `names` (and keep the files already listed that still exist) in the manifest, merging `extra`."""
    files: dict[str, dict] = {}
    previous: dict = {}
    if (weights_dir / MANIFEST_NAME).is_file():
        try:
            previous = read_manifest(weights_dir)
        except WeightsError:
            previous = {}
    for name, entry in previous.get("files", {}).items():
        if (weights_dir / name).is_file():
            files[name] = {k: v for k, v in entry.items() if k not in ("sha256", "bytes")}
    for name in names:
        files[name] = {"role": name.removesuffix(".safetensors")}
    kept = {k: v for k, v in previous.items() if k not in ("format_version", "files")}
    write_manifest(weights_dir, files, {**kept, **dict(extra or {})})


def save_student(
    weights_dir: Path | str,
    encoder: StudentAudioEncoder,
    talker: DiffusionTalker,
    styles: StyleLibrary,
    *,
    steps: int = 2,
    fps: float = 30.0,
    guidance_scale: float = 1.0,
    window: WindowPlan | None = None,
    metadata: Mapping | None = None,
    manifest_extra: Mapping | None = None,
) -> dict[str, str]:
    """Write student.safetensors + styles.safetensors (tied to it) and update manifest.json; returns name -> sha256.

    metadata: extra entries for the student file's metadata; manifest_extra: top-level manifest entries
    (config, corpus hash, eval metrics, training command).
    """
    weights_dir = Path(weights_dir)
    styles.require_complete("the student's style library")
    tensors = {**_prefixed("audio_encoder.", encoder), **_prefixed("talker.", talker)}
    meta = {
        **dict(metadata or {}),
        "format_version": MODEL_FORMAT_VERSION,
        "kind": "student",
        "talker_config": talker.config.to_dict(),
        "audio_encoder": student_encoder_spec(encoder),
        "steps": int(steps),
        "fps": float(fps),
        "guidance_scale": float(guidance_scale),
        "window": asdict(window or WindowPlan()),
    }
    model_sha = save_weights(weights_dir / STUDENT_FILE, tensors, meta)
    styles_sha = StyleLibrary(styles.identities, styles.emotions, model_sha).save(weights_dir / STYLES_FILE)
    _update_manifest(weights_dir, [STUDENT_FILE, STYLES_FILE], manifest_extra)
    return {STUDENT_FILE: model_sha, STYLES_FILE: styles_sha}


def save_teacher(
    weights_dir: Path | str,
    talker: DiffusionTalker,
    styles: StyleLibrary,
    *,
    whisper_size: str = "base",
    whisper_window_seconds: int = 8,
    whisper_overlap_seconds: float = 2.0,
    whisper_remove_position_template: bool = True,
    audio_encoder_cache_id: str | None = None,
    steps: int = 16,
    fps: float = 30.0,
    guidance_scale: float = 1.0,
    window: WindowPlan | None = None,
    metadata: Mapping | None = None,
    manifest_extra: Mapping | None = None,
) -> dict[str, str]:
    """Write teacher.safetensors + teacher_styles.safetensors and update manifest.json; returns name -> sha256.

    The Whisper settings must be those the teacher's training features were made with; pass the feature cache's
    `audio_encoder_cache_id` (WhisperAudioEncoder.cache_id) so loading can check the installed Whisper matches.
    """
    weights_dir = Path(weights_dir)
    styles.require_complete("the teacher's style library")
    meta = {
        **dict(metadata or {}),
        "format_version": MODEL_FORMAT_VERSION,
        "kind": "teacher",
        "talker_config": talker.config.to_dict(),
        "audio_encoder": whisper_encoder_spec(
            whisper_size,
            whisper_window_seconds,
            whisper_overlap_seconds,
            whisper_remove_position_template,
            audio_encoder_cache_id,
        ),  # fmt: skip
        "steps": int(steps),
        "fps": float(fps),
        "guidance_scale": float(guidance_scale),
        "window": asdict(window or WindowPlan()),
    }
    model_sha = save_weights(weights_dir / TEACHER_FILE, _prefixed("talker.", talker), meta)
    styles_sha = StyleLibrary(styles.identities, styles.emotions, model_sha).save(weights_dir / TEACHER_STYLES_FILE)
    _update_manifest(weights_dir, [TEACHER_FILE, TEACHER_STYLES_FILE], manifest_extra)
    return {TEACHER_FILE: model_sha, TEACHER_STYLES_FILE: styles_sha}


_SET_GUIDANCE = "python -m core set-guidance"


def set_default_guidance(weights_dir: Path | str, model: str, scale: float) -> dict:
    """Make `model` ("student" | "teacher") in `weights_dir` sample with classifier-free guidance `scale` by default.

    The guidance is a sampling setting in the model file's metadata, like its steps: the file is rewritten with the
    same tensors (checked against the manifest first), its style library re-tied to the new file's sha256 and the
    manifest updated (the model's entry records the scale). Returns name -> new sha256.
    """
    from core.animate_options import OPTIONS_BY_NAME

    scale = float(OPTIONS_BY_NAME["guidance"].check(scale))
    weights_dir = Path(weights_dir)
    manifest = read_manifest(weights_dir)
    tensors, metadata, model_sha = _listed_model(weights_dir, model, manifest)
    styles = _tied_styles(weights_dir, model, manifest, model_sha)
    model_file, styles_file = MODEL_FILES[model]
    new_sha = save_weights(weights_dir / model_file, tensors, {**metadata, "guidance_scale": scale})
    styles_sha = StyleLibrary(styles.identities, styles.emotions, new_sha).save(weights_dir / styles_file)
    entry = {**manifest.get(model, {}), "guidance_scale": scale}
    if "training_command" in entry:  # the recorded recipe ends with this step (once, however often it is run)
        command = entry["training_command"].split(f" && {_SET_GUIDANCE}")[0]
        entry["training_command"] = f"{command} && {_SET_GUIDANCE} {scale:g} --weights {weights_dir} --model {model}"
    _update_manifest(weights_dir, [model_file, styles_file], {model: entry})
    return {model_file: new_sha, styles_file: styles_sha, "guidance_scale": scale}
