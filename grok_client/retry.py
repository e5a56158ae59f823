"""When a failed request is sent again, and how long to wait first.

Only failures that say nothing about the request itself are retried: the network (the server may
be restarting) and 429/503 (the server is busy, and says so). Any other error status means the
request or the key is wrong, and sending it again would only repeat the error more slowly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from grok_client.errors import APIConnectionError, APIStatusError, GrokError

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, deferring to the server's Retry-After when it sends one.

    `backoff` is the first wait in seconds, doubled on each further retry up to `max_backoff`;
    jitter (up to a quarter off) keeps many clients that failed together from retrying together.
    A Retry-After is obeyed up to `max_retry_after`, so a confused server cannot stall the caller.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")

    def should_retry(self, error: GrokError) -> bool:
        if isinstance(error, APIStatusError):
            return error.status_code in RETRY_STATUSES
        return isinstance(error, APIConnectionError)

    def delay(self, retry: int, error: GrokError) -> float:
        """Seconds to wait before retry number `retry` (0 for the first) after `error`."""
        if isinstance(error, APIStatusError):
            after = retry_after_seconds(error.headers)
            if after is not None:
                return min(after, self.max_retry_after)
        wait = min(self.backoff * 2.0**retry, self.max_backoff)
        return wait * (1 - 0.25 * random.random())


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """A Retry-After header in seconds (given as seconds or as an HTTP date), if usable."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None
