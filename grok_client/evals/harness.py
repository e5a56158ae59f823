"""Run lm-evaluation-harness against a deployment's OpenAI completions API.

Each MMLU choice is one completions request with `echo: true, logprobs: 1, max_tokens: 1`:
the server returns the log-prob of every prompt token, and the harness sums the answer's. The
prompt goes as token ids, so the tokenizer must be the server's: by default the deployment's
own `/tokenize` (vLLM's, with `/tokenizer_info`; our deployments enable it), else the
converted model directory's tokenizer files (`--tokenizer`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grok_client.client import GrokClient
from grok_client.evals.errors import EvalError
from grok_client.evals.mmlu_data import subject_files
from grok_client.evals.toxicity import PerspectiveScorer, task_spec

log = logging.getLogger(__name__)
# The harness's length limit when the server does not say its context (vLLM's model card
# does: `max_model_len`).
FALLBACK_MAX_LENGTH = 2048


@dataclass(frozen=True)
class EvalPlan:
    """What to evaluate and how: the CLI's options in one object, passed down whole."""

    subjects: tuple[str, ...]
    num_fewshot: int
    data_dir: Path | None = None
    limit: int | None = None
    tokenizer: str | None = None
    concurrency: int = 4
    # The client's read timeout and retries, applied to the harness's requests too.
    timeout: float = 600.0
    max_retries: int = 2
    toxicity: bool = False
    toxicity_data: Path | None = None
    log_samples: bool = False


def run_eval(client: GrokClient, plan: EvalPlan) -> dict[str, Any]:
    """Evaluate the deployment `client` talks to; returns the harness's results dict.

    Everything the user supplies (key, subjects, data files) is checked before the server is
    asked anything, so a typo costs seconds, not a run."""
    scorer = PerspectiveScorer.from_env() if plan.toxicity else None
    specs = _mmlu_specs(plan)
    if scorer is not None:
        specs.append(task_spec(scorer, plan.toxicity_data))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import lm_eval
        from lm_eval.tasks import TaskManager
    except ModuleNotFoundError:
        raise EvalError(
            "grok eval needs lm-evaluation-harness: pip install 'grok-serve[eval]'"
        ) from None
    tasks = _load_tasks(TaskManager(include_defaults=False, include_path=_task_dirs()), specs)

    model = client.resolve_model()
    return lm_eval.simple_evaluate(
        model="local-completions",
        model_args=_model_args(client, model, _context_length(client, model), plan),
        tasks=tasks,
        limit=plan.limit,
        log_samples=plan.log_samples,
    )


def _task_dirs() -> list[str]:
    """Only the task folders used: indexing the harness's 10k task files takes ~12 s."""
    import lm_eval.tasks

    root = Path(lm_eval.tasks.__file__).parent
    return [str(root / "mmlu" / "default"), str(root / "realtoxicityprompts")]


def _mmlu_specs(plan: EvalPlan) -> list[dict[str, Any]]:
    """One task spec per subject: the harness's `mmlu_<subject>`, local files if given."""
    specs = []
    for subject in plan.subjects:
        spec: dict[str, Any] = {"task": f"mmlu_{subject}", "num_fewshot": plan.num_fewshot}
        if plan.data_dir is not None:
            spec |= subject_files(plan.data_dir, subject).task_overrides()
        specs.append(spec)
    return specs


def _load_tasks(manager: Any, specs: list[dict[str, Any]]) -> list[Any]:
    """Build the tasks (their datasets load here), with names and data problems as EvalErrors."""
    known = set(manager.task_index)
    unknown = [s["task"] for s in specs if s["task"] not in known]
    if unknown:
        subjects = sorted(n.removeprefix("mmlu_") for n in known if n.startswith("mmlu_"))
        raise EvalError(f"unknown MMLU subject(s) {unknown}; known: {', '.join(subjects)}")
    # Overrides on registered tasks go through a group, the harness's way to restate a task.
    try:
        loaded = manager.load([{"group": "grok_eval", "task": specs}])
    except (OSError, ValueError, ConnectionError) as exc:
        raise EvalError(
            f"cannot load the evaluation data ({type(exc).__name__}: {exc}); where the dataset "
            "hub is unreachable, pass --data-dir (and --toxicity-data): README, 'grok eval'"
        ) from None
    return list(loaded["tasks"].values())


def _context_length(client: GrokClient, model: str) -> int:
    for card in client.models():
        if card.id == model and isinstance(getattr(card, "max_model_len", None), int):
            return card.max_model_len  # type: ignore[attr-defined]
    log.warning("the server does not state its context length; assuming %d", FALLBACK_MAX_LENGTH)
    return FALLBACK_MAX_LENGTH


def _model_args(
    client: GrokClient, model: str, max_length: int, plan: EvalPlan
) -> dict[str, Any]:
    """lm-eval's `local-completions` arguments: the client's URL, key, timeout and retries."""
    settings = client.settings
    args: dict[str, Any] = {
        "base_url": f"{settings.openai_base_url}/completions",
        "model": model,
        "num_concurrent": plan.concurrency,
        # The harness counts attempts, the client retries after the first.
        "max_retries": plan.max_retries + 1,
        "timeout": max(1, round(plan.timeout)),
        "max_length": max_length,
        "tokenized_requests": True,
    }
    if settings.api_key:
        args["header"] = {"Authorization": f"Bearer {settings.api_key}"}
        args["auth_token"] = settings.api_key
    if plan.tokenizer:
        args |= {"tokenizer_backend": "huggingface", "tokenizer": plan.tokenizer}
    else:
        _require_remote_tokenizer(args["base_url"], settings.base_url, settings.api_key)
        args["tokenizer_backend"] = "remote"
    return args


def _require_remote_tokenizer(completions_url: str, root: str, api_key: str | None) -> None:
    from lm_eval.utils import check_remote_tokenizer_support

    if not check_remote_tokenizer_support(completions_url, auth_token=api_key):
        raise EvalError(
            f"{root} offers no /tokenizer_info and "
            "/tokenize (vLLM's --enable-tokenizer-info-endpoint); pass --tokenizer with the "
            "converted model directory"
        )
