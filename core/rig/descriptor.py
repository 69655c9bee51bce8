"""The rig a model speaks, as data: channel names (ordered), a face region and a loss weight per channel, named roles
(which channels open the jaw, seal the lips, close each eyelid...), and for a vertex-basis rig the basis itself.

It travels with a model (TalkerConfig.rig, so in the weights file's "talker_config" metadata) and with every
Animation the model makes, so nothing downstream has to assume ARKit-52:

    rig = ARKIT52                                   # the built-in one, made from core/rig/arkit.py
    rig.role_indices("lower_face", "lip error")     # (n,) channel indices, or a RigError naming what is missing
    RigDescriptor.from_dict(rig.to_dict()) == rig   # equality and `sha256` are over the to_dict content

A vertex-basis rig (e.g. a PCA basis of a dataset's meshes, like the VOCASET importer's) has `basis`
(channels, vertices, 3): the vertex offsets a weight of 1 adds to the rest shape. The importer folds any PCA scale
and offset into the basis and the rest shape, so weights stay in [0, 1] like every other rig's. The add-on writes
such a rig as one shape key per channel (created from the basis when missing) and keys their weights.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from core.rig.arkit import (
    ARKIT_NAMES,
    LIP_APERTURE_TERMS,
    LOWER_FACE_PATTERNS,
    REGION_PATTERNS,
    UPPER_FACE_PATTERNS,
    channels_matching,
)

DESCRIPTOR_FORMAT_VERSION = 1
REGIONS = ("mouth", "jaw", "eyes", "brows", "cheeks", "nose", "tongue", "other")
# What each role means; a metric or layer that needs a role asks for it by name (role_indices) and fails clearly
# on a rig without it.
ROLES: dict[str, str] = {
    "lower_face": "the channels lower-face metrics score (lip error)",
    "upper_face": "the channels upper-face metrics score (upper-face error, dynamics deviation)",
    "jaw_open": "channels whose weight drops the jaw (and the lips with it)",
    "lip_seal": "channels that bring the lips together against an open jaw (ARKit mouthClose)",
    "blink_left": "channels that close the left eyelid",
    "blink_right": "channels that close the right eyelid",
    "wide_left": "channels that widen the left eye (eased off while its lid closes)",
    "wide_right": "channels that widen the right eye (eased off while its lid closes)",
}


class RigError(ValueError):
    """A rig descriptor that is malformed, or lacks what a caller needs; the message says which and what to do."""


@dataclass(frozen=True, eq=False)
class RigDescriptor:
    name: str
    names: tuple[str, ...]  # (channels,) the model's output order
    regions: tuple[str, ...]  # (channels,) one of REGIONS each
    loss_weights: tuple[float, ...]  # (channels,) reconstruction-loss weight of each channel
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # role (ROLES) -> channel names
    # lip aperture = max(0, (sum jaw_open - sum lip_seal)_+ + sum coefficient * weight): see core/rig/lip_measures.py
    lip_aperture_terms: Mapping[str, float] = field(default_factory=dict)
    basis: np.ndarray | None = field(default=None, repr=False)  # (channels, vertices, 3) float32, vertex-basis rigs

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the containers once, here
        set_(self, "names", tuple(str(n) for n in self.names))
        set_(self, "regions", tuple(str(r) for r in self.regions))
        set_(self, "loss_weights", tuple(float(w) for w in self.loss_weights))
        set_(self, "roles", {str(k): tuple(str(n) for n in v) for k, v in dict(self.roles).items()})
        set_(self, "lip_aperture_terms", {str(k): float(v) for k, v in dict(self.lip_aperture_terms).items()})
        where = f"rig '{self.name}'"
        count = len(self.names)
        if not self.name or count == 0:
            raise RigError(f"a rig needs a name and at least one channel (got name {self.name!r}, {count} channels)")
        lowered = [n.lower() for n in self.names]
        repeated = sorted({n for n in self.names if lowered.count(n.lower()) > 1})
        if repeated:
            raise RigError(
                f"{where} names channel(s) {', '.join(repeated)} more than once (names are case-insensitive)"
            )
        if len(self.regions) != count or len(self.loss_weights) != count:
            raise RigError(
                f"{where} has {count} channels but {len(self.regions)} regions and {len(self.loss_weights)} loss "
                "weights; give one of each per channel"
            )
        unknown_regions = sorted(set(self.regions) - set(REGIONS))
        if unknown_regions:
            raise RigError(f"{where}: unknown region(s) {', '.join(unknown_regions)}; use {', '.join(REGIONS)}")
        if not all(np.isfinite(w) and w >= 0 for w in self.loss_weights):
            raise RigError(f"{where}: loss weights must be finite and >= 0, got {self.loss_weights}")
        unknown_roles = sorted(set(self.roles) - set(ROLES))
        if unknown_roles:
            raise RigError(f"{where}: unknown role(s) {', '.join(unknown_roles)}; use {', '.join(ROLES)}")
        named = [n for names in self.roles.values() for n in names] + list(self.lip_aperture_terms)
        strangers = sorted({n for n in named if n.lower() not in lowered})
        if strangers:
            raise RigError(f"{where}: roles or lip-aperture terms name {', '.join(strangers)}, which are not channels")
        if self.basis is not None:
            basis = np.array(self.basis, dtype=np.float32)  # a private, read-only copy
            if basis.ndim != 3 or basis.shape[0] != count or basis.shape[2] != 3 or not np.isfinite(basis).all():
                raise RigError(
                    f"{where}: the vertex basis must be finite (channels={count}, vertices, 3), got {basis.shape}"
                )
            basis.setflags(write=False)
            set_(self, "basis", basis)

    # ---- identity -------------------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Plain JSON-able values (the basis as base64 little-endian float32), what from_dict reads back."""
        basis = None
        if self.basis is not None:
            raw = np.ascontiguousarray(self.basis, dtype="<f4").tobytes()
            basis = {"shape": list(self.basis.shape), "float32_base64": base64.b64encode(raw).decode("ascii")}
        return {
            "format_version": DESCRIPTOR_FORMAT_VERSION,
            "name": self.name,
            "names": list(self.names),
            "regions": list(self.regions),
            "loss_weights": list(self.loss_weights),
            "roles": {role: list(names) for role, names in self.roles.items()},
            "lip_aperture_terms": dict(self.lip_aperture_terms),  # in order: the aperture sums them in this order
            "basis": basis,
        }

    @classmethod
    def from_dict(cls, values: Mapping) -> RigDescriptor:
        values = dict(values)
        version = values.pop("format_version", DESCRIPTOR_FORMAT_VERSION)
        if version != DESCRIPTOR_FORMAT_VERSION:
            raise RigError(
                f"rig descriptor format {version!r} is not {DESCRIPTOR_FORMAT_VERSION}; "
                "update DiffusionTalker to read this model"
            )
        missing = [k for k in ("name", "names", "regions", "loss_weights") if k not in values]
        unknown = sorted(
            set(values) - {"name", "names", "regions", "loss_weights", "roles", "lip_aperture_terms", "basis"}
        )
        if missing or unknown:
            raise RigError(f"not a rig descriptor: missing {missing}, unknown {unknown}")
        basis = values.pop("basis", None)
        if basis is not None:
            try:
                raw = base64.b64decode(basis["float32_base64"], validate=True)
                basis = np.frombuffer(raw, dtype="<f4").reshape(basis["shape"])
            except (KeyError, TypeError, ValueError) as exc:
                raise RigError(f"rig '{values['name']}' has an unreadable vertex basis ({exc})") from None
        return cls(**values, basis=basis)

    @cached_property
    def sha256(self) -> str:
        """Stable content hash: the same descriptor gives the same hex digest on any machine and Python."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RigDescriptor) and self.sha256 == other.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    # ---- lookups --------------------------------------------------------------------------------------------------

    @property
    def num_channels(self) -> int:
        return len(self.names)

    @property
    def is_arkit52(self) -> bool:
        """The ARKit-52 channels in ARKit order (whatever the loss weights): rigs are then mapped by ARKit name."""
        return self.names == ARKIT_NAMES

    @property
    def vertex_count(self) -> int | None:
        """Vertices of the mesh a vertex-basis rig was built for; None for a blendshape rig."""
        return None if self.basis is None else int(self.basis.shape[1])

    @cached_property
    def _index(self) -> dict[str, int]:
        return {n.lower(): i for i, n in enumerate(self.names)}

    def channel_index(self, name: str) -> int:
        """Index of a channel by (case-insensitive) name."""
        try:
            return self._index[name.lower()]
        except KeyError:
            raise RigError(f"rig '{self.name}' has no channel '{name}'") from None

    def indices(self, names: Iterable[str]) -> np.ndarray:
        return np.array([self.channel_index(n) for n in names], dtype=np.int64)

    def has_role(self, role: str) -> bool:
        return bool(self.roles.get(role))

    def role_indices(self, role: str, needed_for: str) -> np.ndarray:
        """(n,) indices of the channels with `role`; a RigError saying `needed_for` cannot run when the rig has none."""
        if role not in ROLES:
            raise KeyError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        if not self.has_role(role):
            raise RigError(
                f"{needed_for} needs the rig's '{role}' channels ({ROLES[role]}), and rig '{self.name}' names none; "
                f"add them to its descriptor's roles, or skip {needed_for} for this rig"
            )
        return self.indices(self.roles[role])


def arkit52_rig(mouth_loss_weight: float = 2.0) -> RigDescriptor:
    """ARKit-52 from core/rig/arkit.py: regions from its region patterns, the lower face (jaw, mouth, cheekPuff,
    tongue) weighted `mouth_loss_weight` in the loss (TalkerConfig's historic default: 2), every other channel 1."""
    lower = set(channels_matching(LOWER_FACE_PATTERNS).tolist())
    regions = []
    for name in ARKIT_NAMES:
        region = next(r for r, pats in REGION_PATTERNS.items() if channels_matching(pats, (name,)).size)
        if region == "cheeks_nose":  # one lockable region in the add-on, two anatomical ones here
            region = "nose" if name.startswith("nose") else "cheeks"
        regions.append(region)
    return RigDescriptor(
        name="arkit52",
        names=ARKIT_NAMES,
        regions=tuple(regions),
        loss_weights=tuple(float(mouth_loss_weight) if i in lower else 1.0 for i in range(len(ARKIT_NAMES))),
        roles={
            "lower_face": tuple(ARKIT_NAMES[i] for i in channels_matching(LOWER_FACE_PATTERNS)),
            "upper_face": tuple(ARKIT_NAMES[i] for i in channels_matching(UPPER_FACE_PATTERNS)),
            "jaw_open": ("jawOpen",),
            "lip_seal": ("mouthClose",),
            "blink_left": ("eyeBlinkLeft",),
            "blink_right": ("eyeBlinkRight",),
            "wide_left": ("eyeWideLeft",),
            "wide_right": ("eyeWideRight",),
        },
        lip_aperture_terms=LIP_APERTURE_TERMS,
    )


ARKIT52 = arkit52_rig()


def model_rig(rig: Mapping | None, mouth_loss_weight: float = 2.0) -> RigDescriptor:
    """The rig of a model config (TalkerConfig.rig): its descriptor, or ARKit-52 for configs that predate rigs."""
    return arkit52_rig(mouth_loss_weight) if rig is None else RigDescriptor.from_dict(rig)
