"""The Serve application builder every Grok-1 config file imports (`deployments.app:build_app`).

It is `ray.serve.llm.build_openai_app` assembled from Ray's own pieces, plus what Grok-1 needs
around it: the API-key check in the ingress (before any route, so rejected requests never reach
an engine), OpenAI-shaped bodies for the ingress's own HTTP errors, and the embedded tiny model
made on first use.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from ray.llm._internal.common.dict_utils import maybe_apply_llm_deployment_config_defaults
from ray.llm._internal.serve.constants import RAY_SERVE_LLM_ENABLE_DIRECT_STREAMING
from ray.llm._internal.serve.core.configs.openai_api_models import to_model_metadata
from ray.llm._internal.serve.core.ingress.builder import (
    _build_direct_streaming_llm_deployment,
    _build_openai_ingress_request_router,
)
from ray.llm._internal.serve.core.ingress.ingress import (
    OpenAiIngress,
    init,
    make_fastapi_ingress,
)
from ray.serve import deployment
from ray.serve.deployment import Application
from ray.serve.llm import LLMConfig, build_llm_deployment

from deployments.auth import DEFAULT_API_KEY_ENV, ApiKeyAuth
from deployments.errors import add_openai_error_bodies
from deployments.limits import RequestLimits, RequestLimitsMiddleware
from deployments.tiny_model import ensure_tiny_model

logger = logging.getLogger("ray.serve")


class GrokAppArgs(BaseModel):
    """The `args:` of a Grok-1 application in a Serve config file."""

    model_config = ConfigDict(extra="forbid")

    llm_configs: list[dict[str, Any]]
    ingress_deployment_config: dict[str, Any] = {}
    # Name of the environment variable holding the API key; auth is off while it is unset.
    api_key_env: str = DEFAULT_API_KEY_ENV
    # Per-request caps (n, best_of, logprobs, prompt_logprobs, max_tokens).
    request_limits: RequestLimits = RequestLimits()
    # Where to make the tiny model on first use (embedded default); None for real checkpoints.
    tiny_model_dir: str | None = None


def build_app(args: dict[str, Any]) -> Application:
    """Build the OpenAI-compatible app: LLM server deployments behind one FastAPI ingress."""
    parsed = GrokAppArgs.model_validate(args)
    configs = [LLMConfig.model_validate(c) for c in parsed.llm_configs]
    if parsed.tiny_model_dir is not None:
        model_dir = ensure_tiny_model(Path(parsed.tiny_model_dir))
        for config in configs:
            config.model_loading_config.model_source = str(model_dir)
    if RAY_SERVE_LLM_ENABLE_DIRECT_STREAMING:
        return _build_direct_streaming_app(configs, parsed)
    llm_deployments = {c.model_id: build_llm_deployment(c) for c in configs}
    model_cards = {c.model_id: to_model_metadata(c.model_id, c) for c in configs}
    fastapi_app = init()
    add_openai_error_bodies(fastapi_app)
    # The last middleware added runs first: the key is checked before the body is even read.
    fastapi_app.add_middleware(RequestLimitsMiddleware, limits=parsed.request_limits)
    fastapi_app.add_middleware(ApiKeyAuth, env_var=parsed.api_key_env)
    ingress_options = maybe_apply_llm_deployment_config_defaults(
        OpenAiIngress.get_deployment_options(configs), parsed.ingress_deployment_config
    )
    ingress_cls = make_fastapi_ingress(OpenAiIngress, app=fastapi_app)
    return deployment(ingress_cls, **ingress_options).bind(
        llm_deployments=llm_deployments, model_cards=model_cards
    )


def _build_direct_streaming_app(configs: list[LLMConfig], parsed: GrokAppArgs) -> Application:
    """Ray Serve LLM's direct streaming, as `build_openai_app` wires it: the LLM server replica
    is the ingress and serves vLLM's own OpenAI app (auth and limits wrapped around it by
    `GrokLLMServer`), and a router deployment picks the replica for each request, so tokens go
    from the engine to the client without passing through another Serve process."""
    if len(configs) != 1:
        raise ValueError("RAY_SERVE_LLM_ENABLE_DIRECT_STREAMING serves exactly one model")
    if parsed.ingress_deployment_config:
        # One config file serves both paths (plain `serve run` takes Serve's default one).
        logger.info(
            "direct streaming: no separate ingress deployment, so ingress_deployment_config "
            "(%s) does not apply",
            parsed.ingress_deployment_config,
        )
    (config,) = configs
    server = _build_direct_streaming_llm_deployment(
        config,
        bind_kwargs={"api_key_env": parsed.api_key_env, "request_limits": parsed.request_limits},
    )
    router = _build_openai_ingress_request_router(server=server, llm_config=config)
    return server._with_ingress_request_router(router)
