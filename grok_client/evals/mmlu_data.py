"""MMLU subjects from a local directory, for machines that cannot reach the dataset hub.

The layout is the hub's own (`cais/mmlu`), so a download is used as it is:

    DIR/<subject>/test-00000-of-00001.parquet   (questions scored)
    DIR/<subject>/dev-00000-of-00001.parquet    (the five few-shot examples)

JSON Lines files (`test.jsonl`, `dev.jsonl`) with the same columns work too. Every file is
checked here, before any request is sent, so a wrong directory costs seconds and its message
names the file, instead of failing inside the harness after the server has done work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grok_client.evals.errors import EvalError

# Split name in the files -> what the harness's MMLU tasks call it (test_split, fewshot_split).
SPLITS = ("test", "dev")
# File suffix -> the `datasets` builder that reads it.
BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}
CHOICES = 4


@dataclass(frozen=True)
class SubjectFiles:
    """One subject's files, checked; `rows` counts the test questions."""

    subject: str
    builder: str
    files: dict[str, Path]
    rows: int

    def task_overrides(self) -> dict[str, Any]:
        """What replaces the hub dataset in the harness's `mmlu_<subject>` task."""
        return {
            "dataset_path": self.builder,
            "dataset_name": None,
            "dataset_kwargs": {"data_files": {s: str(p) for s, p in self.files.items()}},
        }


def subject_files(data_dir: Path, subject: str) -> SubjectFiles:
    """Find and check `subject`'s test and dev files under `data_dir`."""
    folder = data_dir / subject
    if not folder.is_dir():
        raise EvalError(f"{folder}: no such directory (expected one folder per MMLU subject)")
    files: dict[str, Path] = {}
    for split in SPLITS:
        found = sorted(p for p in folder.glob(f"{split}*") if p.suffix in BUILDERS)
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise EvalError(
                f"{folder}: {what} {split} file (want one {split}*.parquet or {split}.jsonl)"
            )
        files[split] = found[0]
    builders = {BUILDERS[p.suffix] for p in files.values()}
    if len(builders) != 1:
        raise EvalError(f"{folder}: test and dev files must have the same format")
    counts = {split: _check_rows(path) for split, path in files.items()}
    return SubjectFiles(subject, builders.pop(), files, counts["test"])


def _check_rows(path: Path) -> int:
    """Check every row of one file; returns the row count."""
    rows = _read_rows(path)
    if not rows:
        raise EvalError(f"{path}: no questions")
    for number, row in enumerate(rows, 1):
        problem = _row_problem(row)
        if problem:
            raise EvalError(f"{path}: row {number}: {problem}")
    return len(rows)


def _read_rows(path: Path) -> list[Any]:
    if path.suffix == ".parquet":
        import pyarrow.lib
        import pyarrow.parquet

        try:
            return pyarrow.parquet.read_table(path).to_pylist()
        except (OSError, pyarrow.lib.ArrowException) as exc:
            raise EvalError(f"{path}: not a readable Parquet file ({exc})") from None
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"{path}: cannot read ({exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise EvalError(f"{path}: line {number}: not JSON ({exc.msg})") from None
    return rows


def _row_problem(row: Any) -> str | None:
    """What is wrong with one question, in words; None if nothing."""
    if not isinstance(row, dict):
        return "not an object"
    if not isinstance(row.get("question"), str):
        return "'question' must be a string"
    choices = row.get("choices")
    if not (
        isinstance(choices, list)
        and len(choices) == CHOICES
        and all(isinstance(c, str) for c in choices)
    ):
        return f"'choices' must be a list of {CHOICES} strings"
    answer = row.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < CHOICES:
        return f"'answer' must be an integer from 0 to {CHOICES - 1}"
    return None
