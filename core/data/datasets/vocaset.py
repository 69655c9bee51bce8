"""VOCASET: FLAME-topology (5023 vertices) meshes at 60 fps, per-subject neutral templates, audio per sentence.

Two folder layouts are read:
- the original release: `data_verts.npy` (all frames, memory-mapped) + `subj_seq_to_idx.pkl` (subject ->
  sentence -> {frame: row}) + `raw_audio_fixed.pkl` (subject -> sentence -> {'audio', 'sample_rate'});
- one file per sentence, as many training repos store it: `<subject>_<sentence>.npy` of (frames, 5023, 3) or
  (frames, 15069), or `<subject>/<sentence>.npy`, with a same-stem audio file anywhere under the folder.
Templates come from `templates.pkl`, `templates.npz` (one array per subject) or `templates/<subject>.ply|obj|npy`.
Pickles are read with core.data.datasets.safe_pickle (numpy arrays and plain containers only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import resample_audio, supported_extensions
from core.data.clip import SAMPLE_RATE
from core.data.datasets.imported_clip import DatasetError, load_clip_audio
from core.data.datasets.mesh_files import read_mesh_vertices
from core.data.datasets.safe_pickle import load_numpy_pickle
from core.data.datasets.vertex_motion import VertexMotionClip

VOCASET_FPS = 60.0
_TEMPLATE_SUFFIXES = (".ply", ".obj", ".npy", ".npz")
_NOT_SEQUENCES = {"data_verts", "templates"}  # npy stems in the folder that are not per-sentence motion


@dataclass
class VocasetSequence:
    """One sentence of one subject; vertices and audio are read only when asked for."""

    subject: str
    sentence: str
    template: np.ndarray  # (V, 3) float32
    read_vertices: Callable[[], np.ndarray]  # -> (frames, V, 3) at 60 fps
    read_audio: Callable[[], np.ndarray | None]  # -> 16 kHz mono float32, or None when the sentence has none
    has_audio: bool
    source: str  # where the motion comes from, for messages

    def offsets(self) -> np.ndarray:
        """(frames, V, 3) float32 vertex offsets from the subject's template, at 60 fps."""
        vertices = np.asarray(self.read_vertices(), dtype=np.float32)
        vertices = vertices.reshape(vertices.shape[0], -1, 3)
        if vertices.shape[1] != self.template.shape[0]:
            raise DatasetError(
                f"{self.source}: {vertices.shape[1]} vertices but the template of '{self.subject}' has {self.template.shape[0]}."
            )
        return vertices - self.template[None]

    def clip(self) -> VertexMotionClip:
        return VertexMotionClip(
            offsets=self.offsets(), fps=VOCASET_FPS, template=self.template, audio=self.read_audio(),
            subject=self.subject, speaker=self.subject, emotion="neutral",
        )  # fmt: skip


class OffsetsOfSequences(Sequence):
    """A lazy list of each sequence's offsets (what fit_motion_basis streams over, one sequence in memory at a time)."""

    def __init__(self, sequences: Sequence[VocasetSequence]) -> None:
        self._sequences = list(sequences)

    def __len__(self) -> int:
        return len(self._sequences)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._sequences[index].offsets()


def load_vocaset_templates(folder: Path | str) -> dict[str, np.ndarray]:
    """Subject name -> (V, 3) float32 template, from every template source found in `folder`."""
    folder = Path(folder)
    templates: dict[str, np.ndarray] = {}
    pickled = folder / "templates.pkl"
    if pickled.exists():
        data = load_numpy_pickle(pickled)
        if not isinstance(data, dict):
            raise DatasetError(f"'{pickled}' should map subject names to (5023, 3) arrays.")
        templates.update({str(name): _as_template(mesh, pickled) for name, mesh in data.items()})
    archive = folder / "templates.npz"
    if archive.exists():
        with np.load(archive, allow_pickle=False) as data:
            templates.update({name: _as_template(data[name], archive) for name in data.files})
    template_dir = folder / "templates"
    if template_dir.is_dir():
        for path in sorted(template_dir.iterdir()):
            if path.suffix.lower() in _TEMPLATE_SUFFIXES:
                templates[path.stem] = read_mesh_vertices(path)
    return templates


def find_vocaset_sequences(folder: Path | str) -> list[VocasetSequence]:
    """Every sentence in a VOCASET folder (either layout), with its template; DatasetError when one is missing."""
    folder = Path(folder)
    templates = load_vocaset_templates(folder)
    if not templates:
        raise DatasetError(
            f"No VOCASET templates in '{folder}': expected templates.pkl, templates.npz or templates/<subject>.ply."
        )
    if (folder / "data_verts.npy").exists():
        return _original_layout_sequences(folder, templates)
    return _per_file_sequences(folder, templates)


