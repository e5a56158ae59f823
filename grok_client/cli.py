"""The `grok` command: list models, complete a prompt or chat, from a shell.

Connection options work before or after the sub-command and fall back to GROK_BASE_URL,
GROK_API_KEY and GROK_MODEL like the SDK does. Failures print one `grok: error: ...` line and exit
1, since a traceback says nothing more to someone who typed a command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from grok_client.client import GrokClient
from grok_client.config import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    MODEL_ENV,
)
from grok_client.errors import GrokError
from grok_client.streams import Stream

Command = Callable[[GrokClient, argparse.Namespace], None]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        timeout = (
            DEFAULT_TIMEOUT if args.timeout is None else httpx.Timeout(args.timeout, connect=5.0)
        )
        with GrokClient(
            args.base_url,
            api_key=args.api_key,
            model=args.model,
            timeout=timeout,
            max_retries=args.max_retries,
        ) as client:
            args.command(client, args)
    except GrokError as exc:
        print(f"grok: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _models(client: GrokClient, args: argparse.Namespace) -> None:
    for model in client.models():
        print(model.id)


def _complete(client: GrokClient, args: argparse.Namespace) -> None:
    if args.stream:
        _print_stream(client.stream_complete(args.prompt, **_sampling(args)))
    else:
        print(client.complete(args.prompt, **_sampling(args)).text)


def _chat(client: GrokClient, args: argparse.Namespace) -> None:
    messages = [{"role": "user", "content": args.message}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    if args.stream:
        _print_stream(client.stream_chat(messages, **_sampling(args)))
    else:
        print(client.chat(messages, **_sampling(args)).text)


def _sampling(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "stop": args.stop,
        "seed": args.seed,
    }


def _print_stream(stream: Stream) -> None:
    """Print each delta the moment it arrives, so a long answer is readable while it is made."""
    with stream:
        for chunk in stream:
            print(chunk.text, end="", flush=True)
    print()


def _parser() -> argparse.ArgumentParser:
    # The connection options are declared twice: on the main parser with real defaults, and on
    # each sub-command with SUPPRESS, so a value given after the sub-command is kept and an
    # absent one does not overwrite a value given before it.
    parser = argparse.ArgumentParser(
        prog="grok",
        description="Talk to an OpenAI-compatible Grok server.",
        parents=[_connection_options(suppress=False)],
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    connection = _connection_options(suppress=True)
    sampling = _sampling_options()

    models = commands.add_parser("models", parents=[connection], help="list the served models")
    models.set_defaults(command=_models)

    complete = commands.add_parser(
        "complete", parents=[connection, sampling], help="continue a prompt"
    )
    complete.add_argument("prompt")
    complete.set_defaults(command=_complete)

    chat = commands.add_parser("chat", parents=[connection, sampling], help="answer a message")
    chat.add_argument("message")
    chat.add_argument("--system", help="a system message to put first")
    chat.set_defaults(command=_chat)
    return parser


def _connection_options(*, suppress: bool) -> argparse.ArgumentParser:
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("connection")
    group.add_argument(
        "--base-url",
        default=default(None),
        help=f"server root (default: ${BASE_URL_ENV}, else http://127.0.0.1:8000)",
    )
    group.add_argument(
        "--api-key", default=default(None), help=f"API key (default: ${API_KEY_ENV})"
    )
    group.add_argument(
        "--model",
        default=default(None),
        help=f"model id (default: ${MODEL_ENV}, else the server's first model)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=default(None),
        metavar="SECONDS",
        help="read timeout (default: 60)",
    )
    group.add_argument(
        "--max-retries",
        type=int,
        default=default(DEFAULT_MAX_RETRIES),
        metavar="N",
        help=f"retries on connection errors, 429 and 503 (default: {DEFAULT_MAX_RETRIES})",
    )
    return options


def _sampling_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("generation")
    group.add_argument("--max-tokens", type=int, metavar="N")
    group.add_argument("--temperature", type=float, metavar="T")
    group.add_argument("--top-p", type=float, metavar="P")
    group.add_argument(
        "--stop", action="append", metavar="S", help="stop sequence (repeat for several)"
    )
    group.add_argument("--seed", type=int)
    group.add_argument("--stream", action="store_true", help="print the answer as it is made")
    return options
