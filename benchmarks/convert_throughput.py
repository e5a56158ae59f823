"""`grok-ckpt convert xai` throughput against copying the same bytes, per worker count.

Writes a release-format checkpoint (wider than the test model, so I/O and packing dominate over
per-file overhead), then in one run, onto the same output filesystem:
- copies every release file (each flushed to disk with fsync, as the converter flushes each
  shard): the speed any converter of these bytes is bound by;
- converts it with 1, 2, ... workers (safe opcode walk, checks, transposes, int8 packing,
  hashing while writing, atomic shard writes), a fresh output directory each time.
The release files are read once beforehand, so every pass reads them from the page cache alike,
and every pass starts after a `sync`, with no other pass's writes still going to disk. Both
write through to the disk (fsync per file), as a 300 GB conversion, which does not fit in
memory, must. The default checkpoint (5.5 GB, 48 layers) makes the fixed costs (worker start-up,
the tokenizer files: about 3 s) small beside the bytes, as they are beside 300 GB.
Prints MB/s (of release bytes) per pass, each conversion's ratio to the copy, and its speed-up
over one worker. Run: `make bench-convert` (or with --hidden/--layers/--workers).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from model_ext.ckpt.convert import convert_release, default_workers
from model_ext.ckpt.tiny import OVERRIDES_FILE, TinySpec, make_tiny
from model_ext.ckpt.tokenizer_files import release_tokenizer_path


def read_all(files: list[Path]) -> None:
    """Read every byte of `files` (to put them in the page cache)."""
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


class Timed:
    """Wall seconds and CPU seconds (user, kernel; this process and its finished workers)."""

    def __enter__(self) -> Timed:
        self._start, self._cpu = time.perf_counter(), os.times()
        return self

    def __exit__(self, *exc: object) -> None:
        end = os.times()
        self.wall = time.perf_counter() - self._start
        self.user = end.user + end.children_user - self._cpu.user - self._cpu.children_user
        self.sys = end.system + end.children_system - self._cpu.system - self._cpu.children_system


def copy_all(files: list[Path], out: Path) -> None:
    """Copy `files` into `out`, each file flushed to disk before the next."""
    out.mkdir()
    for path in files:
        target = out / path.name
        shutil.copyfile(path, target)
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def convert_once(release: Path, out: Path, tokenizer: Path, workers: int) -> None:
    """One full conversion into the empty directory `out`."""
    overrides = json.loads((release / OVERRIDES_FILE).read_text())
    convert_release(release, out, tokenizer, overrides, progress=False, workers=workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--intermediate", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=48)
    parser.add_argument(
        "--workers",
        type=lambda s: [int(w) for w in s.split(",")],
        default=sorted({1, default_workers()}),
        help="worker counts to time, comma-separated (default: 1 and one per core)",
    )
    parser.add_argument("--tokenizer", type=Path, default=release_tokenizer_path())
    parser.add_argument(
        "--dir", type=Path, default=None, help="work directory (its filesystem is measured)"
    )
    args = parser.parse_args()
    spec = TinySpec(
        num_layers=args.layers,
        hidden=args.hidden,
        intermediate=args.intermediate,
        num_heads=16,
        num_kv_heads=4,
        head_dim=64,
    )
    work = Path(tempfile.mkdtemp(prefix="grok-bench-", dir=args.dir))
    try:
        make_tiny(work / "release", spec)
        files = sorted((work / "release" / "ckpt-0").iterdir())
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        print(
            f"checkpoint: {len(files)} files, {size_mb:.1f} MB (hidden {args.hidden}, "
            f"FFN {args.intermediate}, {args.layers} layers); output on {work} "
            f"({os.cpu_count()} cores)",
            flush=True,
        )
        read_all(files)
        os.sync()  # every pass starts with no earlier writes still going to disk
        with Timed() as copy:
            copy_all(files, work / "copy")
        shutil.rmtree(work / "copy")
        print(
            f"{'pass':<22} {'seconds':>8} {'MB/s':>8} {'of copy':>8} {'speed-up':>9} "
            f"{'user s':>7} {'kernel s':>8}"
        )
        row = "{:<22} {:>8.2f} {:>8.1f} {:>8} {:>9} {:>7.1f} {:>8.1f}"
        copy_mbs = size_mb / copy.wall
        print(row.format("copy + fsync", copy.wall, copy_mbs, "", "", copy.user, copy.sys))
        single = None
        for workers in args.workers:
            os.sync()
            with Timed() as run:
                convert_once(work / "release", work / "out", args.tokenizer, workers)
            shutil.rmtree(work / "out")
            single = single or (run.wall if workers == 1 else None)
            print(
                row.format(
                    f"convert, {workers} worker(s)",
                    run.wall,
                    size_mb / run.wall,
                    f"{copy.wall / run.wall:.2f}",
                    f"{single / run.wall:.2f}x" if single else "-",
                    run.user,
                    run.sys,
                ),
                flush=True,
            )
    finally:
        shutil.rmtree(work)
    print("target: conversion at least 0.5 of the copy's speed with one worker per core")


if __name__ == "__main__":
    main()
