"""Model weights on disk: safetensors files (never pickle) with a sha256 manifest.

Files are read and written here in plain Python + numpy (no torch, no `safetensors` package), so the same code runs
in a stock Blender. The layout is the standard safetensors one, readable by `safetensors.numpy.load_file`:

    8 bytes   little-endian u64 N, the header length
    N bytes   JSON header: {"<tensor name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
                            "__metadata__": {"diffusiontalker": "<our metadata, JSON-encoded>"}}
              padded with spaces to a multiple of 8
    data      the tensors' little-endian bytes, back to back in name order

Our metadata (any JSON-serialisable dict: configs, step counts, ...) is stored JSON-encoded under the one metadata key
`METADATA_KEY`, since safetensors metadata values must be strings.

A weights folder holds `manifest.json`:

    {"format_version": 1,
     "files": {"student.safetensors": {"sha256": "...", "bytes": 123, ...per-file extras}, ...},
     ...extras (config, corpus hash, eval metrics, training command)}

Loading checks a file's sha256 against the manifest BEFORE parsing it: a corrupt, truncated, swapped or foreign file
gives a `WeightsError` that names the file and says how to fix it; nothing half-loaded ever reaches a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

METADATA_KEY = "diffusiontalker"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT_VERSION = 1

FIX_HINT = "re-install the extension, or rerun `python -m core distill` to write the weights again"

_DTYPES = {  # safetensors dtype name -> numpy dtype (little-endian)
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}  # fmt: skip
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}
_MAX_HEADER_BYTES = 100 * 1024 * 1024


class WeightsError(ValueError):
    """Weights that cannot be used; the message names the file, what is wrong and what to do."""


def sha256_of_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- one safetensors file ---------------------------------------------------------------------------------------


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        value = value.contiguous().numpy()
    array = np.ascontiguousarray(np.asarray(value))
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array


def encode_safetensors(tensors: Mapping[str, object], metadata: Mapping | None = None) -> bytes:
    """The bytes of a safetensors file holding `tensors` (name -> torch tensor or numpy array) and our metadata."""
    header: dict[str, object] = {}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        array = _as_numpy(tensors[name])
        dtype = _NAMES.get(array.dtype)
        if dtype is None:
            raise TypeError(f"tensor {name!r} has dtype {array.dtype}, which safetensors cannot store here")
        data = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = {METADATA_KEY: json.dumps(dict(metadata or {}), sort_keys=True)}
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


def decode_safetensors(data: bytes, source: str = "weights") -> tuple[dict[str, np.ndarray], dict]:
    """(tensors, our metadata) of safetensors bytes; WeightsError for anything malformed or truncated."""

    def broken(why: str) -> WeightsError:
        return WeightsError(f"{source} is not a valid safetensors file ({why}); {FIX_HINT}")

    if len(data) < 8:
        raise broken(f"only {len(data)} bytes")
    (header_length,) = struct.unpack("<Q", data[:8])
    if header_length > min(len(data) - 8, _MAX_HEADER_BYTES):
        raise broken(f"header of {header_length} bytes in a {len(data)}-byte file: truncated?")
    try:
        header = json.loads(data[8 : 8 + header_length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise broken(f"unreadable header: {exc}") from None
    if not isinstance(header, dict):
        raise broken("the header is not a JSON object")
    raw_metadata = header.pop("__metadata__", None) or {}
    body = memoryview(data)[8 + header_length :]
    tensors: dict[str, np.ndarray] = {}
    end_of_data = 0
    for name, entry in header.items():
        try:
            dtype = np.dtype(_DTYPES[entry["dtype"]])
            shape = tuple(int(s) for s in entry["shape"])
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise broken(f"bad entry for tensor {name!r}: {entry!r}") from None
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if not 0 <= begin <= end <= len(body) or end - begin != expected:
            raise broken(f"tensor {name!r} needs bytes {begin}..{end} of {len(body)}: truncated?")
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).copy()
        end_of_data = max(end_of_data, end)
    if end_of_data != len(body):
        raise broken(f"{len(body) - end_of_data} stray bytes after the last tensor")
    try:
        metadata = json.loads(raw_metadata.get(METADATA_KEY, "{}"))
    except (AttributeError, json.JSONDecodeError) as exc:
        raise broken(f"unreadable {METADATA_KEY!r} metadata: {exc}") from None
    return tensors, metadata


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_weights(path: Path | str, tensors: Mapping[str, object], metadata: Mapping | None = None) -> str:
    """Write `tensors` (name -> torch tensor or numpy array) + `metadata` as safetensors, atomically; returns its sha256."""
    data = encode_safetensors(tensors, metadata)
    _write_atomically(Path(path), data)
    return hashlib.sha256(data).hexdigest()


def load_weights(path: Path | str, expected_sha256: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """(tensors as numpy arrays, metadata) of a file written by `save_weights`.

    With `expected_sha256` the file's hash is checked before anything is parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file '{path}' is missing; {FIX_HINT}")
    data = path.read_bytes()
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise WeightsError(
                f"weights file '{path}' is corrupt or not the one the manifest lists: sha256 {actual}, "
                f"expected {expected_sha256}; {FIX_HINT}"
            )
    return decode_safetensors(data, source=f"weights file '{path}'")


