"""Fit a mapping from ARKit-52 weights to a viseme rig's keys (Oculus / Ready Player Me, VRM / VRoid) on phone-labelled
clips, and write it as a name-mapping preset with "mix" entries (core/rig/name_mapping.py).

A viseme rig has one key per mouth shape (`viseme_PP`, `aa`, `Fcl_MTH_A`...) instead of muscles. The model speaks
ARKit, so each viseme key is driven by a non-negative linear mix of ARKit channels:

    viseme value (frames,) = clip(weights (frames, 52) @ mix (52,), 0, 1)

The mix is fitted by non-negative least squares from the corpus's ARKit weights to "one-hot-ish" viseme targets:
each frame's phone (the clip's `phones`, `phone_times`) names its viseme, one-hot, smoothed over ~40 ms because
mouths move between phones. Non-negative weights keep the mix readable (viseme_PP = mostly mouthClose, mouthPress,
mouthRoll) and stop a key from being driven negative. Silence maps to no viseme (all keys 0, the rest pose).

    python -m core rig fit-visemes --data data/corpus --holdout-voice piper_joe
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.rig.arkit import ARKIT_NAMES, lower_face_indices

OCULUS_VISEMES = ("viseme_sil", "viseme_PP", "viseme_FF", "viseme_TH", "viseme_DD", "viseme_kk", "viseme_CH",
                  "viseme_SS", "viseme_nn", "viseme_RR", "viseme_aa", "viseme_E", "viseme_I", "viseme_O", "viseme_U")  # fmt: skip
# ARPAbet phone (the corpus's labels) -> Oculus viseme (its published phoneme table).
PHONE_TO_OCULUS = {
    "SIL": "viseme_sil",
    **dict.fromkeys(("P", "B", "M"), "viseme_PP"),
    **dict.fromkeys(("F", "V"), "viseme_FF"),
    **dict.fromkeys(("TH", "DH"), "viseme_TH"),
    **dict.fromkeys(("T", "D"), "viseme_DD"),
    **dict.fromkeys(("K", "G", "NG", "HH"), "viseme_kk"),
    **dict.fromkeys(("CH", "JH", "SH", "ZH"), "viseme_CH"),
    **dict.fromkeys(("S", "Z"), "viseme_SS"),
    **dict.fromkeys(("N", "L"), "viseme_nn"),
    **dict.fromkeys(("R", "ER"), "viseme_RR"),
    **dict.fromkeys(("AA", "AE", "AH", "AW", "AY"), "viseme_aa"),
    **dict.fromkeys(("EH", "EY"), "viseme_E"),
    **dict.fromkeys(("IH", "IY", "Y"), "viseme_I"),
    **dict.fromkeys(("AO", "OW", "OY"), "viseme_O"),
    **dict.fromkeys(("UW", "UH", "W"), "viseme_U"),
}
# VRM 1.0 vowel expressions (aa ih ou ee oh); consonants and silence are the closed or neutral mouth (no key).
VRM_VOWELS = ("aa", "ih", "ou", "ee", "oh")
PHONE_TO_VRM = {
    **dict.fromkeys(("AA", "AE", "AH", "AW", "AY"), "aa"),
    **dict.fromkeys(("IH", "IY", "Y"), "ih"),
    **dict.fromkeys(("UW", "UH", "W"), "ou"),
    **dict.fromkeys(("EH", "EY", "ER"), "ee"),
    **dict.fromkeys(("AO", "OW", "OY"), "oh"),
}
# The same five vowels under their VRM 0.x / VRoid Studio names.
VRM_ALIASES = {
    "aa": ("A", "Fcl_MTH_A"),
    "ih": ("I", "Fcl_MTH_I"),
    "ou": ("U", "Fcl_MTH_U"),
    "ee": ("E", "Fcl_MTH_E"),
    "oh": ("O", "Fcl_MTH_O"),
}
SMOOTH_SECONDS = 0.04  # target smoothing: mouths move between phones
MIN_WEIGHT = 0.005  # mix entries below this are dropped from the preset


@dataclass(frozen=True)
class VisemeFit:
    visemes: tuple[str, ...]
    mix: np.ndarray  # (visemes, 52) non-negative
    frames: int  # training frames


def viseme_targets(
    phones: list[str], phone_times: np.ndarray, frames: int, fps: float, table: dict[str, str], visemes: tuple[str, ...]
) -> np.ndarray:
    """(frames, visemes) one-hot per frame from the phone at its time, smoothed by SMOOTH_SECONDS."""
    targets = np.zeros((frames, len(visemes)), dtype=np.float64)
    seconds = np.arange(frames) / fps
    column = {name: i for i, name in enumerate(visemes)}
    for phone, (start, end) in zip(phones, phone_times, strict=True):
        viseme = table.get(str(phone).upper().rstrip("012"))
        if viseme is not None:
            targets[(seconds >= start) & (seconds < end), column[viseme]] = 1.0
    sigma = SMOOTH_SECONDS * fps
    taps = np.arange(-int(3 * sigma) - 1, int(3 * sigma) + 2)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    return np.stack([np.convolve(targets[:, i], kernel, mode="same") for i in range(len(visemes))], axis=1)


def nonnegative_least_squares(a: np.ndarray, b: np.ndarray, ridge: float = 1e-3, sweeps: int = 2000) -> np.ndarray:
    """argmin_{x >= 0} |a x - b|^2 + ridge |x|^2 for a (n, k), b (n, m): (k, m), by cyclic coordinate descent."""
    gram = a.T @ a + ridge * len(a) * np.eye(a.shape[1])  # (k, k)
    rhs = a.T @ b  # (k, m)
    x = np.zeros((a.shape[1], b.shape[1]))
    diagonal = np.diag(gram)
    for _ in range(sweeps):
        previous = x.copy()
        for i in range(a.shape[1]):
            residual = rhs[i] - gram[i] @ x + diagonal[i] * x[i]
            x[i] = np.maximum(residual / diagonal[i], 0.0)
        if np.abs(x - previous).max() < 1e-7:
            break
    return x


def fit_visemes(clips: list[dict], table: dict[str, str], visemes: tuple[str, ...]) -> VisemeFit:
    """Fit the mix on clips (dicts with weights (T, 52) in ARKit order, fps, phones, phone_times)."""
    inputs, targets = [], []
    for clip in clips:
        weights = np.asarray(clip["weights"], dtype=np.float64)
        inputs.append(weights)
        targets.append(viseme_targets(clip["phones"], clip["phone_times"], len(weights), clip["fps"], table, visemes))
    a, b = np.concatenate(inputs), np.concatenate(targets)
    mouth = lower_face_indices()  # visemes are mouth shapes: eyes and brows must not drive them
    mix = np.zeros((len(visemes), len(ARKIT_NAMES)))
    mix[:, mouth] = nonnegative_least_squares(a[:, mouth], b).T
    mix[[visemes.index(name) for name in visemes if name.endswith("sil")]] = 0.0  # silence is the rest pose
    return VisemeFit(visemes, mix, len(a))


def apply_mix(weights: np.ndarray, mix: np.ndarray) -> np.ndarray:
    """(frames, 52) ARKit weights -> (frames, visemes) key values."""
    return np.clip(weights @ mix.T, 0.0, 1.0)


def bilabial_dominance(clips: list[dict], fit: VisemeFit, closed: str) -> float:
    """Share of bilabial (P/B/M) phones on which the `closed` key dominates the other mouth-shape keys at some frame
    of the phone (or the mouth is at rest: no key above 0.1), over clips."""
    column = fit.visemes.index(closed)
    hits, total = 0, 0
    for clip in clips:
        values = apply_mix(np.asarray(clip["weights"], dtype=np.float64), fit.mix)
        seconds = np.arange(len(values)) / clip["fps"]
        for phone, (start, end) in zip(clip["phones"], clip["phone_times"], strict=True):
            if str(phone) not in ("P", "B", "M"):
                continue
            during = (seconds >= start - 1.5 / clip["fps"]) & (seconds <= end + 1.5 / clip["fps"])
            if not during.any():
                continue
            total += 1
            others = np.delete(values[during], [column] + _silence_columns(fit.visemes), axis=1)
            ok = (values[during, column] >= others.max(axis=1)) | (others.max(axis=1) < 0.1)
            hits += bool(ok.any())
    return hits / max(total, 1)


def _silence_columns(visemes: tuple[str, ...]) -> list[int]:
    return [i for i, name in enumerate(visemes) if name.endswith("sil")]


def load_clips(data: Path, voices: list[str] | None = None, exclude: list[str] | None = None) -> list[dict]:
    """Phone-labelled clips of a corpus (`clips/<voice>/<id>.npz`), in ARKit order."""
    clips = []
    for path in sorted(Path(data).glob("clips/*/*.npz")):
        voice = path.parent.name
        if (voices and voice not in voices) or (exclude and voice in exclude):
            continue
        with np.load(path, allow_pickle=False) as stored:
            if "phones" not in stored.files:
                continue
            names = [str(n) for n in stored["names"]] if "names" in stored.files else list(ARKIT_NAMES)
            order = [names.index(name) for name in ARKIT_NAMES]
            clips.append(
                {
                    "weights": stored["weights"][:, order],
                    "fps": float(stored["fps"]),
                    "phones": [str(p) for p in stored["phones"]],
                    "phone_times": stored["phone_times"],
                    "voice": voice,
                }
            )
    if not clips:
        raise FileNotFoundError(f"no phone-labelled clips under {data}/clips/<voice>/*.npz; generate a corpus first")
    return clips


def preset_json(name: str, description: str, fit: VisemeFit, aliases: dict[str, tuple[str, ...]] | None = None,
                extra: dict | None = None) -> dict:  # fmt: skip
    """A name-mapping preset: each viseme key (and its aliases) -> {"mix": {arkit: weight}}; `extra` entries added."""
    entries: dict[str, object] = {}
    for viseme, row in zip(fit.visemes, fit.mix, strict=True):
        mix = {ARKIT_NAMES[i]: round(float(row[i]), 3) for i in np.argsort(-row) if row[i] >= MIN_WEIGHT}
        entry = {"mix": mix} if mix else None  # no channel predicts it (silence): left undriven
        for key in (viseme, *(aliases or {}).get(viseme, ())):
            entries[key] = entry
    entries.update(extra or {})
    return {"name": name, "description": description, "map": entries}


def fit_and_write_presets(data: Path, holdout_voice: str, out_dir: Path) -> dict[str, object]:
    """Fit the Oculus and VRM presets on all voices but `holdout_voice`; report bilabial dominance on it."""
    train = load_clips(data, exclude=[holdout_voice])
    held = load_clips(data, voices=[holdout_voice])
    report: dict[str, object] = {"train_clips": len(train), "heldout_clips": len(held), "heldout_voice": holdout_voice}
    oculus = fit_visemes(train, PHONE_TO_OCULUS, OCULUS_VISEMES)
    report["oculus_pp_dominates_on_heldout_bilabials"] = bilabial_dominance(held, oculus, "viseme_PP")
    vrm = fit_visemes(train, PHONE_TO_VRM, VRM_VOWELS)
    report["vrm_mouth_at_rest_or_closed_on_heldout_bilabials"] = _vrm_closed_share(held, vrm)
    source = f"fitted by `python -m core rig fit-visemes` on {len(train)} corpus clips ({oculus.frames} frames)"
    documents = {
        "oculus_visemes": preset_json(
            "Oculus / Ready Player Me visemes",
            "Drives the 15 Oculus visemes (viseme_sil ... viseme_U, as on Ready Player Me avatars) from the model's "
            f"ARKit weights through non-negative mixes {source}; viseme_sil is left at 0 (the rest pose).",
            oculus,
        ),
        "vrm_visemes": preset_json(
            "VRM / VRoid vowels",
            "Drives the five VRM 1.0 vowels (aa ih ou ee oh; VRM 0.x A I U E O; VRoid Fcl_MTH_A ...) from the model's "
            f"ARKit weights through non-negative mixes {source}; consonants and silence are the closed mouth. Blinks "
            "map to the ARKit blinks; the emotion keys (happy, angry, sad, relaxed, surprised) are left alone.",
            vrm,
            VRM_ALIASES,
            extra={
                "blink": {"mix": {"eyeBlinkLeft": 0.5, "eyeBlinkRight": 0.5}},
                "Blink": {"mix": {"eyeBlinkLeft": 0.5, "eyeBlinkRight": 0.5}},
                "blinkLeft": "eyeBlinkLeft",
                "blinkRight": "eyeBlinkRight",
                "Fcl_EYE_Close": {"mix": {"eyeBlinkLeft": 0.5, "eyeBlinkRight": 0.5}},
                "Fcl_EYE_Close_L": "eyeBlinkLeft",
                "Fcl_EYE_Close_R": "eyeBlinkRight",
                **dict.fromkeys(("happy", "angry", "sad", "relaxed", "surprised", "neutral"), None),
            },
        ),
    }
    for stem, document in documents.items():
        (Path(out_dir) / f"{stem}.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    report["written"] = [str(Path(out_dir) / f"{stem}.json") for stem in documents]
    return report


def _vrm_closed_share(clips: list[dict], fit: VisemeFit) -> float:
    """VRM has no closed-mouth key: share of bilabial phones where every vowel key falls below 0.2 at some frame."""
    hits, total = 0, 0
    for clip in clips:
        values = apply_mix(np.asarray(clip["weights"], dtype=np.float64), fit.mix)
        seconds = np.arange(len(values)) / clip["fps"]
        for phone, (start, end) in zip(clip["phones"], clip["phone_times"], strict=True):
            if str(phone) in ("P", "B", "M"):
                during = (seconds >= start - 1.5 / clip["fps"]) & (seconds <= end + 1.5 / clip["fps"])
                if during.any():
                    total += 1
                    hits += bool((values[during].max(axis=1) < 0.2).any())
    return hits / max(total, 1)


def fit_from_preset(preset: str, visemes: tuple[str, ...]) -> VisemeFit:
    """The mixes a shipped (or any) preset gives `visemes`, as a VisemeFit (rows of zeros for undriven keys)."""
    from core.rig.name_mapping import load_preset

    entries = load_preset(preset).entries
    mix = np.zeros((len(visemes), len(ARKIT_NAMES)))
    for row, viseme in enumerate(visemes):
        entry = entries.get(viseme)
        for name, weight in entry.mix if entry is not None else ():
            mix[row, ARKIT_NAMES.index(name)] = weight
    return VisemeFit(visemes, mix, 0)
