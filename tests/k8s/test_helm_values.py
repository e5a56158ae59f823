"""The chart's generated files: up to date with deployments/spec.py and with the installed Ray's
Serve LLM dashboard, and drift is reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deployments import helm_values
from deployments.spec import TINY
from tests.k8s.chart import REPO


def test_generated_values_are_up_to_date() -> None:
    assert helm_values.main(["--check"]) == 0, "run python -m deployments.helm_values"


def test_check_reports_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chart_values = tmp_path / helm_values.CHART_VALUES
    chart_values.parent.mkdir(parents=True)
    shutil.copy(REPO / helm_values.CHART_VALUES, chart_values)
    monkeypatch.setattr(helm_values, "REPO", tmp_path)
    assert helm_values.main(["--check"]) == 1  # the examples are missing
    assert helm_values.main([]) == 0
    assert helm_values.main(["--check"]) == 0
    hand_written = chart_values.read_text().split(helm_values.BEGIN)[0]
    chart_values.write_text(
        chart_values.read_text().replace(
            "target_ongoing_requests: 24", "target_ongoing_requests: 2"
        )
    )
    assert helm_values.main(["--check"]) == 1
    assert helm_values.main([]) == 0
    assert chart_values.read_text() == (REPO / helm_values.CHART_VALUES).read_text()
    assert chart_values.read_text().startswith(hand_written)


def test_cpu_deployments_have_no_chart_values() -> None:
    with pytest.raises(ValueError, match="GPU deployments only"):
        helm_values.grok_values(TINY)


def test_dashboard_is_rays_own() -> None:
    """The shipped dashboard is what Ray's generator makes (the same JSON), so a Ray upgrade
    that changes it shows up as drift here instead of a stale dashboard."""
    from ray.dashboard.modules.metrics.grafana_dashboard_factory import (
        generate_serve_llm_grafana_dashboard,
    )

    content, uid = generate_serve_llm_grafana_dashboard()
    shipped = json.loads((REPO / helm_values.DASHBOARD).read_text())
    assert shipped == json.loads(content)
    assert shipped["uid"] == uid == "rayServeLlmDashboard"


def test_dashboard_overrides_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray's generator reads RAY_GRAFANA_SERVE_LLM_* variables; a shipped file must not depend
    on who ran the generator."""
    monkeypatch.setenv("RAY_GRAFANA_SERVE_LLM_DASHBOARD_UID", "mine")
    with pytest.raises(ValueError, match="unset RAY_GRAFANA_SERVE_LLM_DASHBOARD_UID"):
        helm_values.dashboard_text()


def test_grok_values_carry_no_second_copy_of_the_serve_config() -> None:
    """Only the Serve config, the node shape it was sized for and the environment Ray starts
    with: nothing the chart could apply on top of the Serve config."""
    from deployments.spec import PRODUCTION

    values = helm_values.grok_values(PRODUCTION)
    assert values == {
        "gpusPerWorker": 8,
        "serveEnv": PRODUCTION.serve_env,
        "serveConfig": PRODUCTION.serve_config(),
    }
