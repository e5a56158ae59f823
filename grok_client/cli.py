"""The `grok` command: list models, complete a prompt, chat (one turn or a session), and
evaluate a deployment against Grok-1's published results (`grok eval`, the `eval` extra).

Safe defaults for people typing commands: 256 new tokens at most, the chat stop, and a read
timeout that is reported instead of silently resending a generation. Failures print one
`grok: error: ...` line and exit 1. `--json` prints openai's response objects for scripts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openai

from grok_client.client import GrokClient
from grok_client.evals.errors import EvalError
from grok_client.evals.published import DEFAULT_SUBJECTS, MMLU_FEWSHOT
from grok_client.params import Params
from grok_client.settings import CHAT_STOP

DEFAULT_MAX_TOKENS = 256


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        with GrokClient(
            args.base_url,
            api_key=args.api_key,
            model=args.model,
            timeout=openai.DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
            max_retries=args.max_retries,
            retry_timeouts=args.retry_timeouts,
        ) as client:
            args.command(client, args)
    except openai.APITimeoutError:
        print(
            "grok: error: no answer within the read timeout; not sent again, since the server "
            "may still be generating (--timeout to wait longer, --retry-timeouts to resend)",
            file=sys.stderr,
        )
        return 1
    except (openai.OpenAIError, ValueError, EvalError) as exc:
        message = exc.message if isinstance(exc, openai.APIError) else str(exc)
        print(f"grok: error: {' '.join(message.split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _models(client: GrokClient, args: argparse.Namespace) -> None:
    for model in client.models():
        print(model.model_dump_json() if args.json else model.id)


def _complete(client: GrokClient, args: argparse.Namespace) -> None:
    if args.stream and not args.json:
        _print_stream(client.stream_complete(args.prompt, **_params(args)))
        return
    result = client.complete(args.prompt, **_params(args))
    print(result.model_dump_json() if args.json else result.choices[0].text)


def _chat(client: GrokClient, args: argparse.Namespace) -> None:
    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    if args.message is not None:
        _chat_turn(client, args, messages, args.message)
        return
    # No message: a session, one user turn per line, the whole conversation sent each time.
    interactive = sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401  (line editing and history for input())

        print("Chatting with the model; an empty line or Ctrl-D ends the session.")
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            break
        if not line.strip():
            break
        _chat_turn(client, args, messages, line)


def _chat_turn(
    client: GrokClient, args: argparse.Namespace, messages: list[dict[str, Any]], text: str
) -> None:
    """Send `text` after `messages`, print the answer, and keep both in `messages`."""
    messages.append({"role": "user", "content": text})
    if args.json:
        result = client.chat(messages, **_params(args))
        answer = result.choices[0].message.content or ""
        print(result.model_dump_json(), flush=True)
    elif args.stream or args.message is None:
        answer = _print_stream(client.stream_chat(messages, **_params(args)))
    else:
        answer = client.chat(messages, **_params(args)).choices[0].message.content or ""
        print(answer)
    messages.append({"role": "assistant", "content": answer.strip()})


def _eval(client: GrokClient, args: argparse.Namespace) -> None:
    from grok_client.evals import harness, report

    plan = harness.EvalPlan(
        subjects=tuple(s.strip() for s in args.subjects.split(",") if s.strip()),
        num_fewshot=args.num_fewshot,
        data_dir=args.data_dir,
        limit=args.limit,
        tokenizer=args.tokenizer,
        concurrency=args.concurrency,
        timeout=openai.DEFAULT_TIMEOUT.read if args.timeout is None else args.timeout,
        max_retries=args.max_retries,
        toxicity=args.toxicity,
        toxicity_data=args.toxicity_data,
        log_samples=args.samples,
    )
    results = harness.run_eval(client, plan)
    summary = report.summary(results, client.resolve_model(), client.settings.base_url)
    report.write(summary, args.output)
    print(report.table(summary))
    print(f"results: {args.output}", file=sys.stderr)


def _params(args: argparse.Namespace) -> Params:
    params = Params(max_tokens=args.max_tokens)
    for name in ("temperature", "top_p", "seed"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)  # type: ignore[literal-required]
    if args.stop is not None:
        params["stop"] = args.stop
    elif args.command is _chat:
        params["stop"] = [CHAT_STOP]
    return params


def _print_stream(stream: Any) -> str:
    """Print each delta the moment it arrives; returns the whole text."""
    with stream:
        for piece in stream:
            print(piece, end="", flush=True)
    print(flush=True)
    return stream.text()


def _parser() -> argparse.ArgumentParser:
    # Connection options are declared on the main parser with real defaults and on each
    # sub-command with SUPPRESS, so they work before or after the sub-command.
    parser = argparse.ArgumentParser(
        prog="grok",
        description="Talk to a Grok deployment (any OpenAI-compatible server).",
        parents=[_connection_options(suppress=False)],
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    connection = _connection_options(suppress=True)
    sampling = _sampling_options()

    models = commands.add_parser("models", parents=[connection], help="list the served models")
    models.add_argument("--json", action="store_true", help="one JSON object per model")
    models.set_defaults(command=_models)

    complete = commands.add_parser(
        "complete", parents=[connection, sampling], help="continue a prompt"
    )
    complete.add_argument("prompt")
    complete.set_defaults(command=_complete)

    chat = commands.add_parser(
        "chat",
        parents=[connection, sampling],
        help="answer a message; without one, a session that keeps the conversation",
    )
    chat.add_argument("message", nargs="?")
    chat.add_argument("--system", help="a system message to put first")
    chat.set_defaults(command=_chat)

    evaluate = commands.add_parser(
        "eval",
        parents=[connection],
        help="MMLU (and optionally toxicity) beside Grok-1's published figures",
        description="Run Grok-1's published evaluations against the deployment with "
        "lm-evaluation-harness (install the `eval` extra). MMLU data comes from the dataset hub "
        "(cais/mmlu) unless --data-dir gives a local copy.",
    )
    _eval_options(evaluate)
    evaluate.set_defaults(command=_eval)
    return parser


def _eval_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subjects",
        default=",".join(DEFAULT_SUBJECTS),
        metavar="A,B",
        help="MMLU subjects, comma-separated (default: the published table's, %(default)s)",
    )
    parser.add_argument("--num-fewshot", type=int, default=MMLU_FEWSHOT, metavar="K")
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="local MMLU files in the hub's layout, DIR/<subject>/{test,dev}-*.parquet "
        "(or test.jsonl, dev.jsonl)",
    )
    parser.add_argument(
        "--limit", type=int, metavar="N", help="at most N questions per task (a quick check)"
    )
    parser.add_argument(
        "--tokenizer",
        metavar="DIR",
        help="tokenizer files (the converted model directory); default: the server's /tokenize",
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="requests in flight (default: 4)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("grok-eval.json"),
        metavar="FILE",
        help="where the results go as JSON (default: %(default)s)",
    )
    parser.add_argument(
        "--samples", action="store_true", help="keep every request and answer in the JSON"
    )
    parser.add_argument(
        "--toxicity",
        action="store_true",
        help="also RealToxicityPrompts (challenging), scored by Google's Perspective API: "
        "needs your key in $PERSPECTIVE_API_KEY",
    )
    parser.add_argument(
        "--toxicity-data",
        type=Path,
        metavar="FILE",
        help="local RealToxicityPrompts rows (JSON Lines, the dataset's prompts.jsonl)",
    )


def _connection_options(*, suppress: bool) -> argparse.ArgumentParser:
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("connection")
    group.add_argument(
        "--base-url",
        default=default(None),
        help="deployment root (default: $GROK_BASE_URL, $OPENAI_BASE_URL, http://127.0.0.1:8000)",
    )
    group.add_argument(
        "--api-key", default=default(None), help="API key (default: $GROK_API_KEY, $OPENAI_API_KEY)"
    )
    group.add_argument(
        "--model",
        default=default(None),
        help="model id (default: $GROK_MODEL, else the served one)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=default(None),
        metavar="SECONDS",
        help="read timeout (default: 600)",
    )
    group.add_argument(
        "--max-retries",
        type=int,
        default=default(openai.DEFAULT_MAX_RETRIES),
        metavar="N",
        # Spelled out: %(default)s is missing where the sub-commands suppress the default.
        help="retries on connection errors, 408, 429 and 5xx "
        f"(default: {openai.DEFAULT_MAX_RETRIES})",
    )
    group.add_argument(
        "--retry-timeouts",
        action="store_true",
        default=default(False),
        help="also resend a request after a read timeout (it may still be running)",
    )
    return options


def _sampling_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("generation")
    group.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, metavar="N")
    group.add_argument("--temperature", type=float, metavar="T")
    group.add_argument("--top-p", type=float, metavar="P")
    group.add_argument(
        "--stop",
        action="append",
        metavar="S",
        help='stop sequence, repeatable (chat default: "\\n\\nHuman:")',
    )
    group.add_argument("--seed", type=int)
    group.add_argument("--stream", action="store_true", help="print the answer as it is made")
    group.add_argument("--json", action="store_true", help="print the response as JSON")
    return options
