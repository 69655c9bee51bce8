"""Weights files: safetensors both ways, checksums checked before parsing, a manifest that refuses what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from core.weights_io import (
    MANIFEST_NAME,
    WeightsError,
    load_listed_weights,
    load_weights,
    read_manifest,
    save_weights,
    sha256_of_file,
    verify_manifest,
    write_manifest,
)


def sample_tensors() -> dict:
    return {
        "a.weight": torch.randn(3, 4),
        "b": np.arange(5, dtype=np.int64),
        "c.mask": np.array([True, False]),
        "d.half": np.ones((2, 2), np.float16),
        "empty": np.zeros((0, 7), np.float32),
    }


def test_round_trip_keeps_values_dtypes_and_metadata(tmp_path):
    tensors = sample_tensors()
    metadata = {"steps": 2, "config": {"width": 48, "names": ["x", "y"]}}
    sha = save_weights(tmp_path / "w.safetensors", tensors, metadata)
    assert sha == sha256_of_file(tmp_path / "w.safetensors")
    loaded, meta = load_weights(tmp_path / "w.safetensors", sha)
    assert meta == metadata
    assert set(loaded) == set(tensors)
    np.testing.assert_array_equal(loaded["a.weight"], tensors["a.weight"].numpy())
    for name in ("b", "c.mask", "d.half", "empty"):
        assert loaded[name].dtype == tensors[name].dtype and loaded[name].shape == tensors[name].shape
        np.testing.assert_array_equal(loaded[name], tensors[name])


def test_files_are_standard_safetensors_both_ways(tmp_path):
    save_weights(tmp_path / "ours.safetensors", {"x": np.eye(3, dtype=np.float32)}, {"k": 1})
    np.testing.assert_array_equal(load_file(tmp_path / "ours.safetensors")["x"], np.eye(3))
    save_file({"y": np.arange(6, dtype=np.float32).reshape(2, 3)}, tmp_path / "theirs.safetensors")
    tensors, metadata = load_weights(tmp_path / "theirs.safetensors")
    np.testing.assert_array_equal(tensors["y"], np.arange(6).reshape(2, 3))
    assert metadata == {}


def test_wrong_checksum_names_file_both_hashes_and_the_fix(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(path, {"x": np.ones(4, np.float32)}, {})
    with pytest.raises(WeightsError) as error:
        load_weights(path, "0" * 64)
    message = str(error.value)
    assert str(path) in message and "0" * 64 in message and sha256_of_file(path) in message
    assert "re-install the extension" in message and "python -m core distill" in message


@pytest.mark.parametrize("keep", [0, 5, 12, -3])
def test_truncated_files_are_refused_clearly(tmp_path, keep):
    path = tmp_path / "w.safetensors"
    save_weights(path, {"x": np.ones(64, np.float32)}, {"a": 1})
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(WeightsError, match="not a valid safetensors file"):
        load_weights(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(WeightsError, match="missing"):
        load_weights(tmp_path / "nope.safetensors")


def test_manifest_round_trip_and_refusals(tmp_path):
    save_weights(tmp_path / "student.safetensors", {"x": np.ones(3, np.float32)}, {})
    (tmp_path / "notes.txt").write_text("hi")
    write_manifest(tmp_path, {"student.safetensors": {"role": "student"}, "notes.txt": {}}, {"eval": {"lve": 0.1}})
    manifest = verify_manifest(tmp_path)
    entry = manifest["files"]["student.safetensors"]
    assert entry["role"] == "student" and entry["bytes"] == (tmp_path / "student.safetensors").stat().st_size
    assert manifest["eval"] == {"lve": 0.1} and manifest["format_version"] == 1
    tensors, _, sha = load_listed_weights(tmp_path, "student.safetensors")
    assert sha == entry["sha256"] and tensors["x"].shape == (3,)

    (tmp_path / "notes.txt").write_text("changed")
    with pytest.raises(WeightsError, match="notes.txt' is corrupt"):
        verify_manifest(tmp_path)
    (tmp_path / "notes.txt").unlink()
    with pytest.raises(WeightsError, match="listed in the manifest but missing"):
        verify_manifest(tmp_path)

    raw = json.loads((tmp_path / MANIFEST_NAME).read_text())
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({**raw, "format_version": 99}))
    with pytest.raises(WeightsError, match="format_version 99.*reads 1"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).unlink()
    with pytest.raises(WeightsError, match="no manifest.json"):
        read_manifest(tmp_path)


def test_manifest_cannot_list_a_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        write_manifest(tmp_path, ["ghost.safetensors"])
