"""Where a client's settings come from: its arguments, then GROK_*, then OPENAI_*, then defaults.

GROK_* variables point one shell at a Grok deployment; the OPENAI_* fallbacks let the settings
people already have for OpenAI-compatible tools work unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Grok-1 is a base model served with a plain transcript template (see the README's "Serving"):
# without this stop it writes the next user turn itself.
CHAT_STOP = "\n\nHuman:"


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings: `base_url` is the deployment root, without `/v1`."""

    base_url: str
    api_key: str | None
    model: str | None

    @classmethod
    def resolve(
        cls, base_url: str | None = None, api_key: str | None = None, model: str | None = None
    ) -> Settings:
        url = base_url or _env("GROK_BASE_URL") or _env("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        return cls(
            base_url=root_url(url),
            api_key=api_key or _env("GROK_API_KEY") or _env("OPENAI_API_KEY"),
            model=model or _env("GROK_MODEL"),
        )

    @property
    def openai_base_url(self) -> str:
        """What `openai.OpenAI(base_url=...)` wants: the root plus `/v1`."""
        return f"{self.base_url}/v1"


def root_url(url: str) -> str:
    """The deployment root; a trailing `/v1` (how OpenAI tools spell base URLs) is dropped."""
    url = url.strip().rstrip("/")
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"base URL must start with http:// or https://, got {url!r}")
    return url.removesuffix("/v1")


def _env(name: str) -> str | None:
    """An environment variable, set-but-empty meaning unset."""
    return os.environ.get(name) or None
