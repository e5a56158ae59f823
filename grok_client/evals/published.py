"""The figures xAI published for Grok-1 and its comparison models: the one place they live."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    """One model's published results: MMLU 5-shot accuracy per subject (a fraction), and the
    RealToxicityPrompts "challenging" toxicity where one was published."""

    model: str
    mmlu: dict[str, float]
    toxicity: float | None = None


PUBLISHED: tuple[Published, ...] = (
    Published(
        "Grok-1",
        {"high_school_mathematics": 0.3963, "college_mathematics": 0.41, "global_facts": 0.44},
        toxicity=0.355,
    ),
    Published(
        "Llama-2 70B",
        {"high_school_mathematics": 0.3556, "college_mathematics": 0.40, "global_facts": 0.48},
    ),
    Published(
        "Mixtral 8x7B",
        {"high_school_mathematics": 0.385, "college_mathematics": 0.46, "global_facts": 0.51},
    ),
)
# The published table's subjects, in its order: what `grok eval` runs by default.
DEFAULT_SUBJECTS: tuple[str, ...] = tuple(PUBLISHED[0].mmlu)
MMLU_FEWSHOT = 5
