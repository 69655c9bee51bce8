"""Vertex positions of a template mesh from .ply (ascii or binary), .obj, .npy or .npz: (vertices, 3) float32.

Only positions are read; faces and other attributes are skipped, since motion lives on the vertices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.datasets.imported_clip import DatasetError

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


def read_mesh_vertices(path: Path | str) -> np.ndarray:
    """(vertices, 3) float32 positions of a .ply/.obj mesh or a .npy/.npz array (npz: its only array)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".ply":
        vertices = _read_ply_vertices(path)
    elif suffix == ".obj":
        vertices = _read_obj_vertices(path)
    elif suffix in (".npy", ".npz"):
        vertices = _read_array(path)
    else:
        raise DatasetError(f"'{path}': templates must be .ply, .obj, .npy or .npz, not '{suffix}'.")
    vertices = np.asarray(vertices, dtype=np.float32)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or vertices.shape[0] == 0:
        raise DatasetError(f"'{path}': expected (vertices, 3) positions, got shape {vertices.shape}.")
    return vertices


def _read_obj_vertices(path: Path) -> np.ndarray:
    rows = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("v "):
                rows.append([float(x) for x in line.split()[1:4]])
    return np.array(rows, dtype=np.float32).reshape(-1, 3)


def _read_array(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        return np.load(path, allow_pickle=False)
    with np.load(path, allow_pickle=False) as data:
        if len(data.files) != 1:
            raise DatasetError(
                f"'{path}' holds {len(data.files)} arrays ({', '.join(data.files)}); a template npz needs exactly one."
            )
        return data[data.files[0]]


def _read_ply_vertices(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise DatasetError(f"'{path}' is not a .ply file (no 'ply' magic or 'end_header').")
    header = raw[:end].decode("ascii", errors="replace").splitlines()
    body_start = raw.index(b"\n", end) + 1
    encoding = next((line.split()[1] for line in header if line.startswith("format")), "")
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []  # (name, count, [(property name, type)])
    for line in header:
        words = line.split()
        if words[:1] == ["element"]:
            elements.append((words[1], int(words[2]), []))
        elif words[:1] == ["property"] and elements:
            is_list = words[1] == "list"
            elements[-1][2].append((words[-1], "list" if is_list else words[1]))

    if encoding == "ascii":
        lines = raw[body_start:].decode("ascii", errors="replace").splitlines()
        line_at = 0
        for name, count, props in elements:
            if name == "vertex":
                columns = [i for i, (prop, _) in enumerate(props) if prop in ("x", "y", "z")]
                return np.array(
                    [[float(lines[line_at + r].split()[c]) for c in columns] for r in range(count)], dtype=np.float32
                )
            line_at += count
        raise DatasetError(f"'{path}' has no vertex element.")

    byte_order = {"binary_little_endian": "<", "binary_big_endian": ">"}.get(encoding)
    if byte_order is None:
        raise DatasetError(f"'{path}': unknown .ply format '{encoding}'.")
    offset = body_start
    for name, count, props in elements:
        if any(kind == "list" for _, kind in props):
            if name == "vertex":
                raise DatasetError(f"'{path}': vertex element with list properties is not supported.")
            raise DatasetError(
                f"'{path}': element '{name}' comes before the vertices and has variable size; re-save the mesh with vertices first."
            )
        dtype = np.dtype([(prop, byte_order + _PLY_TYPES[kind]) for prop, kind in props])
        if name == "vertex":
            table = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
            return np.stack([table["x"], table["y"], table["z"]], axis=1).astype(np.float32)
        offset += dtype.itemsize * count
    raise DatasetError(f"'{path}' has no vertex element.")
