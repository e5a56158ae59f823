"""The LLM server class named by every Grok-1 LLMConfig (`server_cls`).

Ray Serve LLM builds vLLM's engine config inside the replica. The plugin is also a
`vllm.general_plugins` entry point, but that only works where the package is pip-installed;
registering here makes the replica independent of how the code reached it (an installed
wheel, a runtime_env working_dir, a container image).
"""

from __future__ import annotations

from typing import Any

from ray.serve.llm.deployment import LLMServer

import model_ext


class GrokLLMServer(LLMServer):
    """LLMServer that registers the Grok-1 plugin before it builds the engine."""

    async def __init__(self, llm_config: Any, **kwargs: Any) -> None:
        model_ext.register()
        await super().__init__(llm_config, **kwargs)
