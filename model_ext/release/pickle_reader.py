"""Read one release tensor file (``ckpt-0/tensorNNNNN_000``) without running any pickle code.

The release's files are plain ``pickle.dump`` output, and ``pickle.load`` on a file is arbitrary
code execution: a tampered download could run anything. So this module never unpickles. It walks
the opcodes itself with a small symbolic stack machine that knows only the handful of opcodes and
globals that ``pickle.dump`` emits for a numpy array or a ``__main__.QuantizedWeight8bit``
dataclass (protocols 2 to 5, numpy 1.x or 2.x, ml_dtypes bfloat16), calls none of the globals,
checks the resulting structure, and builds the numpy arrays itself.

The file is streamed rather than loaded whole: large byte strings are only located while walking
and are read afterwards straight into freshly allocated arrays, so a 1.6 GB tensor costs one copy
and its arrays are aligned, writable and own their memory.
"""

from __future__ import annotations

import math
import os
import pickletools
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO, Final

import ml_dtypes
import numpy as np


class CheckpointError(Exception):
    """A release tensor file that cannot be accepted; says which file and why, in plain words."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass
class QuantizedWeight:
    """An int8 matrix [.., in, out] and its bfloat16 scales, as the release stores matrices."""

    weight: np.ndarray
    scales: np.ndarray


def describe(obj: np.ndarray | QuantizedWeight) -> str:
    """Short dtype-and-shape text for messages, e.g. "int8[8,64,128] + bfloat16[8,1,128] scales"."""
    if isinstance(obj, QuantizedWeight):
        return f"{describe(obj.weight)} + {describe(obj.scales)} scales"
    return f"{obj.dtype.name}[{','.join(str(n) for n in obj.shape)}]"


def _walk(f: BinaryIO) -> object:
    """Run the opcode walk over an open release file; its top object, payloads not read."""
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        raise _Reject("empty file")
    return _Machine(f, size).run()


def read_release_tensor(path: str | os.PathLike[str]) -> np.ndarray | QuantizedWeight:
    """Return the float32/int8/bfloat16 array or the QuantizedWeight stored in one release file.

    Raises CheckpointError for anything else: a missing, empty, truncated or non-pickle file, an
    opcode or a global outside what the release uses, a dtype other than int8, float32 or
    bfloat16, a byte count that does not match the shape, or an object of another class.
    """
    try:
        with open(path, "rb") as f:
            return _materialize_top(_walk(f), f)
    except _Reject as e:
        raise CheckpointError(path, e.reason) from None
    except OSError as e:
        raise CheckpointError(path, f"cannot read: {e.strerror or e}") from e


# --- internals --------------------------------------------------------------------------------


class _Reject(Exception):
    """Raised inside the reader; read_release_tensor adds the file name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: The only globals a release file may name, mapped to the role they play here. Both numpy
#: spellings are accepted: the release was written with numpy 1.x (numpy.core), numpy 2 writes
#: numpy._core. _frombuffer is what protocol 5 uses for plain dtypes; _codecs.encode is how
#: protocol 2 spells a bytes object. copyreg never appears: protocols >= 2 use NEWOBJ instead.
_ALLOWED_GLOBALS: Final[dict[tuple[str, str], str]] = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy.core.numeric", "_frombuffer"): "frombuffer",
    ("numpy._core.numeric", "_frombuffer"): "frombuffer",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("ml_dtypes", "bfloat16"): "bfloat16",
    ("__main__", "QuantizedWeight8bit"): "quantized_weight",
    ("_codecs", "encode"): "codecs_encode",
}

#: Stands for the ml_dtypes.bfloat16 global in a dtype; not a code numpy itself would write.
_BFLOAT16_CODE: Final = "<ml_dtypes.bfloat16>"

#: numpy's dtype pickles name builtin types by kind+size and user types (bfloat16) by their
#: scalar type; these are the only ones the release uses.
_DTYPES: Final[dict[str, np.dtype]] = {
    "i1": np.dtype(np.int8),
    "f4": np.dtype(np.float32),
    _BFLOAT16_CODE: np.dtype(ml_dtypes.bfloat16),
}

