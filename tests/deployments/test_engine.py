"""The engine class of the Grok-1 LLM server: vLLM's in-process executor at one worker."""

from __future__ import annotations

import pytest
from vllm.config import ParallelConfig

from deployments.engine import GrokVLLMEngine, use_in_process_executor
from deployments.server import GrokLLMServer


def test_the_server_builds_the_grok_engine() -> None:
    # LLMServer._init_shared falls back to this class when no engine_cls is injected.
    assert GrokLLMServer._default_engine_cls is GrokVLLMEngine


def test_one_worker_multiprocess_engine_runs_in_process() -> None:
    config = ParallelConfig(distributed_executor_backend="mp")
    use_in_process_executor(config)
    assert config.distributed_executor_backend == "uni"


@pytest.mark.parametrize(("backend", "tensor_parallel"), [("mp", 2), ("ray", 1), ("uni", 1)])
def test_other_executors_are_left_alone(backend: str, tensor_parallel: int) -> None:
    config = ParallelConfig(
        distributed_executor_backend=backend, tensor_parallel_size=tensor_parallel
    )
    use_in_process_executor(config)
    assert config.distributed_executor_backend == backend
