"""Reading release tensor files without unpickling: genuine formats in, everything else refused."""

from __future__ import annotations

import base64
import collections
import contextlib
import os
import pickle
import pickletools
import random
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from model_ext.release import pickle_writer
from model_ext.release.pickle_reader import (
    CheckpointError,
    QuantizedWeight,
    describe,
    read_release_tensor,
)
from model_ext.release.pickle_writer import write_release_tensor

BF16 = np.dtype(ml_dtypes.bfloat16)

# pickle.dump(obj, f) output of numpy 1.26.4 + ml_dtypes 0.3.2 (Python 3.11), the same stack as
# the release (numpy.core.* module paths). QW is __main__.QuantizedWeight8bit(
# weight=int8 [[-3,-2,-1],[0,1,2]], scales=bfloat16 [[0.5, 1, -2]]); F32 is float32 [1.5,-2.25,3].
NUMPY1_QW = (
    "gASVJQEAAAAAAACMCF9fbWFpbl9flIwTUXVhbnRpemVkV2VpZ2h0OGJpdJSTlCmBlH2UKIwGd2VpZ2h0lIwVbnVtcH"
    "kuY29yZS5tdWx0aWFycmF5lIwMX3JlY29uc3RydWN0lJOUjAVudW1weZSMB25kYXJyYXmUk5RLAIWUQwFilIeUUpQo"
    "SwFLAksDhpRoCYwFZHR5cGWUk5SMAmkxlImIh5RSlChLA4wBfJROTk5K/////0r/////SwB0lGKJQwb9/v8AAQKUdJ"
    "RijAZzY2FsZXOUaAhoC0sAhZRoDYeUUpQoSwFLAUsDhpRoEowJbWxfZHR5cGVzlIwIYmZsb2F0MTaUk5SJiIeUUpQo"
    "SwOMATyUTk5OSwJLAktQdJRiiUMGAD+APwDAlHSUYnViLg=="
)
NUMPY1_F32 = (
    "gASVlAAAAAAAAACMFW51bXB5LmNvcmUubXVsdGlhcnJheZSMDF9yZWNvbnN0cnVjdJSTlIwFbnVtcHmUjAduZGFycm"
    "F5lJOUSwCFlEMBYpSHlFKUKEsBSwOFlGgDjAVkdHlwZZSTlIwCZjSUiYiHlFKUKEsDjAE8lE5OTkr/////Sv////9L"
    "AHSUYolDDAAAwD8AABDAAABAQJR0lGIu"
)

# Builds the sample weight the same way in this process and in the subprocess below.
SAMPLE = """
weight = ((np.arange(2 * 5 * 7) * 37) % 256 - 128).astype(np.int8).reshape(2, 5, 7)
scales = np.linspace(-3.0, 3.0, 14).astype(ml_dtypes.bfloat16).reshape(2, 1, 7)
big = ((np.arange(2 * 200 * 300) * 11) % 256 - 128).astype(np.int8).reshape(2, 200, 300)
big_scales = np.linspace(0.01, 1.0, 600).astype(ml_dtypes.bfloat16).reshape(2, 1, 300)
"""

MAIN_SCRIPT = (
    """
import dataclasses, pickle, sys
import ml_dtypes
import numpy as np

@dataclasses.dataclass
class QuantizedWeight8bit:
    weight: np.ndarray
    scales: np.ndarray
"""
    + SAMPLE
    + """
out = sys.argv[1]
with open(out + "/default.pkl", "wb") as f:
    pickle.dump(QuantizedWeight8bit(weight, scales), f)
with open(out + "/big.pkl", "wb") as f:
    pickle.dump(QuantizedWeight8bit(big, big_scales), f)
for protocol in (2, 3, 4, 5):
    with open(f"{out}/p{protocol}.pkl", "wb") as f:
        pickle.dump(QuantizedWeight8bit(weight, scales), f, protocol=protocol)
"""
)


