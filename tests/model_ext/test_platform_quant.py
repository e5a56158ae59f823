"""Where the int8 declaration of a converted directory is kept, and where it is dropped.

vLLM's real platform classes stand in for `current_platform`. The CUDA one comes from vLLM's
own `platforms/cuda.py`; on this CPU build that module's first import is of CUDA op
registrations that are not compiled in, so a placeholder module stands in for that extension
while the platform module is imported (nothing of it runs here).
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import vllm.config.model
import vllm.platforms
from vllm.config import DeviceConfig, ModelConfig
from vllm.platforms.cpu import CpuPlatform
from vllm.platforms.interface import Platform, UnspecifiedPlatform

import model_ext
from model_ext.platform_quant import Grok1PlatformQuantization


@pytest.fixture(scope="module")
def cuda_platform() -> Iterator[Platform]:
    """vLLM's CudaPlatform instance (as resolved on a machine with an NVIDIA GPU)."""
    stub = "vllm._C_stable_libtorch"
    added = [name for name in (stub, "vllm.platforms.cuda") if name not in sys.modules]
    sys.modules.setdefault(stub, types.ModuleType(stub))
    try:
        yield importlib.import_module("vllm.platforms.cuda").CudaPlatform()
    finally:
        for name in added:
            sys.modules.pop(name, None)


@pytest.fixture(autouse=True)
def _restore_platform() -> Iterator[None]:
    """vLLM modules first imported during a test bind the substituted platform for good
    (`from vllm.platforms import current_platform`); give them the real one back, so later
    tests in this process see the machine's platform."""
    real = vllm.platforms.current_platform
    yield
    for module in list(sys.modules.values()):
        bound = getattr(module, "current_platform", real)
        if bound is not real and isinstance(bound, Platform):
            module.current_platform = real  # type: ignore[attr-defined]


def _use(monkeypatch: pytest.MonkeyPatch, platform: Platform) -> None:
    """Make `platform` vLLM's current platform for this test."""
    monkeypatch.setattr(vllm.platforms, "current_platform", platform)
    monkeypatch.setattr(vllm.config.model, "current_platform", platform)


def _model_config(converted: Path) -> ModelConfig:
    model_ext.register()
    return ModelConfig(model=str(converted), dtype="bfloat16", max_model_len=256)


def test_cpu_drops_the_declaration_and_loads_dense(
    converted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, CpuPlatform())
    config = _model_config(converted)
    assert config.quantization is None
    assert getattr(config.hf_config, "quantization_config", None) is None


def test_unspecified_platform_keeps_int8_and_vllm_refuses_to_run(
    converted: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A CUDA build that sees no GPU: never silently 630 GB of dense layers."""
    _use(monkeypatch, UnspecifiedPlatform())
    config = _model_config(converted)
    assert config.quantization == "compressed-tensors"
    assert config.hf_config.quantization_config["quant_method"] == "compressed-tensors"
    assert "stay declared (W8A16)" in caplog.text
    with pytest.raises(RuntimeError, match="Failed to infer device type"):
        DeviceConfig()


def test_cuda_keeps_the_declaration(
    converted: Path, monkeypatch: pytest.MonkeyPatch, cuda_platform: Platform
) -> None:
    # A whole ModelConfig cannot be built on CUDA here (it asks the device for its dtypes), so
    # the hook runs on one built as an undetected platform would, then with CUDA current.
    _use(monkeypatch, UnspecifiedPlatform())
    config = _model_config(converted)
    _use(monkeypatch, cuda_platform)
    assert vllm.platforms.current_platform.is_cuda()
    Grok1PlatformQuantization.verify_and_update_model_config(config)
    assert config.hf_config.quantization_config["quant_method"] == "compressed-tensors"
    assert config.model_arch_config.quantization_config is not None
    # ... and the same config on CPU loses it, so the hook really decides by platform.
    _use(monkeypatch, CpuPlatform())
    Grok1PlatformQuantization.verify_and_update_model_config(config)
    assert getattr(config.hf_config, "quantization_config", None) is None
    assert config.model_arch_config.quantization_config is None
