"""`grok-ckpt`: convert the release checkpoint, inspect directories, make tiny test models.

Errors about input files are printed as one line naming the file (exit status 2), never as a
traceback: a corrupt or foreign checkpoint is a user's problem to fix, not a crash.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from model_ext.ckpt.convert import ConversionError, convert_release, load_overrides
from model_ext.ckpt.inspect_dir import inspect_dir
from model_ext.ckpt.tiny import OVERRIDES_FILE, TinySpec, make_tiny


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grok-ckpt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    convert = sub.add_parser("convert", help="convert a checkpoint into a vLLM model directory")
    convert.add_argument("source_format", choices=["xai"], help="format of SRC (the release's)")
    convert.add_argument("src", type=Path, help="directory holding ckpt-0/")
    convert.add_argument("out", type=Path, help="output model directory (resumable)")
    convert.add_argument(
        "--tokenizer", type=Path, required=True, help="the release tokenizer.model"
    )
    convert.add_argument("--config", type=Path, help="JSON overrides, config.json field names")
    convert.add_argument(
        "--workers",
        type=int,
        help="shards converted at once, one process each (default: one per core)",
    )
    convert.add_argument("--quiet", action="store_true", help="no progress bar")

    inspect = sub.add_parser("inspect", help="what a directory holds and whether it is complete")
    inspect.add_argument("dir", type=Path)

    tiny = sub.add_parser("make-tiny", help="write a random tiny Grok-1 in the release format")
    tiny.add_argument("out", type=Path)
    tiny.add_argument("--layers", type=int, default=TinySpec.num_layers)
    tiny.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the process exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "convert":
            start = time.perf_counter()
            result = convert_release(
                args.src,
                args.out,
                args.tokenizer,
                load_overrides(args.config),
                not args.quiet,
                args.workers,
            )
            seconds = time.perf_counter() - start
            print(
                f"converted {result.source_bytes / 1e6:.1f} MB in {seconds:.1f} s "
                f"({result.shards_written} shards written, {result.shards_resumed} resumed) "
                f"-> {result.out_dir}"
            )
            for family, how in result.plan.describe(result.rows_per_block).items():
                print(f"  {family}: {how}")
        elif args.command == "inspect":
            report = inspect_dir(args.dir)
            print(report.render())
            return 0 if report.complete else 1
        else:
            ckpt = make_tiny(args.out, TinySpec(num_layers=args.layers), seed=args.seed)
            print(
                f"wrote a tiny release-format checkpoint to {ckpt}; convert it with "
                f"--config {args.out / OVERRIDES_FILE}"
            )
    except ConversionError as exc:
        print(f"grok-ckpt: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
