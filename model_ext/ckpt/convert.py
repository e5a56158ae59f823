"""Convert the release's `ckpt-0/` into a directory vLLM loads, keeping the int8 weights.

Why it is built this way:
- The release files are pickles; they are read by `model_ext.release.pickle_reader`, which walks
  the opcodes and never runs them.
- File i is the i-th parameter in sorted-path order, so layers come in lexicographic order of
  their number; `model_ext.release.layout` owns that mapping, and names here are per layer.
- Shapes come from the tensors (the release has no config file); every other field from Grok-1's
  defaults, overridden by a JSON file. A tiny model converts with the same command.
- Every file's header (class, dtypes, shapes; the payload is skipped) is checked before anything
  is written, so a foreign or mis-shaped file fails in seconds, not after hours.
- Matrices are stored as W8A16 groups where a group size vLLM serves divides their scale blocks,
  else int8 with the release's block scales (`model_ext.int8_weights.plan_storage`).
- One shard per decoder layer (plus one for the embedding), converted by a pool of worker
  processes (one per core by default: the transposes, packing and hashing are CPU work), each
  written atomically, hashed while written, and recorded in a progress file by the parent, so an
  interrupted conversion resumes with the unfinished shards.
- Every failure, including a full or unwritable output disk, is a ConversionError whose message
  names the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from tqdm import tqdm

from model_ext.ckpt import names
from model_ext.ckpt.expected import TensorSpec, compare, expected_tensors
from model_ext.ckpt.shard_writer import PlannedTensor, write_safetensors
from model_ext.ckpt.tokenizer_files import write_tokenizer
from model_ext.config import ARCHITECTURE, GROK1_DEFAULTS, MODEL_TYPE
from model_ext.int8_weights import (
    BLOCK_INT8_SUFFIX,
    BLOCK_SCALE_SUFFIX,
    PACKED_SUFFIX,
    SCALE_SUFFIX,
    SHAPE_SUFFIX,
    StoragePlan,
    block_scales,
    compressed_tensors_config,
    family_rows_per_block,
    group_scales,
    pack_int8,
    plan_for_shape,
    transposed_int8,
)
from model_ext.release.layout import (
    SCALE_ROW_BLOCKS,
    ReleaseDims,
    expected_shapes,
    num_layers_from_file_count,
    param_spec,
    tensor_file_name,
)
from model_ext.release.pickle_reader import (
    CheckpointError,
    QuantizedWeight,
    ReleaseHeader,
    describe,
    read_release_header,
    read_release_tensor,
)

logger = logging.getLogger(__name__)

PROGRESS_FILE = ".grok-ckpt-progress.json"
INDEX_FILE = "model.safetensors.index.json"
# Shape-derived config fields: an override may restate them but not contradict the tensors.
SHAPE_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "num_experts",
)
# Fields fixed by what the converter writes; an override may not change them.
FIXED_FIELDS = ("tie_word_embeddings", "pad_token_id", "bos_token_id", "eos_token_id")

# Config fields accepted in --config beyond Grok-1's own (they go to config.json unchanged).
_PASSTHROUGH = frozenset({"torch_dtype", "architectures"})

# Which storage family each release matrix kind belongs to (see int8_weights.FAMILY_IGNORE).
_FAMILY = {
    "q_proj": "qkv",
    "k_proj": "qkv",
    "v_proj": "qkv",
    "o_proj": "o_proj",
    "moe_gate_proj": "experts",
    "moe_up_proj": "experts",
    "moe_down_proj": "experts",
}


class ConversionError(Exception):
    """A source that cannot be converted; the message says which file and why."""


@dataclass
class ConvertResult:
    """What a conversion did, for the CLI and the benchmark."""

    out_dir: Path
    shards_written: int
    shards_resumed: int
    source_bytes: int
    plan: StoragePlan
    rows_per_block: dict[str, list[int]]


def default_workers() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def find_ckpt_dir(src: Path) -> Path:
    """SRC may be the release directory (holding `ckpt-0/`) or `ckpt-0/` itself."""
    for candidate in (src / "ckpt-0", src):
        if candidate.is_dir() and (candidate / tensor_file_name(0)).exists():
            return candidate
    raise ConversionError(
        f"{src}: no release checkpoint here (expected {src}/ckpt-0/tensor00000_000)"
    )


def list_release_files(ckpt: Path) -> list[Path]:
    """The tensor files in index order; a gap, a stray file or a wrong count is an error."""
    names_present = sorted(p.name for p in ckpt.iterdir() if p.name.startswith("tensor"))
    stray = [n for n in names_present if not re.fullmatch(r"tensor\d{5}_000", n)]
    if stray:
        raise ConversionError(f"{ckpt / stray[0]}: not a release tensor file name")
    indices = {int(n[6:11]) for n in names_present}
    missing = sorted(set(range(max(indices, default=-1) + 1)) - indices)
    if missing:
        shown = ", ".join(tensor_file_name(i) for i in missing[:3])
        raise ConversionError(f"{ckpt}: {len(missing)} tensor files missing ({shown})")
    try:
        num_layers_from_file_count(len(indices))
    except ValueError as exc:
        raise ConversionError(f"{ckpt}: {exc}; files missing at the end?") from None
    return [ckpt / tensor_file_name(i) for i in range(len(indices))]


def _fingerprint(files: list[Path]) -> list[list[Any]]:
    """Name, size and mtime of source files: a resumed shard must come from the same sources."""
    return [[f.name, f.stat().st_size, int(f.stat().st_mtime)] for f in files]


def _read_header(path: Path) -> ReleaseHeader:
    try:
        return read_release_header(path)
    except CheckpointError as exc:
        raise ConversionError(str(exc)) from None


def _want_text(weight_shape: tuple[int, ...], scales_shape: tuple[int, ...] | None) -> str:
    if scales_shape is None:
        return f"float32{list(weight_shape)}"
    return f"int8{list(weight_shape)} + bfloat16{list(scales_shape)} scales"


def _header_matches(
    header: ReleaseHeader, weight_shape: tuple[int, ...], scales_shape: tuple[int, ...] | None
) -> bool:
    if scales_shape is None:
        return (
            header.scales is None
            and header.weight.dtype == np.float32
            and (header.weight.shape == tuple(weight_shape))
        )
    return header.scales is not None and (header.weight.shape, header.scales.shape) == (
        tuple(weight_shape),
        tuple(scales_shape),
    )


# -- the work of one shard, run in a worker process --------------------------------------------


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs to write one shard (picklable: it crosses processes)."""

    name: str
    layer: int | None
    files: tuple[tuple[int, str], ...]  # (release index, path)
    num_layers: int
    dims: ReleaseDims
    plan: StoragePlan
    out: str


