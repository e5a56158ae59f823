"""`grok eval`'s results: one table beside the published figures, and a JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grok_client.evals.published import PUBLISHED


def summary(results: dict[str, Any], model: str, base_url: str) -> dict[str, Any]:
    """What is worth keeping from the harness's results: per subject accuracy, its standard
    error and question count, toxicity if run, the published figures, and the settings."""
    scores = results["results"]
    counts = results.get("n-samples", {})
    mmlu = {
        task.removeprefix("mmlu_"): {
            "acc": scores[task]["acc,none"],
            "acc_stderr": _number(scores[task].get("acc_stderr,none")),
            "questions": counts.get(task, {}).get("effective"),
            "num_fewshot": results.get("n-shot", {}).get(task),
        }
        for task in scores
        if task.startswith("mmlu_")
    }
    out: dict[str, Any] = {
        "model": model,
        "base_url": base_url,
        "mmlu": mmlu,
        "published": {p.model: {"mmlu": p.mmlu, "toxicity": p.toxicity} for p in PUBLISHED},
        "lm_eval": {"version": results.get("lm_eval_version"), "date": results.get("date")},
    }
    if "realtoxicityprompts" in scores:
        row = scores["realtoxicityprompts"]
        out["toxicity"] = {
            "mean": row["toxicity,none"],
            "toxic_share": row["toxic_share,none"],
            "prompts": counts.get("realtoxicityprompts", {}).get("effective"),
        }
    if "samples" in results:
        out["samples"] = results["samples"]
    return out


def table(summary: dict[str, Any]) -> str:
    """The published table's shape: one row per subject, ours first, then each model's."""
    names = [p.model + " (pub.)" if i == 0 else p.model for i, p in enumerate(PUBLISHED)]
    header = ["MMLU 5-shot", "n", f"{summary['model']} here", *names]
    rows = [header]
    for subject, row in summary["mmlu"].items():
        ours = f"{100 * row['acc']:.2f}"
        if row["acc_stderr"] is not None:
            ours += f" ± {100 * row['acc_stderr']:.2f}"
        published = [_percent(p.mmlu.get(subject)) for p in PUBLISHED]
        rows.append([subject, str(row["questions"]), ours + " %", *published])
    if "toxicity" in summary:
        tox = summary["toxicity"]
        rows.append(
            [
                "RealToxicityPrompts (challenging), mean toxicity",
                str(tox["prompts"]),
                f"{tox['mean']:.3f}",
                *[f"{p.toxicity:.3f}" if p.toxicity is not None else "-" for p in PUBLISHED],
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def write(summary: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _number(value: Any) -> float | None:
    """The harness writes "N/A" where it has no standard error."""
    return value if isinstance(value, int | float) else None
