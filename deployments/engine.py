"""The vLLM engine of every Grok-1 LLM server replica: Ray Serve LLM's `VLLMEngine`, run with
vLLM's in-process executor where the engine has a single worker.

Ray Serve LLM always gives a CPU deployment vLLM's multiprocess executor
(`ray/llm/_internal/serve/engines/vllm/vllm_models.py`, `get_initialization_kwargs` sets
`distributed_executor_backend` to "mp" for a `CPUAccelerator`, overriding the engine kwargs).
At one worker that adds a `VLLM::Worker` process bound to one core, which busy-polls vLLM's
shared-memory queue between steps (`vllm/distributed/device_communicators/shm_broadcast.py`,
`MessageQueue.acquire_read`, a `sched_yield` spin), while the EngineCore holds the core vLLM
reserves for it (`vllm/utils/ompmultiprocessing.py`). Inside a Ray Serve replica, on a small
host, that left processes outside Ray's session (the load generator) runnable but not running
for up to 1.7 s, so whole streams reached them in one burst at the end (benchmarks/README.md,
"held" streams). With the in-process executor the tokens are computed in the EngineCore itself,
and no stream was held. A multi-worker engine needs its worker processes and keeps "mp".
"""

from __future__ import annotations

from typing import Any

from ray.llm._internal.serve.engines.vllm.vllm_engine import VLLMEngine

# vLLM's in-process executor: the worker runs inside the EngineCore process.
IN_PROCESS_EXECUTOR = "uni"


class GrokVLLMEngine(VLLMEngine):
    """VLLMEngine that runs a one-worker multiprocess engine in-process instead."""

    def _start_async_llm_engine(
        self, vllm_engine_args: Any, vllm_engine_config: Any, placement_group: Any
    ) -> Any:
        use_in_process_executor(vllm_engine_config.parallel_config)
        return super()._start_async_llm_engine(
            vllm_engine_args, vllm_engine_config, placement_group
        )


def use_in_process_executor(parallel_config: Any) -> None:
    """Switch a one-worker "mp" engine to vLLM's "uni" executor; anything else (Ray's executor
    on GPUs, several CPU workers) needs its own processes and is left alone."""
    if parallel_config.distributed_executor_backend == "mp" and parallel_config.world_size == 1:
        parallel_config.distributed_executor_backend = IN_PROCESS_EXECUTOR
