"""The CTranslate2 model.bin reader and the Whisper encoder converter, checked against CTranslate2's own runtime."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from core.models.ctranslate2_whisper import (
    CT2FormatError,
    CT2ModelFile,
    load_whisper_encoder,
    whisper_model_files,
)

torch.set_num_threads(1)


def _ct2_string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("<H", len(data)) + data


def _write_ct2_model(path: Path, variables: dict[str, tuple[int, np.ndarray]], aliases: dict[str, str]) -> bytes:
    """A model.bin in CT2's layout (version 6) from (dtype code, array) pairs; returns its bytes."""
    out = struct.pack("<I", 6) + _ct2_string("TestSpec") + struct.pack("<I", 1) + struct.pack("<I", len(variables))
    for name, (code, values) in variables.items():
        raw = values.tobytes()
        out += _ct2_string(name) + struct.pack("<B", values.ndim)
        out += struct.pack(f"<{values.ndim}I", *values.shape) + struct.pack("<B", code) + struct.pack("<I", len(raw))
        out += raw
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += _ct2_string(alias) + _ct2_string(target)
    path.write_bytes(out)
    return out


def _synthetic_variables() -> dict[str, tuple[int, np.ndarray]]:
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((6, 5)).astype(np.float32)
    bfloat16 = (weights.view(np.uint32) >> 16).astype(np.uint16)  # truncation: exactly representable below
    return {
        "a/f32": (0, rng.standard_normal((4, 3)).astype(np.float32)),
        "a/f16": (4, rng.standard_normal((7, 2)).astype(np.float16)),
        "a/bf16": (5, bfloat16),
        "q/weight": (1, rng.integers(-127, 128, size=(3, 4)).astype(np.int8)),
        "q/weight_scale": (0, np.array([2.0, 4.0, 8.0], np.float32)),
        "heads": (2, np.array(6, np.int16)),
    }


def test_reader_parses_tiny_en_header_and_encoder_shapes():
    model = CT2ModelFile(whisper_model_files("tiny.en"))
    assert (model.version, model.model_name, model.revision) == (6, "WhisperSpec", 3)
    assert len(model.variables) == 148
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert model.variables["encoder/conv1/weight"].shape == (384, 80, 3)
    assert model.variables["encoder/position_encodings/encodings"].shape == (1500, 384)
    assert model.variables["encoder/layer_3/self_attention/linear_0/weight"].shape == (3 * 384, 384)
    assert "encoder/layer_4/ffn/linear_0/weight" not in model.variables  # tiny has 4 encoder layers
    conv1 = model.array("encoder/conv1/weight")
    assert conv1.dtype == np.float16 and not conv1.flags.writeable  # a zero-copy view of the mapped file
    assert int(model.array("encoder/num_heads")) == 6
    assert np.isfinite(model.float_array("encoder/conv1/weight")).all()


