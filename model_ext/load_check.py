"""Refuse a checkpoint that does not name exactly the tensors this Grok-1 needs.

vLLM checks that every parameter was loaded only for unquantised models, and even then per
fused parameter: eight experts share one `w13_weight_packed`, so a missing or misspelt expert
tensor leaves that expert's slice as uninitialised memory and nothing complains. A naming slip
would load garbage silently on GPU. So `Grok1ForCausalLM.load_weights` streams the checkpoint
through `CheckpointNames`, which holds back names that are not Grok-1's and, at the end, lists
what is missing and what is unexpected, per checkpoint tensor, on every platform.

A projection may be stored dense (`.weight`, the HF conversions), as compressed-tensors int8
(`.weight_packed`, `.weight_scale`, `.weight_shape`, our conversion), or as int8 with the
release's block scales (`.weight_int8`, `.weight_block_scale`: where no served group size fits);
which one is decided per matrix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from model_ext.ckpt import names
from model_ext.ckpt.expected import expected_tensors
from model_ext.int8_weights import (
    BLOCK_INT8_SUFFIX,
    BLOCK_SCALE_SUFFIX,
    PACKED_SUFFIX,
    SCALE_SUFFIX,
    SHAPE_SUFFIX,
)

# The stored forms a projection may take besides its dense `.weight`.
INT8_FORMS = ((PACKED_SUFFIX, SCALE_SUFFIX, SHAPE_SUFFIX), (BLOCK_INT8_SUFFIX, BLOCK_SCALE_SUFFIX))
_LAYER = re.compile(r"model\.layers\.(\d+)\.")
_SHOWN = 20


class IncompleteCheckpointError(ValueError):
    """The checkpoint's tensor names do not match the model; the message lists the difference."""


def _is_projection(name: str) -> bool:
    """Dense names that may instead be stored as int8 (attention and expert projections)."""
    return name.endswith(".weight") and (".attn." in name or ".experts." in name)


def _dense_names(config: dict[str, Any]) -> list[str]:
    """Every tensor of the model in the dense (HF) naming, from its config alone."""
    dense = {k: v for k, v in config.items() if k != "quantization_config"}
    return list(expected_tensors(dense))


class CheckpointNames:
    """Watches the checkpoint's names on their way into vLLM's loader.

    `layers` is the range of decoder layers this pipeline stage holds; `embedding` and
    `final_norm` say whether it holds those. Names outside what any stage expects are held back
    (vLLM would ignore some of them silently) and reported by `check`.
    """

    def __init__(
        self, config: dict[str, Any], layers: range, embedding: bool, final_norm: bool
    ) -> None:
        # dense name -> the sets of names that may stand in for it
        self.forms: dict[str, tuple[tuple[str, ...], ...]] = {}
        self.required: list[str] = []
        for name in _dense_names(config):
            base = name.removesuffix(".weight")
            forms = INT8_FORMS if _is_projection(name) else ()
            self.forms[name] = tuple(tuple(base + s for s in form) for form in forms)
            layer = _LAYER.match(name)
            if layer is not None:
                held = int(layer.group(1)) in layers
            elif name == names.EMBEDDING:
                held = embedding
            else:
                held = final_norm
            if held:
                self.required.append(name)
        self.known = set(self.forms) | {
            n for forms in self.forms.values() for form in forms for n in form
        }
        self.seen: set[str] = set()
        self.unexpected: list[str] = []
        self.exhausted = False

    def filter(
        self, weights: Iterable[tuple[str, torch.Tensor]]
    ) -> Iterator[tuple[str, torch.Tensor]]:
        """Pass Grok-1's tensors through, hold back and record any other name."""
        for name, tensor in weights:
            if name in self.known:
                self.seen.add(name)
                yield name, tensor
            else:
                self.unexpected.append(name)
        self.exhausted = True

    def missing(self) -> list[str]:
        """Required tensors present in no form (a stored form's own names when it is partly
        present, the dense name when none is)."""
        result = []
        for name in self.required:
            if name in self.seen:
                continue
            started = [f for f in self.forms[name] if any(n in self.seen for n in f)]
            if not started:
                result.append(name)
            elif all(any(n not in self.seen for n in f) for f in started):
                result.extend(n for n in started[0] if n not in self.seen)
        return result

    def check(self) -> None:
        """Raise IncompleteCheckpointError naming every missing and unexpected tensor."""
        missing, unexpected = self.missing(), sorted(self.unexpected)
        if not missing and not unexpected:
            return
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected)):
            if items:
                shown = ", ".join(items[:_SHOWN])
                more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
                parts.append(f"{len(items)} {label}: {shown}{more}")
        raise IncompleteCheckpointError(
            "checkpoint does not match the Grok-1 model it is loaded into; " + "; ".join(parts)
        )
