"""The release's file numbering and shapes, checked against ARCHITECTURE.md's table."""

from __future__ import annotations

import pytest

from model_ext.release.layout import (
    GROK1_DIMS,
    LAYER_KINDS,
    LAYER_SUBPATHS,
    ParamSpec,
    ReleaseDims,
    expected_shapes,
    file_index,
    layer_file_order,
    num_layers_from_file_count,
    param_spec,
    release_paths,
    tensor_file_name,
)


def test_layers_come_in_lexicographic_order() -> None:
    order = layer_file_order(64)
    assert order[:5] == [0, 1, 10, 11, 12]
    assert order[-4:] == [63, 7, 8, 9]
    assert order.index(10) < order.index(2)
    assert sorted(order) == list(range(64))


def test_release_paths_is_exactly_sorted_path_strings() -> None:
    # JAX flattens dicts in sorted key order; the release's file order is that order.
    for num_layers in (1, 2, 11, 12, 64):
        paths = release_paths(num_layers)
        assert paths == sorted(paths)
        assert len(paths) == len(set(paths)) == 2 + 12 * num_layers


def test_release_paths_known_positions() -> None:
    paths = release_paths(64)
    assert len(paths) == 770
    assert paths[0] == "language_model/in_out_embed:embeddings"
    assert paths[1] == "language_model/rms_norm:scale"
    assert paths[2] == "transformer/decoder_layer_0/moe/linear:w"
    assert paths[13] == "transformer/decoder_layer_0/router:w"
    assert paths[14] == "transformer/decoder_layer_1/moe/linear:w"
    assert paths[26] == "transformer/decoder_layer_10/moe/linear:w"
    assert paths[-1] == "transformer/decoder_layer_9/router:w"


@pytest.mark.parametrize("layer", [0, 1, 2, 9, 10, 19, 20, 63])
def test_file_is_2_plus_12_lexrank_plus_k(layer: int) -> None:
    lexrank = sorted(str(n) for n in range(64)).index(str(layer))
    for k, (sub, kind) in enumerate(zip(LAYER_SUBPATHS, LAYER_KINDS, strict=True)):
        index = 2 + 12 * lexrank + k
        assert file_index(layer, kind, 64) == index
        spec = param_spec(index, 64)
        assert spec == ParamSpec(f"transformer/decoder_layer_{layer}/{sub}", layer, kind)
        assert release_paths(64)[index] == spec.path


def test_layer_10_files_precede_layer_2_files() -> None:
    assert file_index(10, "router", 64) < file_index(2, "moe_gate_proj", 64)


def test_param_spec_global_files_and_kinds() -> None:
    assert param_spec(0, 64) == ParamSpec(
        "language_model/in_out_embed:embeddings", None, "embedding"
    )
    assert param_spec(1, 64) == ParamSpec("language_model/rms_norm:scale", None, "final_norm")
    kinds = dict(zip(LAYER_SUBPATHS, LAYER_KINDS, strict=True))
    assert kinds["moe/linear:w"] == "moe_gate_proj"
    assert kinds["moe/linear_1:w"] == "moe_down_proj"
    assert kinds["moe/linear_v:w"] == "moe_up_proj"
    assert kinds["rms_norm:scale"] == "pre_attn_norm"
    assert kinds["rms_norm_3:scale"] == "post_moe_norm"
    with pytest.raises(ValueError):
        param_spec(770, 64)
    with pytest.raises(ValueError):
        param_spec(-1, 64)


def test_file_names_and_counts() -> None:
    assert tensor_file_name(0) == "tensor00000_000"
    assert tensor_file_name(769) == "tensor00769_000"
    assert num_layers_from_file_count(770) == 64
    assert num_layers_from_file_count(14) == 1
    for bad in (0, 2, 13, 769, 771):
        with pytest.raises(ValueError, match="tensor files"):
            num_layers_from_file_count(bad)


def test_grok1_shapes_match_architecture_table() -> None:
    d = GROK1_DIMS
    assert expected_shapes("embedding", d) == ((131072, 6144), None)
    assert expected_shapes("final_norm", d) == ((6144,), None)
    assert expected_shapes("post_moe_norm", d) == ((6144,), None)
    assert expected_shapes("router", d) == ((6144, 8), None)
    assert expected_shapes("moe_gate_proj", d) == ((8, 6144, 32768), (8, 1, 32768))
    assert expected_shapes("moe_up_proj", d) == ((8, 6144, 32768), (8, 1, 32768))
    assert expected_shapes("moe_down_proj", d) == ((8, 32768, 6144), (8, 8, 6144))
    assert expected_shapes("k_proj", d) == ((6144, 1024), (1, 1024))
    assert expected_shapes("v_proj", d) == ((6144, 1024), (1, 1024))
    assert expected_shapes("q_proj", d) == ((6144, 6144), (1, 6144))
    assert expected_shapes("o_proj", d) == ((6144, 6144), (8, 6144))


def test_shapes_use_head_dim_not_hidden_over_heads() -> None:
    dims = ReleaseDims(
        vocab=32, hidden=16, intermediate=24, num_experts=4, num_heads=4, num_kv_heads=2, head_dim=8
    )
    assert expected_shapes("q_proj", dims) == ((16, 32), (1, 32))
    assert expected_shapes("k_proj", dims) == ((16, 16), (1, 16))
    assert expected_shapes("o_proj", dims) == ((32, 16), (8, 16))
    assert expected_shapes("moe_down_proj", dims) == ((4, 24, 16), (4, 8, 16))
    for kind in (*LAYER_KINDS, "embedding", "final_norm"):
        expected_shapes(kind, dims)
    with pytest.raises(ValueError, match="unknown"):
        expected_shapes("lm_head", dims)