def test_reader_reads_a_model_split_anywhere_as_one_byte_stream(tmp_path):
    variables = _synthetic_variables()
    data = _write_ct2_model(tmp_path / "whole.bin", variables, {"alias/f32": "a/f32"})
    whole = CT2ModelFile([tmp_path / "whole.bin"])
    for cut in (3, 20, len(data) // 2, len(data) - 5):  # through the header, mid-file and the aliases
        (tmp_path / "p1").write_bytes(data[:cut])
        (tmp_path / "p2").write_bytes(data[cut:])
        split = CT2ModelFile([tmp_path / "p1", tmp_path / "p2"])
        assert split.variables == whole.variables and split.aliases == whole.aliases
        for name, (code, values) in variables.items():
            expected = (values.astype(np.uint32) << 16).view(np.float32) if code == 5 else values
            np.testing.assert_array_equal(split.array(name), expected)
    np.testing.assert_array_equal(whole.array("alias/f32"), variables["a/f32"][1])
    dequantized = whole.float_array("q/weight")  # int8 rows divided by their per-row scale
    np.testing.assert_allclose(dequantized, variables["q/weight"][1] / np.array([[2.0], [4.0], [8.0]]))


def test_reader_reports_a_truncated_file(tmp_path):
    data = _write_ct2_model(tmp_path / "whole.bin", _synthetic_variables(), {})
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(CT2FormatError, match="truncated or a part is missing"):
        CT2ModelFile([tmp_path / "cut.bin"])


def test_unknown_whisper_size_names_the_available_ones():
    with pytest.raises(ValueError, match="tiny.en, base"):
        whisper_model_files("large-v3")


def test_base_model_reads_across_its_two_package_parts():
    parts = whisper_model_files("base")
    assert len(parts) == 2
    model = CT2ModelFile(parts)
    assert len(model.variables) == 212
    boundary = parts[0].stat().st_size
    straddling = [v for v in model.variables.values() if v.offset < boundary < v.offset + v.num_bytes]
    assert len(straddling) == 1  # the packages cut through one weight array
    variable = straddling[0]  # the one array copied out of two mappings equals the bytes on disk
    with open(parts[0], "rb") as first, open(parts[1], "rb") as second:
        first.seek(variable.offset)
        on_disk = first.read() + second.read(variable.offset + variable.num_bytes - boundary)
    assert model.array(variable.name).tobytes() == on_disk
    encoder = load_whisper_encoder("base")
    config = encoder.config
    assert (config.d_model, config.encoder_layers, config.encoder_attention_heads) == (512, 6, 8)
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    assert all(p.dtype == torch.float32 for p in encoder.parameters())


def _speech_like_mel(seconds: float, window_seconds: int = 30) -> np.ndarray:
    """Whisper log-mel of a pitch-gliding, syllable-modulated harmonic tone with noise: (1, 80, window * 100)."""
    from transformers import WhisperFeatureExtractor

    t = np.arange(int(seconds * 16000)) / 16000
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / 16000
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    audio = (0.2 * voiced + 0.01 * np.random.default_rng(1).standard_normal(t.size)).astype(np.float32)
    extractor = WhisperFeatureExtractor(feature_size=80, chunk_length=window_seconds)
    return extractor(audio, sampling_rate=16000, return_tensors="np").input_features.astype(np.float32)


def _ctranslate2_encode(mel: np.ndarray) -> np.ndarray:
    ctranslate2 = pytest.importorskip("ctranslate2", reason="the reference runtime: pip install ctranslate2==4.8.5")
    model_dir = whisper_model_files("tiny.en")[0].parent
    whisper = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32", intra_threads=1)
    return np.array(whisper.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel)), to_cpu=True))


def test_converted_tiny_en_encoder_matches_ctranslate2_runtime():
    mel = _speech_like_mel(4.0)  # (1, 80, 3000)
    reference = _ctranslate2_encode(mel)  # (1, 1500, 384)
    with torch.no_grad():
        ours = load_whisper_encoder("tiny.en")(torch.from_numpy(mel)).last_hidden_state.numpy()
    assert ours.shape == reference.shape == (1, 1500, 384)
    np.testing.assert_allclose(ours, reference, rtol=1e-3, atol=1e-3 * np.abs(reference).max())


def test_shorter_window_encoder_matches_ctranslate2_on_the_same_short_input():
    mel = _speech_like_mel(4.0, window_seconds=10)  # (1, 80, 1000)
    reference = _ctranslate2_encode(mel)  # CTranslate2 slices its position table the same way: (1, 500, 384)
    with torch.no_grad():
        ours = load_whisper_encoder("tiny.en", source_positions=500)(torch.from_numpy(mel)).last_hidden_state.numpy()
    assert ours.shape == reference.shape == (1, 500, 384)
    np.testing.assert_allclose(ours, reference, rtol=1e-3, atol=1e-3 * np.abs(reference).max())
