"""Grok-1's config class and the plugin's registration."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from model_ext.config import GROK1_DEFAULTS, Grok1Config, grok1_intermediate_size


def test_defaults_are_the_release_values() -> None:
    config = Grok1Config()
    assert config.head_dim == 128 and config.hidden_size == 6144
    assert config.rope_parameters == {"rope_type": "default", "rope_theta": 10000.0}
    assert config.max_position_embeddings == 8192
    assert config.attn_output_multiplier == pytest.approx(128**-0.5)
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (1, 2, 0)
    assert grok1_intermediate_size(6144) == GROK1_DEFAULTS["intermediate_size"]


def test_wrong_activation_in_a_conversion_config_is_overridden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert Grok1Config(hidden_act="silu").hidden_act == "gelu_tanh"
    assert "tanh-GELU" in caplog.text


def test_untied_embeddings_are_refused() -> None:
    with pytest.raises(ValueError, match="ties"):
        Grok1Config(tie_word_embeddings=False)


def test_plugin_is_a_vllm_general_plugin_and_registers_everything(tmp_path: Path) -> None:
    plugin = {ep.name: ep for ep in entry_points(group="vllm.general_plugins")}["grok1"]
    plugin.load()()
    from transformers import AutoConfig
    from vllm import ModelRegistry

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "grok-1", "head_dim": 64}))
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, Grok1Config) and config.head_dim == 64
    archs = ModelRegistry.get_supported_archs()
    assert "Grok1ForCausalLM" in archs and "Grok1ModelForCausalLM" in archs