def _sample() -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {}
    exec(SAMPLE, {"np": np, "ml_dtypes": ml_dtypes}, values)
    return values


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _assert_same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def _assert_same_qw(got: object, weight: np.ndarray, scales: np.ndarray) -> None:
    assert isinstance(got, QuantizedWeight)
    _assert_same_bits(got.weight, weight)
    _assert_same_bits(got.scales, scales)


def _globals(data: bytes) -> list[str]:
    """The 'module.name' globals a pickle references, found by walking its opcodes."""
    pushed: list[object] = []
    memo: dict[int, object] = {}
    found = []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            pushed.append(arg)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1]
        elif op.name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1]
        elif op.name in ("BINGET", "LONG_BINGET"):
            pushed.append(memo[arg])
        elif op.name == "STACK_GLOBAL":
            name, module = pushed.pop(), pushed.pop()
            found.append(f"{module}.{name}")
            pushed.append(None)
        elif op.name == "GLOBAL":
            found.append(arg.replace(" ", "."))
            pushed.append(None)
        else:
            pushed.append(None)
    return found


# --- genuine files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.array([1.5, -2.25, 3.0], np.float32),
        np.arange(40000, dtype=np.float32).reshape(200, 200) / 7,  # > 64 KiB: outside frames
        np.arange(-64, 64, dtype=np.int8).reshape(2, 64),
        np.linspace(-1, 1, 33).astype(ml_dtypes.bfloat16),
        np.zeros((0, 4), np.float32),
    ],
)
def test_writer_reader_round_trip_arrays(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "tensor00001_000"
    write_release_tensor(path, array)
    got = read_release_tensor(path)
    assert isinstance(got, np.ndarray)
    _assert_same_bits(got, array)
    assert got.flags.c_contiguous and got.flags.writeable and got.flags.aligned


def test_writer_reader_round_trip_quantized_weight(tmp_path: Path) -> None:
    s = _sample()
    for name, weight, scales in (
        ("small", s["weight"], s["scales"]),
        ("big", s["big"], s["big_scales"]),
    ):
        path = tmp_path / name
        write_release_tensor(path, QuantizedWeight(weight, scales))
        got = read_release_tensor(path)
        _assert_same_qw(got, weight, scales)
        assert describe(got) == (
            f"int8[{','.join(map(str, weight.shape))}] + "
            f"bfloat16[{','.join(map(str, scales.shape))}] scales"
        )


def test_writer_output_references_release_globals(tmp_path: Path) -> None:
    s = _sample()
    path = tmp_path / "qw"
    had_main_attr = hasattr(sys.modules["__main__"], "QuantizedWeight8bit")
    write_release_tensor(path, QuantizedWeight(s["weight"], s["scales"]))
    assert hasattr(sys.modules["__main__"], "QuantizedWeight8bit") == had_main_attr
    data = path.read_bytes()
    first = next(pickletools.genops(data))
    assert (first[0].name, first[1]) == ("PROTO", 4)
    names = _globals(data)
    assert names[0] == "__main__.QuantizedWeight8bit"
    assert "ml_dtypes.bfloat16" in names
    assert set(names) <= {
        "__main__.QuantizedWeight8bit",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray._reconstruct",
        "numpy.ndarray",
        "numpy.dtype",
        "ml_dtypes.bfloat16",
    }
    assert [p.name for p in tmp_path.iterdir()] == ["qw"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_writer_rejects_dtypes_the_release_lacks(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="float64"):
        write_release_tensor(tmp_path / "x", np.zeros(3))
    with pytest.raises(TypeError, match="scales"):
        write_release_tensor(tmp_path / "x", QuantizedWeight(np.zeros(3, np.int8), np.zeros(3)))
    assert list(tmp_path.iterdir()) == []


def test_reads_plain_pickle_dump_from_a_real_main_module(tmp_path: Path) -> None:
    # A dataclass defined in a real script's __main__ and saved with plain pickle.dump, exactly
    # how the release was written: the strongest check that the format is right.
    script = tmp_path / "make_release_files.py"
    script.write_text(MAIN_SCRIPT)
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, timeout=120)
    s = _sample()
    for name in ("default.pkl", "p2.pkl", "p3.pkl", "p4.pkl", "p5.pkl"):
        _assert_same_qw(read_release_tensor(tmp_path / name), s["weight"], s["scales"])
    _assert_same_qw(read_release_tensor(tmp_path / "big.pkl"), s["big"], s["big_scales"])
    # Our writer produces byte for byte what pickle.dump in a real __main__ produces.
    write_release_tensor(tmp_path / "ours.pkl", QuantizedWeight(s["weight"], s["scales"]))
    assert (tmp_path / "ours.pkl").read_bytes() == (tmp_path / "default.pkl").read_bytes()


def test_reads_numpy1_release_era_pickles(tmp_path: Path) -> None:
    data = base64.b64decode(NUMPY1_QW)
    assert "numpy.core.multiarray._reconstruct" in _globals(data)
    got = read_release_tensor(_write(tmp_path, "qw", data))
    weight = np.array([[-3, -2, -1], [0, 1, 2]], np.int8)
    _assert_same_qw(got, weight, np.array([[0.5, 1.0, -2.0]], BF16))
    got = read_release_tensor(_write(tmp_path, "f32", base64.b64decode(NUMPY1_F32)))
    _assert_same_bits(got, np.array([1.5, -2.25, 3.0], np.float32))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_reads_every_protocol_numpy_writes(tmp_path: Path, protocol: int) -> None:
    for array in (
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.arange(30000, dtype=np.float32),
        np.arange(5000).astype(ml_dtypes.bfloat16),
    ):
        path = _write(tmp_path, "t", pickle.dumps(array, protocol=protocol))
        _assert_same_bits(read_release_tensor(path), array)


# --- bad input --------------------------------------------------------------------------------


def _rejected(path: Path, *fragments: str) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        read_release_tensor(path)
    err = info.value
    assert err.path == str(path)
    assert str(err) == f"{path}: {err.reason}"
    for fragment in fragments:
        assert fragment in err.reason
    return err


class _RunsShell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


@pytest.mark.parametrize("protocol", [2, 4])
def test_refuses_code_execution_global(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsShell(f"touch {marker}"), protocol=protocol)
    path = _write(tmp_path, "tensor00000_000", payload)
    _rejected(path, f"refuses global '{os.system.__module__}.system'")
    assert not marker.exists()
    # Control: the payload is live, so the refusal above is what kept it from running.
    pickle.loads(payload)
    assert marker.exists()


def test_refuses_global_hidden_inside_a_quantized_weight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    monkeypatch.setattr(
        sys.modules["__main__"],
        "QuantizedWeight8bit",
        pickle_writer.QuantizedWeight8bit,
        raising=False,
    )
    evil = pickle_writer.QuantizedWeight8bit(_RunsShell(f"touch {marker}"), np.zeros(3, BF16))
    path = _write(tmp_path, "t", pickle.dumps(evil, protocol=4))
    _rejected(path, "refuses global", ".system'")
    assert not marker.exists()


def test_truncated_file(tmp_path: Path) -> None:
    good = tmp_path / "good"
    write_release_tensor(good, QuantizedWeight(_sample()["weight"], _sample()["scales"]))
    data = good.read_bytes()
    _rejected(_write(tmp_path, "half", data[: len(data) // 2]), "truncated")
    # Every cut, large payload included, is reported as truncation and nothing else.
    big = tmp_path / "big"
    write_release_tensor(big, np.arange(20000, dtype=np.float32))
    big_data = big.read_bytes()
    for cut in [*range(2, len(data)), len(big_data) - 1, len(big_data) - 40000]:
        source = data if cut < len(data) else big_data
        err = _rejected(_write(tmp_path, "cut", source[:cut]), "truncated")
        assert "truncated" in str(err)


def test_empty_file(tmp_path: Path) -> None:
    _rejected(_write(tmp_path, "empty", b""), "empty file")


def test_missing_file(tmp_path: Path) -> None:
    _rejected(tmp_path / "tensor00042_000", "cannot read")


def test_random_bytes(tmp_path: Path) -> None:
    rng = random.Random(1234)
    data = rng.randbytes(4096)
    assert data[0] != 0x80
    _rejected(_write(tmp_path, "noise", data), "not a pickle")
    for _ in range(50):  # noise behind a valid header: some error, always a CheckpointError
        _rejected(_write(tmp_path, "noise", b"\x80\x04" + rng.randbytes(rng.randrange(1, 200))))


def test_corrupted_bytes_only_ever_raise_checkpoint_error(tmp_path: Path) -> None:
    good = tmp_path / "good"
    write_release_tensor(good, QuantizedWeight(_sample()["weight"], _sample()["scales"]))
    data = good.read_bytes()
    for i in range(len(data)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(data)
            bad[i] ^= flip
            with contextlib.suppress(CheckpointError):  # a flip inside a payload still reads
                read_release_tensor(_write(tmp_path, "flip", bytes(bad)))


def test_not_a_protocol_2_to_5_pickle(tmp_path: Path) -> None:
    array = np.zeros(3, np.float32)
    _rejected(_write(tmp_path, "p0", pickle.dumps(array, protocol=0)), "not a pickle")
    _rejected(_write(tmp_path, "p9", b"\x80\x09."), "protocol 9")


def test_unknown_and_unused_opcodes(tmp_path: Path) -> None:
    _rejected(_write(tmp_path, "a", b"\x80\x04\xff."), "unknown opcode 0xff")
    _rejected(_write(tmp_path, "b", b"\x80\x04]."), "opcode EMPTY_LIST")


def test_trailing_garbage(tmp_path: Path) -> None:
    data = pickle.dumps(np.zeros(3, np.float32), protocol=4)
    _rejected(_write(tmp_path, "t", data + b"junk"), "trailing garbage: 4 bytes")


@pytest.mark.parametrize(
    ("array", "fragment"),
    [
        (np.zeros(3), "float64"),
        (np.zeros(3, np.int64), "int64"),
        (np.zeros(3, ">f4"), "big-endian"),
        (np.asfortranarray(np.zeros((2, 3), np.float32)), "Fortran order"),
    ],
)
def test_refuses_arrays_the_release_does_not_have(
    tmp_path: Path, array: np.ndarray, fragment: str
) -> None:
    for protocol in (2, 4, 5):  # protocol 5 takes numpy's _frombuffer path
        _rejected(_write(tmp_path, "t", pickle.dumps(array, protocol=protocol)), fragment)


def test_payload_size_must_match_shape(tmp_path: Path) -> None:
    data = pickle.dumps(np.zeros((2, 3), np.float32), protocol=4)
    shape_ops = b"K\x02K\x03\x86"  # BININT1 2, BININT1 3, TUPLE2
    assert data.count(shape_ops) == 1
    bad = data.replace(shape_ops, b"K\x02K\x04\x86")
    _rejected(_write(tmp_path, "t", bad), "float32[2,4]", "needs 32 bytes", "has 24")


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        ({"weight": 1}, "holds a Python dict"),
        (collections.OrderedDict(a=1), "refuses global 'collections.OrderedDict'"),
        ([np.zeros(2, np.float32)], "opcode EMPTY_LIST"),
    ],
)
def test_refuses_other_objects(tmp_path: Path, obj: object, fragment: str) -> None:
    _rejected(_write(tmp_path, "t", pickle.dumps(obj, protocol=4)), fragment)


def test_quantized_weight_fields_must_be_int8_and_bfloat16(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = pickle_writer.QuantizedWeight8bit
    monkeypatch.setattr(sys.modules["__main__"], "QuantizedWeight8bit", cls, raising=False)
    wrong_weight = cls(np.zeros((2, 3), np.float32), np.zeros((1, 3), BF16))
    _rejected(_write(tmp_path, "a", pickle.dumps(wrong_weight, protocol=4)), "weight is float32")
    wrong_scales = cls(np.zeros((2, 3), np.int8), np.zeros((1, 3), np.float32))
    _rejected(_write(tmp_path, "b", pickle.dumps(wrong_scales, protocol=4)), "scales is float32")
    not_array = cls(np.zeros((2, 3), np.int8), 1)
    _rejected(_write(tmp_path, "c", pickle.dumps(not_array, protocol=4)), "scales is a Python int")