def _planned(name: str, array: np.ndarray) -> PlannedTensor:
    return PlannedTensor(name, array.dtype, tuple(array.shape), lambda: array)


def _matrix_tensors(
    module: str, weight: np.ndarray, scales: np.ndarray, family: str, plan: StoragePlan
) -> list[PlannedTensor]:
    """One release matrix [in, out] + scales [blocks, out] -> the tensors of its stored form.

    The transposed copies are made only when the writer reaches them, one at a time.
    """
    in_f, out_f = weight.shape
    blocks = scales.shape[0]
    if family in plan.block_exact:
        return [
            PlannedTensor(
                module + BLOCK_INT8_SUFFIX,
                np.dtype(np.int8),
                (out_f, in_f),
                lambda: transposed_int8(weight),
            ),
            PlannedTensor(
                module + BLOCK_SCALE_SUFFIX,
                scales.dtype,
                (out_f, blocks),
                lambda: block_scales(scales),
            ),
        ]
    group = plan.group_size
    return [
        PlannedTensor(
            module + PACKED_SUFFIX,
            np.dtype(np.int32),
            (out_f, in_f // 4),
            lambda: pack_int8(weight.T),
        ),
        PlannedTensor(
            module + SCALE_SUFFIX,
            scales.dtype,
            (out_f, in_f // group),
            lambda: group_scales(scales, in_f, group),
        ),
        _planned(module + SHAPE_SUFFIX, np.array([out_f, in_f], dtype=np.int64)),
    ]


def _layer_tensors(job: ShardJob, objs: dict[str, Any]) -> list[PlannedTensor]:
    assert job.layer is not None
    prefix = names.layer_prefix(job.layer)
    tensors: list[PlannedTensor] = []
    for kind, obj in objs.items():
        if kind in names.ATTENTION_MODULES:
            module = names.attention_module(job.layer, kind)
            tensors += _matrix_tensors(module, obj.weight, obj.scales, _FAMILY[kind], job.plan)
        elif kind in names.EXPERT_MODULES:
            for expert in range(obj.weight.shape[0]):
                module = names.expert_module(job.layer, kind, expert)
                tensors += _matrix_tensors(
                    module, obj.weight[expert], obj.scales[expert], _FAMILY[kind], job.plan
                )
        elif kind in names.NORMS:
            tensors.append(_planned(prefix + names.NORMS[kind], obj))
        elif kind == "router":
            tensors.append(
                PlannedTensor(
                    prefix + names.ROUTER,
                    obj.dtype,
                    obj.shape[::-1],
                    lambda obj=obj: np.ascontiguousarray(obj.T),
                )
            )
        else:
            raise AssertionError(f"unhandled release kind {kind}")
    return tensors


def _read_checked(path: Path, kind_path: str, shapes: tuple[Any, Any]) -> Any:
    """Read one release file and check it still has the class, dtype and shape its position
    requires (the headers were checked up front; this catches a file changed since)."""
    try:
        obj = read_release_tensor(path)
    except CheckpointError as exc:
        raise ConversionError(str(exc)) from None
    weight_shape, scales_shape = shapes
    if scales_shape is None:
        ok = isinstance(obj, np.ndarray) and obj.dtype == np.float32
        ok = ok and tuple(obj.shape) == tuple(weight_shape)
    else:
        ok = isinstance(obj, QuantizedWeight) and tuple(obj.weight.shape) == tuple(weight_shape)
        ok = ok and tuple(obj.scales.shape) == tuple(scales_shape)
    if not ok:
        raise ConversionError(
            f"{path}: holds {describe(obj)}, but {kind_path} must be "
            f"{_want_text(weight_shape, scales_shape)}"
        )
    return obj


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn a failed write into one line naming the file: an ENOSPC from `write()` carries no
    file name of its own, and the disk can fill on any file, not only on a shard. A partial
    file is removed (it would only take room from the rerun)."""
    try:
        yield
    except OSError as exc:
        if path.suffix == ".partial":
            path.unlink(missing_ok=True)
        where = exc.filename or path
        raise ConversionError(f"{where}: cannot write ({exc.strerror or exc})") from None


def _write_json(path: Path, obj: Any, indent: int = 1, sort_keys: bool = False) -> None:
    with _writing(path):
        path.write_text(json.dumps(obj, indent=indent, sort_keys=sort_keys))


def convert_shard(job: ShardJob) -> dict[str, Any]:
    """Read a shard's release files, write the shard atomically; returns its progress record.

    Runs in a worker process; every failure comes back as a ConversionError naming the file.
    """
    torch.set_num_threads(1)  # one worker per core already
    objs: dict[str, Any] = {}
    for index, path in job.files:
        spec = param_spec(index, job.num_layers)
        objs[spec.kind] = _read_checked(Path(path), spec.path, expected_shapes(spec.kind, job.dims))
    if job.layer is None:
        tensors = [
            _planned(names.EMBEDDING, objs["embedding"]),
            _planned(names.FINAL_NORM, objs["final_norm"]),
        ]
    else:
        tensors = _layer_tensors(job, objs)
    out = Path(job.out)
    tmp = out / f".{job.name}.partial"
    with _writing(tmp):
        digest, size = write_safetensors(tmp, tensors, {"format": "pt"})
        os.replace(tmp, out / job.name)
    return {"sha256": digest, "size": size, "tensors": sorted(t.name for t in tensors)}


class _Shard:
    """One output shard: which release files go in and what it is called."""

    def __init__(self, name: str, layer: int | None, file_indices: list[int]) -> None:
        self.name = name
        self.layer = layer
        self.file_indices = file_indices


def _check_override_types(overrides: dict[str, Any]) -> None:
    """Each override must have the type of Grok-1's default it replaces (ints may stand for
    floats), so a typo fails here rather than when an engine reads config.json."""
    for field, value in overrides.items():
        default = GROK1_DEFAULTS.get(field)
        if default is None:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, type(default))
        if not ok:
            positive = " (must be positive)" if type(default) is int else ""
            raise ConversionError(
                f"config overrides: {field}={value!r} is not a valid "
                f"{type(default).__name__}{positive}"
            )


class ReleaseConverter:
    """Stateful conversion of one release checkpoint into one output directory."""

    def __init__(
        self,
        src: Path,
        out: Path,
        tokenizer: Path,
        overrides: dict[str, Any] | None = None,
        progress: bool = True,
        workers: int | None = None,
    ) -> None:
        self.ckpt = find_ckpt_dir(src)
        self.files = list_release_files(self.ckpt)
        self.num_layers = num_layers_from_file_count(len(self.files))
        self.out = out
        self.tokenizer = tokenizer
        self.overrides = dict(overrides or {})
        self.progress = progress
        self.workers = workers or default_workers()
        if self.workers < 1:
            raise ConversionError(f"--workers must be at least 1, got {self.workers}")
        if not tokenizer.is_file():
            raise ConversionError(f"{tokenizer}: tokenizer file not found")
        unknown = sorted(set(self.overrides) - set(GROK1_DEFAULTS) - _PASSTHROUGH)
        if unknown:
            raise ConversionError(f"config overrides: unknown fields {unknown}")
        _check_override_types(self.overrides)
        for field in FIXED_FIELDS:
            if field in self.overrides and self.overrides[field] != GROK1_DEFAULTS[field]:
                raise ConversionError(
                    f"config overrides: {field} is fixed by the release "
                    f"({GROK1_DEFAULTS[field]!r}), got {self.overrides[field]!r}"
                )
        self.head_dim = int(self.overrides.get("head_dim", GROK1_DEFAULTS["head_dim"]))
        self.dims = self._check_headers()
        self.plan = self._plan()
        self.state: dict[str, Any] = {}

    # -- layout -------------------------------------------------------------------------------
    def shards(self) -> list[_Shard]:
        """Embedding shard first, then one per layer in numeric order."""
        total = self.num_layers + 1
        by_layer: dict[int, list[int]] = {}
        for index in range(2, len(self.files)):
            spec = param_spec(index, self.num_layers)
            by_layer.setdefault(spec.layer, []).append(index)
        result = [_Shard(f"model-00001-of-{total:05d}.safetensors", None, [0, 1])]
        for layer in range(self.num_layers):
            shard_name = f"model-{layer + 2:05d}-of-{total:05d}.safetensors"
            result.append(_Shard(shard_name, layer, by_layer[layer]))
        return result

    # -- checking, before anything is written -------------------------------------------------
    def _check_headers(self) -> ReleaseDims:
        """Read every file's header; infer the sizes; check every file against them."""
        headers = [_read_header(path) for path in self.files]
        kinds = {param_spec(i, self.num_layers).kind: i for i in range(len(self.files))}

        def need(kind: str, ndim: int, quantized: bool) -> ReleaseHeader:
            index = kinds[kind]  # the last file of that kind: any layer's would do
            header = headers[index]
            if (header.scales is not None) != quantized or len(header.weight.shape) != ndim:
                want = (
                    f"an int8 {ndim}-D matrix with bfloat16 scales (a QuantizedWeight8bit)"
                    if quantized
                    else f"a float32 {ndim}-D array"
                )
                raise ConversionError(
                    f"{self.files[index]}: holds {header.describe()}, but "
                    f"{param_spec(index, self.num_layers).path} must be {want}"
                )
            return header

        embedding = need("embedding", 2, False)
        gate = need("moe_gate_proj", 3, True).weight.shape
        q_out = need("q_proj", 2, True).weight.shape[1]
        kv_out = need("k_proj", 2, True).weight.shape[1]
        for what, size in (("query", q_out), ("key", kv_out)):
            if size % self.head_dim:
                raise ConversionError(
                    f"{self.files[kinds['q_proj' if what == 'query' else 'k_proj']]}: {what} "
                    f"projection width {size} is not a multiple of head_dim={self.head_dim} "
                    "(set head_dim in --config)"
                )
        dims = ReleaseDims(
            vocab=int(embedding.weight.shape[0]),
            hidden=int(gate[1]),
            intermediate=int(gate[2]),
            num_experts=int(gate[0]),
            num_heads=q_out // self.head_dim,
            num_kv_heads=kv_out // self.head_dim,
            head_dim=self.head_dim,
        )
        if dims.num_kv_heads == 0 or dims.num_heads % dims.num_kv_heads:
            raise ConversionError(
                f"{self.files[kinds['k_proj']]}: unsupported shape: {dims.num_heads} query heads "
                f"cannot share {dims.num_kv_heads} KV heads evenly (head_dim={self.head_dim})"
            )
        for kind, rows in (("o_proj", q_out), ("moe_down_proj", dims.intermediate)):
            if rows % SCALE_ROW_BLOCKS:
                raise ConversionError(
                    f"{self.files[kinds[kind]]}: unsupported shape: {rows} rows do not split "
                    f"into the release's {SCALE_ROW_BLOCKS} scale blocks"
                )
        for index, header in enumerate(headers):
            spec = param_spec(index, self.num_layers)
            weight_shape, scales_shape = expected_shapes(spec.kind, dims)
            if not _header_matches(header, weight_shape, scales_shape):
                raise ConversionError(
                    f"{self.files[index]}: holds {header.describe()}, but {spec.path} must be "
                    f"{_want_text(weight_shape, scales_shape)}"
                )
        return dims

    def rows_per_block(self) -> dict[str, list[int]]:
        """Per storage family, the row counts of its matrices' scale blocks."""
        q = self.dims.num_heads * self.dims.head_dim
        return family_rows_per_block(self.dims.hidden, self.dims.intermediate, q)

    def _plan(self) -> StoragePlan:
        d = self.dims
        q, kv = d.num_heads * d.head_dim, d.num_kv_heads * d.head_dim
        return plan_for_shape(d.hidden, d.intermediate, q, kv, d.num_experts)

    # -- conversion ---------------------------------------------------------------------------
    def _job(self, shard: _Shard) -> ShardJob:
        return ShardJob(
            name=shard.name,
            layer=shard.layer,
            files=tuple((i, str(self.files[i])) for i in shard.file_indices),
            num_layers=self.num_layers,
            dims=self.dims,
            plan=self.plan,
            out=str(self.out),
        )

    def _sources(self, shard: _Shard) -> list[list[Any]]:
        return _fingerprint([self.files[i] for i in shard.file_indices])

    def _record(self, shard: _Shard, record: dict[str, Any]) -> None:
        self.state["shards"][shard.name] = {**record, "sources": self._sources(shard)}
        self._save_state()

    def _already_done(self, shard: _Shard) -> bool:
        """A shard finished by an earlier run, from the same source files, still on disk whole."""
        done = self.state["shards"].get(shard.name)
        path = self.out / shard.name
        return (
            done is not None
            and done["sources"] == self._sources(shard)
            and path.exists()
            and path.stat().st_size == done["size"]
        )

    def _save_state(self) -> None:
        tmp = self.out / f"{PROGRESS_FILE}.partial"
        with _writing(tmp):
            tmp.write_text(json.dumps(self.state, indent=1))
            os.replace(tmp, self.out / PROGRESS_FILE)

    def _identity(self) -> dict[str, Any]:
        """What a progress file must match for its shards to be reused."""
        return {
            "overrides": self.overrides,
            "layers": self.num_layers,
            "plan": [self.plan.group_size, sorted(self.plan.block_exact)],
        }

    def _load_state(self) -> None:
        path = self.out / PROGRESS_FILE
        identity = self._identity()
        state: dict[str, Any] = {}
        if path.exists():
            try:
                state = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                state = {}
            if not isinstance(state, dict) or {k: state.get(k) for k in identity} != identity:
                logger.warning("%s: progress of another conversion; starting over", path)
                state = {}
            else:
                logger.info("%s: resuming (%d shards done)", path, len(state["shards"]))
        self.state = state or {**identity, "shards": {}}

    def _shard_bytes(self, shard: _Shard) -> int:
        return sum(self.files[i].stat().st_size for i in shard.file_indices)

    def _convert_all(self, todo: list[_Shard], advance: Callable[[int], None]) -> None:
        """Convert `todo`, in this process or a pool; record each shard as it completes.

        On a failure, shards already running finish and are recorded (a rerun skips them);
        the first failure is raised.
        """
        if self.workers == 1 or len(todo) <= 1:
            for shard in todo:
                self._record(shard, convert_shard(self._job(shard)))
                advance(self._shard_bytes(shard))
            return
        # spawn, not fork: the parent may hold torch/OpenMP threads a forked child would lack.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(self.workers, len(todo)), mp_context=context) as pool:
            futures: dict[Future[dict[str, Any]], _Shard] = {
                pool.submit(convert_shard, self._job(shard)): shard for shard in todo
            }
            pending = set(futures)
            error: BaseException | None = None
            while pending and error is None:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    if future.exception() is not None:
                        error = error or future.exception()
                        continue
                    self._record(futures[future], future.result())
                    advance(self._shard_bytes(futures[future]))
            if error is not None:
                for future in pending:
                    future.cancel()
                for future in pending:
                    if not future.cancelled() and future.exception() is None:
                        self._record(futures[future], future.result())
                raise error

    def run(self) -> ConvertResult:
        """Convert (resuming where a previous run stopped), then write metadata and verify."""
        with _writing(self.out):
            return self._run()

    def _run(self) -> ConvertResult:
        config = self._config()  # before any work: an override may contradict the tensors
        self.out.mkdir(parents=True, exist_ok=True)
        self._load_state()
        shards = self.shards()
        total = sum(f.stat().st_size for f in self.files)
        with tqdm(
            total=total, unit="B", unit_scale=True, desc="convert", disable=not self.progress
        ) as bar:
            todo = []
            for shard in shards:
                if self._already_done(shard):
                    bar.update(self._shard_bytes(shard))
                else:
                    todo.append(shard)
            # Largest first (layers before the embedding at full size), so the pool ends evenly.
            todo.sort(key=self._shard_bytes, reverse=True)
            self._convert_all(todo, bar.update)
        self._write_metadata(config, shards)
        # Names, shapes and dtypes from the shard headers; the bytes were hashed as written.
        problems = verify_model_dir(self.out)
        if problems:
            raise ConversionError(f"{self.out}: verification failed: {'; '.join(problems)}")
        (self.out / PROGRESS_FILE).unlink()
        return ConvertResult(
            self.out, len(todo), len(shards) - len(todo), total, self.plan, self.rows_per_block()
        )

    def _config(self) -> dict[str, Any]:
        inferred = {
            "vocab_size": self.dims.vocab,
            "hidden_size": self.dims.hidden,
            "intermediate_size": self.dims.intermediate,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.dims.num_heads,
            "num_key_value_heads": self.dims.num_kv_heads,
            "num_experts": self.dims.num_experts,
        }
        for field in SHAPE_FIELDS:
            if field in self.overrides and self.overrides[field] != inferred[field]:
                raise ConversionError(
                    f"config override {field}={self.overrides[field]} contradicts the "
                    f"checkpoint's tensors ({field}={inferred[field]})"
                )
        config: dict[str, Any] = {"architectures": [ARCHITECTURE], "model_type": MODEL_TYPE}
        config.update(GROK1_DEFAULTS)
        config.update(inferred)
        config.update(self.overrides)
        config.update(
            head_dim=self.head_dim,
            torch_dtype="bfloat16",
            quantization_config=compressed_tensors_config(self.plan),
        )
        return config

    def _write_metadata(self, config: dict[str, Any], shards: list[_Shard]) -> None:
        weight_map = {
            tensor: shard.name
            for shard in shards
            for tensor in self.state["shards"][shard.name]["tensors"]
        }
        total_size = sum(self.state["shards"][s.name]["size"] for s in shards)
        index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
        checksums = {s.name: self.state["shards"][s.name]["sha256"] for s in shards}
        _write_json(self.out / INDEX_FILE, index, sort_keys=True)
        _write_json(self.out / "checksums.json", checksums)
        with _writing(self.out / "tokenizer.model"):  # and the two files derived from it
            write_tokenizer(self.tokenizer, self.out, config["max_position_embeddings"])
        # Last: a directory with config.json is one that loaders (and `inspect`) take as done.
        _write_json(self.out / "config.json", config, indent=2)


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 16 MiB pieces (for checking a directory after the fact)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def read_shard_specs(model_dir: Path) -> tuple[dict[str, TensorSpec], list[str]]:
    """Tensor specs found in a directory's shards (via the index when present), and problems."""
    problems: list[str] = []
    index_path = model_dir / INDEX_FILE
    if index_path.exists():
        weight_map = json.loads(index_path.read_text())["weight_map"]
        shard_names = sorted(set(weight_map.values()))
    else:
        shard_names = sorted(p.name for p in model_dir.glob("*.safetensors"))
    found: dict[str, TensorSpec] = {}
    for shard in shard_names:
        path = model_dir / shard
        if not path.exists():
            problems.append(f"{path}: shard missing")
            continue
        try:
            with safe_open(str(path), framework="pt") as f:
                for name in f.keys():  # noqa: SIM118 - safe_open is not a dict
                    piece = f.get_slice(name)
                    found[name] = TensorSpec(tuple(piece.get_shape()), piece.get_dtype())
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            problems.append(f"{path}: unreadable safetensors file ({exc})")
    return found, problems


def verify_model_dir(model_dir: Path, check_hashes: bool = False) -> list[str]:
    """Problems with a converted or HF-layout directory; empty when it is complete and sound."""
    config_path = model_dir / "config.json"
    if not config_path.exists():
        return [f"{config_path}: missing"]
    config = dict(GROK1_DEFAULTS)
    config.update(json.loads(config_path.read_text()))
    found, problems = read_shard_specs(model_dir)
    problems += compare(found, expected_tensors(config))
    checksums = model_dir / "checksums.json"
    if check_hashes and checksums.exists():
        for shard, digest in json.loads(checksums.read_text()).items():
            path = model_dir / shard
            if path.exists() and sha256_file(path) != digest:
                problems.append(f"{path}: content differs from what was written (sha256)")
    for required in ("tokenizer.model", "tokenizer_config.json"):
        if not (model_dir / required).exists():
            problems.append(f"{model_dir / required}: missing")
    return problems


def load_overrides(path: Path | None) -> dict[str, Any]:
    """The --config JSON (config.json field names); a clear error when it is not an object."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConversionError(f"{path}: cannot read config overrides ({exc})") from None
    if not isinstance(data, dict):
        raise ConversionError(f"{path}: config overrides must be a JSON object")
    return data


def convert_release(
    src: Path,
    out: Path,
    tokenizer: Path,
    overrides: dict[str, Any] | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> ConvertResult:
    """Convert SRC (release format) to OUT (vLLM-loadable, int8 kept); see the module doc.

    `workers`: processes converting shards at once; default one per core.
    """
    return ReleaseConverter(src, out, tokenizer, overrides, progress, workers).run()
