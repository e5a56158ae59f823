"""Write tensor files in the exact format of the release's ``ckpt-0/``, for tiny test checkpoints.

The release wrote each parameter with a plain ``pickle.dump(obj, f)`` (protocol 4) from a script
run as ``__main__``, so its matrices reference the global ``__main__.QuantizedWeight8bit`` and
their scales the global ``ml_dtypes.bfloat16``. Producing the same bytes here, rather than some
look-alike, is what lets tests trust that the reader and converter handle the real files. The
numpy array reducer's module path follows the installed numpy (``numpy._core`` under numpy 2,
``numpy.core`` under numpy 1.x as in the release); the reader accepts both.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import secrets
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from model_ext.release.pickle_reader import QuantizedWeight

#: What the release pickled with; Python 3.8+ has it as pickle.DEFAULT_PROTOCOL, spelled out so
#: a future default cannot change the files.
RELEASE_PICKLE_PROTOCOL = 4

_ARRAY_DTYPES = (np.dtype(np.float32), np.dtype(np.int8), np.dtype(ml_dtypes.bfloat16))


@dataclass
class QuantizedWeight8bit:
    """Stand-in for the release's own dataclass (model.py), pickled under its name.

    Only the class name, module and field names matter to pickle; its module is set to
    ``__main__`` below because that is what the release's pickles reference.
    """

    weight: np.ndarray
    scales: np.ndarray


QuantizedWeight8bit.__module__ = "__main__"

_main_lock = threading.Lock()


@contextlib.contextmanager
def _registered_in_main() -> Iterator[None]:
    """Make ``__main__.QuantizedWeight8bit`` this class while pickling, then restore it.

    pickle refuses to write a global reference it cannot look up again to the very same object,
    so the name must really exist in ``__main__`` during the dump. The lock keeps concurrent
    writers in this process from restoring each other's state mid-dump.
    """
    main = sys.modules["__main__"]
    missing = object()
    with _main_lock:
        previous = getattr(main, "QuantizedWeight8bit", missing)
        main.QuantizedWeight8bit = QuantizedWeight8bit  # type: ignore[attr-defined]
        try:
            yield
        finally:
            if previous is missing:
                del main.QuantizedWeight8bit  # type: ignore[attr-defined]
            else:
                main.QuantizedWeight8bit = previous  # type: ignore[attr-defined]


def _c_order(array: np.ndarray, what: str, dtypes: tuple[np.dtype, ...]) -> np.ndarray:
    if not isinstance(array, np.ndarray) or array.dtype not in dtypes:
        shown = getattr(array, "dtype", type(array).__name__)
        names = ", ".join(d.name for d in dtypes)
        raise TypeError(f"{what} must be a numpy array of {names}, got {shown}")
    return array if array.flags.c_contiguous else array.copy(order="C")


def write_release_tensor(path: str | os.PathLike[str], obj: np.ndarray | QuantizedWeight) -> None:
    """Write ``obj`` to ``path`` as the release would have: a plain float32 (or int8/bfloat16)
    array, or an int8 weight with bfloat16 scales as a ``__main__.QuantizedWeight8bit``.

    The file appears atomically (temporary file in the same directory, then os.replace), so a
    reader never sees a half-written tensor.
    """
    if isinstance(obj, QuantizedWeight):
        payload: object = QuantizedWeight8bit(
            weight=_c_order(obj.weight, "weight", (np.dtype(np.int8),)),
            scales=_c_order(obj.scales, "scales", (np.dtype(ml_dtypes.bfloat16),)),
        )
    else:
        payload = _c_order(obj, "tensor", _ARRAY_DTYPES)
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{name}.{secrets.token_hex(8)}.tmp")
    # os.open rather than tempfile.mkstemp: mkstemp's 0600 mode would survive the rename, while
    # the release's files (and pickle.dump's) get the usual umask-governed mode.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f, _registered_in_main():
            pickle.dump(payload, f, protocol=RELEASE_PICKLE_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
