"""Training configs from plain values (a JSON file + `--set` overrides): one dataclass, nested specs by field name."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def config_from_values(cls: type, values: dict[str, Any], nested: dict[str, type]) -> Any:
    """`cls(**values)`, building the `nested` fields (name -> dataclass) from dicts; unknown keys are an error."""
    values = dict(values)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; valid keys: {sorted(known)}")
    for name, spec in nested.items():
        if isinstance(values.get(name), dict):
            values[name] = spec(**values[name])
    return cls(**values)
