"""The LLM server class named by every Grok-1 LLMConfig (`server_cls`).

Ray Serve LLM builds vLLM's engine config inside the replica. The plugin is also a
`vllm.general_plugins` entry point, but that only works where the package is pip-installed;
registering here makes the replica independent of how the code reached it (an installed
wheel, a runtime_env working_dir, a container image).

With Ray Serve LLM's direct streaming (`RAY_SERVE_LLM_ENABLE_DIRECT_STREAMING=1`, see
`deployments.app`) this replica is itself the HTTP ingress: it serves vLLM's own OpenAI app,
and the API-key check and request limits wrap that app as they wrap the separate ingress
otherwise.
"""

from __future__ import annotations

from typing import Any

from ray.serve.llm.deployment import LLMServer
from starlette.applications import Starlette

import model_ext
from deployments.auth import DEFAULT_API_KEY_ENV, ApiKeyAuth
from deployments.engine import GrokVLLMEngine
from deployments.limits import RequestLimits, RequestLimitsMiddleware


class GrokLLMServer(LLMServer):
    """LLMServer that registers the Grok-1 plugin before it builds the engine (`GrokVLLMEngine`:
    in-process executor at one worker, see deployments/engine.py)."""

    _default_engine_cls = GrokVLLMEngine

    async def __init__(
        self,
        llm_config: Any,
        *,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        request_limits: RequestLimits | None = None,
        **kwargs: Any,
    ) -> None:
        model_ext.register()
        self._api_key_env = api_key_env
        self._request_limits = request_limits or RequestLimits()
        await super().__init__(llm_config, **kwargs)

    async def __serve_build_asgi_app__(self) -> Starlette:
        """The app this replica serves when it is the ingress (direct streaming)."""
        app = await super().__serve_build_asgi_app__()
        # vLLM builds its middleware stack eagerly; drop it so Starlette rebuilds it with ours.
        # The last one added runs first: the key is checked before the body is read.
        app.middleware_stack = None
        app.add_middleware(RequestLimitsMiddleware, limits=self._request_limits)
        app.add_middleware(ApiKeyAuth, env_var=self._api_key_env)
        return app
