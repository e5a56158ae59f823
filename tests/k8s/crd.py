"""Validators for KubeRay objects from the CRDs' own openAPIV3Schema, made strict.

The API server prunes fields a structural schema does not know, silently: a misspelt or
misplaced field in the chart would be dropped, never reported. So every object schema that lists
`properties` and says nothing of `additionalProperties` is closed here
(`additionalProperties: false`), except where the CRD keeps unknown fields on purpose
(`x-kubernetes-preserve-unknown-fields`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.k8s.chart import REPO

_CRDS = Path("shared") / "kuberay-crds-v1.7.0"


def _find_crds() -> Path:
    """$KUBERAY_CRDS_DIR, else shared/kuberay-crds-v1.7.0 beside the checkout or an ancestor
    of it (a git worktree may sit deeper than the main checkout)."""
    if env := os.environ.get("KUBERAY_CRDS_DIR"):
        return Path(env)
    found = [d / _CRDS for d in REPO.parents if (d / _CRDS).is_dir()]
    return found[0] if found else REPO.parent / _CRDS


CRDS_DIR = _find_crds()
RAYSERVICE_CRD = "ray.io_rayservices.yaml"
RAYCLUSTER_CRD = "ray.io_rayclusters.yaml"
# libyaml's loader where PyYAML has it: the CRD files are 18,000 lines, seconds in pure Python.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SUBSCHEMAS = ("items", "additionalProperties", "not")


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAPI v3 schema in which objects with listed properties allow no others."""
    out = dict(schema)
    if "properties" in schema:
        out["properties"] = {name: strict(sub) for name, sub in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    for key in _SUBSCHEMAS:
        if isinstance(schema.get(key), dict):
            out[key] = strict(schema[key])
    for key in _SUBSCHEMA_LISTS:
        if key in schema:
            out[key] = [strict(sub) for sub in schema[key]]
    return out


def crd_schema(crd_file: str, version: str = "v1") -> dict[str, Any]:
    """The openAPIV3Schema of one served version of a CRD file in CRDS_DIR."""
    crd = yaml.load((CRDS_DIR / crd_file).read_text(), Loader=_LOADER)
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return served["schema"]["openAPIV3Schema"]


def validator(schema: dict[str, Any]) -> jsonschema.Draft7Validator:
    """A validator of `schema` made strict (OpenAPI v3's keywords are a subset of draft 7's)."""
    return jsonschema.Draft7Validator(strict(schema))


def errors(check: jsonschema.Draft7Validator, instance: Any) -> list[str]:
    """Every violation, each as `path: message`, so one run shows them all."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(check.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    ]