#: Byte strings up to this size are read while walking (they are names and tiny payloads);
#: longer ones are located and read later straight into their array.
_INLINE_BYTES: Final = 4096

_OPCODE_NAMES: Final[dict[int, str]] = {
    ord(op.code): op.name for op in pickletools.opcodes if len(op.code) == 1
}


@dataclass(frozen=True)
class _Global:
    """A resolved allow-listed global; never imported, only recognised."""

    role: str
    name: str


@dataclass(frozen=True)
class _Blob:
    """A byte string left in the file: ``length`` bytes starting at ``offset``."""

    offset: int
    length: int


@dataclass(eq=False)
class _DType:
    """numpy.dtype(code, align, copy) followed by BUILD with the dtype's state tuple."""

    code: str
    state: tuple[object, ...] | None = None


@dataclass(eq=False)
class _Array:
    """An array under construction: _reconstruct + BUILD, or _frombuffer in one go."""

    shape: object = None
    dtype: object = None
    fortran: object = False
    payload: object = None
    built: bool = False


@dataclass(eq=False)
class _Object:
    """A __main__.QuantizedWeight8bit created by NEWOBJ, its fields set by BUILD."""

    state: dict[str, object] | None = None


def _kind_of(value: object) -> str:
    """Plain-words description of a symbolic value, for messages."""
    if isinstance(value, _Global):
        return value.name
    if isinstance(value, (_Array, _DType)):
        return "a numpy " + ("array" if isinstance(value, _Array) else "dtype")
    if isinstance(value, _Object):
        return "a QuantizedWeight8bit"
    if isinstance(value, (bytes, _Blob)):
        return "bytes"
    if value is None:
        return "None"
    return f"a Python {type(value).__name__}"


