"""Read the numpy-in-pickle files some datasets ship (VOCASET's templates.pkl, raw_audio_fixed.pkl) safely.

A pickle can run arbitrary code when loaded. This reader allows only what such files need to rebuild numpy
arrays and plain containers (dict, list, tuple, set, numbers, strings); any other class or function in the
stream is refused before it is ever called.
"""

from __future__ import annotations

import codecs
import collections
import pickle
from pathlib import Path
from typing import Any

import numpy as np

try:  # numpy >= 2 moved the array internals; pickles name either location
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray

_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles store raw bytes
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("builtins", "slice"): slice,
    ("__builtin__", "set"): set,  # Python 2 pickles (VOCASET) name builtins this way
    ("__builtin__", "frozenset"): frozenset,
    ("collections", "OrderedDict"): collections.OrderedDict,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED[(_module, "scalar")] = _multiarray.scalar


class UnsafePickleError(ValueError):
    """The pickle asks to build something other than numpy arrays and plain containers."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str) -> None:
        super().__init__(file, encoding="latin1")  # latin1 lets Python 2 numpy pickles load their raw bytes
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise UnsafePickleError(
                f"'{self._source}' wants to load '{module}.{name}', which is not a numpy array or plain container; "
                "refusing to unpickle it. Convert the file to .npz with a trusted tool first."
            )
        return allowed


def load_numpy_pickle(path: Path | str) -> Any:
    """Unpickle a file that holds only numpy arrays and plain containers; UnsafePickleError for anything else."""
    path = Path(path)
    with path.open("rb") as handle:
        try:
            return _NumpyOnlyUnpickler(handle, str(path)).load()
        except UnsafePickleError:
            raise
        except Exception as exc:  # truncated or not a pickle at all
            raise UnsafePickleError(f"'{path}' is not a readable pickle ({type(exc).__name__}: {exc}).") from None
