"""The Serve config files: generated from deployments/spec.py, and sound."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.serve.llm import LLMConfig

from deployments import render
from deployments.app import GrokAppArgs
from deployments.spec import CONFIG_FILES, PRODUCTION, TWO_NODE

HERE = Path(render.__file__).parent


@pytest.mark.parametrize("name", sorted(CONFIG_FILES))
def test_checked_in_file_matches_the_source(name: str) -> None:
    assert (HERE / name).read_text() == render.render(CONFIG_FILES[name]), (
        f"deployments/{name} drifted from deployments/spec.py: run python -m deployments.render"
    )


def test_render_check_reports_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CONFIG_FILES:
        (tmp_path / name).write_text(render.render(CONFIG_FILES[name]))
    (tmp_path / "grok.yaml").write_text("stale: true\n")
    monkeypatch.setattr(render, "HERE", tmp_path)
    assert render.main(["--check"]) == 1
    assert render.main([]) == 0
    assert render.main(["--check"]) == 0


@pytest.mark.parametrize("name", sorted(CONFIG_FILES))
def test_configs_validate_with_ray_serve_llm(name: str) -> None:
    """Every LLMConfig parses with Ray Serve LLM itself, and the builder's args with ours."""
    config = yaml.safe_load((HERE / name).read_text())
    (app,) = config["applications"]
    assert app["import_path"] == "deployments.app:build_app"
    args = GrokAppArgs.model_validate(app["args"])
    for llm in args.llm_configs:
        parsed = LLMConfig.model_validate(llm)
        assert parsed.server_cls.__name__ == "GrokLLMServer"
        engine = parsed.engine_kwargs
        bundles = parsed.placement_group_config["bundles"]
        assert len(bundles) == engine["tensor_parallel_size"] * engine["pipeline_parallel_size"]
        autoscaling = parsed.deployment_config["autoscaling_config"]
        assert autoscaling["target_ongoing_requests"] > 0
        assert autoscaling["min_replicas"] <= autoscaling["initial_replicas"]
        assert autoscaling["initial_replicas"] <= autoscaling["max_replicas"]


def test_production_shapes() -> None:
    prod = PRODUCTION.llm_config()
    assert prod["engine_kwargs"]["tensor_parallel_size"] == 8
    assert prod["engine_kwargs"]["max_model_len"] == 8192
    assert prod["engine_kwargs"]["enable_prefix_caching"] is True
    assert prod["placement_group_config"]["strategy"] == "STRICT_PACK"
    assert all(b["GPU"] == 1 for b in prod["placement_group_config"]["bundles"])
    assert prod["accelerator_type"] == "H100"
    two = TWO_NODE.llm_config()
    assert two["engine_kwargs"]["pipeline_parallel_size"] == 2
    assert len(two["placement_group_config"]["bundles"]) == 16
    assert two["placement_group_config"]["strategy"] == "PACK"  # cannot fit one node


@pytest.mark.parametrize("name", sorted(CONFIG_FILES))
def test_request_limits_are_rendered_into_every_config(name: str) -> None:
    """The caps the server enforces are the spec's, carried by the config file itself."""
    (app,) = yaml.safe_load((HERE / name).read_text())["applications"]
    limits = GrokAppArgs.model_validate(app["args"]).request_limits
    assert limits == CONFIG_FILES[name].request_limits
    assert limits.n >= 1 and limits.max_tokens <= CONFIG_FILES[name].max_model_len
