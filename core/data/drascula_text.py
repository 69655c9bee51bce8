"""The text of each Drascula voice line, read from ScummVM's engine data file `drascula.dat` (package scummvm-data).

Format (written by ScummVM's devtools/create_drascula, version 6; all integers big-endian): "DRASCULA", a version
byte, thirteen numeric tables (a u16 count, then fixed-size records), a u16 language count, then fifteen text
tables. A text table is a u16 string count, then per language a u16 block length, 2 padding bytes and the strings,
each a u16 record length (this u16 included), the NUL-terminated text and zero padding to 4 bytes.

The engine plays voice file <prefix><n>.ALS while showing string n of the prefix's table (engines/drascula/talk.cpp):
'' -> _text (John Hacker), D -> _textd (Drascula; from TEXTD_START on, the blind man), B -> _textb, BJ -> _textbj,
E -> _texte, I -> _texti, L -> _textl, P -> _textp, T -> _textt, VB -> _textvb.
"""

from __future__ import annotations

import struct
from pathlib import Path

LANGUAGES = ("en", "es", "de", "fr", "it")  # the order of the languages in each text table
# Record size in bytes of each numeric table before the texts, in file order.
_NUMERIC_RECORD_BYTES = (4, 4, 4, 2, 4, 2, 4, 2, 2, 20, 20, 10, 8)
# The voice-file prefix of each of the first ten text tables (the rest are menus, history, verbs, lip sync).
_TABLE_PREFIXES = ("", "D", "B", "BJ", "E", "I", "L", "P", "T", "VB")
TEXTD_START = 68  # _textd lines from here on are the blind man's


class DrasculaDataError(ValueError):
    """drascula.dat is not in the expected format."""


def read_text_tables(dat_path: Path) -> list[list[list[str]]]:
    """All text tables of drascula.dat: tables[table][language][index] (strings decoded as latin-1)."""
    data = Path(dat_path).read_bytes()
    if data[:8] != b"DRASCULA":
        raise DrasculaDataError(f"{dat_path} is not a drascula.dat (no DRASCULA header)")
    pos = 9

    def u16() -> int:
        nonlocal pos
        if pos + 2 > len(data):
            raise DrasculaDataError(f"{dat_path} ends early (offset {pos}); is it a newer format than version 6?")
        (value,) = struct.unpack_from(">H", data, pos)
        pos += 2
        return value

    for record_bytes in _NUMERIC_RECORD_BYTES:
        count = u16()  # read before `pos +=`: that would add to the value of pos from before this read
        pos += count * record_bytes
    languages = u16()
    tables = []
    while pos < len(data):
        count = u16()
        per_language = []
        for _ in range(languages):
            u16()  # block length
            pos += 2  # padding
            strings = []
            for _ in range(count):
                record = u16()
                if record < 3 or pos + record - 2 > len(data):
                    raise DrasculaDataError(f"{dat_path}: bad string record at offset {pos - 2}")
                strings.append(data[pos : pos + record - 2].split(b"\0", 1)[0].decode("latin-1"))
                pos += record - 2
            per_language.append(strings)
        tables.append(per_language)
    if len(tables) < len(_TABLE_PREFIXES):
        raise DrasculaDataError(f"{dat_path} holds {len(tables)} text tables; expected at least {len(_TABLE_PREFIXES)}")
    return tables


def drascula_transcripts(dat_path: Path, language: str = "en") -> dict[str, str]:
    """'<prefix><n>' (the voice file <prefix><n>.ALS, e.g. 'VB12') -> the line's text; {} when unreadable."""
    if language not in LANGUAGES:
        return {}
    try:
        tables = read_text_tables(dat_path)
    except (OSError, DrasculaDataError):
        return {}
    lang = LANGUAGES.index(language)
    texts = {}
    for prefix, table in zip(_TABLE_PREFIXES, tables, strict=False):
        for index, text in enumerate(table[lang]):
            if text.strip():
                texts[f"{prefix}{index}"] = text.strip()
    return texts
