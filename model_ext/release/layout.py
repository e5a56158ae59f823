"""Which parameter lives in which ``ckpt-0/tensorNNNNN_000`` file, and what shape it must have.

The release stores one parameter per file, numbered in JAX's flatten order, which visits dict keys
sorted as strings. The consequence that catches converters out is that decoder layers come in
*lexicographic* order of their number (0, 1, 10, 11, ..., 19, 2, 20, ...), not numeric order.
Everything here is pure computation so that the converter, the tests and any tooling agree on one
definition of the layout without touching the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from model_ext.config import GROK1_DEFAULTS, RELEASE_GLOBAL_FILES, RELEASE_SCALE_ROW_BLOCKS

EMBEDDING_PATH: Final = "language_model/in_out_embed:embeddings"
FINAL_NORM_PATH: Final = "language_model/rms_norm:scale"
GLOBAL_PATHS: Final = (EMBEDDING_PATH, FINAL_NORM_PATH)
assert len(GLOBAL_PATHS) == RELEASE_GLOBAL_FILES

#: Files before the first decoder layer: the embedding and the final norm.
NUM_GLOBAL_FILES: Final = RELEASE_GLOBAL_FILES

#: Per-layer path suffixes under ``transformer/decoder_layer_N/``, in file order k = 0..11.
LAYER_SUBPATHS: Final[tuple[str, ...]] = (
    "moe/linear:w",
    "moe/linear_1:w",
    "moe/linear_v:w",
    "multi_head_attention/key:w",
    "multi_head_attention/linear:w",
    "multi_head_attention/query:w",
    "multi_head_attention/value:w",
    "rms_norm:scale",
    "rms_norm_1:scale",
    "rms_norm_2:scale",
    "rms_norm_3:scale",
    "router:w",
)

#: Short names for LAYER_SUBPATHS, same order. The release's haiku names say nothing about the
#: role ("linear_1", "rms_norm_2"), so the converter works with these instead.
LAYER_KINDS: Final[tuple[str, ...]] = (
    "moe_gate_proj",  # moe/linear: the gelu branch
    "moe_down_proj",  # moe/linear_1
    "moe_up_proj",  # moe/linear_v
    "k_proj",
    "o_proj",
    "q_proj",
    "v_proj",
    "pre_attn_norm",  # rms_norm
    "post_attn_norm",  # rms_norm_1
    "pre_moe_norm",  # rms_norm_2
    "post_moe_norm",  # rms_norm_3
    "router",
)

FILES_PER_LAYER: Final = len(LAYER_SUBPATHS)

#: Row blocks of the scales of the two matrices quantised per row block rather than per column
#: (attention output and expert down projection): their scales are [.., 8, out].
SCALE_ROW_BLOCKS: Final = RELEASE_SCALE_ROW_BLOCKS


@dataclass(frozen=True)
class ReleaseDims:
    """The model sizes that fix every tensor shape in the release."""

    vocab: int
    hidden: int
    intermediate: int
    num_experts: int
    num_heads: int
    num_kv_heads: int
    head_dim: int


#: Grok-1 as released (run.py).
GROK1_DIMS: Final = ReleaseDims(
    vocab=GROK1_DEFAULTS["vocab_size"],
    hidden=GROK1_DEFAULTS["hidden_size"],
    intermediate=GROK1_DEFAULTS["intermediate_size"],
    num_experts=GROK1_DEFAULTS["num_experts"],
    num_heads=GROK1_DEFAULTS["num_attention_heads"],
    num_kv_heads=GROK1_DEFAULTS["num_key_value_heads"],
    head_dim=GROK1_DEFAULTS["head_dim"],
)


def num_release_files(num_layers: int) -> int:
    """How many tensor files a release with ``num_layers`` decoder layers holds."""
    _check_num_layers(num_layers)
    return NUM_GLOBAL_FILES + FILES_PER_LAYER * num_layers


@dataclass(frozen=True)
class ParamSpec:
    """What one tensor file holds: its parameter path, its decoder layer (None for the two
    global parameters) and its short kind (see LAYER_KINDS, plus "embedding" and "final_norm")."""

    path: str
    layer: int | None
    kind: str


def _check_num_layers(num_layers: int) -> None:
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")


def layer_file_order(num_layers: int) -> list[int]:
    """Layer numbers in the order their files appear: sorted as strings, as JAX sorts dict keys."""
    _check_num_layers(num_layers)
    return sorted(range(num_layers), key=str)


def release_paths(num_layers: int) -> list[str]:
    """Every parameter path, position i being the parameter in file i.

    This equals ``sorted()`` of the same strings, because that is how JAX flattened the release's
    parameter dict; it is spelled out here so the order is explicit rather than an accident of
    string comparison.
    """
    paths = list(GLOBAL_PATHS)
    for layer in layer_file_order(num_layers):
        paths.extend(f"transformer/decoder_layer_{layer}/{sub}" for sub in LAYER_SUBPATHS)
    return paths


def tensor_file_name(index: int) -> str:
    """File name of parameter ``index`` (the release has one shard per parameter: ``_000``)."""
    if index < 0:
        raise ValueError(f"tensor index must be non-negative, got {index}")
    return f"tensor{index:05d}_000"


def num_layers_from_file_count(n: int) -> int:
    """Number of decoder layers implied by a ``ckpt-0/`` holding ``n`` tensor files.

    A count that is not 2 + 12*L means files are missing or extra, which must stop a conversion.
    """
    layers, rest = divmod(n - NUM_GLOBAL_FILES, FILES_PER_LAYER)
    if rest or layers < 1:
        raise ValueError(
            f"{n} tensor files is not {NUM_GLOBAL_FILES} + {FILES_PER_LAYER} * num_layers "
            "for any num_layers >= 1"
        )
    return layers


def param_spec(index: int, num_layers: int) -> ParamSpec:
    """What file ``index`` holds in a release with ``num_layers`` decoder layers."""
    _check_num_layers(num_layers)
    total = num_release_files(num_layers)
    if not 0 <= index < total:
        raise ValueError(f"tensor index {index} is outside 0..{total - 1}")
    if index == 0:
        return ParamSpec(EMBEDDING_PATH, None, "embedding")
    if index == 1:
        return ParamSpec(FINAL_NORM_PATH, None, "final_norm")
    rank, k = divmod(index - NUM_GLOBAL_FILES, FILES_PER_LAYER)
    layer = layer_file_order(num_layers)[rank]
    return ParamSpec(
        f"transformer/decoder_layer_{layer}/{LAYER_SUBPATHS[k]}", layer, LAYER_KINDS[k]
    )


def file_index(layer: int, kind: str, num_layers: int) -> int:
    """Inverse of param_spec for layer parameters: the file holding ``kind`` of ``layer``."""
    if not 0 <= layer < num_layers:
        raise ValueError(f"layer {layer} is outside 0..{num_layers - 1}")
    if kind not in LAYER_KINDS:
        raise ValueError(f"unknown layer parameter kind {kind!r}")
    rank = layer_file_order(num_layers).index(layer)
    return NUM_GLOBAL_FILES + FILES_PER_LAYER * rank + LAYER_KINDS.index(kind)


def expected_shapes(kind: str, dims: ReleaseDims) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """(weight shape, scales shape) of a parameter kind as stored in the release.

    Matrices are [in, out] int8 with bfloat16 scales: one scale per output column ([.., 1, out]),
    except the attention output and expert down projections, which have SCALE_ROW_BLOCKS row
    blocks ([.., 8, out]). A scales shape of None means a plain float32 array: the embedding
    [V, D], the norms [D] and the router [D, E].
    """
    d, e, f = dims.hidden, dims.num_experts, dims.intermediate
    q_width = dims.num_heads * dims.head_dim
    kv_width = dims.num_kv_heads * dims.head_dim
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...] | None]] = {
        "embedding": ((dims.vocab, d), None),
        "final_norm": ((d,), None),
        "pre_attn_norm": ((d,), None),
        "post_attn_norm": ((d,), None),
        "pre_moe_norm": ((d,), None),
        "post_moe_norm": ((d,), None),
        "router": ((d, e), None),
        "q_proj": ((d, q_width), (1, q_width)),
        "k_proj": ((d, kv_width), (1, kv_width)),
        "v_proj": ((d, kv_width), (1, kv_width)),
        "o_proj": ((q_width, d), (SCALE_ROW_BLOCKS, d)),
        "moe_gate_proj": ((e, d, f), (e, 1, f)),
        "moe_up_proj": ((e, d, f), (e, 1, f)),
        "moe_down_proj": ((e, f, d), (e, SCALE_ROW_BLOCKS, d)),
    }
    try:
        return shapes[kind]
    except KeyError:
        raise ValueError(f"unknown parameter kind {kind!r}") from None
