"""Every Grok-1 deployment, described once, in Python.

The Serve config files (`grok.yaml`, `grok-2node.yaml`, `grok-tiny.yaml`) and, later, the Helm
chart's values are rendered from these objects, and a test fails when a checked-in file drifts
from them. Numbers here are decisions, each explained where it is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from deployments.limits import RequestLimits

APP_BUILDER = "deployments.app:build_app"
SERVER_CLS = "deployments.server:GrokLLMServer"


# Ray Serve's fastest data path in Ray 2.60, measured in benchmarks/README.md: HAProxy in place
# of the Python proxy, forwarding each request straight to the LLM server replica, which serves
# vLLM's own OpenAI app (Ray Serve LLM "direct streaming"; auth and request limits wrap it, see
# deployments/server.py), plus Serve's throughput-optimized replica settings (user code on the
# replica's main loop, gRPC between Serve processes, frozen GC). Tokens then pass through one
# Python process (the replica) between the engine and the client, as with `vllm serve` alone.
# Ray starts worker processes at nice 15, and the replica's engine process inherits it: on a
# busy host the server and engine then lose the CPU to everything else (the proxy, clients,
# other jobs); they are the serving path, so they run at normal priority.
FAST_PATH_ENV = {
    "RAY_worker_niceness": "0",
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_LLM_ENABLE_DIRECT_STREAMING": "1",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
}


@dataclass(frozen=True)
class Autoscaling:
    """Replica autoscaling of one model (Ray Serve `autoscaling_config`)."""

    min_replicas: int
    max_replicas: int
    initial_replicas: int
    # Requests in flight per replica that Serve aims for; a full-size replica batches well up
    # to dozens of sequences, so scaling starts well before it saturates.
    target_ongoing_requests: int
    # A new replica costs minutes (300 GB of weights); react to sustained load only, and be
    # slower still to give capacity back.
    upscale_delay_s: float
    downscale_delay_s: float

    def to_serve(self) -> dict[str, Any]:
        return {
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "initial_replicas": self.initial_replicas,
            "target_ongoing_requests": self.target_ongoing_requests,
            "upscale_delay_s": self.upscale_delay_s,
            "downscale_delay_s": self.downscale_delay_s,
        }


@dataclass(frozen=True)
class GrokDeployment:
    """One Serve application serving one Grok-1 model."""

    name: str
    model_id: str
    model_source: str
    tensor_parallel: int
    pipeline_parallel: int
    autoscaling: Autoscaling
    max_ongoing_requests: int
    max_model_len: int
    # GPU deployments: one GPU per bundle, as many bundles as tp*pp; None on CPU.
    accelerator_type: str | None
    gpus_per_node: int = 8
    dtype: str = "bfloat16"
    enable_prefix_caching: bool = True
    # Health checks run every period; a replica busy with long prefills can answer slowly, and
    # killing it would cost minutes of reloading 300 GB, so the timeout is generous.
    health_check_period_s: float = 30.0
    health_check_timeout_s: float = 120.0
    graceful_shutdown_timeout_s: float = 120.0
    # End-to-end HTTP timeout at the proxy: the longest generation (8192 tokens) fits in it.
    request_timeout_s: float = 600.0
    host: str = "0.0.0.0"
    port: int = 8000
    # Serve's log encoding (controller, proxies, replicas): "JSON" where a log pipeline parses
    # the lines; None keeps Ray's default (TEXT). Ray 2.60 reads it from the config only (its
    # RAY_SERVE_LOG_ENCODING is a constant, not an environment variable).
    log_encoding: str | None = None
    extra_engine_kwargs: dict[str, Any] = field(default_factory=dict)
    tiny_model_dir: str | None = None
    # Extra resources every placement bundle asks for. A node resource that each node has a
    # fixed amount of keeps replicas on separate nodes where CPUs alone would stack them (the
    # tiny multi-node config); Ray Serve LLM forbids `max_replicas_per_node` beside bundles.
    extra_bundle_resources: dict[str, float] = field(default_factory=dict)
    # Environment of the Ray processes serving this app (controller, proxy, replicas: set it
    # where `ray start` runs, e.g. the pod env). Ray Serve reads its data-path switches from
    # the environment at import, so they cannot live in the Serve config itself.
    serve_env: dict[str, str] = field(default_factory=lambda: dict(FAST_PATH_ENV))
    # Caps on n, best_of, logprobs, prompt_logprobs and max_tokens per request (limits.py).
    request_limits: RequestLimits = field(default_factory=RequestLimits)
    # Logical CPUs Ray reserves for each CPU engine worker's bundle, the LLM replica actor
    # (added to bundle 0) and the ingress replica. None: Ray Serve's default of 1 each, which
    # needs 3 CPUs for the smallest app and never schedules on a 2-core machine.
    cpu_bundle_cpus: float = 1.0
    replica_num_cpus: float | None = None
    ingress_num_cpus: float | None = None

    @property
    def gpus_per_replica(self) -> int:
        return 0 if self.accelerator_type is None else self.tensor_parallel * self.pipeline_parallel

    def placement_group(self) -> dict[str, Any]:
        """Bundles of one GPU per engine worker. STRICT_PACK when a replica fits one node (TP
        traffic stays on NVLink); PACK when it must span nodes (PP stages per node)."""
        if self.accelerator_type is None:
            workers = self.tensor_parallel * self.pipeline_parallel
            bundle = {"CPU": self.cpu_bundle_cpus, **self.extra_bundle_resources}
            return {"bundles": [dict(bundle) for _ in range(workers)]}
        fits_one_node = self.gpus_per_replica <= self.gpus_per_node
        return {
            "bundles": [{"GPU": 1, "CPU": 4} for _ in range(self.gpus_per_replica)],
            "strategy": "STRICT_PACK" if fits_one_node else "PACK",
        }

    def engine_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "tensor_parallel_size": self.tensor_parallel,
            "pipeline_parallel_size": self.pipeline_parallel,
            "dtype": self.dtype,
            "max_model_len": self.max_model_len,
            "enable_prefix_caching": self.enable_prefix_caching,
            # `/tokenizer_info` beside vLLM's `/tokenize`: evaluation clients (`grok eval`,
            # lm-eval's remote tokenizer) then tokenize exactly as the server does. It shows
            # only the release's public tokenizer settings and chat template.
            "enable_tokenizer_info_endpoint": True,
        }
        kwargs.update(self.extra_engine_kwargs)
        return kwargs

    def llm_config(self) -> dict[str, Any]:
        """The `LLMConfig` of this model, as a plain dict (what the YAML holds)."""
        config: dict[str, Any] = {
            "model_loading_config": {"model_id": self.model_id, "model_source": self.model_source},
            "server_cls": SERVER_CLS,
            "engine_kwargs": self.engine_kwargs(),
            "placement_group_config": self.placement_group(),
            "deployment_config": {
                "autoscaling_config": self.autoscaling.to_serve(),
                "max_ongoing_requests": self.max_ongoing_requests,
                "health_check_period_s": self.health_check_period_s,
                "health_check_timeout_s": self.health_check_timeout_s,
                "graceful_shutdown_timeout_s": self.graceful_shutdown_timeout_s,
            },
        }
        if self.replica_num_cpus is not None:
            config["deployment_config"]["ray_actor_options"] = {"num_cpus": self.replica_num_cpus}
        if self.accelerator_type is None:
            config["accelerator_config"] = {"kind": "cpu"}
        else:
            config["accelerator_type"] = self.accelerator_type
        return config

    def app_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "llm_configs": [self.llm_config()],
            "request_limits": self.request_limits.to_args(),
        }
        if self.ingress_num_cpus is not None:
            args["ingress_deployment_config"] = {
                "ray_actor_options": {"num_cpus": self.ingress_num_cpus}
            }
        if self.tiny_model_dir is not None:
            args["tiny_model_dir"] = self.tiny_model_dir
        return args

    def serve_config(self) -> dict[str, Any]:
        """A complete Serve config file (`serve run` / `serve deploy` / KubeRay serveConfigV2)."""
        logging = (
            {} if self.log_encoding is None else {"logging_config": {"encoding": self.log_encoding}}
        )
        return {
            "http_options": {
                "host": self.host,
                "port": self.port,
                "request_timeout_s": self.request_timeout_s,
            },
            **logging,
            "applications": [
                {
                    "name": self.name,
                    "route_prefix": "/",
                    "import_path": APP_BUILDER,
                    "args": self.app_args(),
                }
            ],
        }


# Production: the release converted by `grok-ckpt convert xai`, one 8-GPU node per replica.
PRODUCTION = GrokDeployment(
    name="grok",
    model_id="grok-1",
    model_source="/models/grok-1-vllm",
    tensor_parallel=8,
    pipeline_parallel=1,
    accelerator_type="H100",
    autoscaling=Autoscaling(
        min_replicas=1,
        max_replicas=4,
        initial_replicas=1,
        target_ongoing_requests=24,
        upscale_delay_s=60.0,
        downscale_delay_s=600.0,
    ),
    max_ongoing_requests=64,
    max_model_len=8192,
    extra_engine_kwargs={"gpu_memory_utilization": 0.92, "max_num_seqs": 64},
    log_encoding="JSON",
)

# Two nodes per replica: TP=8 within a node, PP=2 across (e.g. 80 GB cards with a long context
# and a large KV cache, or bf16 weights).
TWO_NODE = replace(
    PRODUCTION,
    pipeline_parallel=2,
    autoscaling=replace(PRODUCTION.autoscaling, max_replicas=2, target_ongoing_requests=48),
    max_ongoing_requests=128,
    extra_engine_kwargs={"gpu_memory_utilization": 0.92, "max_num_seqs": 128},
)

# The embedded default: a tiny Grok-1-shaped model on CPU, made on first use. float32 and eager
# mode because on a small CPU machine start-up time matters more than speed; the KV cache is
# sized explicitly (vLLM's CPU backend otherwise reserves a fraction of all memory).
TINY = GrokDeployment(
    name="grok",
    model_id="grok-1-tiny",
    model_source=".cache/grok-1-tiny",
    tensor_parallel=1,
    pipeline_parallel=1,
    accelerator_type=None,
    autoscaling=Autoscaling(
        min_replicas=1,
        max_replicas=1,
        initial_replicas=1,
        target_ongoing_requests=16,
        upscale_delay_s=30.0,
        downscale_delay_s=60.0,
    ),
    max_ongoing_requests=64,
    max_model_len=2048,
    dtype="float32",
    enable_prefix_caching=True,
    health_check_timeout_s=60.0,
    request_timeout_s=120.0,
    host="127.0.0.1",
    extra_engine_kwargs={"enforce_eager": True, "kv_cache_memory_bytes": 1 << 30},
    tiny_model_dir=".cache/grok-1-tiny",
    # Production's caps, with max_tokens at half of this model's shorter context (same rule).
    request_limits=RequestLimits(max_tokens=1024),
    # 1.5 logical CPUs in all (engine bundle 0.5 + replica 0.5, ingress 0.5), so a plain
    # `serve run deployments/grok-tiny.yaml` schedules on a 2-core machine.
    cpu_bundle_cpus=0.5,
    replica_num_cpus=0.5,
    ingress_num_cpus=0.5,
)

# The tiny model on a multi-node cluster (`grok-cluster simulate`, or the README's recipe on CPU
# hosts whose workers declare `--num-gpus 8`): each replica reserves a whole node's 8 (logical)
# GPUs as a production replica does, so replicas land on different nodes; vLLM's CPU backend
# uses none of them. Autoscaling is eager enough that a short burst of requests adds a replica
# and its end removes it again within a test's time.
TINY_MULTINODE = replace(
    TINY,
    port=8001,
    autoscaling=Autoscaling(
        min_replicas=1,
        max_replicas=2,
        initial_replicas=1,
        target_ongoing_requests=2,
        upscale_delay_s=2.0,
        downscale_delay_s=10.0,
    ),
    extra_bundle_resources={"GPU": TINY.gpus_per_node},
    graceful_shutdown_timeout_s=10.0,
    # Several simulated nodes share one host here, and HAProxy's files live at fixed paths
    # (/tmp/haproxy-serve): the simulation keeps Serve's default proxy path.
    serve_env={},
)

# File name -> deployment, for `python -m deployments.render`.
CONFIG_FILES: dict[str, GrokDeployment] = {
    "grok.yaml": PRODUCTION,
    "grok-2node.yaml": TWO_NODE,
    "grok-tiny.yaml": TINY,
    "grok-tiny-multinode.yaml": TINY_MULTINODE,
}
