"""Named speaking styles: identity and emotion embeddings the panel offers by name.

The personalizer turns a reference clip into an identity and an emotion embedding (unit vectors of embed_dim);
`PersonalizationEncoder.fuse` mixes ANY pair of them into style tokens. The library keeps named ones:
one identity per training speaker, one emotion per emotion label, plus "default" (the normalised mean of all
identities) and "neutral" (what emotion_strength = 0 means). User styles made from a reference clip go in a
second library that is `merged` on top of the shipped one.

File format (`save` / `load`, safetensors via core.weights_io, numpy only):
    tensors   "identity/<name>" and "emotion/<name>", float32 (embed_dim,)
    metadata  {"format_version": 1, "kind": "style_library", "embed_dim": D, "model_sha256": "<sha256 of the
               model file whose personalizer made these embeddings>"}
Embeddings belong to one trained model: `load(..., model_sha256=...)` refuses a file made for another one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.weights_io import WeightsError, load_weights, save_weights

STYLE_FORMAT_VERSION = 1
DEFAULT_IDENTITY = "default"
NEUTRAL_EMOTION = "neutral"


def unit(vector: np.ndarray) -> np.ndarray:
    """float32 copy of `vector` scaled to unit length (the zero vector stays zero)."""
    vector = np.asarray(vector, dtype=np.float64).reshape(-1)
    norm = np.linalg.norm(vector)
    return (vector / norm if norm > 1e-12 else vector).astype(np.float32)


@dataclass
class StyleLibrary:
    identities: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (embed_dim,) unit vector
    emotions: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (embed_dim,) unit vector
    model_sha256: str = ""  # the model file these embeddings belong to ("" = not tied to one)

    def __post_init__(self) -> None:
        self.identities = {str(k): np.asarray(v, np.float32).reshape(-1) for k, v in self.identities.items()}
        self.emotions = {str(k): np.asarray(v, np.float32).reshape(-1) for k, v in self.emotions.items()}
        dims = {v.shape[0] for v in (*self.identities.values(), *self.emotions.values())}
        if len(dims) > 1:
            raise ValueError(f"style embeddings of different sizes in one library: {sorted(dims)}")
        for name in (*self.identities, *self.emotions):
            if not name or "/" in name:
                raise ValueError(f"style name {name!r} must be non-empty and contain no '/'")

    @property
    def embed_dim(self) -> int | None:
        for vector in (*self.identities.values(), *self.emotions.values()):
            return int(vector.shape[0])
        return None

    def is_complete(self) -> bool:
        """Whether the defaults an engine relies on ("default" identity, "neutral" emotion) are present."""
        return DEFAULT_IDENTITY in self.identities and NEUTRAL_EMOTION in self.emotions

    def require_complete(self, source: str = "the style library") -> None:
        if not self.is_complete():
            raise WeightsError(
                f"{source} lacks the '{DEFAULT_IDENTITY}' identity or the '{NEUTRAL_EMOTION}' emotion; "
                "build it with core.style_library.build_style_library"
            )

    def identity(self, name: str) -> np.ndarray:
        if name not in self.identities:
            raise ValueError(f"unknown identity {name!r}; choose one of: {', '.join(sorted(self.identities))}")
        return self.identities[name]

    def emotion(self, name: str) -> np.ndarray:
        if name not in self.emotions:
            raise ValueError(f"unknown emotion {name!r}; choose one of: {', '.join(sorted(self.emotions))}")
        return self.emotions[name]

    def add(self, name: str, identity: np.ndarray | None = None, emotion: np.ndarray | None = None) -> StyleLibrary:
        """Store (or replace) the identity and/or emotion called `name`, normalised; returns self."""
        if identity is not None:
            self.identities[name] = unit(identity)
        if emotion is not None:
            self.emotions[name] = unit(emotion)
        self.__post_init__()
        return self

    def merged(self, other: StyleLibrary) -> StyleLibrary:
        """A new library: these styles with `other`'s on top (same names: other wins). Both must fit one model."""
        if self.model_sha256 and other.model_sha256 and self.model_sha256 != other.model_sha256:
            raise WeightsError(
                f"these user styles were made with another model (sha256 {other.model_sha256[:12]}..., this one is "
                f"{self.model_sha256[:12]}...); re-create them from their reference clips"
            )
        return StyleLibrary(
            {**self.identities, **other.identities},
            {**self.emotions, **other.emotions},
            self.model_sha256 or other.model_sha256,
        )

    def to_tensors(self) -> tuple[dict[str, np.ndarray], dict]:
        tensors = {f"identity/{k}": v for k, v in self.identities.items()}
        tensors.update({f"emotion/{k}": v for k, v in self.emotions.items()})
        metadata = {
            "format_version": STYLE_FORMAT_VERSION,
            "kind": "style_library",
            "embed_dim": self.embed_dim,
            "model_sha256": self.model_sha256,
        }
        return tensors, metadata

    def save(self, path: Path | str) -> str:
        """Write the library as safetensors; returns the file's sha256."""
        tensors, metadata = self.to_tensors()
        return save_weights(path, tensors, metadata)

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, np.ndarray], metadata: Mapping, source: str = "styles") -> StyleLibrary:
        if metadata.get("kind") != "style_library" or metadata.get("format_version") != STYLE_FORMAT_VERSION:
            raise WeightsError(
                f"{source} is not a version-{STYLE_FORMAT_VERSION} style library "
                f"(kind {metadata.get('kind')!r}, format_version {metadata.get('format_version')!r})"
            )
        identities, emotions = {}, {}
        for key, value in tensors.items():
            kind, _, name = key.partition("/")
            {"identity": identities, "emotion": emotions}.get(kind, {})[name] = value
        library = cls(identities, emotions, str(metadata.get("model_sha256", "")))
        if metadata.get("embed_dim") not in (None, library.embed_dim):
            raise WeightsError(
                f"{source}: embed_dim {metadata.get('embed_dim')} but the vectors have {library.embed_dim}"
            )
        return library

    @classmethod
    def load(
        cls, path: Path | str, expected_sha256: str | None = None, model_sha256: str | None = None
    ) -> StyleLibrary:
        """Read a library; with `model_sha256`, refuse one made for another model (its embeddings mean nothing here)."""
        tensors, metadata = load_weights(path, expected_sha256)
        library = cls.from_tensors(tensors, metadata, source=f"style file '{path}'")
        if model_sha256 is not None and library.model_sha256 != model_sha256:
            raise WeightsError(
                f"style file '{path}' belongs to another model (made for sha256 {library.model_sha256 or 'unknown'}, "
                f"this model is {model_sha256}); its embeddings would mean nothing here. Re-install the extension, "
                "or re-create user styles from their reference clips"
            )
        return library


