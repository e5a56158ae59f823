"""The chart's generated values: up to date with deployments/spec.py, and drift is reported."""

from __future__ import annotations

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
    chart_values.write_text(chart_values.read_text().replace("targetOngoingRequests: 24", "x: 1"))
    assert helm_values.main(["--check"]) == 1
    assert helm_values.main([]) == 0
    assert chart_values.read_text() == (REPO / helm_values.CHART_VALUES).read_text()
    assert chart_values.read_text().startswith(hand_written)


def test_cpu_deployments_have_no_chart_values() -> None:
    with pytest.raises(ValueError, match="GPU deployments only"):
        helm_values.grok_values(TINY)