class _Machine:
    """Walks the opcodes of one pickle, evaluating only what the release's pickles need."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self._f = f
        self._size = size
        self._pos = 0
        self._stack: list[object] = []
        self._marks: list[int] = []
        self._memo: dict[int, object] = {}
        self._op_pos = 0
        self._opcode = 0
        self._handlers = {
            ord(code): handler
            for code, handler in (
                (b"\x95", self._frame),
                (b"(", self._mark),
                (b")", lambda: self._push(())),
                (b"t", lambda: self._push(tuple(self._pop_mark()))),
                (b"\x85", lambda: self._push_tuple(1)),
                (b"\x86", lambda: self._push_tuple(2)),
                (b"\x87", lambda: self._push_tuple(3)),
                (b"}", lambda: self._push({})),
                (b"s", self._setitem),
                (b"u", self._setitems),
                (b"N", lambda: self._push(None)),
                (b"\x88", lambda: self._push(True)),
                (b"\x89", lambda: self._push(False)),
                (b"J", lambda: self._push(self._unpack("<i", 4))),
                (b"K", lambda: self._push(self._unpack("<B", 1))),
                (b"M", lambda: self._push(self._unpack("<H", 2))),
                (b"\x8a", self._long1),
                (b"\x8c", lambda: self._push(self._text(self._unpack("<B", 1)))),
                (b"X", lambda: self._push(self._text(self._unpack("<I", 4)))),
                (b"C", lambda: self._push(self._bytes(self._unpack("<B", 1)))),
                (b"B", lambda: self._push(self._bytes(self._unpack("<I", 4)))),
                (b"\x8e", lambda: self._push(self._bytes(self._unpack("<Q", 8)))),
                (b"\x96", lambda: self._push(self._bytes(self._unpack("<Q", 8)))),
                (b"\x94", lambda: self._memo.__setitem__(len(self._memo), self._top())),
                (b"q", lambda: self._memo.__setitem__(self._unpack("<B", 1), self._top())),
                (b"r", lambda: self._memo.__setitem__(self._unpack("<I", 4), self._top())),
                (b"h", lambda: self._get(self._unpack("<B", 1))),
                (b"j", lambda: self._get(self._unpack("<I", 4))),
                (b"c", self._global),
                (b"\x93", self._stack_global),
                (b"R", self._reduce),
                (b"\x81", self._newobj),
                (b"b", self._build),
            )
        }

    # -- reading -------------------------------------------------------------------------------

    def _check_room(self, n: int, what: str) -> None:
        # Checked before reading, so that a corrupt length cannot make us allocate gigabytes.
        left = self._size - self._pos
        if n > left:
            raise _Reject(
                f"truncated: {what} at offset {self._op_pos} needs {n} bytes but the file "
                f"ends after {left}"
            )

    def _read(self, n: int, what: str) -> bytes:
        self._check_room(n, what)
        data = self._f.read(n)
        if len(data) != n:
            raise _Reject(
                f"truncated: the file shrank while reading {what} at offset {self._op_pos}"
            )
        self._pos += n
        return data

    def _unpack(self, fmt: str, n: int) -> int:
        return struct.unpack(fmt, self._read(n, self._op_name()))[0]

    def _op_name(self) -> str:
        return _OPCODE_NAMES.get(self._opcode, f"opcode 0x{self._opcode:02x}")

    def _text(self, n: int) -> str:
        try:
            return self._read(n, "string").decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject(f"malformed: invalid UTF-8 string at offset {self._op_pos}") from None

    def _bytes(self, n: int) -> bytes | _Blob:
        if n <= _INLINE_BYTES:
            return self._read(n, "byte string")
        self._check_room(n, "byte string")
        blob = _Blob(self._pos, n)
        self._f.seek(n, os.SEEK_CUR)
        self._pos += n
        return blob

    # -- the stack -----------------------------------------------------------------------------

    def _push(self, value: object) -> None:
        self._stack.append(value)

    def _pop(self) -> object:
        if len(self._stack) <= (self._marks[-1] if self._marks else 0):
            raise _Reject(f"malformed: stack underflow at {self._op_name()}, offset {self._op_pos}")
        return self._stack.pop()

    def _top(self) -> object:
        value = self._pop()
        self._push(value)
        return value

    def _mark(self) -> None:
        self._marks.append(len(self._stack))

    def _pop_mark(self) -> list[object]:
        if not self._marks:
            raise _Reject(f"malformed: {self._op_name()} without MARK at offset {self._op_pos}")
        start = self._marks.pop()
        items = self._stack[start:]
        del self._stack[start:]
        return items

    def _push_tuple(self, n: int) -> None:
        items = [self._pop() for _ in range(n)]
        self._push(tuple(reversed(items)))

    def _get(self, index: int) -> None:
        if index not in self._memo:
            raise _Reject(f"malformed: memo entry {index} read before it was stored")
        self._push(self._memo[index])

    # -- opcodes -------------------------------------------------------------------------------

    def _frame(self) -> None:
        self._check_room(self._unpack("<Q", 8), "FRAME")

    def _long1(self) -> None:
        n = self._unpack("<B", 1)
        self._push(int.from_bytes(self._read(n, "LONG1"), "little", signed=True))

    def _setitem(self) -> None:
        value = self._pop()
        key = self._pop()
        self._set_items(self._top(), [key, value])

    def _setitems(self) -> None:
        items = self._pop_mark()
        self._set_items(self._top(), items)

    def _set_items(self, target: object, items: list[object]) -> None:
        if not isinstance(target, dict) or len(items) % 2:
            raise _Reject(f"malformed: {self._op_name()} on {_kind_of(target)}")
        for key, value in zip(items[::2], items[1::2], strict=True):
            if not isinstance(key, str):
                raise _Reject(f"malformed: dict key of type {_kind_of(key)}")
            target[key] = value

    def _resolve(self, module: str, name: str) -> _Global:
        role = _ALLOWED_GLOBALS.get((module, name))
        if role is None:
            raise _Reject(
                f"refuses global '{module}.{name}' at offset {self._op_pos}: a release tensor "
                "file only names numpy, ml_dtypes and __main__.QuantizedWeight8bit"
            )
        return _Global(role, f"{module}.{name}")

    def _global(self) -> None:
        line = self._f.readline(512)
        second = self._f.readline(512)
        self._pos += len(line) + len(second)
        if not (line.endswith(b"\n") and second.endswith(b"\n")):
            raise _Reject(f"truncated or malformed: GLOBAL at offset {self._op_pos}")
        try:
            module, name = line[:-1].decode("utf-8"), second[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject(f"malformed: GLOBAL at offset {self._op_pos} is not UTF-8") from None
        self._push(self._resolve(module, name))

    def _stack_global(self) -> None:
        name = self._pop()
        module = self._pop()
        if not (isinstance(module, str) and isinstance(name, str)):
            raise _Reject(f"malformed: STACK_GLOBAL at offset {self._op_pos} on non-strings")
        self._push(self._resolve(module, name))

    def _reduce(self) -> None:
        args = self._pop()
        func = self._pop()
        if not isinstance(args, tuple):
            raise _Reject(f"malformed: REDUCE with {_kind_of(args)} arguments")
        role = func.role if isinstance(func, _Global) else None
        if role == "reconstruct":
            # ndarray.__reduce__: _reconstruct(ndarray, (0,), b'b'), then BUILD with the state.
            if not (
                len(args) == 3
                and isinstance(args[0], _Global)
                and args[0].role == "ndarray"
                and args[1] == (0,)
                and args[2] == b"b"
            ):
                raise _Reject("malformed: _reconstruct called with unexpected arguments")
            self._push(_Array())
        elif role == "frombuffer":
            # Protocol 5: _frombuffer(buffer, dtype, shape, order), complete in one call.
            if len(args) != 4:
                raise _Reject("malformed: _frombuffer called with unexpected arguments")
            payload, dtype, shape, order = args
            if order == "F":
                raise _Reject("an array is stored in Fortran order; only C order is accepted")
            if order != "C":
                raise _Reject("malformed: _frombuffer called with an order other than 'C' or 'F'")
            self._push(_Array(shape, dtype, False, payload, built=True))
        elif role == "dtype":
            # numpy.dtype(code, align, copy): code is 'i1', 'f4', ... for builtin types and the
            # scalar type itself (ml_dtypes.bfloat16) for user-defined ones.
            code = args[0] if len(args) == 3 else None
            if isinstance(code, _Global) and code.role == "bfloat16":
                code = _BFLOAT16_CODE
            if not isinstance(code, str):
                raise _Reject("malformed: numpy.dtype called with unexpected arguments")
            self._push(_DType(code))
        elif role == "codecs_encode":
            # Protocol 2 writes bytes as _codecs.encode(text, 'latin1').
            if not (len(args) == 2 and isinstance(args[0], str) and args[1] == "latin1"):
                raise _Reject("malformed: _codecs.encode called with unexpected arguments")
            try:
                self._push(args[0].encode("latin-1"))
            except UnicodeEncodeError:
                raise _Reject("malformed: _codecs.encode of non-latin-1 text") from None
        else:
            raise _Reject(f"malformed: REDUCE may not call {_kind_of(func)}")

    def _newobj(self) -> None:
        args = self._pop()
        cls = self._pop()
        if not (isinstance(cls, _Global) and cls.role == "quantized_weight" and args == ()):
            raise _Reject(f"malformed: NEWOBJ may not create {_kind_of(cls)}")
        self._push(_Object())

    def _build(self) -> None:
        state = self._pop()
        target = self._top()
        if isinstance(target, _DType) and target.state is None and isinstance(state, tuple):
            target.state = state
        elif isinstance(target, _Array) and not target.built:
            # ndarray.__setstate__((version, shape, dtype, is_fortran, raw_bytes))
            if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
                raise _Reject("malformed: numpy array state is not (1, shape, dtype, order, data)")
            _, target.shape, target.dtype, target.fortran, target.payload = state
            target.built = True
        elif isinstance(target, _Object) and target.state is None:
            target.state = _object_state(state)
        else:
            raise _Reject(f"malformed: BUILD on {_kind_of(target)} at offset {self._op_pos}")

    # -- driver --------------------------------------------------------------------------------

    def run(self) -> object:
        """Walk to STOP and return the single symbolic object the pickle builds."""
        self._read_protocol()
        while True:
            self._op_pos = self._pos
            raw = self._f.read(1)
            if not raw:
                raise _Reject(
                    f"truncated: the file ends at offset {self._pos} before the pickle's STOP"
                )
            self._pos += 1
            self._opcode = raw[0]
            if self._opcode == ord("."):
                break
            handler = self._handlers.get(self._opcode)
            if handler is None:
                if self._opcode in _OPCODE_NAMES:
                    what = f"opcode {self._op_name()} (0x{self._opcode:02x})"
                else:
                    what = f"unknown opcode 0x{self._opcode:02x}"
                raise _Reject(f"{what} at offset {self._op_pos} is not used by release files")
            handler()
        result = self._pop()
        if self._stack or self._marks:
            raise _Reject("malformed: values left on the stack at STOP")
        trailing = self._size - self._pos
        if trailing:
            raise _Reject(f"trailing garbage: {trailing} bytes after the pickle's STOP")
        return result

    def _read_protocol(self) -> None:
        head = self._f.read(2)
        if len(head) < 2 or head[0] != 0x80:
            raise _Reject(f"not a pickle of protocol 2-5: it starts with {head!r}, not PROTO")
        self._pos = 2
        if not 2 <= head[1] <= 5:
            raise _Reject(f"pickle protocol {head[1]} is not one the release could have used")


def _object_state(state: object) -> dict[str, object]:
    """A dataclass's BUILD state: its __dict__, or (None, slots) for a slotted dataclass."""
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
        instance_dict, slots = state
        if instance_dict is None:
            return slots
        if isinstance(instance_dict, dict):
            return {**instance_dict, **slots}
    if isinstance(state, dict):
        return state
    raise _Reject(f"malformed: QuantizedWeight8bit state is {_kind_of(state)}, not its fields")


