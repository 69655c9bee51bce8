"""Match a rig's shape-key names to ARKit-52 channels: exact names, common naming variants, or a JSON preset.

Automatic matching accepts only spellings that are unambiguously an ARKit name:

- case: `JawOpen`, `EYEBLINKLEFT` (Live Link Face capitalises every name);
- separators: `jaw_open`, `jaw-open`, `Jaw Open`, `Mouth_Smile_L`;
- side suffixes: `Left`/`Right` (`_Left`, `.right`, ...) and `_L`/`_R`, `.L`/`.R`, `-L`, ` R` (a separator is required
  before a single letter: `eyeBlinkL` is not matched);
- a prefix ending in `.`, `_`, `:` or `|` (`Face.`, `face_`, `blendShape1.`, `ARKit_`, `bs_`, `Head|`), stripped only
  when what is left matches.

Nothing is guessed: a name that matches no ARKit channel is reported in `ChannelMapping.unmapped`. When two rig keys
match one channel, the closer match wins (exact name > other case > variant > stripped prefix, then rig order)
and the other is reported as unmapped with the reason in `ChannelMapping.conflicts`.

Anything else is mapped by a preset: a JSON file in `core/rig/presets/` (or anywhere, by path):

    {"name": "My rig", "description": "...",
     "map": {"RigKeyName": "jawOpen", "OtherKey": {"arkit": "mouthSmileLeft", "scale": 0.8}, "Unused": null}}

Preset entries win over automatic matches; `null` marks a rig key as deliberately left undriven. Several rig keys
may take one ARKit channel through a preset (e.g. CC's Brow_Raise_Inner_L and _R both from browInnerUp).

A viseme rig (one key per mouth shape) is driven by "mix" entries, a non-negative linear mix of ARKit channels
fitted on the corpus (core/rig/viseme_fit.py): `"viseme_PP": {"mix": {"mouthClose": 1.5, "mouthPressLeft": 0.2}}`.
The shipped viseme presets (oculus_visemes, vrm_visemes) are applied automatically to a rig whose keys spell no
ARKit name but at least three of the preset's keys.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from core.rig.arkit import ARKIT_NAMES, lower_face_indices

PRESETS_DIR = Path(__file__).resolve().parent / "presets"

# Rig keys that are a rest pose, not an expression: neither mapped nor reported.
IGNORED_NAMES = frozenset({"basis", "base", "neutral", "rest", "reference", "default"})

_ARKIT_BY_LOWER = {name.lower(): name for name in ARKIT_NAMES}
_MOUTH_CHANNELS = frozenset(ARKIT_NAMES[i] for i in lower_face_indices())
_SEPARATORS = re.compile(r"[\s_.\-:|]+")
_SIDE_SUFFIX = re.compile(r"(?:[\s_.\-]+(?P<letter>[lr])|(?P<word>left|right))$", re.IGNORECASE)
_PREFIX_END = re.compile(r"[._:|]")

# How close a match is: lower wins a conflict.
_EXACT, _OTHER_CASE, _VARIANT, _PREFIXED, _PRESET = 1, 2, 3, 4, 0
_MATCH_KIND = {_PRESET: "preset", _EXACT: "exact", _OTHER_CASE: "case", _VARIANT: "variant", _PREFIXED: "prefix"}


@dataclass(frozen=True)
class ChannelPair:
    """One rig shape key driven by one ARKit channel: rig value = ARKit weight * scale."""

    rig_name: str
    arkit_name: str
    scale: float = 1.0
    match: str = "exact"  # "exact", "case", "variant", "prefix" or "preset"
    # A preset "mix" entry (viseme rigs): rig value = clip(sum of ARKit weight * w, 0, 1); arkit_name is its largest term.
    mix: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Conflict:
    """A rig key that matched an ARKit channel another rig key already drives; it is left unmapped."""

    rig_name: str
    arkit_name: str
    kept: str  # the rig key that drives the channel
    reason: str


@dataclass(frozen=True)
class ChannelMapping:
    pairs: tuple[ChannelPair, ...]  # in rig order
    unmapped: tuple[str, ...]  # rig keys no ARKit channel drives (no match, or lost a conflict), in rig order
    conflicts: tuple[Conflict, ...] = ()
    ignored: tuple[str, ...] = ()  # rest-pose names (Basis, ...) and keys a preset maps to null
    preset: str | None = None  # the preset's name, when one was used

    def arkit_for(self, rig_name: str) -> str | None:
        return next((p.arkit_name for p in self.pairs if p.rig_name == rig_name), None)

    def rig_keys_for(self, arkit_name: str) -> list[str]:
        return [p.rig_name for p in self.pairs if p.arkit_name.lower() == arkit_name.lower()]

    def missing_arkit_names(self) -> list[str]:
        """ARKit channels that drive no rig key."""
        driven = {p.arkit_name for p in self.pairs}
        return [name for name in ARKIT_NAMES if name not in driven]


@dataclass(frozen=True)
class PresetEntry:
    arkit_name: str | None  # None: leave this rig key undriven
    scale: float = 1.0
    mix: tuple[tuple[str, float], ...] = ()  # a "mix" entry: (ARKit name, weight), largest first


@dataclass(frozen=True)
class MappingPreset:
    name: str
    description: str
    entries: dict[str, PresetEntry]  # rig key name -> entry
    path: Path


def arkit_name_for(rig_name: str) -> str | None:
    """The ARKit channel a rig key name unambiguously spells, or None (see the module docstring)."""
    found = _automatic_match(rig_name)
    return found[0] if found else None


def map_channel_names(rig_names: list[str] | tuple[str, ...], preset: str | Path | None = None) -> ChannelMapping:
    """Map rig shape-key names onto ARKit channels (a preset first, then automatic matching).

    `preset` is a preset name from `list_presets()` or a path to a .json file. A bad preset raises
    FileNotFoundError, KeyError or ValueError whose message says what is wrong and how to fix it.
    """
    if not preset:
        preset = _viseme_preset_for(rig_names)
    loaded = load_preset(preset) if preset else None
    preset_by_name = _preset_lookup(loaded, rig_names) if loaded else {}

    ignored: list[str] = []
    candidates: list[tuple[int, int, ChannelPair]] = []  # (rank, rig order, pair)
    unmatched: set[str] = set()
    for order, rig_name in enumerate(rig_names):
        entry = preset_by_name.get(rig_name)
        if entry is not None:
            if entry.arkit_name is None:
                ignored.append(rig_name)
            else:
                pair = ChannelPair(rig_name, entry.arkit_name, entry.scale, "preset", entry.mix)
                candidates.append((_PRESET, order, pair))
            continue
        if _normalise(rig_name) in IGNORED_NAMES:
            ignored.append(rig_name)
            continue
        found = _automatic_match(rig_name)
        if found is None:
            unmatched.add(rig_name)
        else:
            arkit, rank = found
            candidates.append((rank, order, ChannelPair(rig_name, arkit, 1.0, _MATCH_KIND[rank])))

    # Best match per channel wins; preset pairs never conflict with each other (several rig keys may share one).
    kept: dict[str, ChannelPair] = {}
    accepted: set[str] = set()
    conflicts: list[Conflict] = []
    for rank, _, pair in sorted(candidates, key=lambda c: (c[0], c[1])):
        winner = kept.get(pair.arkit_name)
        if winner is None or (rank == _PRESET and winner.match == "preset"):
            kept.setdefault(pair.arkit_name, pair)
            accepted.add(pair.rig_name)
            continue
        why = "a preset entry" if winner.match == "preset" else f"a closer match ({winner.match})"
        conflicts.append(
            Conflict(
                pair.rig_name,
                pair.arkit_name,
                winner.rig_name,
                f"'{pair.rig_name}' also matches {pair.arkit_name}, which '{winner.rig_name}' already drives "
                f"({why}); rename one of them or map '{pair.rig_name}' explicitly in a preset",
            )
        )
    lost = {c.rig_name for c in conflicts}
    return ChannelMapping(
        pairs=tuple(pair for _, _, pair in sorted(candidates, key=lambda c: c[1]) if pair.rig_name in accepted),
        unmapped=tuple(name for name in rig_names if name in unmatched or name in lost),
        conflicts=tuple(sorted(conflicts, key=lambda c: list(rig_names).index(c.rig_name))),
        ignored=tuple(ignored),
        preset=loaded.name if loaded else None,
    )


def _viseme_preset_for(rig_names: list[str] | tuple[str, ...]) -> str | None:
    """A shipped viseme preset (one with "mix" entries) for a rig with no ARKit-named mouth or jaw key but at least
    three keys that preset knows (viseme_PP..., aa ih ou..., Fcl_MTH_A...): viseme rigs work without choosing a
    preset. A rig with ARKit mouth keys (Ready Player Me has both) is driven by those instead."""
    matched = (_automatic_match(name) for name in rig_names)
    if any(found and found[0] in _MOUTH_CHANNELS for found in matched):
        return None
    best, best_count = None, 2
    for preset in list_presets():
        if not any(entry.mix for entry in preset.entries.values()):
            continue
        known = {key.lower() for key, entry in preset.entries.items() if entry.arkit_name is not None}
        count = sum(name.lower() in known for name in rig_names)
        if count > best_count:
            best, best_count = preset.path.stem, count
    return best


def _automatic_match(rig_name: str) -> tuple[str, int] | None:
    """(ARKit name, rank) for a rig key, trying the whole name and then ever shorter prefix-stripped tails."""
    if rig_name in ARKIT_NAMES:
        return rig_name, _EXACT
    if rig_name.lower() in _ARKIT_BY_LOWER:
        return _ARKIT_BY_LOWER[rig_name.lower()], _OTHER_CASE
    arkit = _ARKIT_BY_LOWER.get(_normalise(rig_name))
    if arkit is not None:
        return arkit, _VARIANT
    for cut in _PREFIX_END.finditer(rig_name):
        tail = rig_name[cut.end() :]
        arkit = _ARKIT_BY_LOWER.get(_normalise(tail)) if tail else None
        if arkit is not None:
            return arkit, _PREFIXED
    return None


def _normalise(name: str) -> str:
    """Lower case, no separators, side spelled out: 'Eye_Blink_L' -> 'eyeblinkleft'."""
    side = ""
    m = _SIDE_SUFFIX.search(name)
    if m and m.start() > 0:
        side = "left" if (m["letter"] or m["word"]).lower().startswith("l") else "right"
        name = name[: m.start()]
    return _SEPARATORS.sub("", name).lower() + side


def _preset_lookup(preset: MappingPreset, rig_names: list[str] | tuple[str, ...]) -> dict[str, PresetEntry]:
    """Rig name -> preset entry; preset keys match rig names exactly, else case-insensitively."""
    by_lower = {key.lower(): entry for key, entry in preset.entries.items()}
    found = {}
    for rig_name in rig_names:
        entry = preset.entries.get(rig_name, by_lower.get(rig_name.lower()))
        if entry is not None:
            found[rig_name] = entry
    return found


def list_presets() -> list[MappingPreset]:
    """The presets shipped in core/rig/presets/, by name (malformed files are skipped here; load_preset explains)."""
    presets = []
    for path in sorted(PRESETS_DIR.glob("*.json")):
        try:
            presets.append(load_preset(path))
        except (ValueError, KeyError):
            continue
    return presets


def preset_names() -> list[str]:
    return [path.stem for path in sorted(PRESETS_DIR.glob("*.json"))]


def load_preset(preset: str | Path) -> MappingPreset:
    """Read and validate a preset given by name (a file stem in core/rig/presets/) or by path to a .json file."""
    path = _preset_path(preset)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"preset file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); fix the file"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"preset file {path} is not UTF-8 text; save it as UTF-8 JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("map"), dict):
        raise ValueError(
            f'preset file {path} must be a JSON object with a "map" object, e.g. '
            '{"name": "My rig", "map": {"Mouth_Open": "jawOpen"}}'
        )
    for field_name in ("name", "description"):
        if field_name in data and not isinstance(data[field_name], str):
            raise ValueError(f'preset file {path}: "{field_name}" must be a string')
    entries = {str(rig_key): _parse_entry(path, str(rig_key), value) for rig_key, value in data["map"].items()}
    return MappingPreset(
        name=data.get("name") or path.stem, description=data.get("description", ""), entries=entries, path=path
    )


def _preset_path(preset: str | Path) -> Path:
    text = str(preset).strip()
    if isinstance(preset, Path) or text.lower().endswith(".json") or "/" in text or "\\" in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"preset file {path} does not exist; check the path (or use a preset name)")
        return path
    path = PRESETS_DIR / f"{text}.json"
    if not path.is_file():
        available = ", ".join(preset_names()) or "(none)"
        raise KeyError(f"there is no mapping preset named '{text}'; use one of: {available}, or a path to a .json file")
    return path


def _parse_mix(where: str, value: dict) -> PresetEntry:
    """{"mix": {"mouthClose": 1.5, "mouthPressLeft": 0.2}}: a non-empty map of ARKit names to positive weights."""
    if set(value) != {"mix"} or not isinstance(value["mix"], dict) or not value["mix"]:
        raise ValueError(
            f'{where}: a mix entry is {{"mix": {{"jawOpen": 0.7, "mouthLowerDownLeft": 0.3}}}}, nothing else'
        )
    terms = []
    for name, weight in value["mix"].items():
        arkit = _ARKIT_BY_LOWER.get(str(name).strip().lower())
        if arkit is None:
            raise ValueError(f"{where}: '{name}' in the mix is not an ARKit-52 blendshape name")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight <= 0:
            raise ValueError(f"{where}: the mix weight of {name} must be a positive number, not {weight!r}")
        terms.append((arkit, float(weight)))
    terms.sort(key=lambda term: -term[1])
    return PresetEntry(terms[0][0], 1.0, tuple(terms))


def _parse_entry(path: Path, rig_key: str, value: object) -> PresetEntry:
    where = f"preset file {path}, entry '{rig_key}'"
    if value is None:
        return PresetEntry(None)
    scale: object = 1.0
    if isinstance(value, dict) and "mix" in value:
        return _parse_mix(where, value)
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"arkit", "scale"})
        if unknown:
            raise ValueError(f'{where}: unknown field(s) {", ".join(unknown)}; an entry has only "arkit" and "scale"')
        if "arkit" not in value:
            raise ValueError(f'{where}: missing "arkit", e.g. {{"arkit": "jawOpen", "scale": 0.8}}')
        scale = value.get("scale", 1.0)
        value = value["arkit"]
    if not isinstance(value, str):
        raise ValueError(f'{where}: the ARKit channel must be a name like "jawOpen" (or null), not {value!r}')
    arkit = _ARKIT_BY_LOWER.get(value.strip().lower())
    if arkit is None:
        raise ValueError(
            f"{where}: '{value}' is not an ARKit-52 blendshape name; use one of the names in core/rig/arkit.py "
            "(e.g. jawOpen, mouthSmileLeft, eyeBlinkRight)"
        )
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"{where}: scale must be a positive number (1.0 = unchanged), not {scale!r}")
    return PresetEntry(arkit, float(scale))
