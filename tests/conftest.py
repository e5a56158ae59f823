"""Session fixtures: one tiny release-format checkpoint, its conversions, and real vLLM engines.

Everything expensive (making and converting the checkpoint, starting an engine: tens of seconds
on CPU) happens once per session and is shared by the tests that read it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deployments.server_process import stop_server, wait_until_serving
from model_ext.ckpt.convert import convert_release
from model_ext.ckpt.tiny import OVERRIDES_FILE, TinySpec, make_tiny
from model_ext.ckpt.tokenizer_files import release_tokenizer_path
from tests.grok_reference import ReleaseParams

REPO = Path(__file__).resolve().parent.parent
RELEASE_TOKENIZER = release_tokenizer_path()
TINY = TinySpec()
log = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def release_tokenizer() -> Path:
    """The release's tokenizer.model; tests that need the real one skip, saying where to put it."""
    if not RELEASE_TOKENIZER.is_file():
        pytest.skip(f"release tokenizer not found at {RELEASE_TOKENIZER} (set GROK_TOKENIZER)")
    return RELEASE_TOKENIZER


@pytest.fixture(scope="session")
def tokenizer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release tokenizer when present, else a small SentencePiece model trained here, so the
    conversion and engine tests run anywhere."""
    if RELEASE_TOKENIZER.is_file():
        return RELEASE_TOKENIZER
    import sentencepiece as spm

    log.warning("release tokenizer absent at %s: training a small one", RELEASE_TOKENIZER)
    work = tmp_path_factory.mktemp("spm")
    corpus = work / "corpus.txt"
    corpus.write_text(
        "\n".join(f"the quick brown fox {i} jumps over the lazy dog" for i in range(500))
    )
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(work / "tok"),
        vocab_size=400,
        model_type="bpe",
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
        byte_fallback=True,
        pad_piece="[PAD]",
        bos_piece="[BOS]",
        eos_piece="[EOS]",
        unk_piece="[UNK]",
    )
    return work / "tok.model"


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Grok-1 in the release's exact ckpt-0 format (returns the dir holding it)."""
    out = tmp_path_factory.mktemp("release")
    make_tiny(out, TINY, seed=0)
    return out


@pytest.fixture(scope="session")
def reference(tiny_release: Path) -> ReleaseParams:
    """The tiny checkpoint's parameters as the float64 reference reads them."""
    return ReleaseParams(tiny_release / "ckpt-0")


@pytest.fixture(scope="session")
def converted(
    tiny_release: Path, tokenizer_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny checkpoint converted by `grok-ckpt convert xai` (int8 kept)."""
    out = tmp_path_factory.mktemp("converted") / "grok-tiny"
    overrides = json.loads((tiny_release / OVERRIDES_FILE).read_text())
    convert_release(tiny_release, out, tokenizer_model, overrides, progress=False)
    return out


@pytest.fixture(scope="session")
def score_tokens() -> list[list[int]]:
    """Token sequences whose prompt log-probs are compared (fixed seed, whole vocabulary)."""
    rng = np.random.default_rng(1234)
    return [rng.integers(3, TINY.vocab, size=24).tolist() for _ in range(3)]


@pytest.fixture(scope="session")
def run_engine(
    tmp_path_factory: pytest.TempPathFactory, score_tokens: list[list[int]]
) -> Callable[..., dict[str, Any]]:
    """Start a real vLLM engine on a model dir (once per configuration) and return its results."""
    cache: dict[tuple[Any, ...], dict[str, Any]] = {}
    texts = ["The answer to life, the universe, and everything is", "Human: hi\n\nAssistant:"]

    def run(model: Path, tp: int = 1, pp: int = 1, eager: bool = True) -> dict[str, Any]:
        key = (str(model), tp, pp, eager)
        if key not in cache:
            out = tmp_path_factory.mktemp("engine") / "result.json"
            cmd = [
                sys.executable,
                "-m",
                "tests.model_ext.engine_runner",
                "--model",
                str(model),
                "--tp",
                str(tp),
                "--pp",
                str(pp),
                "--requests",
                json.dumps({"score": score_tokens, "texts": texts}),
                "--out",
                str(out),
            ] + (["--eager"] if eager else [])
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                pytest.fail(f"engine {key} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
            label = f"{model.name} TP={tp} PP={pp}{' eager' if eager else ''}"
            cache[key] = json.loads(out.read_text()) | {"label": label}
        return cache[key]

    return run


SERVE_URL = "http://127.0.0.1:8000"
TINY_CONFIG = REPO / "deployments" / "grok-tiny.yaml"


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="session")
def api_key() -> str:
    """The API key the served app is started with (auth on, as in production)."""
    return "test-key-" + os.urandom(8).hex()


@pytest.fixture(scope="session")
def served(api_key: str, release_tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`deployments/grok-tiny.yaml` served by Ray Serve on 127.0.0.1:8000 as `make serve` does
    (with the spec's Serve environment, its fast data path, which serve_local applies), started
    once.

    Yields the base URL once a completion succeeds (the engine is up, not just the ingress).
    """
    if not _port_free(8000):
        pytest.fail("127.0.0.1:8000 is taken; the tiny app's config serves there")
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {
        **os.environ,
        "GROK_SERVE_API_KEY": api_key,
        "RAY_DEDUP_LOGS": "0",
    }
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deployments.serve_local",
                str(TINY_CONFIG),
                "--ray-port",
                "6390",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            wait_until_serving(
                SERVE_URL, "grok-1-tiny", proc, 600, {"Authorization": f"Bearer {api_key}"}
            )
        except RuntimeError as exc:
            pytest.fail(f"{exc}:\n{log_path.read_text()[-5000:]}")
        yield SERVE_URL
    finally:
        stop_server(proc)