@dataclass(frozen=True)
class ArrayHeader:
    """Dtype and shape of an array in a release file, known without reading its payload."""

    dtype: np.dtype
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ReleaseHeader:
    """What a release file holds: a plain array (scales None) or a QuantizedWeight8bit."""

    weight: ArrayHeader
    scales: ArrayHeader | None

    def describe(self) -> str:
        """Same wording as `describe` of the object itself."""
        text = _header_text(self.weight)
        return text if self.scales is None else f"{text} + {_header_text(self.scales)} scales"


def _header_text(header: ArrayHeader) -> str:
    return f"{header.dtype.name}[{','.join(str(n) for n in header.shape)}]"


def read_release_header(path: str | os.PathLike[str]) -> ReleaseHeader:
    """Dtypes and shapes of one release file, with every check of read_release_tensor except
    reading the payload: a walk over the opcodes that skips the array bytes (cheap for any size).
    """
    try:
        with open(path, "rb") as f:
            top = _walk(f)
            if isinstance(top, _Array):
                dtype, shape, _ = _checked(top, "the array")
                return ReleaseHeader(ArrayHeader(dtype, shape), None)
            weight, scales = _object_fields(top)
            w_dtype, w_shape, _ = _checked(weight, "QuantizedWeight8bit.weight")
            s_dtype, s_shape, _ = _checked(scales, "QuantizedWeight8bit.scales")
            _check_quantized_dtypes(w_dtype, w_shape, s_dtype, s_shape)
            return ReleaseHeader(ArrayHeader(w_dtype, w_shape), ArrayHeader(s_dtype, s_shape))
    except _Reject as e:
        raise CheckpointError(path, e.reason) from None
    except OSError as e:
        raise CheckpointError(path, f"cannot read: {e.strerror or e}") from e