# ---- the manifest -------------------------------------------------------------------------------------------------


def write_manifest(
    weights_dir: Path | str, files: Mapping[str, Mapping] | Iterable[str], extra: Mapping | None = None
) -> Path:
    """Write `weights_dir/manifest.json` listing `files` (names in weights_dir) with their sha256 and size.

    files: names, or name -> per-file extras (e.g. {"role": "student"}) kept beside "sha256" and "bytes".
    extra: top-level entries (config, corpus hash, eval metrics, training command), any JSON.
    """
    weights_dir = Path(weights_dir)
    per_file = dict(files) if isinstance(files, Mapping) else {name: {} for name in files}
    listed = {}
    for name, details in sorted(per_file.items()):
        path = weights_dir / name
        if not path.is_file():
            raise WeightsError(f"cannot list '{name}' in the manifest: '{path}' does not exist")
        listed[name] = {**dict(details or {}), "sha256": sha256_of_file(path), "bytes": path.stat().st_size}
    extra = dict(extra or {})
    clashes = {"format_version", "files"} & set(extra)
    if clashes:
        raise ValueError(f"manifest extras may not be named {sorted(clashes)}")
    manifest = {"format_version": MANIFEST_FORMAT_VERSION, "files": listed, **extra}
    target = weights_dir / MANIFEST_NAME
    _write_atomically(target, (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode("utf-8"))
    return target


def read_manifest(weights_dir: Path | str) -> dict:
    """The parsed `weights_dir/manifest.json`, checked for format_version and file entries (not the hashes)."""
    path = Path(weights_dir) / MANIFEST_NAME
    if not path.is_file():
        raise WeightsError(f"no {MANIFEST_NAME} in '{weights_dir}': these are not installed model weights; {FIX_HINT}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"'{path}' is not valid JSON ({exc}); {FIX_HINT}") from None
    if not isinstance(manifest, dict):
        raise WeightsError(f"'{path}' is not a JSON object; {FIX_HINT}")
    version = manifest.get("format_version")
    if version != MANIFEST_FORMAT_VERSION:
        raise WeightsError(
            f"'{path}' has format_version {version!r}; this version of DiffusionTalker reads "
            f"{MANIFEST_FORMAT_VERSION}. Install the extension version that matches these weights, or {FIX_HINT}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(entry, dict) and isinstance(entry.get("sha256"), str) for entry in files.values()
    ):
        raise WeightsError(f"'{path}' has no valid \"files\" table (name -> sha256, bytes); {FIX_HINT}")
    return manifest


def manifest_sha256(manifest: Mapping, name: str, weights_dir: Path | str = "") -> str:
    """The sha256 the manifest lists for `name`; WeightsError if it lists none."""
    entry = manifest["files"].get(name)
    if entry is None:
        listed = ", ".join(sorted(manifest["files"])) or "nothing"
        raise WeightsError(f"the manifest in '{weights_dir}' does not list '{name}' (it lists {listed}); {FIX_HINT}")
    return entry["sha256"]


def load_listed_weights(weights_dir: Path | str, name: str, manifest: Mapping | None = None):
    """`load_weights(weights_dir / name)` checked against the manifest's sha256: (tensors, metadata, sha256)."""
    manifest = read_manifest(weights_dir) if manifest is None else manifest
    expected = manifest_sha256(manifest, name, weights_dir)
    tensors, metadata = load_weights(Path(weights_dir) / name, expected)
    return tensors, metadata, expected


def verify_manifest(weights_dir: Path | str) -> dict:
    """Check every file the manifest lists exists and has its sha256; returns the manifest."""
    manifest = read_manifest(weights_dir)
    for name, entry in manifest["files"].items():
        path = Path(weights_dir) / name
        if not path.is_file():
            raise WeightsError(f"'{path}' is listed in the manifest but missing; {FIX_HINT}")
        actual = sha256_of_file(path)
        if actual != entry["sha256"]:
            raise WeightsError(
                f"weights file '{path}' is corrupt or not the one the manifest lists: sha256 {actual}, "
                f"expected {entry['sha256']}; {FIX_HINT}"
            )
    return manifest
