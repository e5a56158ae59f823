"""Conversion throughput of `grok-ckpt convert xai`, against a plain read of the same files.

Writes a release-format checkpoint (wider than the test model, so I/O and packing dominate over
per-file overhead), then in one run: reads every file once (the floor any converter pays),
converts it (safe opcode walk, transposes, int8 packing, shard writes, re-read verification),
and prints both rates and their ratio. Run: `make bench-convert` (or with --hidden/--layers).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from model_ext.ckpt.convert import convert_release, write_tokenizer
from model_ext.ckpt.tiny import OVERRIDES_FILE, TinySpec, make_tiny
from model_ext.ckpt.tokenizer_files import release_tokenizer_path


def plain_read(files: list[Path]) -> float:
    """Seconds to read every byte of `files` in 16 MiB chunks."""
    start = time.perf_counter()
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--intermediate", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--tokenizer", type=Path, default=release_tokenizer_path())
    args = parser.parse_args()
    spec = TinySpec(
        num_layers=args.layers,
        hidden=args.hidden,
        intermediate=args.intermediate,
        num_heads=16,
        num_kv_heads=4,
        head_dim=64,
    )
    work = Path(tempfile.mkdtemp(prefix="grok-bench-"))
    try:
        make_tiny(work / "release", spec)
        files = sorted((work / "release" / "ckpt-0").iterdir())
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        plain_read(files)  # warm the page cache so both measurements read from memory
        read_s = plain_read(files)
        overrides = json.loads((work / "release" / OVERRIDES_FILE).read_text())
        start = time.perf_counter()
        convert_release(work / "release", work / "out", args.tokenizer, overrides, progress=False)
        convert_s = time.perf_counter() - start
        start = time.perf_counter()
        (work / "tok").mkdir()
        write_tokenizer(args.tokenizer, work / "tok", 8192)
        tokenizer_s = time.perf_counter() - start
    finally:
        shutil.rmtree(work)
    print(
        f"checkpoint: {len(files)} files, {size_mb:.1f} MB (hidden {args.hidden}, "
        f"{args.layers} layers)"
    )
    print(f"plain read: {size_mb / read_s:8.1f} MB/s")
    tensors_s = convert_s - tokenizer_s
    print(f"conversion: {size_mb / convert_s:8.1f} MB/s  ({convert_s:.2f} s, all steps)")
    print(f"  of which tokenizer files (fixed cost): {tokenizer_s:.2f} s")
    print(f"tensors:    {size_mb / tensors_s:8.1f} MB/s  (read, check, pack, write, verify)")
    print(f"ratio tensors/plain read: {read_s / tensors_s:.3f}")


if __name__ == "__main__":
    main()
