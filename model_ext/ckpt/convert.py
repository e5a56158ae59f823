"""Convert the release's `ckpt-0/` into a directory vLLM loads, keeping the int8 weights.

Why it is built this way:
- The release files are pickles; they are read by `model_ext.release.pickle_reader`, which walks
  the opcodes and never runs them.
- File i is the i-th parameter in sorted-path order, so layers come in lexicographic order of
  their number; `model_ext.release.layout` owns that mapping, and names here are per layer.
- Shapes come from the tensors (the release has no config file); every other field from Grok-1's
  defaults, overridden by a JSON file. A tiny model converts with the same command.
- One shard per decoder layer (plus one for the embedding), each written atomically and recorded
  in a progress file, so an interrupted conversion resumes at the first unfinished shard. The
  result is re-read and checked at the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from model_ext.ckpt import names
from model_ext.ckpt.expected import TensorSpec, compare, expected_tensors
from model_ext.ckpt.tokenizer_files import write_tokenizer
from model_ext.config import ARCHITECTURE, GROK1_DEFAULTS, MODEL_TYPE
from model_ext.int8_weights import (
    choose_group_size,
    compressed_tensors_config,
    group_scales,
    pack_int8,
)
from model_ext.release.layout import (
    ReleaseDims,
    expected_shapes,
    num_layers_from_file_count,
    param_spec,
    tensor_file_name,
)
from model_ext.release.pickle_reader import (
    CheckpointError,
    QuantizedWeight,
    describe,
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

# Config fields accepted in --config beyond Grok-1's own (they go to config.json unchanged).
_PASSTHROUGH = frozenset({"torch_dtype", "architectures"})


class ConversionError(Exception):
    """A source that cannot be converted; the message says which file and why."""


@dataclass
class ConvertResult:
    """What a conversion did, for the CLI and the benchmark."""

    out_dir: Path
    shards_written: int
    shards_resumed: int
    source_bytes: int


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


def _to_torch(array: np.ndarray) -> torch.Tensor:
    """numpy (including ml_dtypes bfloat16) -> torch without going through float."""
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(np.ascontiguousarray(array).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array))


def _int8_projection(
    module: str, weight_in_out: np.ndarray, scales: np.ndarray, group: int
) -> dict[str, torch.Tensor]:
    """One release matrix [in, out] -> compressed-tensors packed [out, in/4] + scales + shape."""
    in_f, out_f = weight_in_out.shape
    return {
        f"{module}.weight_packed": _to_torch(pack_int8(np.ascontiguousarray(weight_in_out.T))),
        f"{module}.weight_scale": _to_torch(group_scales(scales, in_f, group)),
        f"{module}.weight_shape": torch.tensor([out_f, in_f], dtype=torch.int64),
    }


class _Shard:
    """One output shard: which release files go in and what it is called."""

    def __init__(self, name: str, layer: int | None, file_indices: list[int]) -> None:
        self.name = name
        self.layer = layer
        self.file_indices = file_indices


class ReleaseConverter:
    """Stateful conversion of one release checkpoint into one output directory."""

    def __init__(
        self,
        src: Path,
        out: Path,
        tokenizer: Path,
        overrides: dict[str, Any] | None = None,
        progress: bool = True,
    ) -> None:
        self.ckpt = find_ckpt_dir(src)
        self.files = list_release_files(self.ckpt)
        self.num_layers = num_layers_from_file_count(len(self.files))
        self.out = out
        self.tokenizer = tokenizer
        self.overrides = dict(overrides or {})
        self.progress = progress
        if not tokenizer.is_file():
            raise ConversionError(f"{tokenizer}: tokenizer file not found")
        unknown = sorted(set(self.overrides) - set(GROK1_DEFAULTS) - {"head_dim"} - _PASSTHROUGH)
        if unknown:
            raise ConversionError(f"config overrides: unknown fields {unknown}")
        self.head_dim = int(self.overrides.get("head_dim", GROK1_DEFAULTS["head_dim"]))
        self.dims: dict[str, int] = {}
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

    # -- reading and checking -----------------------------------------------------------------
    def _read(self, index: int) -> np.ndarray | QuantizedWeight:
        path = self.files[index]
        try:
            return read_release_tensor(path)
        except CheckpointError as exc:
            raise ConversionError(str(exc)) from None

    def _infer_dims(self, objs: dict[str, Any]) -> None:
        """Shapes from layer tensors: D, F, E from an expert matrix, heads from q/k widths."""
        gate = objs["moe_gate_proj"].weight
        q_out = objs["q_proj"].weight.shape[1]
        kv_out = objs["k_proj"].weight.shape[1]
        for what, size in (("query", q_out), ("key", kv_out)):
            if size % self.head_dim:
                raise ConversionError(
                    f"{self.ckpt}: {what} projection width {size} is not a multiple of "
                    f"head_dim={self.head_dim} (set head_dim in --config)"
                )
        self.dims.update(
            hidden=int(gate.shape[1]),
            intermediate=int(gate.shape[2]),
            num_experts=int(gate.shape[0]),
            num_heads=q_out // self.head_dim,
            num_kv_heads=kv_out // self.head_dim,
            head_dim=self.head_dim,
        )

    def _release_dims(self, vocab: int) -> ReleaseDims:
        return ReleaseDims(vocab=vocab, **self.dims)

    def _check(self, index: int, obj: Any, dims: ReleaseDims) -> None:
        """Dtype and shape of one release tensor against what its position requires."""
        spec = param_spec(index, self.num_layers)
        weight_shape, scales_shape = expected_shapes(spec.kind, dims)
        if scales_shape is None:
            ok = isinstance(obj, np.ndarray) and obj.dtype == np.float32
            ok = ok and tuple(obj.shape) == tuple(weight_shape)
            want = f"float32{list(weight_shape)}"
        else:
            ok = isinstance(obj, QuantizedWeight) and obj.weight.dtype == np.int8
            ok = ok and tuple(obj.weight.shape) == tuple(weight_shape)
            ok = ok and tuple(obj.scales.shape) == tuple(scales_shape)
            want = f"int8{list(weight_shape)} + bfloat16{list(scales_shape)} scales"
        if not ok:
            path = self.files[index]
            raise ConversionError(f"{path}: holds {describe(obj)}, but {spec.path} must be {want}")

    def _group_size(self) -> int:
        d, f = self.dims["hidden"], self.dims["intermediate"]
        q = self.dims["num_heads"] * self.head_dim
        return choose_group_size([d, f // 8, q // 8])

    # -- conversion ---------------------------------------------------------------------------
    def _layer_tensors(self, layer: int, objs: dict[str, Any]) -> dict[str, torch.Tensor]:
        group = self._group_size()
        prefix = names.layer_prefix(layer)
        tensors: dict[str, torch.Tensor] = {}
        for kind, obj in objs.items():
            if kind in names.ATTENTION_MODULES:
                module = names.attention_module(layer, kind)
                tensors.update(_int8_projection(module, obj.weight, obj.scales, group))
            elif kind in names.EXPERT_MODULES:
                for expert in range(obj.weight.shape[0]):
                    module = names.expert_module(layer, kind, expert)
                    tensors.update(
                        _int8_projection(module, obj.weight[expert], obj.scales[expert], group)
                    )
            elif kind in names.NORMS:
                tensors[prefix + names.NORMS[kind]] = _to_torch(obj)
            elif kind == "router":
                tensors[prefix + names.ROUTER] = _to_torch(np.ascontiguousarray(obj.T))
            else:
                raise AssertionError(f"unhandled release kind {kind}")
        return tensors

    def _convert_shard(self, shard: _Shard, advance: Callable[[int], None]) -> None:
        objs: dict[int, Any] = {}
        for index in shard.file_indices:
            objs[index] = self._read(index)
            advance(self.files[index].stat().st_size)
        by_kind = {param_spec(index, self.num_layers).kind: obj for index, obj in objs.items()}
        if shard.layer is not None and not self.dims:
            self._infer_dims(by_kind)
        if not self.dims:
            raise AssertionError("layer shards are converted before the embedding shard")
        embedding = by_kind.get("embedding")
        vocab = int(embedding.shape[0]) if isinstance(embedding, np.ndarray) else 0
        dims = self._release_dims(vocab)
        for index, obj in objs.items():
            self._check(index, obj, dims)
        if shard.layer is None:
            tensors = {
                names.EMBEDDING: _to_torch(by_kind["embedding"]),
                names.FINAL_NORM: _to_torch(by_kind["final_norm"]),
            }
        else:
            tensors = self._layer_tensors(shard.layer, by_kind)
        self._write_shard(shard, tensors)

    def _sources(self, shard: _Shard) -> list[list[Any]]:
        return _fingerprint([self.files[i] for i in shard.file_indices])

    def _write_shard(self, shard: _Shard, tensors: dict[str, torch.Tensor]) -> None:
        tmp = self.out / f".{shard.name}.partial"
        save_file(tensors, str(tmp), metadata={"format": "pt"})
        tmp.chmod(0o644)  # serving processes may run as another user
        digest = _sha256(tmp)
        os.replace(tmp, self.out / shard.name)
        self.state["shards"][shard.name] = {
            "sha256": digest,
            "size": (self.out / shard.name).stat().st_size,
            "sources": self._sources(shard),
            "tensors": sorted(tensors),
        }
        self.state["dims"] = self.dims
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
        tmp.write_text(json.dumps(self.state, indent=1))
        os.replace(tmp, self.out / PROGRESS_FILE)

    def _load_state(self) -> None:
        path = self.out / PROGRESS_FILE
        state: dict[str, Any] = {}
        if path.exists():
            state = json.loads(path.read_text())
            if state.get("overrides") != self.overrides or state.get("layers") != self.num_layers:
                logger.warning("%s: progress of another conversion; starting over", path)
                state = {}
            else:
                logger.info("%s: resuming (%d shards done)", path, len(state["shards"]))
        self.state = state or {"overrides": self.overrides, "layers": self.num_layers, "shards": {}}
        self.dims = dict(self.state.get("dims", {}))

    def run(self) -> ConvertResult:
        """Convert (resuming where a previous run stopped), then write metadata and verify."""
        self.out.mkdir(parents=True, exist_ok=True)
        self._load_state()
        shards = self.shards()
        # Layers first: the embedding shard's checks need the dims the layers establish.
        ordered = shards[1:] + shards[:1]
        total = sum(f.stat().st_size for f in self.files)
        written = resumed = 0
        with tqdm(
            total=total, unit="B", unit_scale=True, desc="convert", disable=not self.progress
        ) as bar:
            for shard in ordered:
                if self._already_done(shard):
                    bar.update(sum(self.files[i].stat().st_size for i in shard.file_indices))
                    resumed += 1
                    continue
                self._convert_shard(shard, bar.update)
                written += 1
        vocab = self._vocab_from_output(shards[0].name)
        config = self._config(vocab)
        self._write_metadata(config, shards)
        problems = verify_model_dir(self.out, check_hashes=True)
        if problems:
            raise ConversionError(f"{self.out}: verification failed: {'; '.join(problems)}")
        (self.out / PROGRESS_FILE).unlink()
        return ConvertResult(self.out, written, resumed, total)

    def _vocab_from_output(self, embedding_shard: str) -> int:
        with safe_open(str(self.out / embedding_shard), framework="pt") as f:
            return int(f.get_slice(names.EMBEDDING).get_shape()[0])

    def _config(self, vocab: int) -> dict[str, Any]:
        inferred = {
            "vocab_size": vocab,
            "hidden_size": self.dims["hidden"],
            "intermediate_size": self.dims["intermediate"],
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.dims["num_heads"],
            "num_key_value_heads": self.dims["num_kv_heads"],
            "num_experts": self.dims["num_experts"],
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
            tie_word_embeddings=True,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            torch_dtype="bfloat16",
            quantization_config=compressed_tensors_config(self._group_size()),
        )
        return config

    def _write_metadata(self, config: dict[str, Any], shards: list[_Shard]) -> None:
        weight_map = {
            tensor: shard.name
            for shard in shards
            for tensor in self.state["shards"][shard.name]["tensors"]
        }
        total_size = sum((self.out / s.name).stat().st_size for s in shards)
        index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
        (self.out / INDEX_FILE).write_text(json.dumps(index, indent=1, sort_keys=True))
        (self.out / "checksums.json").write_text(
            json.dumps({s.name: self.state["shards"][s.name]["sha256"] for s in shards}, indent=1)
        )
        write_tokenizer(self.tokenizer, self.out, config["max_position_embeddings"])
        # Last: a directory with config.json is one that loaders (and `inspect`) take as done.
        (self.out / "config.json").write_text(json.dumps(config, indent=2))


def _sha256(path: Path) -> str:
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
            if path.exists() and _sha256(path) != digest:
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
) -> ConvertResult:
    """Convert SRC (release format) to OUT (vLLM-loadable, int8 kept); see the module doc."""
    return ReleaseConverter(src, out, tokenizer, overrides, progress).run()
