"""`grok-ckpt inspect`: what a directory holds and whether it is complete.

Three kinds are recognised: a release checkpoint (`ckpt-0/` pickles, checked file by file
without running them), a converted directory (ours: int8 kept), and an HF-layout directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from model_ext.ckpt.convert import (
    ConversionError,
    find_ckpt_dir,
    list_release_files,
    read_shard_specs,
    verify_model_dir,
)
from model_ext.ckpt.expected import plan_of
from model_ext.int8_weights import family_rows_per_block
from model_ext.release.layout import num_layers_from_file_count, param_spec
from model_ext.release.pickle_reader import CheckpointError, describe, read_release_tensor


@dataclass
class Inspection:
    """A directory's kind, a few facts about it, and its problems (empty when complete)."""

    kind: str
    facts: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [f"kind: {self.kind}"]
        lines += [f"{key}: {value}" for key, value in self.facts.items()]
        lines.append("complete: yes" if self.complete else "complete: NO")
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)


def _inspect_release(src: Path) -> Inspection:
    try:
        files = list_release_files(find_ckpt_dir(src))
    except ConversionError as exc:
        return Inspection("release checkpoint", problems=[str(exc)])
    num_layers = num_layers_from_file_count(len(files))
    report = Inspection("release checkpoint (ckpt-0 pickles)")
    report.facts["layers"] = num_layers
    report.facts["files"] = len(files)
    report.facts["bytes"] = sum(f.stat().st_size for f in files)
    for index, path in enumerate(files):
        try:
            obj = read_release_tensor(path)
        except CheckpointError as exc:
            report.problems.append(str(exc))
            continue
        if index in (0, 2 + 5):  # the embedding and layer 0's query projection
            report.facts[param_spec(index, num_layers).path] = describe(obj)
    return report


def _inspect_model_dir(model_dir: Path) -> Inspection:
    try:
        config = json.loads((model_dir / "config.json").read_text())
        plan = plan_of(config)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Inspection("unknown", problems=[f"{model_dir / 'config.json'}: unreadable ({exc})"])
    kind = "converted (int8 kept)" if plan else "HF layout (dense weights)"
    report = Inspection(kind)
    for key in ("model_type", "num_hidden_layers", "hidden_size", "vocab_size", "num_experts"):
        report.facts[key] = config.get(key)
    if plan is not None:
        # Which matrices are stored how: W8A16 groups, or int8 with the release's block scales.
        rows = family_rows_per_block(
            config["hidden_size"],
            config["intermediate_size"],
            config["num_attention_heads"] * config["head_dim"],
        )
        for family, how in plan.describe(rows).items():
            report.facts[f"stored: {family}"] = how
    found, _ = read_shard_specs(model_dir)
    report.facts["tensors"] = len(found)
    report.facts["bytes"] = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
    report.problems = verify_model_dir(model_dir)
    return report


def inspect_dir(path: Path) -> Inspection:
    """Inspect `path`, whatever Grok-1 checkpoint kind it is."""
    if not path.is_dir():
        return Inspection("nothing", problems=[f"{path}: not a directory"])
    if (path / "config.json").exists():
        return _inspect_model_dir(path)
    if (path / "ckpt-0").is_dir() or any(path.glob("tensor00000_*")):
        return _inspect_release(path)
    return Inspection(
        "unknown", problems=[f"{path}: neither ckpt-0/ (release) nor config.json (converted)"]
    )