def _object_fields(top: object) -> tuple[object, object]:
    """The (weight, scales) of a QuantizedWeight8bit; anything else is refused."""
    if not isinstance(top, _Object):
        raise _Reject(f"holds {_kind_of(top)}, not a numpy array or a __main__.QuantizedWeight8bit")
    state = top.state
    if state is None:
        raise _Reject("malformed: QuantizedWeight8bit without fields")
    if set(state) != {"weight", "scales"}:
        raise _Reject(
            f"QuantizedWeight8bit has fields {sorted(state)}, expected ['scales', 'weight']"
        )
    return state["weight"], state["scales"]


def _check_quantized_dtypes(
    w_dtype: np.dtype, w_shape: tuple[int, ...], s_dtype: np.dtype, s_shape: tuple[int, ...]
) -> None:
    if w_dtype != np.int8:
        label = _header_text(ArrayHeader(w_dtype, w_shape))
        raise _Reject(f"QuantizedWeight8bit.weight is {label}, expected int8")
    if s_dtype != _DTYPES[_BFLOAT16_CODE]:
        label = _header_text(ArrayHeader(s_dtype, s_shape))
        raise _Reject(f"QuantizedWeight8bit.scales is {label}, expected bfloat16")


def _materialize_top(top: object, f: BinaryIO) -> np.ndarray | QuantizedWeight:
    if isinstance(top, _Array):
        return _materialize(top, f, "the array")
    weight_sym, scales_sym = _object_fields(top)
    weight = _materialize(weight_sym, f, "QuantizedWeight8bit.weight")
    scales = _materialize(scales_sym, f, "QuantizedWeight8bit.scales")
    _check_quantized_dtypes(weight.dtype, weight.shape, scales.dtype, scales.shape)
    return QuantizedWeight(weight, scales)


