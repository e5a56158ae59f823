"""Grok-1 as an out-of-tree vLLM model plugin.

`register` is the `vllm.general_plugins` entry point, so every vLLM process (API server, engine
core, TP/PP workers, Ray actors) runs it before it reads a config: the config class, the model
class and the platform hook below are then known everywhere without `trust_remote_code`.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

ARCHITECTURES = ("Grok1ForCausalLM", "Grok1ModelForCausalLM")


def register() -> None:
    """Register Grok-1's config, model classes and load-time quantisation hook (idempotent)."""
    from transformers import AutoConfig
    from vllm import ModelRegistry
    from vllm.model_executor.models.config import MODELS_CONFIG_MAP

    from model_ext.config import MODEL_TYPE, Grok1Config
    from model_ext.platform_quant import Grok1PlatformQuantization

    AutoConfig.register(MODEL_TYPE, Grok1Config, exist_ok=True)
    for arch in ARCHITECTURES:
        if arch not in ModelRegistry.get_supported_archs():
            ModelRegistry.register_model(arch, f"model_ext.model:{arch}")
        MODELS_CONFIG_MAP[arch] = Grok1PlatformQuantization
    logger.debug("grok-1 plugin registered: %s", ", ".join(ARCHITECTURES))
