"""Fixtures for the chart tests: a helm binary, the KubeRay CRDs, and each shipped values file
rendered once per session (helm template takes tens of milliseconds; nothing needs a cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.k8s import crd
from tests.k8s.chart import ALL_OPTIONS, CASES, Case, HelmUnavailable, find_helm, template


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return find_helm()
    except HelmUnavailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def crds_dir() -> Path:
    if not (crd.CRDS_DIR / crd.RAYSERVICE_CRD).is_file():
        pytest.skip(f"KubeRay CRDs not found in {crd.CRDS_DIR} (set KUBERAY_CRDS_DIR)")
    return crd.CRDS_DIR


@pytest.fixture(scope="session")
def rayservice_validator(crds_dir: Path) -> jsonschema.Draft7Validator:
    return crd.validator(crd.crd_schema(crd.RAYSERVICE_CRD))


@pytest.fixture(scope="session")
def raycluster_spec_validator(crds_dir: Path) -> jsonschema.Draft7Validator:
    return crd.validator(crd.crd_schema(crd.RAYCLUSTER_CRD)["properties"]["spec"])


@pytest.fixture(scope="session")
def rendered_cases(helm: Path) -> dict[str, list[dict[str, Any]]]:
    """Each shipped values file rendered with every option switched on."""
    return {
        case.name: template(helm, case.values_file, more_files=(ALL_OPTIONS,)) for case in CASES
    }


@pytest.fixture(scope="session")
def plain_cases(helm: Path) -> dict[str, list[dict[str, Any]]]:
    """Each shipped values file rendered as it is (no option switched on)."""
    return {case.name: template(helm, case.values_file) for case in CASES}


@pytest.fixture(params=CASES, ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


@pytest.fixture
def rendered(case: Case, rendered_cases: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return rendered_cases[case.name]


@pytest.fixture
def plain(case: Case, plain_cases: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return plain_cases[case.name]
