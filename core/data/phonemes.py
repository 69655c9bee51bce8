"""The ARPAbet phone inventory (39 phones, stress stripped) used for every phone track in this project."""

from __future__ import annotations

SILENCE = "SIL"

VOWELS: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW",
)  # fmt: skip
CONSONANTS: tuple[str, ...] = (
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH",
    "T", "TH", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
ARPABET: tuple[str, ...] = VOWELS + CONSONANTS
assert len(ARPABET) == 39

BILABIALS = ("P", "B", "M")
LABIODENTALS = ("F", "V")
ROUNDED_VOWELS = ("UW", "UH", "OW", "OY", "AO", "AW")
OPEN_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY")


def normalize_arpabet(phone: str) -> str:
    """'ah0' -> 'AH'; silence markers ('pau', 'sil', 'sp', '#', '') -> 'SIL'. Raises ValueError for anything else."""
    p = phone.strip().upper().rstrip("012")
    if p in ("", "PAU", "SIL", "SP", "H#", "#", "_", "BRTH", "NSN"):
        return SILENCE
    if p == "AX":  # schwa in some engines' sets
        return "AH"
    if p == "AXR":
        return "ER"
    if p not in ARPABET:
        raise ValueError(f"'{phone}' is not an ARPAbet phone")
    return p