def build_style_library(
    identity_by_clip: Mapping[str, np.ndarray],
    emotion_by_clip: Mapping[str, np.ndarray],
    speaker_of_clip: Mapping[str, str],
    emotion_of_clip: Mapping[str, str],
    model_sha256: str = "",
) -> StyleLibrary:
    """The shipped library from per-clip embeddings (clip id -> (embed_dim,)) and labels (clip id -> name).

    Each speaker's identity is the renormalised mean of its clips' unit identity embeddings, each emotion likewise;
    "default" is the normalised mean of the speaker identities, "neutral" the neutral clips' emotion mean (or, with
    no neutral clips, the normalised mean of the emotion means).
    """
    if not identity_by_clip:
        raise ValueError("no clips to build a style library from")

    def means(embeddings: Mapping[str, np.ndarray], label_of: Mapping[str, str]) -> dict[str, np.ndarray]:
        groups: dict[str, list[np.ndarray]] = {}
        for clip, vector in embeddings.items():
            if clip not in label_of:
                raise ValueError(f"clip {clip!r} has an embedding but no label")
            groups.setdefault(str(label_of[clip]), []).append(unit(vector))
        return {name: unit(np.mean(vectors, axis=0)) for name, vectors in sorted(groups.items())}

    identities = means(identity_by_clip, speaker_of_clip)
    emotions = means(emotion_by_clip, emotion_of_clip)
    identities.setdefault(DEFAULT_IDENTITY, unit(np.mean(list(identities.values()), axis=0)))
    if NEUTRAL_EMOTION not in emotions:
        emotions[NEUTRAL_EMOTION] = unit(np.mean(list(emotions.values()), axis=0))
    return StyleLibrary(identities, emotions, model_sha256)
