"""`grok eval` as a user runs it: against the tiny model served by Ray Serve, on the small
MMLU-format set in tests/grok_client/data, and with every kind of bad input it must refuse."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.spec import TINY
from grok_client.evals.mmlu_data import subject_files
from grok_client.evals.published import DEFAULT_SUBJECTS, PUBLISHED
from tests.grok_client.scripted_server import ScriptedServer

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
MMLU = DATA / "mmlu"
PROMPTS = DATA / "rtp-challenging.jsonl"
# A loaded machine's slow start of the harness must not fail a test: generous.
RUN_TIMEOUT_S = 900


def grok_eval(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`grok eval ARGS` in a fresh interpreter, as the console script runs it."""
    return subprocess.run(
        [sys.executable, "-m", "grok_client", "eval", *args],
        cwd=REPO,
        env={**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def mmlu_run(served: str, api_key: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One full run on the shipped set, samples kept (shared by the tests that read it)."""
    out = tmp_path_factory.mktemp("eval") / "results.json"
    run = grok_eval(
        "--base-url", served, "--api-key", api_key, "--data-dir", str(MMLU),
        "--samples", "--output", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    return {"stdout": run.stdout, "stderr": run.stderr, "summary": json.loads(out.read_text())}


def test_mmlu_table_beside_the_published_figures(mmlu_run: dict) -> None:
    summary = mmlu_run["summary"]
    assert list(summary["mmlu"]) == list(DEFAULT_SUBJECTS)
    for subject, row in summary["mmlu"].items():
        lines = (MMLU / subject / "test.jsonl").read_text().splitlines()
        assert row["questions"] == len(lines)
        assert row["num_fewshot"] == 5
        assert 0.0 <= row["acc"] <= 1.0
        # The printed table has the subject's row with ours and every published figure.
        printed = next(line for line in mmlu_run["stdout"].splitlines() if line.startswith(subject))
        assert f"{100 * row['acc']:.2f}" in printed
        for published in PUBLISHED:
            assert f"{100 * published.mmlu[subject]:.2f} %" in printed
    assert "Requesting API" in mmlu_run["stderr"], "the harness's progress bar is shown"


def test_accuracy_is_the_argmax_of_the_log_likelihoods(mmlu_run: dict) -> None:
    """The reported accuracy follows from the per-choice log-likelihoods the server gave."""
    summary = mmlu_run["summary"]
    for subject, row in summary["mmlu"].items():
        samples = summary["samples"][f"mmlu_{subject}"]
        correct = [
            max(range(4), key=lambda i, s=s: s["filtered_resps"][i][0]) == s["target"]
            for s in samples
        ]
        assert row["acc"] == pytest.approx(sum(correct) / len(correct))


def test_log_likelihoods_equal_vllm_prompt_logprobs(
    mmlu_run: dict, served: str, api_key: str
) -> None:
    """Each choice's log-likelihood is vLLM's prompt log-prob of the answer's tokens, asked
    separately (token ids from the model's own tokenizer files, `prompt_logprobs`), to 1e-4."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(REPO / TINY.tiny_model_dir)
    compared = 0
    with httpx.Client(
        base_url=served, headers={"Authorization": f"Bearer {api_key}"}, timeout=120
    ) as http:
        for subject in DEFAULT_SUBJECTS:
            for sample in mmlu_run["summary"]["samples"][f"mmlu_{subject}"]:
                for i, (context, continuation) in enumerate(sample["arguments"]):
                    whole = tokenizer.encode(context + continuation, add_special_tokens=False)
                    start = len(tokenizer.encode(context, add_special_tokens=False))
                    reply = http.post(
                        "/v1/completions",
                        json={
                            "model": TINY.model_id,
                            "prompt": whole,
                            "max_tokens": 1,
                            "prompt_logprobs": 0,
                        },
                    )
                    reply.raise_for_status()
                    logprobs = reply.json()["choices"][0]["prompt_logprobs"]
                    expected = sum(
                        logprobs[p][str(whole[p])]["logprob"] for p in range(start, len(whole))
                    )
                    assert sample["filtered_resps"][i][0] == pytest.approx(expected, abs=1e-4)
                    compared += 1
    assert compared == 4 * 3 * len(DEFAULT_SUBJECTS)


class PerspectiveStandIn:
    """Google's Perspective API cannot be reached here: a stand-in on 127.0.0.1 with its
    request and response shapes. It scores a text by its length, records what it scored, and
    answers `status` instead when that is set."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.texts: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.path.endswith("?key=test-perspective-key")
                text = body["comment"]["text"]
                if stand_in.status == 200:
                    stand_in.texts.append(text)
                    payload = {"attributeScores": {"TOXICITY": {"summaryScore": {
                        "value": stand_in.score(text), "type": "PROBABILITY"}}}}  # fmt: skip
                else:
                    payload = {"error": {"code": stand_in.status, "message": "key not valid"}}
                data = json.dumps(payload).encode()
                self.send_response(stand_in.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def score(text: str) -> float:
        return (len(text) % 10) / 10

    @property
    def env(self) -> dict[str, str]:
        url = f"http://127.0.0.1:{self.httpd.server_port}/v1alpha1/comments:analyze"
        return {
            "PERSPECTIVE_API_KEY": "test-perspective-key",
            "PERSPECTIVE_API_URL": url,
            "PERSPECTIVE_API_QPS": "50",
        }


@pytest.fixture
def perspective() -> Iterator[PerspectiveStandIn]:
    stand_in = PerspectiveStandIn()
    yield stand_in
    stand_in.httpd.shutdown()


def test_toxicity_scores_the_challenging_prompts_continuations(
    served: str, api_key: str, perspective: PerspectiveStandIn, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    run = grok_eval(
        "--base-url", served, "--api-key", api_key, "--data-dir", str(MMLU),
        "--subjects", "global_facts", "--toxicity", "--toxicity-data", str(PROMPTS),
        "--output", str(out),
        env=perspective.env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    rows = [json.loads(line) for line in PROMPTS.read_text().splitlines()]
    hard = [r["prompt"]["text"] for r in rows if r["challenging"]]
    # Every challenging prompt's greedy 20-token continuation was scored, and nothing else.
    expected = []
    with httpx.Client(base_url=served, headers={"Authorization": f"Bearer {api_key}"}) as http:
        for prompt in hard:
            reply = http.post(
                "/v1/completions",
                json={"model": TINY.model_id, "prompt": prompt, "max_tokens": 20,
                      "temperature": 0, "stop": ["\n\n"]},
                timeout=120,
            )  # fmt: skip
            expected.append(reply.json()["choices"][0]["text"])
    assert sorted(perspective.texts) == sorted(expected)
    toxicity = json.loads(out.read_text())["toxicity"]
    assert toxicity["prompts"] == len(hard)
    mean = sum(map(perspective.score, expected)) / len(expected)
    assert toxicity["mean"] == pytest.approx(mean)
    assert f"{mean:.3f}" in run.stdout and "0.355" in run.stdout


def test_a_failing_perspective_api_stops_the_run(
    served: str, api_key: str, perspective: PerspectiveStandIn, tmp_path: Path
) -> None:
    """A bad key must not pass as a clean model (the harness's own task scores it 0)."""
    perspective.status = 403
    out = tmp_path / "results.json"
    run = grok_eval(
        "--base-url", served, "--api-key", api_key, "--data-dir", str(MMLU),
        "--subjects", "global_facts", "--limit", "1", "--toxicity",
        "--toxicity-data", str(PROMPTS), "--output", str(out),
        env=perspective.env,
    )  # fmt: skip
    assert run.returncode == 1
    assert "grok: error: Perspective API failed, so toxicity cannot be scored: HTTP 403" in (
        run.stderr
    )
    assert "Traceback" not in run.stderr
    assert not out.exists()


def _bad_copy(tmp_path: Path, subject: str, split: str, content: str | bytes) -> Path:
    """A copy of the shipped set with one file replaced by `content`; bytes are a Parquet file,
    for which the subject's other file becomes a good Parquet copy (one format per subject)."""
    data = tmp_path / "mmlu"
    for path in MMLU.rglob("*.jsonl"):
        (data / path.parent.name).mkdir(parents=True, exist_ok=True)
        (data / path.parent.name / path.name).write_bytes(path.read_bytes())
    target = data / subject / f"{split}.jsonl"
    if isinstance(content, bytes):
        for other in (data / subject).glob("*.jsonl"):
            _to_parquet(other, other.parent / f"{other.stem}-00000-of-00001.parquet")
            other.unlink()
        target = data / subject / f"{split}-00000-of-00001.parquet"
        target.write_bytes(content)
    else:
        target.write_text(content)
    return data


def _to_parquet(jsonl: Path, parquet: Path) -> None:
    import pyarrow
    import pyarrow.parquet

    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), parquet)


def test_the_hubs_parquet_layout_is_read(tmp_path: Path) -> None:
    """cais/mmlu as downloaded: <subject>/{test,dev}-00000-of-00001.parquet."""
    for path in (MMLU / "global_facts").glob("*.jsonl"):
        (tmp_path / "global_facts").mkdir(exist_ok=True)
        _to_parquet(path, tmp_path / "global_facts" / f"{path.stem}-00000-of-00001.parquet")
    files = subject_files(tmp_path, "global_facts")
    assert files.builder == "parquet"
    assert files.rows == len((MMLU / "global_facts" / "test.jsonl").read_text().splitlines())
    assert files.task_overrides()["dataset_kwargs"]["data_files"] == {
        split: str(tmp_path / "global_facts" / f"{split}-00000-of-00001.parquet")
        for split in ("test", "dev")
    }


ROW = {"question": "Q?", "choices": ["a", "b", "c", "d"], "answer": 0}
BAD_INPUT = {
    "missing subject": (
        lambda t: MMLU, ["--subjects", "astronomy"], r"mmlu/astronomy: no such directory"
    ),
    "unknown subject": (
        lambda t: _copy_subject(t, "not_a_subject"),
        ["--subjects", "not_a_subject"],
        r"unknown MMLU subject\(s\) \['mmlu_not_a_subject'\]; known: abstract_algebra, ",
    ),
    "not JSON": (
        lambda t: _bad_copy(t, "global_facts", "test", '{"question": \n'),
        [],
        r"global_facts/test.jsonl: line 1: not JSON",
    ),
    "three choices": (
        lambda t: _bad_copy(t, "global_facts", "dev", json.dumps({**ROW, "choices": ["a"] * 3})),
        [],
        r"global_facts/dev.jsonl: row 1: 'choices' must be a list of 4 strings",
    ),
    "answer out of range": (
        lambda t: _bad_copy(t, "college_mathematics", "test", json.dumps({**ROW, "answer": 4})),
        [],
        r"college_mathematics/test.jsonl: row 1: 'answer' must be an integer from 0 to 3",
    ),
    "corrupt parquet": (
        lambda t: _bad_copy(t, "global_facts", "test", b"PAR1 truncated"),
        [],
        r"global_facts/test-00000-of-00001.parquet: not a readable Parquet file",
    ),
    "no toxicity key": (lambda t: MMLU, ["--toxicity"], r"set PERSPECTIVE_API_KEY to your key"),
}


def _copy_subject(tmp_path: Path, name: str) -> Path:
    good = (MMLU / "global_facts" / "test.jsonl").read_text()
    data = _bad_copy(tmp_path, "global_facts", "test", good)
    (data / "global_facts").rename(data / name)
    return data


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_before_any_request(case: str, tmp_path: Path) -> None:
    """Each is refused before the server is asked anything: none is listening here."""
    make_data, extra, message = BAD_INPUT[case]
    out = tmp_path / "results.json"
    run = grok_eval(
        "--base-url", "http://127.0.0.1:9", "--model", "grok-1-tiny",
        "--data-dir", str(make_data(tmp_path)), "--output", str(out), *extra,
        env={"PERSPECTIVE_API_KEY": ""},
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("grok: error: "), run.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not out.exists()


def test_a_server_without_tokenizer_endpoints_asks_for_the_tokenizer(tmp_path: Path) -> None:
    with ScriptedServer() as server:
        run = grok_eval(
            "--base-url", server.url, "--data-dir", str(MMLU), "--output",
            str(tmp_path / "r.json"),
        )  # fmt: skip
        # The harness's probe may POST /tokenize; no completion was asked for.
        assert not any("echo" in body for body in server.posts)
    assert run.returncode == 1
    assert f"{server.url} offers no /tokenizer_info and /tokenize" in run.stderr
    assert "pass --tokenizer with the converted model directory" in run.stderr
