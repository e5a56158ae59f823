"""Write one safetensors file tensor by tensor, hashing the bytes as they go out.

safetensors' own `save_file` wants every tensor in memory at once and serialises them into one
more buffer; the converter then had to read the file back to hash it. Profiling the conversion
showed those two passes (plus the re-read) as a third of its time. The format is simple (an
8-byte little-endian header length, a JSON header giving each tensor's dtype, shape and byte
range, then the raw bytes), so this writer computes the header from the planned shapes, then
produces one tensor at a time, hashes it and writes it: each byte is hashed once, while it is in
cache, and a shard never needs more memory than its largest tensor. Files are read back by
safetensors itself (tests check that).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import ml_dtypes
import numpy as np

_SAFETENSORS_DTYPES = {
    np.dtype(np.int8): "I8",
    np.dtype(np.int32): "I32",
    np.dtype(np.int64): "I64",
    np.dtype(np.float32): "F32",
    np.dtype(ml_dtypes.bfloat16): "BF16",
}


@dataclass(frozen=True)
class PlannedTensor:
    """A tensor to write: its name, dtype and shape now, its values when `make` is called."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    make: Callable[[], np.ndarray]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _header(tensors: list[PlannedTensor], metadata: dict[str, str]) -> bytes:
    entries: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for t in tensors:
        entries[t.name] = {
            "dtype": _SAFETENSORS_DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + t.nbytes],
        }
        offset += t.nbytes
    raw = json.dumps(entries, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned
    return len(raw).to_bytes(8, "little") + raw


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def write_safetensors(
    path: str | os.PathLike[str], tensors: list[PlannedTensor], metadata: dict[str, str]
) -> tuple[str, int]:
    """Write `tensors` to `path` (created or truncated, mode 0644); returns (sha256, size).

    OSError (a full disk, a file size limit, no permission) propagates to the caller, which
    removes the partial file.
    """
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise ValueError("duplicate tensor names")
    digest = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.fchmod(fd, 0o644)  # serving processes may run as another user; umask aside
        head = memoryview(_header(tensors, metadata))
        digest.update(head)
        _write_all(fd, head)
        size += len(head)
        for t in tensors:
            array = t.make()
            if array.dtype != t.dtype or tuple(array.shape) != t.shape:
                raise ValueError(
                    f"{t.name}: made {array.dtype}{list(array.shape)}, planned "
                    f"{t.dtype}{list(t.shape)}"
                )
            data = memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
            digest.update(data)
            _write_all(fd, data)
            size += len(data)
        # On disk before the caller renames it into place: after a crash, a shard under its
        # final name (which a resumed conversion keeps) is a whole one.
        os.fsync(fd)
    finally:
        os.close(fd)
    return digest.hexdigest(), size
