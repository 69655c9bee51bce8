"""Put a dataset's named blendshape columns into ARKit-52 order, reporting what is missing or unknown.

Matching is by name, case-insensitively (Live Link Face writes `EyeBlinkLeft`, BEAT `eyeBlinkLeft`); a channel
order is never assumed. ARKit channels the source lacks are filled with 0 and listed in `missing`; source
columns that are not ARKit channels are listed in `unknown`, never guessed at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.rig.arkit import ARKIT_NAMES, NUM_CHANNELS


@dataclass(frozen=True)
class ChannelMatch:
    source_index: np.ndarray  # (52,) int64: column of the source for each ARKit channel, -1 where missing
    missing: tuple[str, ...]  # ARKit channels the source does not have (filled with 0)
    unknown: tuple[str, ...]  # source columns that are not ARKit channels (ignored)

    def to_arkit(self, values: np.ndarray) -> np.ndarray:
        """(frames, source columns) -> (frames, 52) float32 in ARKit order, 0 where missing."""
        values = np.asarray(values, dtype=np.float32)
        out = np.zeros((values.shape[0], NUM_CHANNELS), dtype=np.float32)
        present = self.source_index >= 0
        out[:, present] = values[:, self.source_index[present]]
        return out


class ChannelNameError(ValueError):
    """The source's channel names cannot be put into ARKit order unambiguously."""


def match_arkit_channels(source_names: Sequence[str], source: str = "the source") -> ChannelMatch:
    """Match `source_names` to the ARKit-52 names (case-insensitive, surrounding whitespace ignored).

    Raises ChannelNameError when two source columns claim the same ARKit channel, or when none match at all
    (then the file almost certainly uses another naming scheme, which needs a name map, not silent zeros).
    """
    arkit_lower = {name.lower(): i for i, name in enumerate(ARKIT_NAMES)}
    source_index = np.full(NUM_CHANNELS, -1, dtype=np.int64)
    unknown: list[str] = []
    for column, raw_name in enumerate(source_names):
        key = str(raw_name).strip().lower()
        arkit = arkit_lower.get(key)
        if arkit is None:
            unknown.append(str(raw_name))
            continue
        if source_index[arkit] >= 0:
            first = source_names[source_index[arkit]]
            raise ChannelNameError(
                f"{source}: columns '{first}' and '{raw_name}' both name ARKit channel '{ARKIT_NAMES[arkit]}'; "
                "remove the duplicate column."
            )
        source_index[arkit] = column
    if not np.any(source_index >= 0):
        preview = ", ".join(str(n) for n in list(source_names)[:6])
        raise ChannelNameError(
            f"{source}: none of its {len(source_names)} channel names is an ARKit-52 blendshape name "
            f"(first ones: {preview}). Rename the columns to ARKit names (eyeBlinkLeft, jawOpen, ...) first."
        )
    missing = tuple(ARKIT_NAMES[i] for i in range(NUM_CHANNELS) if source_index[i] < 0)
    return ChannelMatch(source_index=source_index, missing=missing, unknown=tuple(unknown))