def _dtype(sym: object, what: str) -> np.dtype:
    if not isinstance(sym, _DType) or sym.state is None:
        raise _Reject(f"malformed: {what} has no complete dtype")
    dtype = _DTYPES.get(sym.code)
    if dtype is None:
        raise _Reject(
            f"{what} has dtype {_dtype_label(sym.code)}; only int8, float32 and bfloat16 are "
            "accepted"
        )
    # dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags[, meta])
    state = sym.state
    if not (len(state) in (8, 9) and state[2] is None and state[3] is None and state[4] is None):
        raise _Reject(f"malformed: {what} has a structured or unexpected dtype state")
    if state[1] == ">":
        raise _Reject(f"{what} is big-endian; only little-endian is accepted")
    if state[1] not in ("<", "|"):
        raise _Reject(f"malformed: {what} has no valid byte order")
    return dtype


def _dtype_label(code: str) -> str:
    """Readable name for a numpy dtype code such as 'f8', without asking numpy to parse it."""
    match = re.fullmatch(r"([fiuc])([0-9]{1,2})", code)
    if match is None:
        return repr(code[:20])
    kind = {"f": "float", "i": "int", "u": "uint", "c": "complex"}[match[1]]
    return f"{kind}{int(match[2]) * 8} ({code!r})"


def _checked(sym: object, what: str) -> tuple[np.dtype, tuple[int, ...], bytes | _Blob]:
    """Dtype, shape and payload of one symbolic array, checked against each other."""
    if not (isinstance(sym, _Array) and sym.built):
        raise _Reject(f"{what} is {_kind_of(sym)}, not a complete numpy array")
    dtype = _dtype(sym.dtype, what)
    shape = sym.shape
    if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
        raise _Reject(f"malformed: {what} has a shape that is not a tuple of sizes")
    if sym.fortran is not False:
        raise _Reject(f"{what} is stored in Fortran order; only C order is accepted")
    payload = sym.payload
    if not isinstance(payload, (bytes, _Blob)):
        raise _Reject(f"malformed: {what} has {_kind_of(payload)} instead of raw bytes")
    have = payload.length if isinstance(payload, _Blob) else len(payload)
    need = math.prod(shape) * dtype.itemsize
    label = f"{dtype.name}[{','.join(str(n) for n in shape)}]"
    if have != need:
        raise _Reject(f"{what} is {label}, which needs {need} bytes, but its payload has {have}")
    return dtype, shape, payload


def _materialize(sym: object, f: BinaryIO, what: str) -> np.ndarray:
    """Check one symbolic array against its payload and read the payload into a new array."""
    dtype, shape, payload = _checked(sym, what)
    out = np.empty(shape, dtype)
    dest = out.reshape(-1).view(np.uint8)
    if isinstance(payload, bytes):
        dest[:] = np.frombuffer(payload, np.uint8)
    else:
        _read_into(f, payload, memoryview(dest))
    return out


def _read_into(f: BinaryIO, blob: _Blob, dest: memoryview) -> None:
    f.seek(blob.offset)
    done = 0
    while done < blob.length:
        n = f.readinto(dest[done:])
        if not n:
            raise _Reject(f"truncated: the file ended while reading the array at {blob.offset}")
        done += n
