"""No GROK_*/OPENAI_* variable of the developer's shell leaks into an SDK test."""

from __future__ import annotations

import pytest

ENV = ("GROK_BASE_URL", "GROK_API_KEY", "GROK_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