def _original_layout_sequences(folder: Path, templates: dict[str, np.ndarray]) -> list[VocasetSequence]:
    index_file = folder / "subj_seq_to_idx.pkl"
    if not index_file.exists():
        raise DatasetError(
            f"'{folder}' has data_verts.npy but no subj_seq_to_idx.pkl, which says which rows belong to which sentence."
        )
    all_vertices = np.load(folder / "data_verts.npy", mmap_mode="r", allow_pickle=False)  # (all frames, V, 3)
    index = load_numpy_pickle(index_file)
    audio_file = folder / "raw_audio_fixed.pkl"
    audio_table = load_numpy_pickle(audio_file) if audio_file.exists() else {}
    sequences = []
    for subject in sorted(index):
        template = _template_for(str(subject), templates, index_file)
        for sentence in sorted(index[subject]):
            frame_to_row = index[subject][sentence]
            rows = np.array([frame_to_row[frame] for frame in sorted(frame_to_row)], dtype=np.int64)
            entry = audio_table.get(subject, {}).get(sentence)
            sequences.append(
                VocasetSequence(
                    subject=str(subject),
                    sentence=str(sentence),
                    template=template,
                    read_vertices=lambda rows=rows: np.asarray(all_vertices[rows]),
                    read_audio=lambda entry=entry: None if entry is None else _pickled_audio(entry, audio_file),
                    has_audio=entry is not None,
                    source=f"{index_file}[{subject}][{sentence}]",
                )  # fmt: skip
            )
    return sequences


def _per_file_sequences(folder: Path, templates: dict[str, np.ndarray]) -> list[VocasetSequence]:
    audio_extensions = {"." + ext for ext in supported_extensions()}
    audio_by_stem: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in audio_extensions:
            audio_by_stem.setdefault(path.stem, []).append(path)
    template_dir = folder / "templates"
    sequences = []
    for path in sorted(folder.rglob("*.npy")):
        if path.stem in _NOT_SEQUENCES or template_dir in path.parents:
            continue
        subject, sentence = _subject_and_sentence(path, templates)
        audio_candidates = audio_by_stem.get(path.stem, [])
        if len(audio_candidates) > 1:
            raise DatasetError(
                f"Several audio files named '{path.stem}' under '{folder}': {audio_candidates}; keep one."
            )
        audio_path = audio_candidates[0] if audio_candidates else None
        sequences.append(
            VocasetSequence(
                subject=subject,
                sentence=sentence,
                template=templates[subject],
                read_vertices=lambda path=path: np.load(path, allow_pickle=False),
                read_audio=lambda audio_path=audio_path, path=path: load_clip_audio(audio_path, path),
                has_audio=audio_path is not None,
                source=str(path),
            )  # fmt: skip
        )
    if not sequences:
        raise DatasetError(f"No VOCASET motion in '{folder}': expected data_verts.npy or per-sentence .npy files.")
    return sequences


def _subject_and_sentence(path: Path, templates: dict[str, np.ndarray]) -> tuple[str, str]:
    prefix, _, sentence = path.stem.rpartition("_")
    if prefix in templates:
        return prefix, sentence
    if path.parent.name in templates:
        return path.parent.name, path.stem
    raise DatasetError(
        f"'{path}': no template for its subject (tried '{prefix}' and '{path.parent.name}'; "
        f"templates exist for {', '.join(sorted(templates))}). Name files <subject>_<sentence>.npy or put them in <subject>/."
    )


def _template_for(subject: str, templates: dict[str, np.ndarray], source: Path) -> np.ndarray:
    if subject not in templates:
        raise DatasetError(
            f"'{source}' lists subject '{subject}' but no template has that name; add templates/{subject}.ply."
        )
    return templates[subject]


def _as_template(mesh, source: Path) -> np.ndarray:
    mesh = np.asarray(mesh, dtype=np.float32)
    if mesh.ndim != 2 or mesh.shape[1] != 3:
        raise DatasetError(f"'{source}': templates must be (vertices, 3) arrays, got shape {mesh.shape}.")
    return mesh


def _pickled_audio(entry, source: Path) -> np.ndarray:
    """VOCASET's {'audio': samples, 'sample_rate': rate} -> 16 kHz mono float32."""
    try:
        samples, rate = np.asarray(entry["audio"]), int(entry["sample_rate"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"'{source}': audio entries need 'audio' and 'sample_rate' ({exc}).") from None
    if np.issubdtype(samples.dtype, np.integer):
        samples = samples.astype(np.float32) / float(np.iinfo(samples.dtype).max + 1)
    samples = samples.astype(np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return np.clip(resample_audio(samples, rate, SAMPLE_RATE), -1.0, 1.0)
